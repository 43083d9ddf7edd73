package errands_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/testutil"
)

func TestScopeIsCheckedBeforeExistence(t *testing.T) {
	e := newEnv(t)
	er := e.create(t) // at the 古韩镇 agent's point
	bg := context.Background()
	cases := []struct {
		name  string
		phone string
		want  codes.Code
	}{
		{"own agent", demo.GuhanAgentPhone, codes.OK},
		{"own township's secretary", demo.GuhanSecretaryPhone, codes.OK},
		{"own county's admin", demo.CountyAdminPhone, codes.OK},
		{"city admin", demo.CityAdminPhone, codes.OK},
		{"agent of another township", demo.DanzhuAgentPhone, codes.PermissionDenied},
		{"secretary of another township", demo.DanzhuSecretaryPhone, codes.PermissionDenied},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.client.GetErrand(e.as(tc.phone), &redpointv1.GetErrandRequest{Name: er.Name})
			if code, _, _ := reason(err); code != tc.want {
				t.Fatalf("GetErrand = %v, want %v", err, tc.want)
			}
			if tc.want != codes.OK && got != nil {
				t.Error("a denied call returned data")
			}
		})
	}
	// An errand that does not exist looks like one of another township's.
	_, err := e.client.GetErrand(e.as(demo.DanzhuSecretaryPhone), &redpointv1.GetErrandRequest{Name: "errands/99999999"})
	if code, _, _ := reason(err); code != codes.PermissionDenied {
		t.Errorf("secretary, missing errand: %v, want PERMISSION_DENIED", err)
	}
	_, err = e.client.GetErrand(e.as(demo.CityAdminPhone), &redpointv1.GetErrandRequest{Name: "errands/99999999"})
	if code, _, _ := reason(err); code != codes.NotFound {
		t.Errorf("city admin, missing errand: %v, want NOT_FOUND", err)
	}
	// Only the point's agents move errands; a secretary reads but may not write.
	_, err = e.client.StartErrand(e.as(demo.GuhanSecretaryPhone), &redpointv1.StartErrandRequest{Name: er.Name})
	if code, _, _ := reason(err); code != codes.PermissionDenied {
		t.Errorf("secretary starting an errand: %v", err)
	}
	_, err = e.client.StartErrand(e.as(demo.DanzhuAgentPhone), &redpointv1.StartErrandRequest{Name: er.Name})
	if code, _, _ := reason(err); code != codes.PermissionDenied {
		t.Errorf("other agent starting an errand: %v", err)
	}
	_, err = e.client.GetErrand(bg, &redpointv1.GetErrandRequest{Name: er.Name})
	if code, _, _ := reason(err); code != codes.Unauthenticated {
		t.Errorf("no caller: %v", err)
	}
	// Lists are scoped too: 丹朱镇's secretary may not filter on 古韩镇.
	_, err = e.client.ListErrands(e.as(demo.DanzhuSecretaryPhone), &redpointv1.ListErrandsRequest{Filter: `region = "regions/140423100000"`})
	if code, _, _ := reason(err); code != codes.PermissionDenied {
		t.Errorf("filter on another township: %v", err)
	}
	list, err := e.client.ListErrands(e.as(demo.DanzhuSecretaryPhone), &redpointv1.ListErrandsRequest{PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range list.Errands {
		if x.Region[:len("regions/140428100")] != "regions/140428100" {
			t.Fatalf("丹朱镇's secretary listed %s in %s", x.Name, x.Region)
		}
	}
}

func TestSLAOnWorkingDays(t *testing.T) {
	e := newEnv(t)
	ctx := e.agent()
	createAt := func(when, typ string) *redpointv1.Errand {
		e.clock.Set(testutil.At(when))
		x := validErrand()
		x.ErrandType = typ
		out, err := e.client.CreateErrand(ctx, &redpointv1.CreateErrandRequest{Errand: x, RequestId: requestID()})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	due := func(x *redpointv1.Errand) string {
		return x.DueTime.AsTime().In(testutil.Location).Format("2006-01-02 15:04")
	}

	t.Run("across a weekend", func(t *testing.T) {
		x := createAt("2026-11-26 10:00", "errandTypes/SI-PENSION-CERT") // Thu + 3 working days
		if got := due(x); got != "2026-12-01 23:59" {
			t.Errorf("due %s, want Tue 2026-12-01 23:59", got)
		}
	})
	t.Run("across National Day with a make-up Saturday", func(t *testing.T) {
		x := createAt("2026-09-30 10:00", "errandTypes/SI-PENSION-CERT") // 10-08, 10-09, 10-10 (Sat, 调休)
		if got := due(x); got != "2026-10-10 23:59" {
			t.Errorf("due %s, want 2026-10-10 23:59", got)
		}
	})
	t.Run("paused while waiting for materials", func(t *testing.T) {
		x := createAt("2026-11-23 10:00", "errandTypes/SI-PENSION-ENROLL") // Mon + 5 → Mon 11-30
		if got := due(x); got != "2026-11-30 23:59" {
			t.Fatalf("due %s, want 2026-11-30 23:59", got)
		}
		e.clock.Set(testutil.At("2026-11-23 11:00"))
		x, err := e.client.StartErrand(ctx, &redpointv1.StartErrandRequest{Name: x.Name})
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Set(testutil.At("2026-11-24 09:00"))
		x, err = e.client.RequestErrandMaterials(ctx, &redpointv1.RequestErrandMaterialsRequest{Name: x.Name, MissingMaterials: []string{"户口簿"}})
		if err != nil {
			t.Fatal(err)
		}
		if !x.SlaPaused {
			t.Fatal("SLA not paused in NEEDS_MATERIALS")
		}
		e.clock.Set(testutil.At("2026-12-03 10:00")) // past the original due time, but paused
		x, err = e.client.GetErrand(ctx, &redpointv1.GetErrandRequest{Name: x.Name})
		if err != nil {
			t.Fatal(err)
		}
		if x.Overdue {
			t.Error("overdue while the clock is paused")
		}
		e.clock.Set(testutil.At("2026-11-26 15:00")) // resumed after two working days (25th, 26th)
		x, err = e.client.StartErrand(ctx, &redpointv1.StartErrandRequest{Name: x.Name})
		if err != nil {
			t.Fatal(err)
		}
		if got := due(x); got != "2026-12-02 23:59" || x.SlaPaused {
			t.Errorf("due after the pause %s (paused %v), want 2026-12-02 23:59", got, x.SlaPaused)
		}
		e.clock.Set(testutil.At("2026-12-01 10:00"))
		x, err = e.client.GetErrand(ctx, &redpointv1.GetErrandRequest{Name: x.Name})
		if err != nil {
			t.Fatal(err)
		}
		if !x.DueSoon || x.Overdue {
			t.Errorf("the day before: dueSoon %v overdue %v", x.DueSoon, x.Overdue)
		}
		e.clock.Set(testutil.At("2026-12-03 00:01"))
		x, err = e.client.GetErrand(ctx, &redpointv1.GetErrandRequest{Name: x.Name})
		if err != nil {
			t.Fatal(err)
		}
		if !x.Overdue || x.DueSoon {
			t.Errorf("after due: overdue %v dueSoon %v", x.Overdue, x.DueSoon)
		}
		list, err := e.client.ListErrands(ctx, &redpointv1.ListErrandsRequest{Filter: "overdue = true AND errand_type = \"errandTypes/SI-PENSION-ENROLL\"", PageSize: 500})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, l := range list.Errands {
			found = found || l.Name == x.Name
			if !l.Overdue {
				t.Errorf("overdue filter returned %s, not overdue", l.Name)
			}
		}
		if !found {
			t.Error("overdue filter misses the overdue errand")
		}
	})
}

func TestUpdateErrand(t *testing.T) {
	e := newEnv(t)
	ctx := e.agent()
	x := e.create(t)
	up, err := e.client.UpdateErrand(ctx, &redpointv1.UpdateErrandRequest{
		Errand:     &redpointv1.Errand{Name: x.Name, Etag: x.Etag, Description: "改为上门办理", ResidentPhone: "13800138000", ResidentName: "不会被改"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description", "resident_phone"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if up.Description != "改为上门办理" || up.ResidentPhone != "138****8000" || up.ResidentName != x.ResidentName || up.Etag == x.Etag {
		t.Errorf("updated = %+v", up)
	}
	_, err = e.client.UpdateErrand(ctx, &redpointv1.UpdateErrandRequest{
		Errand: &redpointv1.Errand{Name: x.Name, State: completed}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"state"}},
	})
	if code, _, fields := reason(err); code != codes.InvalidArgument || len(fields) != 1 || fields[0] != "update_mask" {
		t.Errorf("updating state through PATCH: %v", err)
	}
	done, err := e.client.CompleteErrand(ctx, &redpointv1.CompleteErrandRequest{Name: x.Name, Result: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client.UpdateErrand(ctx, &redpointv1.UpdateErrandRequest{
		Errand: &redpointv1.Errand{Name: done.Name, Description: "晚了"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}},
	})
	if code, r, _ := reason(err); code != codes.FailedPrecondition || r != "ERRAND_CLOSED" {
		t.Errorf("updating a completed errand: %v", err)
	}
}

func TestListFiltersOrderAndPages(t *testing.T) {
	e := newEnv(t)
	ctx := e.as(demo.CountyAdminPhone)
	seen := map[string]bool{}
	var last time.Time
	token := ""
	for {
		resp, err := e.client.ListErrands(ctx, &redpointv1.ListErrandsRequest{PageSize: 7, PageToken: token, OrderBy: "due_time", Filter: "state = COMPLETED"})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range resp.Errands {
			if seen[x.Name] {
				t.Fatalf("%s on two pages", x.Name)
			}
			seen[x.Name] = true
			if x.State != completed || x.Region[:len("regions/140423")] != "regions/140423" {
				t.Fatalf("%s: %s in %s", x.Name, x.State, x.Region)
			}
			if d := x.DueTime.AsTime(); d.Before(last) {
				t.Fatalf("not ordered by due time: %v after %v", d, last)
			} else {
				last = d
			}
		}
		if token = resp.NextPageToken; token == "" {
			break
		}
	}
	if len(seen) == 0 {
		t.Fatal("襄垣县 has no completed errands in the demo")
	}
	for _, bad := range []struct{ filter, order string }{
		{"state = DREAMING", ""}, {"colour = red", ""}, {"create_time >= yesterday", ""}, {"overdue = maybe", ""}, {"", "name"},
	} {
		_, err := e.client.ListErrands(ctx, &redpointv1.ListErrandsRequest{Filter: bad.filter, OrderBy: bad.order})
		if code, _, fields := reason(err); code != codes.InvalidArgument || len(fields) != 1 {
			t.Errorf("filter %q order %q: %v", bad.filter, bad.order, err)
		}
	}
	// The resident's errands by phone, exact match through the keyed hash.
	resp, err := e.client.ListErrands(e.agent(), &redpointv1.ListErrandsRequest{Filter: `resident_phone = "` + demo.ResidentPhone + `"`})
	if err != nil || len(resp.Errands) < 5 {
		t.Errorf("errands of %s: %d, %v", demo.ResidentPhone, len(resp.GetErrands()), err)
	}
}

// TestSyncNeverSkipsOrRepeats syncs in small pages while other goroutines
// create and move errands: every change must arrive, each errand at most
// once per round of changes, and the final state must match.
func TestSyncNeverSkipsOrRepeats(t *testing.T) {
	e := newEnv(t)
	ctx := e.agent()
	// Start from the current end of the stream.
	token := ""
	for {
		resp, err := e.client.SyncErrands(ctx, &redpointv1.SyncErrandsRequest{SyncToken: token, PageSize: 500})
		if err != nil {
			t.Fatal(err)
		}
		token = resp.NextSyncToken
		if !resp.HasMore {
			break
		}
	}
	var writers sync.WaitGroup
	var stop atomic.Bool
	final := sync.Map{} // name → etag after the writer's last change
	for w := 0; w < 3; w++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; i < 15 && !stop.Load(); i++ {
				x, err := e.client.CreateErrand(ctx, &redpointv1.CreateErrandRequest{Errand: validErrand(), RequestId: requestID()})
				if err != nil {
					t.Error(err)
					return
				}
				final.Store(x.Name, x.Etag)
				if x, err = e.client.StartErrand(ctx, &redpointv1.StartErrandRequest{Name: x.Name}); err != nil {
					t.Error(err)
					return
				}
				final.Store(x.Name, x.Etag)
			}
		}()
	}
	latest := map[string]string{} // what the syncing client holds
	done := make(chan struct{})
	go func() { writers.Wait(); close(done) }()
	pull := func() {
		for {
			resp, err := e.client.SyncErrands(ctx, &redpointv1.SyncErrandsRequest{SyncToken: token, PageSize: 4})
			if err != nil {
				t.Fatal(err)
			}
			page := map[string]bool{}
			for _, x := range resp.Errands {
				if page[x.Name] {
					t.Fatalf("%s twice in one sync page", x.Name)
				}
				page[x.Name] = true
				latest[x.Name] = x.Etag
			}
			token = resp.NextSyncToken
			if !resp.HasMore {
				return
			}
		}
	}
	syncEvery := time.NewTicker(5 * time.Millisecond) // the client syncs while the writers write
	defer syncEvery.Stop()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-syncEvery.C:
		}
		pull()
	}
	pull()
	n := 0
	final.Range(func(k, v any) bool {
		n++
		if latest[k.(string)] != v.(string) {
			t.Errorf("%s: client holds etag %q, server is at %q", k, latest[k.(string)], v)
		}
		return true
	})
	if n != 45 || len(latest) != 45 {
		t.Errorf("writers made %d errands, sync delivered %d", n, len(latest))
	}
}

// TestLoadingAHolidayYearMovesOpenDueTimes: an errand accepted before the
// 2027 arrangement was published is re-timed when an admin loads it.
func TestLoadingAHolidayYearMovesOpenDueTimes(t *testing.T) {
	e := newEnv(t)
	ctx := e.agent()
	e.clock.Set(testutil.At("2026-12-28 10:00"))
	x := validErrand()
	x.ErrandType = "errandTypes/CA-DIBAO" // 30 working days: due in February 2027
	created, err := e.client.CreateErrand(ctx, &redpointv1.CreateErrandRequest{Errand: x, RequestId: requestID()})
	if err != nil {
		t.Fatal(err)
	}
	days := []*redpointv1.CalendarDay{{Date: "2027-01-01", Kind: redpointv1.CalendarDayKind_CALENDAR_DAY_KIND_HOLIDAY, DisplayName: "元旦"}}
	var known []calendar.Day
	for d := 8; d <= 12; d++ {
		date := fmt.Sprintf("2027-02-%02d", d)
		days = append(days, &redpointv1.CalendarDay{Date: date, Kind: redpointv1.CalendarDayKind_CALENDAR_DAY_KIND_HOLIDAY, DisplayName: "春节"})
		known = append(known, calendar.Day{Date: date, Kind: calendar.Holiday})
	}
	known = append(known, calendar.Day{Date: "2027-01-01", Kind: calendar.Holiday})
	if _, err := redpointv1.NewCalendarServiceClient(e.GRPC).LoadCalendarYear(e.as(demo.CityAdminPhone),
		&redpointv1.LoadCalendarYearRequest{Year: 2027, CalendarDays: days}); err != nil {
		t.Fatal(err)
	}
	official, err := calendar.Official()
	if err != nil {
		t.Fatal(err)
	}
	want := calendar.New(append(official, known...)).Due(testutil.At("2026-12-28 10:00"), 30)
	got, err := e.client.GetErrand(ctx, &redpointv1.GetErrandRequest{Name: created.Name})
	if err != nil {
		t.Fatal(err)
	}
	if !got.DueTime.AsTime().Equal(want) || got.DueTime.AsTime().Equal(created.DueTime.AsTime()) {
		t.Errorf("due %v (was %v), want %v", got.DueTime.AsTime(), created.DueTime.AsTime(), want)
	}
	if got.Etag == created.Etag {
		t.Error("the re-timed errand kept its etag: phones would not re-sync")
	}
	events, err := e.client.ListErrandEvents(ctx, &redpointv1.ListErrandEventsRequest{Parent: created.Name})
	if err != nil {
		t.Fatal(err)
	}
	if last := events.Events[len(events.Events)-1]; last.Kind != redpointv1.ErrandEventKind_ERRAND_EVENT_KIND_UPDATED || last.ActorDisplayName != "系统" {
		t.Errorf("no history entry for the re-timing: %v", last)
	}
}
