package app_test

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/changzhi/redpoint/ent/auditentry"
	"github.com/changzhi/redpoint/ent/user"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/testutil"
)

func smallDemo() *demo.Options {
	return &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 200}
}

func bearer(tok string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
}

func TestLoginRefreshRotationReuseAndLogout(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: smallDemo()})
	auth := redpointv1.NewAuthServiceClient(s.GRPC)
	users := redpointv1.NewUserServiceClient(s.GRPC)
	ctx := context.Background()

	sess, err := auth.Login(ctx, &redpointv1.LoginRequest{Phone: demo.GuhanSecretaryPhone, Password: demo.Password})
	if err != nil {
		t.Fatal(err)
	}
	if sess.User.Role != redpointv1.Role_ROLE_TOWNSHIP_SECRETARY || sess.User.Region != "regions/140423100000" {
		t.Errorf("session user = %v", sess.User)
	}
	if ttl := time.Until(sess.AccessTokenExpireTime.AsTime()); ttl < 14*time.Minute || ttl > 16*time.Minute {
		t.Errorf("access token lives %v, want about 15 minutes", ttl)
	}
	me, err := users.GetUser(bearer(sess.AccessToken), &redpointv1.GetUserRequest{Name: "users/me"})
	if err != nil || me.Phone != demo.GuhanSecretaryPhone {
		t.Fatalf("users/me = %v, %v", me, err)
	}

	// Rotation: the refresh token works once and yields a new one.
	next, err := auth.RefreshSession(ctx, &redpointv1.RefreshSessionRequest{RefreshToken: sess.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	if next.RefreshToken == sess.RefreshToken {
		t.Fatal("refresh token not rotated")
	}
	// Reuse of the old one is theft or replay: it fails and revokes the family.
	if _, err := auth.RefreshSession(ctx, &redpointv1.RefreshSessionRequest{RefreshToken: sess.RefreshToken}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("reused refresh token: %v", err)
	}
	if _, err := auth.RefreshSession(ctx, &redpointv1.RefreshSessionRequest{RefreshToken: next.RefreshToken}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("the family's newest token still works after reuse: %v", err)
	}

	// Logout revokes the family.
	sess2, err := auth.Login(ctx, &redpointv1.LoginRequest{Phone: demo.GuhanSecretaryPhone, Password: demo.Password})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Logout(ctx, &redpointv1.LogoutRequest{RefreshToken: sess2.RefreshToken}); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.RefreshSession(ctx, &redpointv1.RefreshSessionRequest{RefreshToken: sess2.RefreshToken}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("refresh after logout: %v", err)
	}

	// Concurrent use of one refresh token: exactly one wins.
	sess3, err := auth.Login(ctx, &redpointv1.LoginRequest{Phone: demo.GuhanSecretaryPhone, Password: demo.Password})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := auth.RefreshSession(ctx, &redpointv1.RefreshSessionRequest{RefreshToken: sess3.RefreshToken}); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent refreshes with one token succeeded, want 1", wins)
	}

	// A tampered token and a wrong password are both UNAUTHENTICATED.
	if _, err := users.GetUser(bearer(sess.AccessToken+"x"), &redpointv1.GetUserRequest{Name: "users/me"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("tampered token: %v", err)
	}
	if _, err := auth.Login(ctx, &redpointv1.LoginRequest{Phone: demo.GuhanSecretaryPhone, Password: "wrong"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("wrong password: %v", err)
	}
}

func TestAccessTokenExpires(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: smallDemo()})
	db := s.App.Store.Client
	tokens, err := access.NewTokens(s.App.AuthKey, db)
	if err != nil {
		t.Fatal(err)
	}
	tokens.Now = func() time.Time { return time.Now().Add(-access.AccessTTL - time.Minute) } // issued 16 minutes ago
	u := db.User.Query().FirstX(context.Background())
	old, _, err := tokens.IssueAccess(u)
	if err != nil {
		t.Fatal(err)
	}
	_, err = redpointv1.NewUserServiceClient(s.GRPC).GetUser(bearer(old), &redpointv1.GetUserRequest{Name: "users/me"})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("expired token: %v, want UNAUTHENTICATED", err)
	}
}

func TestLoginRateLimitAcrossReplicas(t *testing.T) {
	// Two servers share one database and one Redis: the limit is shared.
	// A day-long window: fixed windows start on the clock (the minute, the day), and a test that straddled a minute would see its count start again.
	a := apptest.Start(t, apptest.Options{Demo: smallDemo(), LoginLimits: access.LoginLimits{PerPhone: 3, PerIP: 100, Window: 24 * time.Hour}})
	b := apptest.Join(t, a)
	ctx := context.Background()
	tryAs := func(s *apptest.Server, phone, pw string) codes.Code {
		_, err := redpointv1.NewAuthServiceClient(s.GRPC).Login(ctx, &redpointv1.LoginRequest{Phone: phone, Password: pw})
		return status.Code(err)
	}
	try := func(s *apptest.Server, pw string) codes.Code { return tryAs(s, demo.GuhanAgentPhone, pw) }
	for i, s := range []*apptest.Server{a, b, a} {
		if code := try(s, "wrong"); code != codes.Unauthenticated {
			t.Fatalf("attempt %d: %v", i+1, code)
		}
	}
	if code := try(b, "wrong"); code != codes.ResourceExhausted {
		t.Errorf("4th failure on the other replica: %v, want RESOURCE_EXHAUSTED", code)
	}
	if code := try(a, demo.Password); code != codes.ResourceExhausted {
		t.Errorf("the right password while blocked: %v, want RESOURCE_EXHAUSTED", code)
	}
	// Over REST the block is HTTP 429.
	code, body := a.Do(t, "", http.MethodPost, "/v1/auth:login", map[string]string{"phone": demo.GuhanAgentPhone, "password": demo.Password})
	if code != http.StatusTooManyRequests {
		t.Errorf("REST login while blocked: %d %s", code, body)
	}
	// Another account is not affected.
	if code := tryAs(a, demo.DanzhuAgentPhone, demo.Password); code != codes.OK {
		t.Errorf("another phone: %v", code)
	}
}

// A burst of wrong passwords for one phone, spread over two replicas,
// gets exactly the per-phone limit of password checks, every time.
func TestLoginPhoneLimitExactUnderBurst(t *testing.T) {
	const perPhone, goroutines, bursts = 5, 8, 3
	// A day-long window: fixed windows start on the clock (the minute, the day), and a test that straddled a minute would see its count start again.
	a := apptest.Start(t, apptest.Options{Demo: smallDemo(), LoginLimits: access.LoginLimits{PerPhone: perPhone, PerIP: 1000, Window: 24 * time.Hour}})
	b := apptest.Join(t, a)
	phones := []string{demo.GuhanAgentPhone, demo.DanzhuAgentPhone, demo.GuhanSecretaryPhone}
	for burst := 0; burst < bursts; burst++ {
		var mu sync.Mutex
		got := map[codes.Code]int{}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, s := range []*apptest.Server{a, b} {
			auth := redpointv1.NewAuthServiceClient(s.GRPC)
			for g := 0; g < goroutines; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, err := auth.Login(context.Background(), &redpointv1.LoginRequest{Phone: phones[burst], Password: "wrong"})
					mu.Lock()
					got[status.Code(err)]++
					mu.Unlock()
				}()
			}
		}
		close(start)
		wg.Wait()
		if got[codes.Unauthenticated] != perPhone || got[codes.ResourceExhausted] != 2*goroutines-perPhone {
			t.Errorf("burst %d of %d wrong passwords for one phone on two replicas: %v, want %d checked and the rest refused",
				burst+1, 2*goroutines, got, perPhone)
		}
	}
}

func TestWritesAndFullReadsAreAuditedAndListedInScope(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: smallDemo()})
	ctx := context.Background()
	agent := s.As(t, ctx, demo.GuhanAgentPhone)
	errands := redpointv1.NewErrandServiceClient(s.GRPC)
	x, err := errands.CreateErrand(agent, &redpointv1.CreateErrandRequest{RequestId: "audit-1", Errand: &redpointv1.Errand{
		ErrandType: "errandTypes/MI-PAYMENT", ResidentName: "赵六", ResidentPhone: "13911112222"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := errands.StartErrand(agent, &redpointv1.StartErrandRequest{Name: x.Name}); err != nil {
		t.Fatal(err)
	}
	if _, err := errands.GetErrand(agent, &redpointv1.GetErrandRequest{Name: x.Name, View: redpointv1.ErrandView_ERRAND_VIEW_FULL}); err != nil {
		t.Fatal(err)
	}
	if _, err := errands.GetErrand(agent, &redpointv1.GetErrandRequest{Name: x.Name}); err != nil { // a masked read: not audited
		t.Fatal(err)
	}
	rows := s.App.Store.Client.AuditEntry.Query().Where(auditentry.Resource(x.Name)).Order(auditentry.ByID()).AllX(ctx)
	var actions []string
	for _, r := range rows {
		actions = append(actions, r.Action)
		if r.ActorUserID == nil || r.RegionID != x.Region[len("regions/"):] || r.ClientIP == "" {
			t.Errorf("audit entry lacks who/where: %+v", r)
		}
	}
	want := []string{"/redpoint.v1.ErrandService/CreateErrand", "/redpoint.v1.ErrandService/StartErrand", "/redpoint.v1.ErrandService/GetErrand"}
	if len(actions) != 3 || actions[0] != want[0] || actions[1] != want[1] || actions[2] != want[2] || !rows[2].UnmaskedRead {
		t.Errorf("audit = %v, want %v with the last an unmasked read", actions, want)
	}
	audit := redpointv1.NewAuditServiceClient(s.GRPC)
	list, err := audit.ListAuditEntries(s.As(t, ctx, demo.CountyAdminPhone), &redpointv1.ListAuditEntriesRequest{Parent: "regions/140423000000", Filter: "unmasked_read = true"})
	if err != nil || len(list.AuditEntries) != 1 || list.AuditEntries[0].Resource != x.Name {
		t.Errorf("county admin's unmasked reads: %v, %v", list, err)
	}
	// The one filter, spread past the bound on every list's filter, is refused before it is read.
	padded := "unmasked_read" + strings.Repeat(" ", pagetoken.MaxFilterBytes) + "= true"
	if _, err := audit.ListAuditEntries(s.As(t, ctx, demo.CountyAdminPhone), &redpointv1.ListAuditEntriesRequest{Parent: "regions/140423000000", Filter: padded}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a filter of %d bytes: %v", len(padded), err)
	}
	if _, err := audit.ListAuditEntries(s.As(t, ctx, demo.CountyAdminPhone), &redpointv1.ListAuditEntriesRequest{Parent: "regions/140428000000"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("襄垣县 admin reading 长子县's audit log: %v", err)
	}
	// Admin writes are audited too.
	users := redpointv1.NewUserServiceClient(s.GRPC)
	created, err := users.CreateUser(s.As(t, ctx, demo.GuhanSecretaryPhone), &redpointv1.CreateUserRequest{Password: "new-agent-pw", User: &redpointv1.User{
		Phone: "13722223333", DisplayName: "新人", Role: redpointv1.Role_ROLE_AGENT, ServicePoint: x.ServicePoint}})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.App.Store.Client.AuditEntry.Query().Where(auditentry.Resource(created.Name), auditentry.Action("/redpoint.v1.UserService/CreateUser")).CountX(ctx); n != 1 {
		t.Errorf("CreateUser audited %d times", n)
	}
	// The new agent can log in; deactivated, they can't refresh any more.
	sess, err := redpointv1.NewAuthServiceClient(s.GRPC).Login(ctx, &redpointv1.LoginRequest{Phone: "13722223333", Password: "new-agent-pw"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := users.UpdateUser(s.As(t, ctx, demo.GuhanSecretaryPhone), &redpointv1.UpdateUserRequest{
		User: &redpointv1.User{Name: created.Name, Active: false}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"active"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := redpointv1.NewAuthServiceClient(s.GRPC).RefreshSession(ctx, &redpointv1.RefreshSessionRequest{RefreshToken: sess.RefreshToken}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("refresh after deactivation: %v", err)
	}
}

// TestCreateUserOverRESTKeepsThePasswordOutOfTheURL: the REST client sends
// the whole request as the body, `{"user": {...}, "password": "..."}`, and
// the account logs in with that password; the old shape, a bare account
// body with `?password=` in the URL, creates nothing.
func TestCreateUserOverRESTKeepsThePasswordOutOfTheURL(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: smallDemo()})
	ctx := context.Background()
	me, err := redpointv1.NewUserServiceClient(s.GRPC).GetUser(s.As(t, ctx, demo.GuhanAgentPhone), &redpointv1.GetUserRequest{Name: "users/me"})
	if err != nil {
		t.Fatal(err)
	}
	account := map[string]any{"phone": "13722224444", "displayName": "新人", "role": "ROLE_AGENT", "servicePoint": me.ServicePoint}

	code, body := s.Do(t, demo.GuhanSecretaryPhone, http.MethodPost, "/v1/users?password=in-the-url-1", account)
	if code != http.StatusBadRequest {
		t.Errorf("the old shape: %d %s, want 400", code, body)
	}
	code, body = s.Do(t, demo.GuhanSecretaryPhone, http.MethodPost, "/v1/users?password=in-the-url-1", map[string]any{"user": account})
	if code != http.StatusBadRequest || !strings.Contains(string(body), `"field":"password"`) {
		t.Errorf("password in the query only: %d %s, want 400 on field password", code, body)
	}
	if n := s.App.Store.Client.User.Query().Where(user.Phone("13722224444")).CountX(ctx); n != 0 {
		t.Fatalf("rejected creates left %d accounts", n)
	}

	code, body = s.Do(t, demo.GuhanSecretaryPhone, http.MethodPost, "/v1/users", map[string]any{"user": account, "password": "rest-agent-pw"})
	if code != http.StatusOK || !strings.Contains(string(body), `"name":"users/`) || strings.Contains(string(body), "rest-agent-pw") {
		t.Fatalf("create: %d %s", code, body)
	}
	code, body = s.Do(t, "", http.MethodPost, "/v1/auth:login", map[string]string{"phone": "13722224444", "password": "rest-agent-pw"})
	if code != http.StatusOK || !strings.Contains(string(body), `"accessToken"`) {
		t.Errorf("the new account's login: %d %s", code, body)
	}
}

// TestNoPersonalDataInLogs runs a busy session with debug logging and scans
// every line for the residents' phone and ID numbers used.
func TestNoPersonalDataInLogs(t *testing.T) {
	var logs apptest.LogBuffer
	s := apptest.Start(t, apptest.Options{Demo: smallDemo(), Log: &logs})
	ctx := context.Background()
	agent := s.As(t, ctx, demo.GuhanAgentPhone)
	errands := redpointv1.NewErrandServiceClient(s.GRPC)
	phone, id := "13955556666", "140423195603120029"
	x, err := errands.CreateErrand(agent, &redpointv1.CreateErrandRequest{RequestId: "log-1", Errand: &redpointv1.Errand{
		ErrandType: "errandTypes/MI-PAYMENT", ResidentName: "钱七", ResidentPhone: phone, ResidentIdNumber: id}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := errands.GetErrand(agent, &redpointv1.GetErrandRequest{Name: x.Name, View: redpointv1.ErrandView_ERRAND_VIEW_FULL}); err != nil {
		t.Fatal(err)
	}
	if _, err := errands.ListErrands(agent, &redpointv1.ListErrandsRequest{Filter: `resident_phone = "` + phone + `"`}); err != nil {
		t.Fatal(err)
	}
	// Refused, with the numbers in the request: the refusal is logged too.
	if _, err := errands.CreateErrand(agent, &redpointv1.CreateErrandRequest{Errand: &redpointv1.Errand{ResidentPhone: phone + "9", ResidentIdNumber: id[:17] + "0"}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("an invalid create: %v, want INVALID_ARGUMENT", err)
	}
	if code, body := s.Do(t, demo.GuhanAgentPhone, http.MethodPost, "/v1/errands?requestId=log-2", map[string]string{"errandType": "errandTypes/MI-PAYMENT", "residentName": "钱七", "residentPhone": phone, "residentIdNumber": id}); code != http.StatusOK {
		t.Fatalf("create over REST: %d %s", code, body)
	}
	if _, err := redpointv1.NewAuthServiceClient(s.GRPC).Login(ctx, &redpointv1.LoginRequest{Phone: demo.GuhanAgentPhone, Password: "wrong"}); err == nil {
		t.Fatal("the wrong password logged in")
	}
	out := logs.String()
	if len(out) == 0 {
		t.Fatal("the server logged nothing")
	}
	for _, secret := range []string{phone, id, id[:17], phone[3:]} {
		if bytes.Contains([]byte(out), []byte(secret)) {
			t.Errorf("logs contain %q", secret)
		}
	}
	if m := regexp.MustCompile(`1[3-9]\d{9}`).FindString(out); m != "" {
		t.Errorf("logs contain a phone-like number %s", m)
	}
}

// TestKeyRotationOldRowsStillDecrypt seeds with key k1, then serves with
// a new current key k2 in front: old rows read in full, new rows use k2.
func TestKeyRotationOldRowsStillDecrypt(t *testing.T) {
	old := pii.NewKeyringString() // "hash:…,k1:…"
	oldRing, err := pii.ParseKeyring(old)
	if err != nil {
		t.Fatal(err)
	}
	hashEntry, k1Entry, _ := strings.Cut(old, ",")
	k2 := strings.SplitN(pii.NewKeyringString(), ",", 2)[1] // "k1:…" of another ring
	rotated, err := pii.ParseKeyring(hashEntry + ",k2" + strings.TrimPrefix(k2, "k1") + "," + k1Entry)
	if err != nil {
		t.Fatal(err)
	}
	s := apptest.Start(t, apptest.Options{Demo: smallDemo(), SeedKeys: oldRing, Keys: rotated})
	ctx := context.Background()
	agent := s.As(t, ctx, demo.GuhanAgentPhone)
	errands := redpointv1.NewErrandServiceClient(s.GRPC)
	list, err := errands.ListErrands(agent, &redpointv1.ListErrandsRequest{Filter: `resident_phone = "` + demo.ResidentPhone + `"`})
	if err != nil || len(list.Errands) == 0 {
		t.Fatalf("search by phone after rotation: %d, %v", len(list.GetErrands()), err)
	}
	full, err := errands.GetErrand(agent, &redpointv1.GetErrandRequest{Name: list.Errands[0].Name, View: redpointv1.ErrandView_ERRAND_VIEW_FULL})
	if err != nil || full.ResidentPhone != demo.ResidentPhone {
		t.Fatalf("old row after rotation: %v, %v", full.GetResidentPhone(), err)
	}
	x, err := errands.CreateErrand(agent, &redpointv1.CreateErrandRequest{RequestId: "rot-1", Errand: &redpointv1.Errand{
		ErrandType: "errandTypes/MI-PAYMENT", ResidentName: "孙八", ResidentPhone: "13933334444"}})
	if err != nil {
		t.Fatal(err)
	}
	row := s.App.Store.Client.Errand.GetX(ctx, testutil.ID(t, x.Name))
	if !strings.HasPrefix(row.ResidentPhoneCipher, "k2:") {
		t.Errorf("new row sealed with %q, want k2", row.ResidentPhoneCipher[:3])
	}
}

// TestBatchItemsAreAuditedEachInTheirTransaction: every created item of a
// batch has its audit line; a failed item has none.
func TestBatchItemsAreAuditedEachInTheirTransaction(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: smallDemo()})
	ctx := context.Background()
	agent := s.As(t, ctx, demo.GuhanAgentPhone)
	resp, err := redpointv1.NewErrandServiceClient(s.GRPC).BatchCreateErrands(agent, &redpointv1.BatchCreateErrandsRequest{Requests: []*redpointv1.CreateErrandRequest{
		{RequestId: "b-1", Errand: &redpointv1.Errand{ErrandType: "errandTypes/MI-PAYMENT", ResidentName: "甲", ResidentPhone: "13911110001"}},
		{RequestId: "b-2", Errand: &redpointv1.Errand{ErrandType: "errandTypes/MI-PAYMENT", ResidentName: "乙", ResidentPhone: "bad"}},
		{RequestId: "b-3", Errand: &redpointv1.Errand{ErrandType: "errandTypes/MI-PAYMENT", ResidentName: "丙", ResidentPhone: "13911110003"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range resp.Results {
		if r.Errand == nil {
			continue
		}
		if n := s.App.Store.Client.AuditEntry.Query().Where(auditentry.Resource(r.Errand.Name)).CountX(ctx); n != 1 {
			t.Errorf("item %d (%s) audited %d times", i, r.Errand.Name, n)
		}
	}
	if n := s.App.Store.Client.AuditEntry.Query().Where(auditentry.Action("/redpoint.v1.ErrandService/BatchCreateErrands")).CountX(ctx); n != 2 {
		t.Errorf("batch wrote %d audit lines, want 2 (one per created item)", n)
	}
}

// TestExpiredTokenStillRefreshes: an app that sends its expired access
// token along can still refresh, log out and read public data.
func TestExpiredTokenStillRefreshes(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: smallDemo()})
	auth := redpointv1.NewAuthServiceClient(s.GRPC)
	sess, err := auth.Login(context.Background(), &redpointv1.LoginRequest{Phone: demo.GuhanAgentPhone, Password: demo.Password})
	if err != nil {
		t.Fatal(err)
	}
	stale := bearer(sess.AccessToken + "-expired")
	if _, err := auth.RefreshSession(stale, &redpointv1.RefreshSessionRequest{RefreshToken: sess.RefreshToken}); err != nil {
		t.Errorf("refresh with a stale access token attached: %v", err)
	}
	if _, err := redpointv1.NewRegionServiceClient(s.GRPC).GetRegion(stale, &redpointv1.GetRegionRequest{Name: "regions/140400000000"}); err != nil {
		t.Errorf("public read with a stale token: %v", err)
	}
	if _, err := redpointv1.NewErrandServiceClient(s.GRPC).ListErrands(stale, &redpointv1.ListErrandsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a protected call with a stale token: %v", err)
	}
}
