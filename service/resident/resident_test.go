package resident_test

import (
	"context"
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
		defer func() { _ = resp.Body.Close() }()
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
