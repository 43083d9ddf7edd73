package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/auditentry"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/rating"
	"github.com/changzhi/redpoint/ent/servicepoint"
	"github.com/changzhi/redpoint/ent/user"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/regioncode"
)

// villageWorld is what the village secretary tests use: the 古韩镇
// agent's village (13800000007's) and another village of 古韩镇, each with
// a point, an errand and an open follow-up.
type villageWorld struct {
	village, neighbour          string // regions/{12 digits}
	errand, neighbourErrand     string
	followUp, neighbourFollowUp string
	point                       string
	secretaryID                 int
}

func buildVillageWorld(t *testing.T, s *apptest.Server) villageWorld {
	t.Helper()
	ctx := context.Background()
	db := s.App.Store.Client
	agent := db.User.Query().Where(user.Phone(demo.GuhanAgentPhone)).OnlyX(ctx)
	lo, hi := regioncode.Code("140423100000").Range()
	other := db.ServicePoint.Query().Where(servicepoint.RegionIDGTE(lo), servicepoint.RegionIDLTE(hi), servicepoint.RegionIDNEQ(agent.RegionID),
		servicepoint.HasErrandsWith(errand.StateEQ(errand.StateCOMPLETED), errand.Not(errand.HasRating()))).Order(ent.Asc(servicepoint.FieldID)).FirstX(ctx)
	followUp := func(village string) string {
		done := db.Errand.Query().Where(errand.RegionID(village), errand.StateEQ(errand.StateCOMPLETED), errand.Not(errand.HasRating())).FirstX(ctx)
		r := db.Rating.Create().SetErrandID(done.ID).SetServicePointID(done.ServicePointID).SetRegionID(done.RegionID).SetLevel(rating.LevelDISSATISFIED).SaveX(ctx)
		f := db.FollowUp.Create().SetRatingID(r.ID).SetErrandID(done.ID).SetRegionID(done.RegionID).SaveX(ctx)
		return fmt.Sprintf("followUps/%d", f.ID)
	}
	first := func(village string) string {
		return fmt.Sprintf("errands/%d", db.Errand.Query().Where(errand.RegionID(village)).Order(ent.Asc(errand.FieldID)).FirstX(ctx).ID)
	}
	return villageWorld{
		village: "regions/" + agent.RegionID, neighbour: "regions/" + other.RegionID,
		errand: first(agent.RegionID), neighbourErrand: first(other.RegionID),
		followUp: followUp(agent.RegionID), neighbourFollowUp: followUp(other.RegionID),
		point:       fmt.Sprintf("servicePoints/%d", *agent.ServicePointID),
		secretaryID: db.User.Query().Where(user.Phone(demo.GuhanVillagePhone)).OnlyX(ctx).ID,
	}
}

func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if status.Code(err) != want {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

// TestVillageSecretarySeesItsVillageOnly: 13800000007 reads its village's
// errands masked (never the FULL view), its workload (grouped by service
// point), overdue list and follow-ups, closes its village's follow-up (the
// close audited as its own), reads its point's rank; and nothing of the
// neighbouring village of the same township, nor of the township.
func TestVillageSecretarySeesItsVillageOnly(t *testing.T) {
	ctx := context.Background()
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 3000}})
	w := buildVillageWorld(t, s)
	me := s.As(t, ctx, demo.GuhanVillagePhone)
	errands := redpointv1.NewErrandServiceClient(s.GRPC)
	reports := redpointv1.NewReportServiceClient(s.GRPC)

	// Errands: its village's, masked.
	e, err := errands.GetErrand(me, &redpointv1.GetErrandRequest{Name: w.errand})
	if err != nil {
		t.Fatalf("GetErrand of its village: %v", err)
	}
	if !strings.Contains(e.ResidentPhone, "****") || e.Region != w.village {
		t.Errorf("GetErrand: phone %q in %s, want masked in %s", e.ResidentPhone, e.Region, w.village)
	}
	_, err = errands.GetErrand(me, &redpointv1.GetErrandRequest{Name: w.errand, View: redpointv1.ErrandView_ERRAND_VIEW_FULL})
	wantCode(t, "GetErrand FULL", err, codes.PermissionDenied)
	if n := s.App.Store.Client.AuditEntry.Query().Where(auditentry.UnmaskedRead(true), auditentry.ActorUserID(w.secretaryID)).CountX(ctx); n != 0 {
		t.Errorf("a refused FULL read left %d unmasked-read audit entries", n)
	}
	_, err = errands.GetErrand(me, &redpointv1.GetErrandRequest{Name: w.neighbourErrand})
	wantCode(t, "GetErrand of the neighbouring village", err, codes.PermissionDenied)
	_, err = errands.ListErrandEvents(me, &redpointv1.ListErrandEventsRequest{Parent: w.neighbourErrand})
	wantCode(t, "ListErrandEvents of the neighbouring village", err, codes.PermissionDenied)
	list, err := errands.ListErrands(me, &redpointv1.ListErrandsRequest{PageSize: 500})
	if err != nil || len(list.Errands) == 0 {
		t.Fatalf("ListErrands: %d errands, %v", len(list.GetErrands()), err)
	}
	for _, x := range list.Errands {
		if x.Region != w.village || !strings.Contains(x.ResidentPhone, "****") {
			t.Fatalf("ListErrands: %s in %s with phone %q, want masked in %s only", x.Name, x.Region, x.ResidentPhone, w.village)
		}
	}
	_, err = errands.ListErrands(me, &redpointv1.ListErrandsRequest{Filter: fmt.Sprintf("region = %q", w.neighbour)})
	wantCode(t, "ListErrands filtered to the neighbouring village", err, codes.PermissionDenied)

	// Its workload: by service point unless asked otherwise.
	wl, err := reports.GetWorkload(me, &redpointv1.GetWorkloadRequest{Name: w.village + "/workload", Period: "2026-11"})
	if err != nil {
		t.Fatalf("GetWorkload of its village: %v", err)
	}
	if wl.GroupBy != "SERVICE_POINT" || len(wl.Rows) == 0 || !strings.HasPrefix(wl.Rows[0].Key, "servicePoints/") {
		t.Errorf("GetWorkload: grouped by %q, rows %v; want its service points", wl.GroupBy, wl.Rows)
	}
	_, err = reports.GetWorkload(me, &redpointv1.GetWorkloadRequest{Name: w.village + "/workload", GroupBy: "CHILD_REGION"})
	wantCode(t, "GetWorkload by child region at a village", err, codes.InvalidArgument)
	for _, region := range []string{w.neighbour, "regions/140423100000"} {
		_, err = reports.GetWorkload(me, &redpointv1.GetWorkloadRequest{Name: region + "/workload"})
		wantCode(t, "GetWorkload of "+region, err, codes.PermissionDenied)
		_, err = reports.ListOverdueErrands(me, &redpointv1.ListOverdueErrandsRequest{Parent: region})
		wantCode(t, "ListOverdueErrands of "+region, err, codes.PermissionDenied)
		_, err = reports.ListFollowUps(me, &redpointv1.ListFollowUpsRequest{Parent: region})
		wantCode(t, "ListFollowUps of "+region, err, codes.PermissionDenied)
	}
	if _, err := reports.ListOverdueErrands(me, &redpointv1.ListOverdueErrandsRequest{Parent: w.village}); err != nil {
		t.Errorf("ListOverdueErrands of its village: %v", err)
	}
	_, err = reports.ExportWorkload(me, &redpointv1.ExportWorkloadRequest{Name: w.village + "/workload"})
	wantCode(t, "ExportWorkload (the township's reports)", err, codes.PermissionDenied)

	// Follow-ups: its village's, listed and closed; the neighbour's refused.
	fus, err := reports.ListFollowUps(me, &redpointv1.ListFollowUpsRequest{Parent: w.village, OpenOnly: true})
	if err != nil {
		t.Fatalf("ListFollowUps of its village: %v", err)
	}
	found := false
	for _, f := range fus.FollowUps {
		found = found || f.Name == w.followUp
		if f.Name == w.neighbourFollowUp {
			t.Errorf("ListFollowUps of its village lists the neighbour's %s", f.Name)
		}
	}
	if !found {
		t.Errorf("ListFollowUps of its village: %s missing", w.followUp)
	}
	_, err = reports.CloseFollowUp(me, &redpointv1.CloseFollowUpRequest{Name: w.neighbourFollowUp, Note: "已电话回访", Outcome: "RESOLVED"})
	wantCode(t, "CloseFollowUp of the neighbouring village", err, codes.PermissionDenied)
	closed, err := reports.CloseFollowUp(me, &redpointv1.CloseFollowUpRequest{Name: w.followUp, Note: "村书记已上门回访", Outcome: "RESOLVED"})
	if err != nil || closed.Open {
		t.Fatalf("CloseFollowUp of its village: %v, %v", closed, err)
	}
	audit := s.App.Store.Client.AuditEntry.Query().Where(auditentry.Action("/redpoint.v1.ReportService/CloseFollowUp"), auditentry.Resource(w.followUp)).OnlyX(ctx)
	if audit.ActorRole != "VILLAGE_SECRETARY" || audit.ActorUserID == nil || *audit.ActorUserID != w.secretaryID ||
		"regions/"+audit.RegionID != w.village {
		t.Errorf("the close's audit entry: %s user %v in %s, want VILLAGE_SECRETARY %d in %s", audit.ActorRole, audit.ActorUserID, audit.RegionID, w.secretaryID, w.village)
	}
	// The county admin's audit log shows it, as the village secretary's.
	entries, err := redpointv1.NewAuditServiceClient(s.GRPC).ListAuditEntries(s.As(t, ctx, demo.CountyAdminPhone),
		&redpointv1.ListAuditEntriesRequest{Parent: w.village, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, a := range entries.AuditEntries {
		listed = listed || (a.Resource == w.followUp && a.ActorRole == redpointv1.Role_ROLE_VILLAGE_SECRETARY)
	}
	if !listed {
		t.Errorf("the county's audit log of %s lacks the village secretary's close", w.village)
	}

	// The board: public for everyone logged in, its point's rank too.
	rank, err := redpointv1.NewLeaderboardServiceClient(s.GRPC).GetServicePointRank(me, &redpointv1.GetServicePointRankRequest{ServicePoint: w.point, Period: "2026-11"})
	if err != nil || rank.Entry.Member != w.point {
		t.Errorf("GetServicePointRank of its point: %v, %v", rank, err)
	}

	// Over REST too: the errands list and a neighbour's errand.
	if code, body := s.Do(t, demo.GuhanVillagePhone, http.MethodGet, "/v1/"+w.neighbourErrand, nil); code != http.StatusForbidden {
		t.Errorf("GET the neighbour's errand: %d %s, want 403", code, body)
	}
}

// TestWorkloadAtAVillageDefaultsToServicePoints: the township secretary's
// workload of one of its villages, with no grouping asked, has the
// village's points as rows (CHILD_REGION, the default elsewhere, would be
// a 400 there: a village has no child regions).
func TestWorkloadAtAVillageDefaultsToServicePoints(t *testing.T) {
	ctx := context.Background()
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 500}})
	agent := s.App.Store.Client.User.Query().Where(user.Phone(demo.GuhanAgentPhone)).OnlyX(ctx)
	reports := redpointv1.NewReportServiceClient(s.GRPC)
	sec := s.As(t, ctx, demo.GuhanSecretaryPhone)
	wl, err := reports.GetWorkload(sec, &redpointv1.GetWorkloadRequest{Name: "regions/" + agent.RegionID + "/workload", Period: "2026-11"})
	if err != nil || wl.GroupBy != "SERVICE_POINT" {
		t.Fatalf("GetWorkload of a village: %v, %v; want SERVICE_POINT rows", wl, err)
	}
	town, err := reports.GetWorkload(sec, &redpointv1.GetWorkloadRequest{Name: "regions/140423100000/workload", Period: "2026-11"})
	if err != nil || town.GroupBy != "CHILD_REGION" {
		t.Fatalf("GetWorkload of a township: %v, %v; want CHILD_REGION rows", town, err)
	}
}

// TestVillageSecretaryAccounts: township secretaries (and above) create,
// reset and deactivate village secretaries of their villages; a village
// secretary's scope must be a village; a village secretary manages no
// account, not even an agent of its village, and reads only itself.
func TestVillageSecretaryAccounts(t *testing.T) {
	ctx := context.Background()
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 500}})
	db := s.App.Store.Client
	agent := db.User.Query().Where(user.Phone(demo.GuhanAgentPhone)).OnlyX(ctx)
	village := "regions/" + agent.RegionID
	danzhuVillage := "regions/" + db.User.Query().Where(user.Phone(demo.DanzhuAgentPhone)).OnlyX(ctx).RegionID
	users := redpointv1.NewUserServiceClient(s.GRPC)
	sec := s.As(t, ctx, demo.GuhanSecretaryPhone)
	vsec := s.As(t, ctx, demo.GuhanVillagePhone)
	newVillageSecretary := func(phone, region string) *redpointv1.CreateUserRequest {
		return &redpointv1.CreateUserRequest{Password: "long-enough-1", User: &redpointv1.User{
			Phone: phone, DisplayName: "新村书记", Role: redpointv1.Role_ROLE_VILLAGE_SECRETARY, Region: region}}
	}

	// The township secretary creates one in its village…
	u, err := users.CreateUser(sec, newVillageSecretary("13712345601", village))
	if err != nil || u.Role != redpointv1.Role_ROLE_VILLAGE_SECRETARY || u.Region != village || u.ServicePoint != "" {
		t.Fatalf("CreateUser of a village secretary: %v, %v", u, err)
	}
	// …not in another township's village, nor scoped to a township.
	_, err = users.CreateUser(sec, newVillageSecretary("13712345602", danzhuVillage))
	wantCode(t, "CreateUser in 丹朱镇", err, codes.PermissionDenied)
	_, err = users.CreateUser(sec, newVillageSecretary("13712345603", "regions/140423100000"))
	wantCode(t, "CreateUser scoped to a township", err, codes.InvalidArgument)
	// The county admin may too.
	if _, err := users.CreateUser(s.As(t, ctx, demo.CountyAdminPhone), newVillageSecretary("13712345604", village)); err != nil {
		t.Errorf("the county admin's CreateUser of a village secretary: %v", err)
	}

	// The new account logs in and sees its village; reset and deactivation
	// by the township end its sessions.
	login := func(password string) (*redpointv1.Session, error) {
		return redpointv1.NewAuthServiceClient(s.GRPC).Login(ctx, &redpointv1.LoginRequest{Phone: "13712345601", Password: password})
	}
	sess, err := login("long-enough-1")
	if err != nil {
		t.Fatalf("the new village secretary's login: %v", err)
	}
	if _, err := users.ResetUserPassword(sec, &redpointv1.ResetUserPasswordRequest{Name: u.Name, Password: "long-enough-2"}); err != nil {
		t.Fatalf("ResetUserPassword of a village secretary: %v", err)
	}
	if _, err := login("long-enough-1"); err == nil {
		t.Error("the old password still logs in after the reset")
	}
	if _, err := login("long-enough-2"); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if _, err := redpointv1.NewAuthServiceClient(s.GRPC).RefreshSession(ctx, &redpointv1.RefreshSessionRequest{RefreshToken: sess.RefreshToken}); err == nil {
		t.Error("a refresh token outlived the password reset")
	}
	off, err := users.UpdateUser(sec, &redpointv1.UpdateUserRequest{User: &redpointv1.User{Name: u.Name, Active: false},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"active"}}})
	if err != nil || off.Active {
		t.Fatalf("deactivating a village secretary: %v, %v", off, err)
	}
	if _, err := login("long-enough-2"); err == nil {
		t.Error("a deactivated village secretary still logs in")
	}

	// A village secretary manages nobody: not an agent of its village, not
	// another village secretary, not itself through the managers' calls.
	_, err = users.CreateUser(vsec, &redpointv1.CreateUserRequest{Password: "long-enough-1", User: &redpointv1.User{
		Phone: "13712345605", DisplayName: "新代办员", Role: redpointv1.Role_ROLE_AGENT, ServicePoint: fmt.Sprintf("servicePoints/%d", *agent.ServicePointID)}})
	wantCode(t, "a village secretary's CreateUser of an agent", err, codes.PermissionDenied)
	_, err = users.ListUsers(vsec, &redpointv1.ListUsersRequest{Parent: village})
	wantCode(t, "a village secretary's ListUsers", err, codes.PermissionDenied)
	agentName := fmt.Sprintf("users/%d", agent.ID)
	_, err = users.GetUser(vsec, &redpointv1.GetUserRequest{Name: agentName})
	wantCode(t, "a village secretary's GetUser of its village's agent", err, codes.PermissionDenied)
	_, err = users.ResetUserPassword(vsec, &redpointv1.ResetUserPasswordRequest{Name: agentName, Password: "long-enough-3"})
	wantCode(t, "a village secretary's ResetUserPassword", err, codes.PermissionDenied)
	me, err := users.GetUser(vsec, &redpointv1.GetUserRequest{Name: "users/me"})
	if err != nil || me.Role != redpointv1.Role_ROLE_VILLAGE_SECRETARY || me.Region != village {
		t.Errorf("users/me of 13800000007: %v, %v", me, err)
	}
	// An agent manages no village secretary either.
	_, err = users.GetUser(s.As(t, ctx, demo.GuhanAgentPhone), &redpointv1.GetUserRequest{Name: me.Name})
	wantCode(t, "an agent's GetUser of its village secretary", err, codes.PermissionDenied)
}
