package errands_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/ent/followup"
	"github.com/changzhi/redpoint/ent/notification"
	"github.com/changzhi/redpoint/ent/processedevent"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/testutil"
)

// resident logs a WeChat resident in, binds phone and subscribes them to
// messages; it returns their context.
func (e *env) resident(t *testing.T, code, phone string) context.Context {
	t.Helper()
	rs := redpointv1.NewResidentServiceClient(e.GRPC)
	sess, err := rs.WechatLogin(context.Background(), &redpointv1.WechatLoginRequest{Code: code})
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+sess.AccessToken)
	if phone == "" {
		return ctx
	}
	if _, err := rs.BindPhone(ctx, &redpointv1.BindPhoneRequest{PhoneCode: "phone-" + phone}); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.SetSubscription(ctx, &redpointv1.SetSubscriptionRequest{Subscribed: true}); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// completedWithFollowUp logs an errand for phone, completes it and has its
// resident rate it 非常不满意; it returns the errand and its follow-up.
func (e *env) completedWithFollowUp(t *testing.T, me context.Context, phone string) (*redpointv1.Errand, string) {
	t.Helper()
	in := validErrand()
	in.ResidentPhone = phone
	x, err := e.client.CreateErrand(e.agent(), &redpointv1.CreateErrandRequest{Errand: in, RequestId: requestID()})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.client.CompleteErrand(e.agent(), &redpointv1.CompleteErrandRequest{Name: x.Name, Result: "认证通过"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	if _, err := redpointv1.NewResidentServiceClient(e.GRPC).RateMyErrand(me, &redpointv1.RateMyErrandRequest{
		Name: myName(x.Name), Level: redpointv1.RatingLevel_RATING_LEVEL_VERY_DISSATISFIED, Comment: "证明没拿到"}); err != nil {
		t.Fatal(err)
	}
	f, err := e.App.Store.Client.FollowUp.Query().Where(followup.ErrandID(testutil.ID(t, x.Name))).Only(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return x, fmt.Sprintf("followUps/%d", f.ID)
}

func myName(name string) string {
	return "residents/me/errands/" + strings.TrimPrefix(name, "errands/")
}

// TestSecretaryReopensFromAFollowUp: a bad rating's follow-up leads the
// township secretary to reopen the errand: IN_PROGRESS with a new due
// time, result and close time cleared, counted; the history, the agent's
// notification, the resident's message and the SLA timers follow; a retry
// changes nothing; the agent completes it again.
func TestSecretaryReopensFromAFollowUp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	db := e.App.Store.Client
	me := e.resident(t, "demo-reopen", "13912345001")
	x, f := e.completedWithFollowUp(t, me, "13912345001")
	e.clock.Advance(48 * time.Hour)
	reopenAt := e.clock.Now().UTC().Truncate(time.Microsecond)
	// An errand of the same type logged now is due when the reopened one is.
	fresh, err := e.client.CreateErrand(e.agent(), &redpointv1.CreateErrandRequest{Errand: validErrand(), RequestId: requestID()})
	if err != nil {
		t.Fatal(err)
	}
	secretary := e.as(demo.GuhanSecretaryPhone)
	req := &redpointv1.ReopenErrandRequest{Name: x.Name, FollowUp: f, Reason: "回访核实：证明未实际开具", RequestId: requestID()}
	got, err := e.client.ReopenErrand(secretary, req)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != inProgress || got.ReopenCount != 1 || !got.LastReopenTime.AsTime().Equal(reopenAt) ||
		got.CloseTime != nil || got.Result != "" || !got.DueTime.AsTime().Equal(fresh.DueTime.AsTime()) {
		t.Errorf("reopened errand: state %v, count %d, reopened %v (want %v), closed %v, result %q, due %v (want %v)",
			got.State, got.ReopenCount, got.LastReopenTime.AsTime(), reopenAt, got.CloseTime, got.Result, got.DueTime.AsTime(), fresh.DueTime.AsTime())
	}
	// A retry with the same request_id answers the first result and writes nothing.
	again, err := e.client.ReopenErrand(secretary, req)
	if err != nil || again.Etag != got.Etag || again.ReopenCount != 1 {
		t.Errorf("retry: %v, %v", again, err)
	}
	// The history: one REOPENED event, by the secretary, with the reason and the follow-up.
	evs, err := e.client.ListErrandEvents(secretary, &redpointv1.ListErrandEventsRequest{Parent: x.Name})
	if err != nil {
		t.Fatal(err)
	}
	var reopens []*redpointv1.ErrandEvent
	for _, ev := range evs.Events {
		if ev.Kind == redpointv1.ErrandEventKind_ERRAND_EVENT_KIND_REOPENED {
			reopens = append(reopens, ev)
		}
	}
	if len(reopens) != 1 {
		t.Fatalf("%d REOPENED events, want 1: %v", len(reopens), evs.Events)
	}
	ev := reopens[0]
	secretaryUser := e.userID(t, demo.GuhanSecretaryPhone)
	if ev.FromState != completed || ev.ToState != inProgress || ev.Actor != fmt.Sprintf("users/%d", secretaryUser) ||
		!strings.Contains(ev.Note, "证明未实际开具") || !strings.Contains(ev.Note, f) || ev.DisplayText != "重新办理：已办结 → 办理中" {
		t.Errorf("reopen event %v", ev)
	}
	// The agent is told, once.
	agentUser := e.userID(t, demo.GuhanAgentPhone)
	notes, err := redpointv1.NewNotificationServiceClient(e.GRPC).ListNotifications(e.agent(), &redpointv1.ListNotificationsRequest{Parent: "users/me"})
	if err != nil {
		t.Fatal(err)
	}
	told := 0
	for _, n := range notes.Notifications {
		if n.Kind == redpointv1.NotificationKind_NOTIFICATION_KIND_ERRAND_REOPENED && n.Errand == x.Name {
			told++
			if !strings.Contains(n.Body, "乡镇回访") || !strings.Contains(n.Body, x.TrackingCode) {
				t.Errorf("notification %v", n)
			}
		}
	}
	if told != 1 {
		t.Errorf("agent %d got %d reopen notifications, want 1", agentUser, told)
	}
	// The resident's subscribe message says it is being handled again.
	testutil.EventuallyNoError(t, 20*time.Second, "the resident was sent the reopening", func() error {
		for _, m := range e.WeChat.Messages() {
			if m.ToUser == "demo-reopen" && m.Data["phrase3"]["value"] == "办理中" && strings.Contains(m.Data["thing4"]["value"], "重新办理") {
				return nil
			}
		}
		return fmt.Errorf("messages %+v", e.WeChat.Messages())
	})
	// The SLA follows the new due time: past it, the sweep escalates.
	e.waitHandled(t, "sla", x.Name)
	e.clock.Set(got.DueTime.AsTime().Add(time.Minute))
	if err := e.App.Background().Timers().Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := db.Notification.Query().Where(notification.ErrandID(testutil.ID(t, x.Name)), notification.KindEQ(notification.KindESCALATION)).CountX(ctx); n == 0 {
		t.Error("the reopened errand was not escalated past its new due time")
	}
	// The agent completes it again; its first completion is kept.
	done, err := e.client.CompleteErrand(e.agent(), &redpointv1.CompleteErrandRequest{Name: x.Name, Result: "已重新开具证明"})
	if err != nil || done.State != completed || done.ReopenCount != 1 {
		t.Fatalf("completing again: %v, %v", done, err)
	}
	row := db.Errand.GetX(ctx, testutil.ID(t, x.Name))
	if row.FirstCloseTime == nil || !row.FirstCloseTime.Before(reopenAt) || !row.CloseTime.After(reopenAt) {
		t.Errorf("first close %v, close %v around the reopening at %v", row.FirstCloseTime, row.CloseTime, reopenAt)
	}
	// Over REST too, with the same answer for a reopening the state refuses.
	code, body := e.Do(t, demo.GuhanSecretaryPhone, http.MethodPost, "/v1/"+x.Name+":reopen", map[string]any{"reason": "再次回访", "followUp": f})
	if r, _ := decodeREST(t, body); code != http.StatusOK && (code != http.StatusBadRequest || r != "INVALID_STATE_TRANSITION") {
		t.Errorf("REST reopen: %d %s", code, body)
	}
}

func (e *env) userID(t *testing.T, phone string) int {
	t.Helper()
	u, err := e.App.Store.Client.User.Query().All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range u {
		if x.Phone == phone {
			return x.ID
		}
	}
	t.Fatalf("no user %s", phone)
	return 0
}

// waitHandled waits until handler has processed every errand.* event of the errand.
func (e *env) waitHandled(t *testing.T, handler, name string) {
	t.Helper()
	ctx := context.Background()
	db := e.App.Store.Client
	testutil.EventuallyNoError(t, 20*time.Second, handler+" handled the errand's events", func() error {
		rows, err := db.OutboxEvent.Query().All(ctx)
		if err != nil {
			return err
		}
		var ids []int
		for _, r := range rows {
			if r.Aggregate == name && strings.HasPrefix(r.Topic, "errand.") {
				ids = append(ids, r.ID)
			}
		}
		n, err := db.ProcessedEvent.Query().Where(processedevent.Handler(handler), processedevent.EventIDIn(ids...)).Count(ctx)
		if err != nil {
			return err
		}
		if n < len(ids) {
			return fmt.Errorf("%d of %d", n, len(ids))
		}
		return nil
	})
}

// TestReopenRefusals: bad input is INVALID_ARGUMENT with its field, other
// townships' secretaries and other roles are denied, an errand that is not
// completed can't be reopened — and none of them writes anything.
func TestReopenRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	me := e.resident(t, "demo-refusals", "13912345002")
	x, f := e.completedWithFollowUp(t, me, "13912345002")
	y, g := e.completedWithFollowUp(t, me, "13912345002")
	open := e.create(t)
	cases := []struct {
		name   string
		phone  string
		req    *redpointv1.ReopenErrandRequest
		code   codes.Code
		reason string
		field  string
	}{
		{"no reason", demo.GuhanSecretaryPhone, &redpointv1.ReopenErrandRequest{Name: x.Name, FollowUp: f, Reason: "  "}, codes.InvalidArgument, "", "reason"},
		{"reason too long", demo.GuhanSecretaryPhone, &redpointv1.ReopenErrandRequest{Name: x.Name, FollowUp: f, Reason: strings.Repeat("长", 2001)}, codes.InvalidArgument, "", "reason"},
		{"no follow-up", demo.GuhanSecretaryPhone, &redpointv1.ReopenErrandRequest{Name: x.Name, Reason: "未办好"}, codes.InvalidArgument, "", "follow_up"},
		{"malformed follow-up", demo.GuhanSecretaryPhone, &redpointv1.ReopenErrandRequest{Name: x.Name, FollowUp: "followUps/abc", Reason: "未办好"}, codes.InvalidArgument, "", "follow_up"},
		{"another errand's follow-up", demo.GuhanSecretaryPhone, &redpointv1.ReopenErrandRequest{Name: x.Name, FollowUp: g, Reason: "未办好"}, codes.InvalidArgument, "", "follow_up"},
		{"no such follow-up", demo.GuhanSecretaryPhone, &redpointv1.ReopenErrandRequest{Name: x.Name, FollowUp: "followUps/999999", Reason: "未办好"}, codes.InvalidArgument, "", "follow_up"},
		{"stale etag", demo.GuhanSecretaryPhone, &redpointv1.ReopenErrandRequest{Name: x.Name, FollowUp: f, Reason: "未办好", Etag: `"1"`}, codes.Aborted, "", ""},
		{"another township's secretary", demo.DanzhuSecretaryPhone, &redpointv1.ReopenErrandRequest{Name: x.Name, FollowUp: f, Reason: "未办好"}, codes.PermissionDenied, "", ""},
		{"the agent", demo.GuhanAgentPhone, &redpointv1.ReopenErrandRequest{Name: x.Name, FollowUp: f, Reason: "未办好"}, codes.PermissionDenied, "", ""},
		{"the county admin", demo.CountyAdminPhone, &redpointv1.ReopenErrandRequest{Name: x.Name, FollowUp: f, Reason: "未办好"}, codes.PermissionDenied, "", ""},
		{"not completed", demo.GuhanSecretaryPhone, &redpointv1.ReopenErrandRequest{Name: open.Name, FollowUp: f, Reason: "未办好"}, codes.FailedPrecondition, "INVALID_STATE_TRANSITION", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.ReopenErrand(e.as(tc.phone), tc.req)
			code, r, fields := reason(err)
			if code != tc.code || (tc.reason != "" && r != tc.reason) || (tc.field != "" && !slices.Contains(fields, tc.field)) {
				t.Errorf("got %v %s %v (%v), want %v %s %s", code, r, fields, err, tc.code, tc.reason, tc.field)
			}
		})
	}
	// Nothing was written: both errands are still completed, never reopened.
	for _, n := range []string{x.Name, y.Name} {
		row := e.App.Store.Client.Errand.GetX(ctx, testutil.ID(t, n))
		if row.State != errand.StateCOMPLETED || row.ReopenCount != 0 {
			t.Errorf("%s: %s, reopened %d times", n, row.State, row.ReopenCount)
		}
		if k := e.App.Store.Client.ErrandEvent.Query().Where(errandevent.ErrandID(row.ID), errandevent.KindEQ(errandevent.KindREOPENED)).CountX(ctx); k != 0 {
			t.Errorf("%s: %d REOPENED events", n, k)
		}
	}
}

// TestResidentReopensWithinFifteenDays: the resident who owns a completed
// errand reopens it through the 15th calendar day after the day it was
// completed (Asia/Shanghai), not after; another resident can't; a retry
// with the same request_id reopens once.
func TestResidentReopensWithinFifteenDays(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rs := redpointv1.NewResidentServiceClient(e.GRPC)
	e.clock.Set(testutil.At("2026-11-25 10:00"))
	me := e.resident(t, "demo-window", "13912345003")
	neighbour := e.resident(t, "demo-window-neighbour", "13912345004")
	in := validErrand()
	in.ResidentPhone = "13912345003"
	var xs []*redpointv1.Errand
	for i := 0; i < 2; i++ {
		x, err := e.client.CreateErrand(e.agent(), &redpointv1.CreateErrandRequest{Errand: in, RequestId: requestID()})
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, x)
	}
	e.clock.Set(testutil.At("2026-11-25 23:30")) // completed late on 11-25: reopenable until the end of 12-10
	for _, x := range xs {
		if _, err := e.client.CompleteErrand(e.agent(), &redpointv1.CompleteErrandRequest{Name: x.Name, Result: "认证通过"}); err != nil {
			t.Fatal(err)
		}
	}
	if d := errands.ReopenDeadline(testutil.At("2026-11-25 23:30")); !d.Equal(testutil.At("2026-12-11 00:00").Add(-time.Microsecond)) {
		t.Errorf("deadline %v", d)
	}
	// Bad input, and a neighbour: nothing happens.
	if code, _, fields := reason(func() error {
		_, err := rs.ReopenMyErrand(me, &redpointv1.ReopenMyErrandRequest{Name: myName(xs[0].Name)})
		return err
	}()); code != codes.InvalidArgument || !slices.Contains(fields, "reason") {
		t.Errorf("no reason: %v %v", code, fields)
	}
	if code, _, fields := reason(func() error {
		_, err := rs.ReopenMyErrand(me, &redpointv1.ReopenMyErrandRequest{Name: xs[0].Name, Reason: "没办好"})
		return err
	}()); code != codes.InvalidArgument || !slices.Contains(fields, "name") {
		t.Errorf("a staff name: %v %v", code, fields)
	}
	if _, err := rs.ReopenMyErrand(neighbour, &redpointv1.ReopenMyErrandRequest{Name: myName(xs[0].Name), Reason: "没办好"}); !isCode(err, codes.NotFound) {
		t.Errorf("a neighbour reopening it: %v", err)
	}
	// The last minute of 12-10: allowed, once for two tries with one request_id.
	e.clock.Set(testutil.At("2026-12-10 23:59"))
	req := &redpointv1.ReopenMyErrandRequest{Name: myName(xs[0].Name), Reason: "证明没有拿到", RequestId: requestID()}
	got, err := rs.ReopenMyErrand(me, req)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != inProgress || got.CloseTime != nil || got.History[len(got.History)-1].Text != "您已申请重新办理，代办员将重新为您办理" {
		t.Errorf("reopened: %v", got)
	}
	if _, err := rs.ReopenMyErrand(me, req); err != nil {
		t.Errorf("retry: %v", err)
	}
	row := e.App.Store.Client.Errand.GetX(ctx, testutil.ID(t, xs[0].Name))
	if row.ReopenCount != 1 || e.App.Store.Client.ErrandEvent.Query().Where(errandevent.ErrandID(row.ID), errandevent.KindEQ(errandevent.KindREOPENED),
		errandevent.ActorKindEQ(errandevent.ActorKindRESIDENT)).CountX(ctx) != 1 {
		t.Errorf("after a retry: reopened %d times", row.ReopenCount)
	}
	// Already reopened: the state table refuses.
	if code, r, _ := reason(func() error {
		_, err := rs.ReopenMyErrand(me, &redpointv1.ReopenMyErrandRequest{Name: myName(xs[0].Name), Reason: "还是没办好"})
		return err
	}()); code != codes.FailedPrecondition || r != "INVALID_STATE_TRANSITION" {
		t.Errorf("reopening an errand in progress: %v %s", code, r)
	}
	// 12-11, just after midnight: too late, over REST as over gRPC.
	e.clock.Set(testutil.At("2026-12-11 00:00").Add(time.Second))
	if code, r, _ := reason(func() error {
		_, err := rs.ReopenMyErrand(me, &redpointv1.ReopenMyErrandRequest{Name: myName(xs[1].Name), Reason: "没办好"})
		return err
	}()); code != codes.FailedPrecondition || r != "REOPEN_WINDOW_CLOSED" {
		t.Errorf("after 15 days: %v %s", code, r)
	}
	tok := strings.TrimPrefix(metadata.ValueFromIncomingContext(outgoing(me), "authorization")[0], "Bearer ")
	code, body := e.DoToken(t, tok, http.MethodPost, "/v1/"+myName(xs[1].Name)+":reopen", map[string]any{"reason": "没办好"})
	if r, _ := decodeREST(t, body); code != http.StatusBadRequest || r != "REOPEN_WINDOW_CLOSED" {
		t.Errorf("REST after 15 days: %d %s", code, body)
	}
	if row := e.App.Store.Client.Errand.GetX(ctx, testutil.ID(t, xs[1].Name)); row.State != errand.StateCOMPLETED {
		t.Errorf("refused reopening left %s", row.State)
	}
}

// outgoing turns an outgoing context's metadata into an incoming one's, to read it.
func outgoing(ctx context.Context) context.Context {
	md, _ := metadata.FromOutgoingContext(ctx)
	return metadata.NewIncomingContext(ctx, md)
}

func isCode(err error, c codes.Code) bool {
	code, _, _ := reason(err)
	return code == c
}

// TestLongTextsOfConsentAndReopenAreStored: the limits the handlers check
// are in characters, and Chinese text at them is stored, not a 500: a
// secretary's reopening reason of 2000 characters (the history's note,
// which adds the follow-up, is shortened to fit and keeps it), a paper
// consent's 64-character witness, and a 500-character revocation reason
// on a reopened errand (the errand's cancel reason and the agent's
// notification add to it).
func TestLongTextsOfConsentAndReopenAreStored(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	db := e.App.Store.Client
	me := e.resident(t, "demo-long-texts", "13912345009")
	x, f := e.completedWithFollowUp(t, me, "13912345009")
	e.clock.Advance(time.Hour)
	got, err := e.client.ReopenErrand(e.as(demo.GuhanSecretaryPhone), &redpointv1.ReopenErrandRequest{
		Name: x.Name, FollowUp: f, Reason: strings.Repeat("核", 2000), RequestId: requestID()})
	if err != nil {
		t.Fatalf("a 2000-character reason: %v", err)
	}
	ev, err := db.ErrandEvent.Query().Where(errandevent.ErrandID(testutil.ID(t, x.Name)), errandevent.KindEQ(errandevent.KindREOPENED)).Only(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len([]rune(ev.Note)); n > 2000 || !strings.HasSuffix(ev.Note, "（回访 "+f+"）") || !strings.HasPrefix(ev.Note, "重新办理：核核") {
		t.Errorf("the note (%d characters) lost its reason or its follow-up: …%s", n, string([]rune(ev.Note)[max(0, n-20):]))
	}
	if _, err := e.client.RecordPaperConsent(e.agent(), &redpointv1.RecordPaperConsentRequest{
		Name: got.Name, WitnessName: strings.Repeat("见", 64), RequestId: requestID()}); err != nil {
		t.Fatalf("a 64-character witness: %v", err)
	}
	if _, err := redpointv1.NewResidentServiceClient(e.GRPC).RevokeConsent(me, &redpointv1.RevokeConsentRequest{
		Name: myName(x.Name), Reason: strings.Repeat("撤", 500), RequestId: requestID()}); err != nil {
		t.Fatalf("a 500-character revocation reason: %v", err)
	}
	if after := db.Errand.GetX(ctx, testutil.ID(t, x.Name)); after.State != errand.StateCANCELLED {
		t.Errorf("revoked on the reopened errand: %s, want CANCELLED", after.State)
	}
}

// TestReopenOfATypeNoLongerAdmitted: an errand of a type its county no
// longer offers (made county-by-county, not admitted there) can't be
// logged anew, but the existing one is reopened and completed again.
func TestReopenOfATypeNoLongerAdmitted(t *testing.T) {
	e := newEnv(t)
	me := e.resident(t, "demo-unadmitted", "13912345010")
	x, f := e.completedWithFollowUp(t, me, "13912345010")
	if _, err := redpointv1.NewErrandTypeServiceClient(e.GRPC).UpdateErrandType(e.as(demo.CityAdminPhone), &redpointv1.UpdateErrandTypeRequest{
		ErrandType: &redpointv1.ErrandType{Name: validErrand().ErrandType, Availability: redpointv1.ErrandTypeAvailability_ERRAND_TYPE_AVAILABILITY_ADMITTED_COUNTIES},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"availability"}}}); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.CreateErrand(e.agent(), &redpointv1.CreateErrandRequest{Errand: validErrand(), RequestId: requestID()})
	if _, r, _ := reason(err); r != "ERRAND_TYPE_NOT_ADMITTED" {
		t.Fatalf("a new errand of the type: %v, want ERRAND_TYPE_NOT_ADMITTED", err)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.client.ReopenErrand(e.as(demo.GuhanSecretaryPhone), &redpointv1.ReopenErrandRequest{
		Name: x.Name, FollowUp: f, Reason: "回访核实未办结", RequestId: requestID()}); err != nil {
		t.Fatalf("reopening the existing errand: %v", err)
	}
	e.clock.Advance(time.Hour)
	if got, err := e.client.CompleteErrand(e.agent(), &redpointv1.CompleteErrandRequest{Name: x.Name, Result: "已重新办结"}); err != nil || got.State != completed {
		t.Fatalf("completing it again: %v, %v", got, err)
	}
}
