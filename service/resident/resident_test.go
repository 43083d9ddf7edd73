package resident_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/changzhi/redpoint/ent/errand"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/testutil"
)

func bearer(tok string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
}

func TestWechatLoginBindAndFollow(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 300}})
	residents := redpointv1.NewResidentServiceClient(s.GRPC)
	ctx := context.Background()

	if _, err := residents.WechatLogin(ctx, &redpointv1.WechatLoginRequest{Code: "forged"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a code WeChat rejects (40029): %v", err)
	}
	sess, err := residents.WechatLogin(ctx, &redpointv1.WechatLoginRequest{Code: "demo-grandma"})
	if err != nil {
		t.Fatal(err)
	}
	me := bearer(sess.AccessToken)
	list, err := residents.ListMyErrands(me, &redpointv1.ListMyErrandsRequest{})
	if err != nil || len(list.Errands) != 0 {
		t.Fatalf("before binding: %d errands, %v", len(list.GetErrands()), err)
	}
	r, err := residents.BindPhone(me, &redpointv1.BindPhoneRequest{PhoneCode: "phone-" + demo.ResidentPhone})
	if err != nil || r.Phone != "139****0001" {
		t.Fatalf("bind: %v, %v", r, err)
	}
	// The errands logged with that phone, and no others.
	db := s.App.Store.Client
	want := db.Errand.Query().Where(errand.ResidentPhoneHash(s.App.Keys.Hash(pii.KindPhone, demo.ResidentPhone))).CountX(ctx)
	list, err = residents.ListMyErrands(me, &redpointv1.ListMyErrandsRequest{})
	if err != nil || len(list.Errands) != want || want < 5 {
		t.Fatalf("after binding: %d errands, want %d (%v)", len(list.GetErrands()), want, err)
	}
	for i := 1; i < len(list.Errands); i++ {
		if list.Errands[i].AcceptTime.AsTime().After(list.Errands[i-1].AcceptTime.AsTime()) {
			t.Fatal("not newest first")
		}
	}
	one, err := residents.GetMyErrand(me, &redpointv1.GetMyErrandRequest{Name: list.Errands[0].Name})
	if err != nil || len(one.History) == 0 || one.History[0].Text != "代办员已受理您的事项" {
		t.Fatalf("detail: %v, %v", one, err)
	}
	// Another resident sees nothing of it; staff can't use the resident API, nor residents the staff's.
	other, err := residents.WechatLogin(ctx, &redpointv1.WechatLoginRequest{Code: "demo-neighbour"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := residents.GetMyErrand(bearer(other.AccessToken), &redpointv1.GetMyErrandRequest{Name: list.Errands[0].Name}); status.Code(err) != codes.NotFound {
		t.Errorf("a neighbour reading grandma's errand: %v", err)
	}
	if _, err := residents.ListMyErrands(s.As(t, ctx, demo.GuhanAgentPhone), &redpointv1.ListMyErrandsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("an agent on the resident API: %v", err)
	}
	if _, err := redpointv1.NewErrandServiceClient(s.GRPC).ListErrands(me, &redpointv1.ListErrandsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a resident on the staff API: %v", err)
	}
	if _, err := redpointv1.NewLeaderboardServiceClient(s.GRPC).ListLeaderboardEntries(me, &redpointv1.ListLeaderboardEntriesRequest{Parent: "regions/140400000000", PageSize: 3}); err != nil {
		t.Errorf("a resident reading the leaderboard: %v", err)
	}
}

// TestRatingRulesAndFollowUp: only the errand's resident, only once, only
// completed, within 30 days; a bad rating opens a follow-up the township
// closes, both in the history.
func TestRatingRulesAndFollowUp(t *testing.T) {
	clock := testutil.NewClock(time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC))
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 100},
		Clock: clock.Now})
	residents := redpointv1.NewResidentServiceClient(s.GRPC)
	ctx := context.Background()
	sess, err := residents.WechatLogin(ctx, &redpointv1.WechatLoginRequest{Code: "demo-grandma"})
	if err != nil {
		t.Fatal(err)
	}
	me := bearer(sess.AccessToken)
	if _, err := residents.BindPhone(me, &redpointv1.BindPhoneRequest{PhoneCode: "phone-" + demo.ResidentPhone}); err != nil {
		t.Fatal(err)
	}
	list, err := residents.ListMyErrands(me, &redpointv1.ListMyErrandsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var completed, open []string
	for _, e := range list.Errands {
		full, err := residents.GetMyErrand(me, &redpointv1.GetMyErrandRequest{Name: e.Name})
		if err != nil {
			t.Fatal(err)
		}
		if e.CanRate != full.CanRate || e.Rating != full.Rating {
			t.Errorf("%s: the list says canRate %v %v, the detail %v %v", e.Name, e.CanRate, e.Rating, full.CanRate, full.Rating)
		}
		switch {
		case full.CanRate:
			completed = append(completed, e.Name)
		case e.State != redpointv1.ErrandState_ERRAND_STATE_COMPLETED:
			open = append(open, e.Name)
		}
	}
	if len(completed) < 2 || len(open) == 0 {
		t.Fatalf("demo resident: %d rateable, %d open", len(completed), len(open))
	}
	rate := func(ctx context.Context, name string, l redpointv1.RatingLevel) error {
		_, err := residents.RateMyErrand(ctx, &redpointv1.RateMyErrandRequest{Name: name, Level: l, Comment: "等了很久"})
		return err
	}
	if err := rate(me, open[0], redpointv1.RatingLevel_RATING_LEVEL_SATISFIED); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("rating an open errand: %v", err)
	}
	other, err := residents.WechatLogin(ctx, &redpointv1.WechatLoginRequest{Code: "demo-neighbour"})
	if err != nil {
		t.Fatal(err)
	}
	if err := rate(bearer(other.AccessToken), completed[0], redpointv1.RatingLevel_RATING_LEVEL_VERY_DISSATISFIED); status.Code(err) != codes.NotFound {
		t.Errorf("a neighbour rating grandma's errand: %v", err)
	}
	if err := rate(me, completed[0], redpointv1.RatingLevel_RATING_LEVEL_VERY_DISSATISFIED); err != nil {
		t.Fatal(err)
	}
	if err := rate(me, completed[0], redpointv1.RatingLevel_RATING_LEVEL_VERY_SATISFIED); status.Code(err) != codes.AlreadyExists {
		t.Errorf("rating twice: %v", err)
	}
	list, err = residents.ListMyErrands(me, &redpointv1.ListMyErrandsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list.Errands {
		if e.Name == completed[0] && (e.CanRate || e.Rating != redpointv1.RatingLevel_RATING_LEVEL_VERY_DISSATISFIED) {
			t.Errorf("the list after rating: canRate %v, rating %v", e.CanRate, e.Rating)
		}
	}
	clock.Set(time.Date(2027, 1, 30, 2, 0, 0, 0, time.UTC)) // more than 30 days later
	if err := rate(me, completed[1], redpointv1.RatingLevel_RATING_LEVEL_SATISFIED); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("rating after 30 days: %v", err)
	}
	// The bad rating opened a follow-up for 古韩镇; its secretary closes it.
	sec := s.As(t, ctx, demo.GuhanSecretaryPhone)
	reports := redpointv1.NewReportServiceClient(s.GRPC)
	fus, err := reports.ListFollowUps(sec, &redpointv1.ListFollowUpsRequest{Parent: "regions/140423100000", OpenOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var mine *redpointv1.FollowUp
	for _, f := range fus.FollowUps {
		if f.Comment == "等了很久" {
			mine = f
		}
	}
	if mine == nil || mine.RatingDisplayName != "非常不满意" {
		t.Fatalf("no open follow-up for the bad rating: %v", fus.FollowUps)
	}
	if _, err := reports.CloseFollowUp(s.As(t, ctx, demo.DanzhuSecretaryPhone), &redpointv1.CloseFollowUpRequest{Name: mine.Name, Note: "x", Outcome: "RESOLVED"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("丹朱镇 closing 古韩镇's follow-up: %v", err)
	}
	closed, err := reports.CloseFollowUp(sec, &redpointv1.CloseFollowUpRequest{Name: mine.Name, Note: "已电话回访，解释了办理时限", Outcome: "EXPLAINED"})
	if err != nil || closed.Open {
		t.Fatalf("close: %v, %v", closed, err)
	}
	if _, err := reports.CloseFollowUp(sec, &redpointv1.CloseFollowUpRequest{Name: mine.Name, Note: "again", Outcome: "RESOLVED"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("closing twice: %v", err)
	}
	hist, err := redpointv1.NewErrandServiceClient(s.GRPC).ListErrandEvents(s.As(t, ctx, demo.GuhanAgentPhone), &redpointv1.ListErrandEventsRequest{Parent: fmt.Sprintf("errands/%d", testutil.ID(t, completed[0]))})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[redpointv1.ErrandEventKind]bool{}
	for _, ev := range hist.GetEvents() {
		kinds[ev.Kind] = true
	}
	for _, k := range []redpointv1.ErrandEventKind{redpointv1.ErrandEventKind_ERRAND_EVENT_KIND_RATED, redpointv1.ErrandEventKind_ERRAND_EVENT_KIND_FOLLOW_UP_OPENED, redpointv1.ErrandEventKind_ERRAND_EVENT_KIND_FOLLOW_UP_CLOSED} {
		if !kinds[k] {
			t.Errorf("history lacks %v", k)
		}
	}
}

// TestPollingGets304: the mini-program polls its errands with
// If-None-Match; unchanged, the answer is 304 with no body.
func TestPollingGets304(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 20}})
	sess, err := redpointv1.NewResidentServiceClient(s.GRPC).WechatLogin(context.Background(), &redpointv1.WechatLoginRequest{Code: "demo-grandma"})
	if err != nil {
		t.Fatal(err)
	}
	get := func(etag string) (int, string, int) {
		req, err := http.NewRequest(http.MethodGet, s.BaseURL+"/v1/residents/me/errands", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+sess.AccessToken)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header.Get("ETag"), len(b)
	}
	code, etag, _ := get("")
	if code != 200 || etag == "" {
		t.Fatalf("first poll: %d etag %q", code, etag)
	}
	if code, _, n := get(etag); code != http.StatusNotModified || n != 0 {
		t.Errorf("unchanged poll: %d with %d bytes, want 304 and none", code, n)
	}
	if code, _, _ := get(`"stale"`); code != 200 {
		t.Errorf("stale etag: %d, want 200", code)
	}
}

// logErrand has the agent log a medical-insurance payment for the resident.
func logErrand(tb testing.TB, s *apptest.Server, agent context.Context, requestID, name, phone string) *redpointv1.Errand {
	tb.Helper()
	x, err := redpointv1.NewErrandServiceClient(s.GRPC).CreateErrand(agent, &redpointv1.CreateErrandRequest{RequestId: requestID,
		Errand: &redpointv1.Errand{ErrandType: "errandTypes/MI-PAYMENT", ResidentName: name, ResidentPhone: phone}})
	if err != nil {
		tb.Fatal(err)
	}
	return x
}
