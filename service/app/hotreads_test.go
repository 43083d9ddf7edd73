package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/changzhi/redpoint/ent/processedevent"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/answers"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/testutil"
)

// hotFixture is a resident with one errand at the 古韩镇 agent's point,
// and the hot reads over it.
type hotFixture struct {
	s                      *apptest.Server
	errand                 *redpointv1.Errand
	resident, agent, admin string // access tokens
}

func newHotFixture(t *testing.T, s *apptest.Server) *hotFixture {
	t.Helper()
	ctx := context.Background()
	f := &hotFixture{s: s, agent: s.Token(t, demo.GuhanAgentPhone), admin: s.Token(t, demo.CountyAdminPhone)}
	x, err := redpointv1.NewErrandServiceClient(s.GRPC).CreateErrand(s.As(t, ctx, demo.GuhanAgentPhone), &redpointv1.CreateErrandRequest{
		RequestId: "hot-1", Errand: &redpointv1.Errand{ErrandType: "errandTypes/MI-PAYMENT", ResidentName: "李四", ResidentPhone: "13912348765"}})
	if err != nil {
		t.Fatal(err)
	}
	f.errand = x
	residents := redpointv1.NewResidentServiceClient(s.GRPC)
	sess, err := residents.WechatLogin(ctx, &redpointv1.WechatLoginRequest{Code: "demo-hot"})
	if err != nil {
		t.Fatal(err)
	}
	f.resident = sess.AccessToken
	if _, err := residents.BindPhone(bearer(f.resident), &redpointv1.BindPhoneRequest{PhoneCode: "phone-13912348765"}); err != nil {
		t.Fatal(err)
	}
	// The outbox bumps the new errand's scopes again: let it, before the
	// answers are read and counted.
	testutil.Eventually(t, 30*time.Second, "the outbox bumped the new errand's answers", func() bool {
		n, err := s.App.Store.Client.ProcessedEvent.Query().Where(processedevent.Handler("answers-invalidate")).Count(ctx)
		return err == nil && n > 0
	})
	return f
}

// hotRead is one of the reads people repeat all day.
type hotRead struct{ name, token, path string }

func (f *hotFixture) reads() []hotRead {
	id := strings.TrimPrefix(f.errand.Name, "errands/")
	return []hotRead{
		{"resident's list", f.resident, "/v1/residents/me/errands?pageSize=10"},
		{"resident's errand", f.resident, "/v1/residents/me/errands/" + id},
		{"agent's errand", f.agent, "/v1/" + f.errand.Name},
		{"agent's list", f.agent, "/v1/errands?filter=state%3DACCEPTED&pageSize=10"},
		{"secretary's list", f.admin, "/v1/errands?filter=overdue%3Dfalse&pageSize=5"},
	}
}

// get reads path with token, sending etag as If-None-Match when set.
func get(t *testing.T, s *apptest.Server, token, path, etag string) (int, string, []byte) {
	t.Helper()
	var header []string
	if etag != "" {
		header = []string{"If-None-Match", etag}
	}
	resp, body := s.Send(t, token, http.MethodGet, path, nil, header...)
	return resp.StatusCode, resp.Header.Get("ETag"), body
}

// Every change that affects an answer changes its ETag before the
// writer's call returns; until then a poller's If-None-Match gets 304,
// from memory.
func TestHotReadsChangeBeforeTheWriterReturns(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: smallDemo()})
	f := newHotFixture(t, s)
	etags := map[string]string{}
	for _, r := range f.reads() {
		code, etag, body := get(t, s, r.token, r.path, "")
		if code != 200 || etag == "" {
			t.Fatalf("%s: %d %q %s", r.name, code, etag, body)
		}
		for range 2 { // the second from the REST layer's memory
			if code, again, body := get(t, s, r.token, r.path, etag); code != http.StatusNotModified || again != etag || len(body) != 0 {
				t.Fatalf("%s polled unchanged: %d %q %q", r.name, code, again, body)
			}
		}
		if code, again, body := get(t, s, r.token, r.path, `"other"`); code != 200 || again != etag || len(body) == 0 {
			t.Fatalf("%s with another ETag: %d %q", r.name, code, again)
		}
		etags[r.name] = etag
	}
	// From memory: trusted as is, or confirmed by Redis once LocalTTL passed
	// (a slow run); either way the database was not read.
	if n := s.Metric(t, `redpoint_answers_total{source="memory"}`) + s.Metric(t, `redpoint_answers_total{source="redis"}`); n < float64(3*len(etags)) {
		t.Errorf("%v answers from memory, want at least %d", n, 3*len(etags))
	}
	if _, err := redpointv1.NewErrandServiceClient(s.GRPC).StartErrand(s.As(t, context.Background(), demo.GuhanAgentPhone),
		&redpointv1.StartErrandRequest{Name: f.errand.Name}); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.reads() {
		code, etag, body := get(t, s, r.token, r.path, etags[r.name])
		if code != 200 || etag == etags[r.name] {
			t.Errorf("%s after :start: %d, ETag %q (was %q)", r.name, code, etag, etags[r.name])
		}
		if r.name != "agent's list" && r.name != "secretary's list" && !strings.Contains(string(body), "办理中") {
			t.Errorf("%s after :start does not say 办理中: %s", r.name, body)
		}
		if r.name == "agent's list" && strings.Contains(string(body), f.errand.Name+`"`) {
			t.Errorf("%s after :start still lists the errand as ACCEPTED: %s", r.name, body)
		}
		etags[r.name] = etag
	}
	// A directory change: the point's phone shows in the resident's view
	// and in the public directory.
	point := "/v1/" + f.errand.ServicePoint
	_, pointETag, _ := get(t, s, "", point, "")
	if code, _, _ := get(t, s, "", point, pointETag); code != http.StatusNotModified {
		t.Fatalf("public directory polled unchanged: %d", code)
	}
	if _, err := redpointv1.NewServicePointServiceClient(s.GRPC).UpdateServicePoint(bearer(f.admin), &redpointv1.UpdateServicePointRequest{
		ServicePoint: &redpointv1.ServicePoint{Name: f.errand.ServicePoint, Phone: "0355-7777777"},
		UpdateMask:   &fieldmaskpb.FieldMask{Paths: []string{"phone"}}}); err != nil {
		t.Fatal(err)
	}
	if code, _, body := get(t, s, "", point, pointETag); code != 200 || !strings.Contains(string(body), "0355-7777777") {
		t.Errorf("service point after its update: %d %s", code, body)
	}
	mine := f.reads()[1]
	if code, _, body := get(t, s, mine.token, mine.path, etags[mine.name]); code != 200 || !strings.Contains(string(body), "0355-7777777") {
		t.Errorf("resident's errand after the point's update: %d %s", code, body)
	}
}

// An answer kept for one caller is never another's: a token of another
// township's agent, or none, gets what the API would answer them, and an
// expired token stops getting answers from memory.
func TestHotReadsAnswerOnlyTheirCaller(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: smallDemo()})
	f := newHotFixture(t, s)
	path := "/v1/" + f.errand.Name
	_, etag, _ := get(t, s, f.agent, path, "")
	if code, _, _ := get(t, s, f.agent, path, etag); code != http.StatusNotModified {
		t.Fatalf("the agent's own poll: %d", code)
	}
	other := s.Token(t, demo.DanzhuAgentPhone)
	if code, _, body := get(t, s, other, path, etag); code != http.StatusForbidden {
		t.Errorf("another township's agent: %d %s, want 403", code, body)
	}
	if code, _, _ := get(t, s, "", path, etag); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	// A resident whose number another resident binds loses its errands at
	// once, from memory too.
	mine := "/v1/residents/me/errands/" + strings.TrimPrefix(f.errand.Name, "errands/")
	_, mineETag, _ := get(t, s, f.resident, mine, "")
	if code, _, _ := get(t, s, f.resident, mine, mineETag); code != http.StatusNotModified {
		t.Fatalf("the resident's own poll: %d", code)
	}
	residents := redpointv1.NewResidentServiceClient(s.GRPC)
	sess, err := residents.WechatLogin(context.Background(), &redpointv1.WechatLoginRequest{Code: "demo-hot-2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := residents.BindPhone(bearer(sess.AccessToken), &redpointv1.BindPhoneRequest{PhoneCode: "phone-13912348765"}); err != nil {
		t.Fatal(err)
	}
	if code, _, body := get(t, s, f.resident, mine, mineETag); code != http.StatusNotFound {
		t.Errorf("the errand of a number the resident lost: %d %s, want 404", code, body)
	}
	// A token about to expire: answered from memory until it does, then 401.
	tokens, err := access.NewTokens(s.App.AuthKey, s.App.Store.Client)
	if err != nil {
		t.Fatal(err)
	}
	tokens.Now = func() time.Time { return time.Now().Add(-access.AccessTTL + 2*time.Second) }
	me, err := redpointv1.NewUserServiceClient(s.GRPC).GetUser(bearer(f.agent), &redpointv1.GetUserRequest{Name: "users/me"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.App.Store.Client.User.Get(context.Background(), testutil.ID(t, me.Name))
	if err != nil {
		t.Fatal(err)
	}
	short, _, err := tokens.IssueAccess(u)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := get(t, s, short, path, etag); code != http.StatusNotModified {
		t.Fatalf("a fresh token's poll: %d", code)
	}
	testutil.Eventually(t, 10*time.Second, "the expired token is refused", func() bool {
		code, _, _ := get(t, s, short, path, etag)
		return code == http.StatusUnauthorized
	})
}

// A change on one replica reaches the other replicas' answers within
// answers.LocalTTL (the news travels through Redis at once; the bound is
// for news lost).
func TestHotReadsSeeOtherReplicasChanges(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Demo: smallDemo()})
	b := apptest.Join(t, a)
	f := newHotFixture(t, a)
	path := "/v1/residents/me/errands/" + strings.TrimPrefix(f.errand.Name, "errands/")
	_, etag, _ := get(t, b, f.resident, path, "")
	if code, _, _ := get(t, b, f.resident, path, etag); code != http.StatusNotModified {
		t.Fatalf("poll on b: %d", code)
	}
	if _, err := redpointv1.NewErrandServiceClient(a.GRPC).StartErrand(a.As(t, context.Background(), demo.GuhanAgentPhone),
		&redpointv1.StartErrandRequest{Name: f.errand.Name}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, answers.LocalTTL, "b's answer changes after :start on a", func() bool {
		code, _, _ := get(t, b, f.resident, path, etag)
		return code == 200
	})
}

// An errand's answer changes when it falls overdue, with no write at all.
func TestHotReadsFollowTheClock(t *testing.T) {
	clock := testutil.NewClock(time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC))
	s := apptest.Start(t, apptest.Options{Demo: smallDemo(), Clock: clock.Now})
	f := newHotFixture(t, s)
	path := "/v1/" + f.errand.Name
	// A minute before it falls due (answers live longer than that).
	clock.Set(f.errand.DueTime.AsTime().Add(-time.Minute))
	code, etag, body := get(t, s, f.agent, path, "")
	var e struct{ Overdue bool }
	if err := json.Unmarshal(body, &e); code != 200 || err != nil || e.Overdue {
		t.Fatalf("fresh errand: %d %v %s", code, err, body)
	}
	clock.Set(f.errand.DueTime.AsTime().Add(time.Second))
	code, _, body = get(t, s, f.agent, path, etag)
	if err := json.Unmarshal(body, &e); code != 200 || err != nil || !e.Overdue {
		t.Errorf("past its due time: %d %s, want it overdue", code, body)
	}
}
