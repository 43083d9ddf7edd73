package resident_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/changzhi/redpoint/ent/consent"
	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/ent/outboxevent"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/testutil"
)

// reasonOf is the ErrorInfo reason of a gRPC error, or "".
func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// wantError fails unless err has code c and, when set, reason.
func wantError(t *testing.T, what string, err error, c codes.Code, reason string) {
	t.Helper()
	if status.Code(err) != c || (reason != "" && reasonOf(err) != reason) {
		t.Errorf("%s: %v (reason %q), want %v %s", what, err, reasonOf(err), c, reason)
	}
}

// consentEnv is a small demo on a fake clock with the agent's and the
// residents' clients.
type consentEnv struct {
	*ownershipEnv
	clock *testutil.Clock
}

func newConsentEnv(t *testing.T) *consentEnv {
	t.Helper()
	start := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	clock := testutil.NewClock(start)
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: start, Errands: 100}, Clock: clock.Now})
	return &consentEnv{clock: clock, ownershipEnv: &ownershipEnv{Server: s, residents: redpointv1.NewResidentServiceClient(s.GRPC),
		errands: redpointv1.NewErrandServiceClient(s.GRPC), agent: s.As(t, context.Background(), demo.GuhanAgentPhone)}}
}

func (e *consentEnv) code(t *testing.T, errand string) *redpointv1.ConsentCode {
	t.Helper()
	c, err := e.errands.CreateConsentCode(e.agent, &redpointv1.CreateConsentCodeRequest{Name: errand})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func myName(errand string) string { return "residents/me/" + errand }

// TestConsentByWeChatCode: the agent shows a code, the errand's resident
// previews and grants it in the mini-program; the code works once, for
// ten minutes, for the resident whose bound phone is the errand's only.
func TestConsentByWeChatCode(t *testing.T) {
	e := newConsentEnv(t)
	const phone = "13912340001"
	x := e.create(t, phone)

	c := e.code(t, x.Name)
	if c.QrPayload != errands.ConsentQRPrefix+c.Code || len(c.Code) != 20 || c.Errand != x.Name ||
		!c.ExpireTime.AsTime().Equal(e.clock.Now().Add(errands.ConsentCodeTTL)) {
		t.Fatalf("code: %v", c)
	}

	// Not bound yet: the preview says so, the grant asks to bind first.
	unbound := e.login(t, "demo-unbound", "")
	p, err := e.residents.PreviewConsent(unbound, &redpointv1.PreviewConsentRequest{Code: c.QrPayload})
	if err != nil || p.Yours {
		t.Fatalf("preview before binding: %v, %v", p, err)
	}
	_, err = e.residents.GrantConsent(unbound, &redpointv1.GrantConsentRequest{Code: c.Code})
	wantError(t, "grant before binding", err, codes.FailedPrecondition, "PHONE_NOT_BOUND")

	// Another resident's phone: refused, and the code still works.
	other := e.login(t, "demo-other", "13912340002")
	_, err = e.residents.GrantConsent(other, &redpointv1.GrantConsentRequest{Code: c.Code})
	wantError(t, "grant by another resident", err, codes.FailedPrecondition, "CONSENT_NOT_YOURS")
	if strings.Contains(status.Convert(err).Message(), strings.TrimPrefix(x.Name, "errands/")) {
		t.Errorf("the refusal names the errand: %v", err)
	}

	// Bad input.
	_, err = e.residents.GrantConsent(other, &redpointv1.GrantConsentRequest{})
	wantError(t, "no code", err, codes.InvalidArgument, "")
	_, err = e.residents.PreviewConsent(other, &redpointv1.PreviewConsentRequest{Code: "not-a-code"})
	wantError(t, "malformed code", err, codes.InvalidArgument, "")
	_, err = e.residents.GrantConsent(other, &redpointv1.GrantConsentRequest{Code: "0123456789ABCDEFGHJK"})
	wantError(t, "unknown code", err, codes.NotFound, "CONSENT_CODE_UNKNOWN")

	// The owner previews (masked, no more) and grants.
	owner := e.login(t, "demo-owner", phone)
	p, err = e.residents.PreviewConsent(owner, &redpointv1.PreviewConsentRequest{Code: strings.ToLower(c.Code)})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Yours || p.AgentDisplayName != x.AgentDisplayName || p.ServicePointDisplayName != x.ServicePointDisplayName ||
		p.ErrandTypeDisplayName != x.ErrandTypeDisplayName || p.ResidentPhone != "139****0001" || p.ResidentName != "郭*兰" ||
		len(p.Materials) != 1 || !p.ExpireTime.AsTime().Equal(c.ExpireTime.AsTime()) {
		t.Errorf("owner's preview: %v", p)
	}
	got, err := e.residents.GrantConsent(owner, &redpointv1.GrantConsentRequest{Code: c.QrPayload, RequestId: "grant-1"})
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	if got.Name != myName(x.Name) || got.Consent.GetMethod() != redpointv1.ConsentMethod_CONSENT_METHOD_WECHAT ||
		!got.Consent.GrantTime.AsTime().Equal(now) || !got.Consent.ExpireTime.AsTime().Equal(now.Add(errands.ConsentValidity)) {
		t.Fatalf("granted: %v", got)
	}
	if last := got.History[len(got.History)-1]; last.Text != "您已委托代办员办理" {
		t.Errorf("the resident's history ends with %q", last.Text)
	}
	// A retry of the same request: the same answer, not an error.
	again, err := e.residents.GrantConsent(owner, &redpointv1.GrantConsentRequest{Code: c.QrPayload, RequestId: "grant-1"})
	if err != nil || again.Consent == nil {
		t.Errorf("retried grant: %v, %v", again, err)
	}
	// The code is used up: another grant, a preview.
	_, err = e.residents.GrantConsent(owner, &redpointv1.GrantConsentRequest{Code: c.Code, RequestId: "grant-2"})
	wantError(t, "a used code", err, codes.FailedPrecondition, "CONSENT_CODE_USED")
	_, err = e.residents.PreviewConsent(owner, &redpointv1.PreviewConsentRequest{Code: c.Code})
	wantError(t, "previewing a used code", err, codes.FailedPrecondition, "CONSENT_CODE_USED")

	// The staff see it on the errand and in its history; no second consent.
	seen, err := e.errands.GetErrand(e.agent, &redpointv1.GetErrandRequest{Name: x.Name})
	if err != nil || seen.Consent.GetMethod() != redpointv1.ConsentMethod_CONSENT_METHOD_WECHAT || seen.Etag == x.Etag {
		t.Errorf("the agent's view: %v, %v", seen.GetConsent(), err)
	}
	evs, err := e.errands.ListErrandEvents(e.agent, &redpointv1.ListErrandEventsRequest{Parent: x.Name})
	if err != nil {
		t.Fatal(err)
	}
	last := evs.Events[len(evs.Events)-1]
	if last.Kind != redpointv1.ErrandEventKind_ERRAND_EVENT_KIND_CONSENT_GRANTED || last.ActorDisplayName != "群众" {
		t.Errorf("history: %v", last)
	}
	_, err = e.errands.CreateConsentCode(e.agent, &redpointv1.CreateConsentCodeRequest{Name: x.Name})
	wantError(t, "a code for a consented errand", err, codes.AlreadyExists, "ALREADY_CONSENTED")
	// The change went out to the rest (answers, workloads, sync).
	db := e.App.Store.Client
	if n := db.OutboxEvent.Query().Where(outboxevent.Topic(outbox.TopicErrandUpdated), outboxevent.Aggregate(x.Name)).CountX(context.Background()); n != 1 {
		t.Errorf("%d errand.updated events for the grant, want 1", n)
	}
	row := db.Consent.Query().Where(consent.ErrandID(testutil.ID(t, x.Name))).OnlyX(context.Background())
	if row.Method != consent.MethodWECHAT || row.ResidentID == nil || row.Openid != "demo-owner" || row.CodeID == nil {
		t.Errorf("the stored consent: %+v", row)
	}
}

// TestConsentCodeExpiresAndIsReplaced: a code stops working ten minutes
// after it was issued, and as soon as a newer one is issued.
func TestConsentCodeExpiresAndIsReplaced(t *testing.T) {
	e := newConsentEnv(t)
	const phone = "13912340011"
	owner := e.login(t, "demo-owner2", phone)
	x := e.create(t, phone)

	c := e.code(t, x.Name)
	e.clock.Advance(errands.ConsentCodeTTL)
	_, err := e.residents.GrantConsent(owner, &redpointv1.GrantConsentRequest{Code: c.Code})
	wantError(t, "a code at its expiry", err, codes.FailedPrecondition, "CONSENT_CODE_EXPIRED")
	_, err = e.residents.PreviewConsent(owner, &redpointv1.PreviewConsentRequest{Code: c.Code})
	wantError(t, "previewing an expired code", err, codes.FailedPrecondition, "CONSENT_CODE_EXPIRED")

	older := e.code(t, x.Name)
	e.clock.Advance(time.Minute)
	newer := e.code(t, x.Name)
	_, err = e.residents.GrantConsent(owner, &redpointv1.GrantConsentRequest{Code: older.Code})
	wantError(t, "a replaced code", err, codes.FailedPrecondition, "CONSENT_CODE_EXPIRED")
	e.clock.Advance(errands.ConsentCodeTTL - time.Second)
	if _, err := e.residents.GrantConsent(owner, &redpointv1.GrantConsentRequest{Code: newer.Code}); err != nil {
		t.Errorf("the newest code a second before its expiry: %v", err)
	}
}

// TestConcurrentGrantsOneWins: a code sent twice at once (two taps, two
// phones of one household logged in as the owner) records one consent.
func TestConcurrentGrantsOneWins(t *testing.T) {
	e := newConsentEnv(t)
	const phone = "13912340021"
	owner := e.login(t, "demo-owner3", phone)
	for round := 0; round < 3; round++ {
		x := e.create(t, phone)
		c := e.code(t, x.Name)
		const n = 4
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = e.residents.GrantConsent(owner, &redpointv1.GrantConsentRequest{Code: c.Code, RequestId: fmt.Sprintf("race-%d-%d", round, i)})
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch r := reasonOf(err); {
			case err == nil:
				won++
			case r != "CONSENT_CODE_USED" && r != "ALREADY_CONSENTED":
				t.Errorf("round %d: a losing grant: %v", round, err)
			}
		}
		db := e.App.Store.Client
		id := testutil.ID(t, x.Name)
		rows := db.Consent.Query().Where(consent.ErrandID(id)).CountX(context.Background())
		events := db.ErrandEvent.Query().Where(errandevent.ErrandID(id), errandevent.KindEQ(errandevent.KindCONSENT_GRANTED)).CountX(context.Background())
		if won != 1 || rows != 1 || events != 1 {
			t.Errorf("round %d: %d grants succeeded, %d consents, %d history entries; want 1 each", round, won, rows, events)
		}
	}
}

// TestRevokeConsent: the resident revokes while the errand is open; the
// errand is cancelled with the reason, the history says both, the agent is
// notified; closed errands and errands without consent refuse.
func TestRevokeConsent(t *testing.T) {
	e := newConsentEnv(t)
	const phone = "13912340031"
	owner := e.login(t, "demo-owner4", phone)
	x := e.create(t, phone)
	if _, err := e.errands.StartErrand(e.agent, &redpointv1.StartErrandRequest{Name: x.Name}); err != nil {
		t.Fatal(err)
	}
	c := e.code(t, x.Name)
	if _, err := e.residents.GrantConsent(owner, &redpointv1.GrantConsentRequest{Code: c.Code}); err != nil {
		t.Fatal(err)
	}
	// Read once, so a cached answer would show if the revocation left it.
	if _, err := e.errands.GetErrand(e.agent, &redpointv1.GetErrandRequest{Name: x.Name}); err != nil {
		t.Fatal(err)
	}

	_, err := e.residents.RevokeConsent(owner, &redpointv1.RevokeConsentRequest{Name: myName(x.Name), Reason: "  "})
	wantError(t, "no reason", err, codes.InvalidArgument, "")
	_, err = e.residents.RevokeConsent(owner, &redpointv1.RevokeConsentRequest{Name: myName(x.Name), Reason: strings.Repeat("长", 501)})
	wantError(t, "a reason too long", err, codes.InvalidArgument, "")
	_, err = e.residents.RevokeConsent(owner, &redpointv1.RevokeConsentRequest{Name: x.Name, Reason: "不办了"})
	wantError(t, "a staff name", err, codes.InvalidArgument, "")
	neighbour := e.login(t, "demo-neighbour4", "13912340032")
	_, err = e.residents.RevokeConsent(neighbour, &redpointv1.RevokeConsentRequest{Name: myName(x.Name), Reason: "不办了"})
	wantError(t, "another resident's errand", err, codes.NotFound, "")

	got, err := e.residents.RevokeConsent(owner, &redpointv1.RevokeConsentRequest{Name: myName(x.Name), Reason: "家人已代为办理", RequestId: "revoke-1"})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != redpointv1.ErrandState_ERRAND_STATE_CANCELLED || got.Consent.GetRevokeTime() == nil {
		t.Errorf("revoked: %v", got)
	}
	if again, err := e.residents.RevokeConsent(owner, &redpointv1.RevokeConsentRequest{Name: myName(x.Name), Reason: "家人已代为办理", RequestId: "revoke-1"}); err != nil || again.State != got.State {
		t.Errorf("a retried revocation: %v, %v", again, err)
	}
	staff, err := e.errands.GetErrand(e.agent, &redpointv1.GetErrandRequest{Name: x.Name})
	if err != nil || staff.State != redpointv1.ErrandState_ERRAND_STATE_CANCELLED || !strings.Contains(staff.CancelReason, "家人已代为办理") {
		t.Errorf("the agent's view: %v %q, %v", staff.GetState(), staff.GetCancelReason(), err)
	}
	evs, err := e.errands.ListErrandEvents(e.agent, &redpointv1.ListErrandEventsRequest{Parent: x.Name})
	if err != nil {
		t.Fatal(err)
	}
	n := len(evs.Events)
	revoked, cancelled := evs.Events[n-2], evs.Events[n-1]
	if revoked.Kind != redpointv1.ErrandEventKind_ERRAND_EVENT_KIND_CONSENT_REVOKED || revoked.Note != "家人已代为办理" || revoked.ActorDisplayName != "群众" ||
		cancelled.Kind != redpointv1.ErrandEventKind_ERRAND_EVENT_KIND_TRANSITIONED || cancelled.FromState != redpointv1.ErrandState_ERRAND_STATE_IN_PROGRESS ||
		cancelled.ToState != redpointv1.ErrandState_ERRAND_STATE_CANCELLED {
		t.Errorf("history ends with %v, %v", revoked, cancelled)
	}
	notes, err := redpointv1.NewNotificationServiceClient(e.GRPC).ListNotifications(e.agent, &redpointv1.ListNotificationsRequest{Parent: "users/me"})
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, note := range notes.Notifications {
		if note.Errand == x.Name && note.Kind == redpointv1.NotificationKind_NOTIFICATION_KIND_CONSENT_REVOKED && strings.Contains(note.Body, "家人已代为办理") {
			found++
		}
	}
	if found != 1 {
		t.Errorf("%d consent-revoked notifications to the agent, want 1", found)
	}
	db := e.App.Store.Client
	if n := db.OutboxEvent.Query().Where(outboxevent.Topic(outbox.TopicErrandTransitioned), outboxevent.Aggregate(x.Name)).CountX(context.Background()); n != 2 {
		t.Errorf("%d errand.transitioned events (start, revoke), want 2", n)
	}

	// Revoked, the errand is closed: no second revocation.
	_, err = e.residents.RevokeConsent(owner, &redpointv1.RevokeConsentRequest{Name: myName(x.Name), Reason: "再撤一次"})
	wantError(t, "revoking a cancelled errand", err, codes.FailedPrecondition, "ERRAND_CLOSED")
	// A completed errand with consent: too late.
	y := e.create(t, phone)
	if _, err := e.residents.GrantConsent(owner, &redpointv1.GrantConsentRequest{Code: e.code(t, y.Name).Code}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.errands.CompleteErrand(e.agent, &redpointv1.CompleteErrandRequest{Name: y.Name, Result: "已办好"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.residents.RevokeConsent(owner, &redpointv1.RevokeConsentRequest{Name: myName(y.Name), Reason: "不办了"})
	wantError(t, "revoking a completed errand", err, codes.FailedPrecondition, "ERRAND_CLOSED")
	// An open errand without consent: nothing to revoke, nothing changes.
	z := e.create(t, phone)
	_, err = e.residents.RevokeConsent(owner, &redpointv1.RevokeConsentRequest{Name: myName(z.Name), Reason: "不办了"})
	wantError(t, "revoking without consent", err, codes.FailedPrecondition, "NO_CONSENT")
	if still, err := e.errands.GetErrand(e.agent, &redpointv1.GetErrandRequest{Name: z.Name}); err != nil || still.State != redpointv1.ErrandState_ERRAND_STATE_ACCEPTED {
		t.Errorf("after a refused revocation: %v, %v", still.GetState(), err)
	}
}

// TestPaperConsent: the agent records a witnessed paper consent at their
// own point, once; bad input and other points are refused.
func TestPaperConsent(t *testing.T) {
	e := newConsentEnv(t)
	x := e.create(t, "13912340041")
	_, err := e.errands.RecordPaperConsent(e.agent, &redpointv1.RecordPaperConsentRequest{Name: x.Name, WitnessName: " "})
	wantError(t, "no witness", err, codes.InvalidArgument, "")
	_, err = e.errands.RecordPaperConsent(e.agent, &redpointv1.RecordPaperConsentRequest{Name: x.Name, WitnessName: strings.Repeat("张", 65)})
	wantError(t, "a witness too long", err, codes.InvalidArgument, "")
	other := e.As(t, context.Background(), demo.DanzhuAgentPhone)
	_, err = e.errands.RecordPaperConsent(other, &redpointv1.RecordPaperConsentRequest{Name: x.Name, WitnessName: "王主任"})
	wantError(t, "another point's agent", err, codes.PermissionDenied, "")
	_, err = e.errands.CreateConsentCode(other, &redpointv1.CreateConsentCodeRequest{Name: x.Name})
	wantError(t, "a code from another point's agent", err, codes.PermissionDenied, "")
	_, err = e.errands.RecordPaperConsent(e.agent, &redpointv1.RecordPaperConsentRequest{Name: x.Name, WitnessName: "王主任", Etag: `"999"`})
	wantError(t, "a stale etag", err, codes.Aborted, "")
	if db := e.App.Store.Client; db.Consent.Query().CountX(context.Background()) != 0 {
		t.Fatal("a refused paper consent was stored")
	}

	got, err := e.errands.RecordPaperConsent(e.agent, &redpointv1.RecordPaperConsentRequest{Name: x.Name, WitnessName: "王主任", RequestId: "paper-1"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Consent.GetMethod() != redpointv1.ConsentMethod_CONSENT_METHOD_PAPER || got.Etag == x.Etag {
		t.Errorf("paper consent: %v", got)
	}
	again, err := e.errands.RecordPaperConsent(e.agent, &redpointv1.RecordPaperConsentRequest{Name: x.Name, WitnessName: "王主任", RequestId: "paper-1"})
	if err != nil || again.Etag != got.Etag {
		t.Errorf("a retry: %v, %v", again.GetEtag(), err)
	}
	_, err = e.errands.RecordPaperConsent(e.agent, &redpointv1.RecordPaperConsentRequest{Name: x.Name, WitnessName: "李主任"})
	wantError(t, "a second consent", err, codes.AlreadyExists, "ALREADY_CONSENTED")
	evs, err := e.errands.ListErrandEvents(e.agent, &redpointv1.ListErrandEventsRequest{Parent: x.Name})
	if err != nil {
		t.Fatal(err)
	}
	if last := evs.Events[len(evs.Events)-1]; last.Kind != redpointv1.ErrandEventKind_ERRAND_EVENT_KIND_CONSENT_GRANTED || !strings.Contains(last.Note, "王主任") {
		t.Errorf("history: %v", last)
	}
	row := e.App.Store.Client.Consent.Query().Where(consent.ErrandID(testutil.ID(t, x.Name))).OnlyX(context.Background())
	if row.Method != consent.MethodPAPER || row.Witness != "王主任" || row.ResidentID != nil {
		t.Errorf("stored: %+v", row)
	}

	// A closed errand takes no consent.
	y := e.create(t, "13912340042")
	if _, err := e.errands.CancelErrand(e.agent, &redpointv1.CancelErrandRequest{Name: y.Name, Reason: "群众不办了"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.errands.RecordPaperConsent(e.agent, &redpointv1.RecordPaperConsentRequest{Name: y.Name, WitnessName: "王主任"})
	wantError(t, "a cancelled errand", err, codes.FailedPrecondition, "ERRAND_CLOSED")
	_, err = e.errands.CreateConsentCode(e.agent, &redpointv1.CreateConsentCodeRequest{Name: y.Name})
	wantError(t, "a code for a cancelled errand", err, codes.FailedPrecondition, "ERRAND_CLOSED")
}
