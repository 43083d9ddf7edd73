package calendardb_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/changzhi/redpoint/ent/calendarday"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/calendar/calendardb"
	"github.com/changzhi/redpoint/service/store/storetest"
)

// TestEnsureOfficialKeepsLoadedDays: seeding the shipped arrangement adds
// the days the table lacks, keeps a day an admin loaded, and a second run
// changes nothing; the loader reads back exactly what is stored.
func TestEnsureOfficialKeepsLoadedDays(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t).Client
	official, err := calendar.Official()
	if err != nil {
		t.Fatal(err)
	}
	if len(official) == 0 {
		t.Fatal("no official days shipped: the test would check nothing")
	}
	// An admin moved the first official day's meaning before the seed ran.
	first := official[0]
	adminKind := calendarday.KindWORKDAY
	if first.Kind == calendar.Workday {
		adminKind = calendarday.KindHOLIDAY
	}
	if err := db.CalendarDay.Create().SetID(first.Date).SetKind(adminKind).SetName("管理员调整").Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := calendardb.EnsureOfficial(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	n, err := db.CalendarDay.Query().Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(official) {
		t.Errorf("%d days stored, want the %d official ones once", n, len(official))
	}
	kept, err := db.CalendarDay.Get(ctx, first.Date)
	if err != nil {
		t.Fatal(err)
	}
	if kept.Kind != adminKind || kept.Name != "管理员调整" {
		t.Errorf("the admin's %s became %s %q", first.Date, kept.Kind, kept.Name)
	}
	loaded, err := calendardb.Loader(db)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byDate := map[string]calendar.Day{}
	for _, d := range loaded {
		byDate[d.Date] = d
	}
	if len(byDate) != len(official) {
		t.Errorf("loader read %d days, want %d", len(byDate), len(official))
	}
	for _, d := range official[1:] {
		if byDate[d.Date] != d {
			t.Errorf("loader read %+v, stored %+v", byDate[d.Date], d)
		}
	}
	if got := byDate[first.Date]; string(got.Kind) != string(adminKind) {
		t.Errorf("loader read %+v for the admin's day", got)
	}
}

// recomputer records what the server asked of the errands.
type recomputer struct {
	calls []time.Time
	cal   *calendar.Calendar
}

func (r *recomputer) RecomputeDue(_ context.Context, cal *calendar.Calendar, from time.Time) (int, error) {
	r.calls = append(r.calls, from)
	r.cal = cal
	return 0, nil
}

// TestLoadCalendarYear: a bad year's list writes nothing; a good one
// replaces that year's days only, reloads the cache the SLAs read and
// moves the open errands' due times from the year's first day on.
func TestLoadCalendarYear(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t).Client
	if err := db.CalendarDay.Create().SetID("2026-10-01").SetKind(calendarday.KindHOLIDAY).SetName("国庆节").Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.CalendarDay.Create().SetID("2027-05-01").SetKind(calendarday.KindHOLIDAY).SetName("劳动节").Exec(ctx); err != nil {
		t.Fatal(err)
	}
	cache := calendar.NewCache(calendardb.Loader(db), time.Hour)
	if _, err := cache.Get(ctx); err != nil { // warm: the load must reload it
		t.Fatal(err)
	}
	due := &recomputer{}
	srv := calendardb.NewServer(db, cache, due)
	holiday, workday := redpointv1.CalendarDayKind_CALENDAR_DAY_KIND_HOLIDAY, redpointv1.CalendarDayKind_CALENDAR_DAY_KIND_WORKDAY

	for name, days := range map[string][]*redpointv1.CalendarDay{
		"a date that does not exist": {{Date: "2027-01-01", Kind: holiday, DisplayName: "元旦"}, {Date: "2027-13-01", Kind: holiday}},
		"a date of another year":     {{Date: "2028-01-01", Kind: holiday}},
		"a date twice":               {{Date: "2027-01-01", Kind: holiday}, {Date: "2027-01-01", Kind: workday}},
		"no kind":                    {{Date: "2027-01-01"}},
	} {
		_, err := srv.LoadCalendarYear(ctx, &redpointv1.LoadCalendarYearRequest{Year: 2027, CalendarDays: days})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want INVALID_ARGUMENT", name, err)
		}
	}
	if _, err := srv.LoadCalendarYear(ctx, &redpointv1.LoadCalendarYearRequest{Year: 1999}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("year 1999: %v, want INVALID_ARGUMENT", err)
	}
	if len(due.calls) != 0 {
		t.Errorf("a refused load recomputed due times: %v", due.calls)
	}
	if _, err := db.CalendarDay.Get(ctx, "2027-05-01"); err != nil {
		t.Errorf("a refused load touched the stored year: %v", err)
	}

	loaded, err := srv.LoadCalendarYear(ctx, &redpointv1.LoadCalendarYearRequest{Year: 2027, CalendarDays: []*redpointv1.CalendarDay{
		{Date: "2027-01-01", Kind: holiday, DisplayName: "元旦"},
		{Date: "2027-01-02", Kind: workday, DisplayName: "调休"},
	}})
	if err != nil || len(loaded.CalendarDays) != 2 {
		t.Fatalf("load: %v, %v", loaded, err)
	}
	listed, err := srv.ListCalendarDays(ctx, &redpointv1.ListCalendarDaysRequest{Year: 2027})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed.CalendarDays) != 2 || listed.CalendarDays[0].Date != "2027-01-01" || listed.CalendarDays[1].Kind != workday || listed.CalendarDays[1].DisplayName != "调休" {
		t.Errorf("listed %v", listed.CalendarDays)
	}
	if other, err := srv.ListCalendarDays(ctx, &redpointv1.ListCalendarDaysRequest{Year: 2026}); err != nil || len(other.CalendarDays) != 1 {
		t.Errorf("2026 after loading 2027: %v, %v", other, err)
	}
	// The cache holds the new year, and the errands were re-timed on it.
	cal, err := cache.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newYear := time.Date(2027, 1, 1, 12, 0, 0, 0, calendar.Location) // a Friday
	if cal.IsWorkingDay(newYear) {
		t.Error("the cache still has 2027-01-01 as a working day")
	}
	if want := time.Date(2027, 1, 1, 0, 0, 0, 0, calendar.Location); len(due.calls) != 1 || !due.calls[0].Equal(want) {
		t.Errorf("due times recomputed from %v, want once from %v", due.calls, want)
	}
	if due.cal != cal {
		t.Error("due times were recomputed on another calendar than the one loaded")
	}
}
