package resident_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/changzhi/redpoint/ent/errandevent"
	entresident "github.com/changzhi/redpoint/ent/resident"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/testutil"
)

// ownershipEnv is a small demo with the agent's and residents' clients.
type ownershipEnv struct {
	*apptest.Server
	residents redpointv1.ResidentServiceClient
	errands   redpointv1.ErrandServiceClient
	agent     context.Context
}

func newOwnershipEnv(t *testing.T) *ownershipEnv {
	t.Helper()
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 100}})
	return &ownershipEnv{Server: s, residents: redpointv1.NewResidentServiceClient(s.GRPC),
		errands: redpointv1.NewErrandServiceClient(s.GRPC), agent: s.As(t, context.Background(), demo.GuhanAgentPhone)}
}

// login logs a resident in with WeChat and, when phone is set, binds it.
func (e *ownershipEnv) login(t *testing.T, openid, phone string) context.Context {
	t.Helper()
	sess, err := e.residents.WechatLogin(context.Background(), &redpointv1.WechatLoginRequest{Code: openid})
	if err != nil {
		t.Fatal(err)
	}
	ctx := bearer(sess.AccessToken)
	if phone != "" {
		if _, err := e.residents.BindPhone(ctx, &redpointv1.BindPhoneRequest{PhoneCode: "phone-" + phone}); err != nil {
			t.Fatalf("%s binds %s: %v", openid, phone, err)
		}
	}
	return ctx
}

func (e *ownershipEnv) create(t *testing.T, phone string) *redpointv1.Errand {
	t.Helper()
	out, err := e.tryCreate(phone)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tryCreate is create for other goroutines than the test's.
func (e *ownershipEnv) tryCreate(phone string) (*redpointv1.Errand, error) {
	return e.errands.CreateErrand(e.agent, &redpointv1.CreateErrandRequest{RequestId: fmt.Sprintf("own-%s-%d", phone, time.Now().UnixNano()),
		Errand: &redpointv1.Errand{ErrandType: "errandTypes/SI-PENSION-CERT", ResidentName: "郭桂兰", ResidentPhone: phone, Materials: []string{"居民身份证"}}})
}

// mine lists the names of the resident's errands.
func (e *ownershipEnv) mine(t *testing.T, ctx context.Context) map[string]bool {
	t.Helper()
	list, err := e.residents.ListMyErrands(ctx, &redpointv1.ListMyErrandsRequest{PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, x := range list.Errands {
		out[strings.TrimPrefix(x.Name, "residents/me/")] = true
	}
	return out
}

// TestRecycledPhoneBelongsToItsNewestBinder: a phone is held by one
// resident at a time. The newest binder takes it with its errands, and
// errands logged later go to them too — not to the number's previous
// holder, who lost it.
func TestRecycledPhoneBelongsToItsNewestBinder(t *testing.T) {
	e := newOwnershipEnv(t)
	const phone = "13911112222"
	before := e.create(t, phone)
	oldHolder := e.login(t, "demo-old-holder", phone)
	if !e.mine(t, oldHolder)[before.Name] {
		t.Fatal("the first binder does not list the errand logged with the phone")
	}
	newHolder := e.login(t, "demo-new-holder", phone)
	after := e.create(t, phone)

	got := e.mine(t, newHolder)
	if !got[before.Name] || !got[after.Name] {
		t.Errorf("the newest binder lists %v, want %s and %s", got, before.Name, after.Name)
	}
	if got := e.mine(t, oldHolder); len(got) != 0 {
		t.Errorf("the number's previous holder still lists %v", got)
	}
	me, err := e.residents.GetMyErrand(oldHolder, &redpointv1.GetMyErrandRequest{Name: "residents/me/" + after.Name})
	if status.Code(err) != codes.NotFound {
		t.Errorf("the previous holder reads the new errand: %v %v", me, err)
	}
	db := e.App.Store.Client
	ctx := context.Background()
	if n := db.Resident.Query().Where(entresident.PhoneHash(e.App.Keys.Hash(pii.KindPhone, phone))).CountX(ctx); n != 1 {
		t.Errorf("%d residents hold the phone, want 1", n)
	}
	// The move is in the errand's history, by the resident.
	id := testutil.ID(t, before.Name)
	moves := db.ErrandEvent.Query().Where(errandevent.ErrandID(id), errandevent.KindEQ(errandevent.KindUPDATED),
		errandevent.ActorKindEQ(errandevent.ActorKindRESIDENT)).CountX(ctx)
	if moves != 2 {
		t.Errorf("%d history entries of the errand changing hands, want 2 (first bind, then the new holder)", moves)
	}
}

// TestConcurrentBindsLeaveOneHolder: residents binding one number at
// once end with exactly one holder, who has all its errands.
func TestConcurrentBindsLeaveOneHolder(t *testing.T) {
	e := newOwnershipEnv(t)
	const phone = "13933334444"
	logged := e.create(t, phone)
	ctxs := make([]context.Context, 12)
	for i := range ctxs {
		ctxs[i] = e.login(t, fmt.Sprintf("demo-rival-%d", i), "")
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ctxs))
	for i, ctx := range ctxs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.residents.BindPhone(ctx, &redpointv1.BindPhoneRequest{PhoneCode: "phone-" + phone})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("bind %d: %v", i, err)
		}
	}
	holders := 0
	for _, ctx := range ctxs {
		if e.mine(t, ctx)[logged.Name] {
			holders++
		}
	}
	n := e.App.Store.Client.Resident.Query().Where(entresident.PhoneHash(e.App.Keys.Hash(pii.KindPhone, phone))).CountX(context.Background())
	if holders != 1 || n != 1 {
		t.Errorf("%d residents list the errand and %d hold the phone, want 1 and 1", holders, n)
	}
}

// TestRecycledNumberRacingACreate: the new holder of a recycled number
// binds it while the agent logs their errand; whichever commits first, the
// errand ends with the new holder, never the number's previous one. On
// PostgreSQL, before ownership was the phone itself, most runs left it
// with the previous holder.
func TestRecycledNumberRacingACreate(t *testing.T) {
	e := newOwnershipEnv(t)
	for i := 0; i < 10; i++ {
		phone := fmt.Sprintf("139444%05d", i)
		previous := e.login(t, fmt.Sprintf("demo-previous-%d", i), phone)
		next := e.login(t, fmt.Sprintf("demo-next-%d", i), "")
		var x *redpointv1.Errand
		var createErr, bindErr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); x, createErr = e.tryCreate(phone) }()
		go func() {
			defer wg.Done()
			_, bindErr = e.residents.BindPhone(next, &redpointv1.BindPhoneRequest{PhoneCode: "phone-" + phone})
		}()
		wg.Wait()
		if createErr != nil || bindErr != nil {
			t.Fatalf("create: %v; bind: %v", createErr, bindErr)
		}
		if e.mine(t, previous)[x.Name] || !e.mine(t, next)[x.Name] {
			t.Errorf("run %d: the previous holder lists the new errand %v, the new holder %v", i, e.mine(t, previous)[x.Name], e.mine(t, next)[x.Name])
		}
	}
}

// TestCorrectedPhoneMovesTheErrand: an agent correcting an errand's phone
// moves it, in the same write, to the new number's resident; the old one
// no longer lists, reads or rates it.
func TestCorrectedPhoneMovesTheErrand(t *testing.T) {
	e := newOwnershipEnv(t)
	const wrong, right = "13955556666", "13977778888"
	x := e.create(t, wrong)
	mistaken := e.login(t, "demo-mistaken", wrong)
	rightful := e.login(t, "demo-rightful", right)
	if !e.mine(t, mistaken)[x.Name] {
		t.Fatal("before the correction the errand is the wrong number's resident's")
	}
	_, err := e.errands.UpdateErrand(e.agent, &redpointv1.UpdateErrandRequest{
		Errand: &redpointv1.Errand{Name: x.Name, ResidentPhone: right}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"resident_phone"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.errands.CompleteErrand(e.agent, &redpointv1.CompleteErrandRequest{Name: x.Name, Result: "已认证"}); err != nil {
		t.Fatal(err)
	}
	mine := "residents/me/" + x.Name
	if e.mine(t, mistaken)[x.Name] {
		t.Error("the wrong number's resident still lists the errand")
	}
	if _, err := e.residents.GetMyErrand(mistaken, &redpointv1.GetMyErrandRequest{Name: mine}); status.Code(err) != codes.NotFound {
		t.Errorf("the wrong number's resident reads it: %v", err)
	}
	_, err = e.residents.RateMyErrand(mistaken, &redpointv1.RateMyErrandRequest{Name: mine, Level: redpointv1.RatingLevel_RATING_LEVEL_VERY_DISSATISFIED})
	if status.Code(err) != codes.NotFound {
		t.Errorf("the wrong number's resident rates it: %v", err)
	}
	if !e.mine(t, rightful)[x.Name] {
		t.Error("the right number's resident does not list it")
	}
	if _, err := e.residents.RateMyErrand(rightful, &redpointv1.RateMyErrandRequest{Name: mine, Level: redpointv1.RatingLevel_RATING_LEVEL_SATISFIED}); err != nil {
		t.Errorf("the right number's resident rates it: %v", err)
	}
	// A number nobody has bound: the errand belongs to no resident.
	y := e.create(t, right)
	if _, err := e.errands.UpdateErrand(e.agent, &redpointv1.UpdateErrandRequest{
		Errand: &redpointv1.Errand{Name: y.Name, ResidentPhone: "13900009999"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"resident_phone"}}}); err != nil {
		t.Fatal(err)
	}
	if e.mine(t, rightful)[y.Name] {
		t.Error("an errand moved to an unbound number still belongs to the old number's resident")
	}
}

// TestResidentsActionsAreAudited: binding and rating are audit lines with
// the resident as actor and the errand's region, so the county admin
// lists them.
func TestResidentsActionsAreAudited(t *testing.T) {
	e := newOwnershipEnv(t)
	const phone = "13922223333"
	x := e.create(t, phone)
	if _, err := e.errands.CompleteErrand(e.agent, &redpointv1.CompleteErrandRequest{Name: x.Name, Result: "已办"}); err != nil {
		t.Fatal(err)
	}
	me := e.login(t, "demo-audited", phone)
	if _, err := e.residents.RateMyErrand(me, &redpointv1.RateMyErrandRequest{Name: "residents/me/" + x.Name, Level: redpointv1.RatingLevel_RATING_LEVEL_SATISFIED}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.residents.SetSubscription(me, &redpointv1.SetSubscriptionRequest{Subscribed: true}); err != nil {
		t.Fatal(err)
	}
	resident := e.App.Store.Client.Resident.Query().Where(entresident.Openid("demo-audited")).OnlyX(context.Background())
	// A subscription belongs to no region: the city admin lists it, named
	// by the resident.
	city, err := redpointv1.NewAuditServiceClient(e.GRPC).ListAuditEntries(e.As(t, context.Background(), demo.CityAdminPhone),
		&redpointv1.ListAuditEntriesRequest{Parent: "regions/140400000000", PageSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	subscribed := false
	for _, a := range city.AuditEntries {
		if a.Action == "/redpoint.v1.ResidentService/SetSubscription" {
			subscribed = a.Resource == fmt.Sprintf("residents/%d", resident.ID) && a.Actor == a.Resource
		}
	}
	if !subscribed {
		t.Error("the city admin does not list the subscription by the resident's name")
	}
	admin := e.As(t, context.Background(), demo.CountyAdminPhone)
	list, err := redpointv1.NewAuditServiceClient(e.GRPC).ListAuditEntries(admin, &redpointv1.ListAuditEntriesRequest{Parent: "regions/140423000000", PageSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"/redpoint.v1.ResidentService/BindPhone": false, "/redpoint.v1.ResidentService/RateMyErrand": false}
	for _, a := range list.AuditEntries {
		if _, ok := want[a.Action]; !ok {
			continue
		}
		if a.Actor != fmt.Sprintf("residents/%d", resident.ID) || a.ActorRole != redpointv1.Role_ROLE_RESIDENT || a.Resource != x.Name || !strings.HasPrefix(a.Region, "regions/140423") {
			t.Errorf("%s audited as actor %q role %v resource %q region %q", a.Action, a.Actor, a.ActorRole, a.Resource, a.Region)
		}
		want[a.Action] = true
	}
	for action, seen := range want {
		if !seen {
			t.Errorf("the county admin does not see %s", action)
		}
	}
}
