package feedback_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/testutil"
)

func bearer(tok string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
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
	sess, _ := residents.WechatLogin(ctx, &redpointv1.WechatLoginRequest{Code: "demo-grandma"})
	me := bearer(sess.AccessToken)
	if _, err := residents.BindPhone(me, &redpointv1.BindPhoneRequest{PhoneCode: "phone-" + demo.ResidentPhone}); err != nil {
		t.Fatal(err)
	}
	list, _ := residents.ListMyErrands(me, &redpointv1.ListMyErrandsRequest{})
	var completed, open []string
	for _, e := range list.Errands {
		full, _ := residents.GetMyErrand(me, &redpointv1.GetMyErrandRequest{Name: e.Name})
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
	other, _ := residents.WechatLogin(ctx, &redpointv1.WechatLoginRequest{Code: "demo-neighbour"})
	if err := rate(bearer(other.AccessToken), completed[0], redpointv1.RatingLevel_RATING_LEVEL_VERY_DISSATISFIED); status.Code(err) != codes.NotFound {
		t.Errorf("a neighbour rating grandma's errand: %v", err)
	}
	if err := rate(me, completed[0], redpointv1.RatingLevel_RATING_LEVEL_VERY_DISSATISFIED); err != nil {
		t.Fatal(err)
	}
	if err := rate(me, completed[0], redpointv1.RatingLevel_RATING_LEVEL_VERY_SATISFIED); status.Code(err) != codes.AlreadyExists {
		t.Errorf("rating twice: %v", err)
	}
	list, _ = residents.ListMyErrands(me, &redpointv1.ListMyErrandsRequest{})
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
	// The answer is the closed follow-up in full, as the list shows it.
	if closed.Name != mine.Name || closed.Errand != mine.Errand || closed.TrackingCode != mine.TrackingCode ||
		closed.RatingDisplayName != "非常不满意" || closed.Comment != "等了很久" || closed.ServicePointDisplayName != mine.ServicePointDisplayName ||
		closed.Note != "已电话回访，解释了办理时限" || !closed.CreateTime.AsTime().Equal(mine.CreateTime.AsTime()) ||
		!closed.CloseTime.AsTime().Equal(clock.Now().UTC().Truncate(time.Microsecond)) {
		t.Errorf("closed follow-up %v, listed as %v", closed, mine)
	}
	if _, err := reports.CloseFollowUp(sec, &redpointv1.CloseFollowUpRequest{Name: mine.Name, Note: "again", Outcome: "RESOLVED"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("closing twice: %v", err)
	}
	hist, _ := redpointv1.NewErrandServiceClient(s.GRPC).ListErrandEvents(s.As(t, ctx, demo.GuhanAgentPhone), &redpointv1.ListErrandEventsRequest{Parent: "errands/" + completed[0][len("residents/me/errands/"):]})
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
