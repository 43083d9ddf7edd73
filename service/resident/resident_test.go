package resident_test

import (
	"context"
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
	if n := db.Errand.Query().Where(errand.ResidentIDNotNil()).CountX(ctx); n != want {
		t.Errorf("%d errands are bound, want %d", n, want)
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
	other, _ := residents.WechatLogin(ctx, &redpointv1.WechatLoginRequest{Code: "demo-neighbour"})
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
