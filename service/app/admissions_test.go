package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/changzhi/redpoint/ent/auditentry"
	"github.com/changzhi/redpoint/ent/user"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
)

// statusReason is a gRPC error's code and ErrorInfo reason.
func statusReason(err error) (codes.Code, string) {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return st.Code(), info.Reason
		}
	}
	return st.Code(), ""
}

// offered lists the codes ListErrandTypes offers in region, over REST as
// the agent's app reads it (the answers' cache included).
func offered(t *testing.T, s *apptest.Server, region string) []string {
	t.Helper()
	code, body := s.Do(t, "", http.MethodGet, "/v1/errandTypes?pageSize=500&region="+region, nil)
	if code != http.StatusOK {
		t.Fatalf("list errand types in %s: %d %s", region, code, body)
	}
	var out struct{ ErrandTypes []struct{ Code string } }
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, et := range out.ErrandTypes {
		codes = append(codes, et.Code)
	}
	return codes
}

// TestCountyAdmission walks 动态准入 end to end: 襄垣县's admin proposes a
// type, the city admits it, 襄垣县's agent logs it at once and 长子县's
// agent can't; every step is audited and the catalog each county's app
// reads follows without a restart.
func TestCountyAdmission(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: smallDemo()})
	ctx := context.Background()
	county := s.As(t, ctx, demo.CountyAdminPhone)
	city := s.As(t, ctx, demo.CityAdminPhone)
	guhan := s.As(t, ctx, demo.GuhanAgentPhone)   // 襄垣县
	danzhu := s.As(t, ctx, demo.DanzhuAgentPhone) // 长子县
	types := redpointv1.NewErrandTypeServiceClient(s.GRPC)
	errands := redpointv1.NewErrandServiceClient(s.GRPC)
	const xiangyuan, zhangzi = "regions/140423000000", "regions/140428000000"
	const guhanTown, danzhuTown = "regions/140423100000", "regions/140428100000"
	create := func(ctx context.Context, code string) error {
		_, err := errands.CreateErrand(ctx, &redpointv1.CreateErrandRequest{Errand: &redpointv1.Errand{
			ErrandType: "errandTypes/" + code, ResidentName: "王秀兰", ResidentPhone: "13912340002"}})
		return err
	}

	// The demo's county-only type: offered and usable in 襄垣县 only.
	if got := offered(t, s, guhanTown); !slices.Contains(got, demo.XiangyuanOnlyType) || !slices.Contains(got, "MI-PAYMENT") {
		t.Errorf("古韩镇 is offered %v, want the city-wide types and %s", got, demo.XiangyuanOnlyType)
	}
	if got := offered(t, s, danzhuTown); slices.Contains(got, demo.XiangyuanOnlyType) || !slices.Contains(got, "MI-PAYMENT") {
		t.Errorf("丹朱镇 is offered %v, want the city-wide types without %s", got, demo.XiangyuanOnlyType)
	}
	if err := create(guhan, demo.XiangyuanOnlyType); err != nil {
		t.Errorf("襄垣县's agent logging %s: %v", demo.XiangyuanOnlyType, err)
	}
	if c, r := statusReason(create(danzhu, demo.XiangyuanOnlyType)); c != codes.FailedPrecondition || r != "ERRAND_TYPE_NOT_ADMITTED" {
		t.Errorf("长子县's agent logging %s: %v %s, want FAILED_PRECONDITION ERRAND_TYPE_NOT_ADMITTED", demo.XiangyuanOnlyType, c, r)
	}

	// 襄垣县 proposes a new type. Read the catalogs first, so that a cached
	// answer would be served if the writes did not bump it.
	const code = "XY-TOILET-AWARD"
	if got := offered(t, s, guhanTown); slices.Contains(got, code) {
		t.Fatalf("%s offered before it is proposed", code)
	}
	proposal := &redpointv1.ErrandTypeAdmission{ErrandType: "errandTypes/" + code, Reason: "本县推进农村户厕改造",
		NewErrandType: &redpointv1.ErrandType{DisplayName: "农村户厕改造奖补申领", Department: "襄垣县农业农村局", TimeLimitDays: 10,
			RequiredMaterials: []string{"居民身份证", "一卡通"}}}
	if _, err := types.CreateErrandTypeAdmission(county, &redpointv1.CreateErrandTypeAdmissionRequest{Parent: zhangzi, ErrandTypeAdmission: proposal}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("襄垣县's admin proposing for 长子县: %v", err)
	}
	a, err := types.CreateErrandTypeAdmission(county, &redpointv1.CreateErrandTypeAdmissionRequest{Parent: xiangyuan, ErrandTypeAdmission: proposal})
	if err != nil {
		t.Fatal(err)
	}
	if a.State != redpointv1.ErrandTypeAdmissionState_ERRAND_TYPE_ADMISSION_STATE_PROPOSED || a.StateDisplayName != "待审核" ||
		a.CountyDisplayName != "襄垣县" || a.ErrandTypeDisplayName != "农村户厕改造奖补申领" || a.ProposerDisplayName == "" {
		t.Errorf("proposed %v", a)
	}
	if _, err := types.CreateErrandTypeAdmission(county, &redpointv1.CreateErrandTypeAdmissionRequest{Parent: xiangyuan, ErrandTypeAdmission: proposal}); status.Code(err) != codes.AlreadyExists {
		t.Errorf("the same proposal again: %v", err)
	}
	// Proposed is not admitted: not offered, not usable.
	if got := offered(t, s, guhanTown); slices.Contains(got, code) {
		t.Errorf("%s offered while only proposed", code)
	}
	if c, r := statusReason(create(guhan, code)); c != codes.InvalidArgument {
		t.Errorf("logging a proposed type: %v %s, want INVALID_ARGUMENT (not in the catalog)", c, r)
	}
	// Only the city decides.
	if _, err := types.AdmitErrandTypeAdmission(county, &redpointv1.AdmitErrandTypeAdmissionRequest{Name: a.Name}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a county admin admitting: %v", err)
	}
	list, err := types.ListErrandTypeAdmissions(city, &redpointv1.ListErrandTypeAdmissionsRequest{Parent: "regions/140400000000",
		State: redpointv1.ErrandTypeAdmissionState_ERRAND_TYPE_ADMISSION_STATE_PROPOSED})
	if err != nil || len(list.ErrandTypeAdmissions) != 1 || list.ErrandTypeAdmissions[0].Name != a.Name {
		t.Fatalf("the city's proposals: %v, %v", list, err)
	}
	admitted, err := types.AdmitErrandTypeAdmission(city, &redpointv1.AdmitErrandTypeAdmissionRequest{Name: a.Name, Note: "同意", Etag: a.Etag})
	if err != nil {
		t.Fatal(err)
	}
	if admitted.State != redpointv1.ErrandTypeAdmissionState_ERRAND_TYPE_ADMISSION_STATE_ADMITTED || admitted.DeciderDisplayName == "" ||
		admitted.DecideTime == nil || admitted.DecisionNote != "同意" {
		t.Errorf("admitted %v", admitted)
	}
	if _, err := types.RejectErrandTypeAdmission(city, &redpointv1.RejectErrandTypeAdmissionRequest{Name: a.Name, Note: "改主意了"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("a second decision: %v", err)
	}
	// At once: offered in 襄垣县, loggable there, refused in 长子县.
	if got := offered(t, s, guhanTown); !slices.Contains(got, code) {
		t.Errorf("%s not offered in 古韩镇 after it was admitted: %v", code, got)
	}
	if got := offered(t, s, danzhuTown); slices.Contains(got, code) {
		t.Errorf("%s offered in 丹朱镇", code)
	}
	if err := create(guhan, code); err != nil {
		t.Errorf("襄垣县's agent logging the admitted type: %v", err)
	}
	if c, r := statusReason(create(danzhu, code)); c != codes.FailedPrecondition || r != "ERRAND_TYPE_NOT_ADMITTED" {
		t.Errorf("长子县's agent: %v %s", c, r)
	}
	batch, err := errands.BatchCreateErrands(danzhu, &redpointv1.BatchCreateErrandsRequest{Requests: []*redpointv1.CreateErrandRequest{
		{RequestId: "adm-1", Errand: &redpointv1.Errand{ErrandType: "errandTypes/" + code, ResidentName: "王秀兰", ResidentPhone: "13912340002"}},
		{RequestId: "adm-2", Errand: &redpointv1.Errand{ErrandType: "errandTypes/MI-PAYMENT", ResidentName: "王秀兰", ResidentPhone: "13912340002"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := batch.Results; r[0].ErrorReason != "ERRAND_TYPE_NOT_ADMITTED" || r[1].Outcome != redpointv1.BatchItemOutcome_BATCH_ITEM_OUTCOME_CREATED {
		t.Errorf("长子县's batch: %v", r)
	}

	// 长子县 asks to enable it; the city rejects: still refused there.
	// Asked again, and admitted: 长子县's agent may log it.
	db := s.App.Store.Client
	zz, err := db.User.Query().Where(user.RoleEQ(user.RoleCOUNTY_ADMIN), user.RegionID("140428000000")).Only(ctx)
	if err != nil {
		t.Fatal(err)
	}
	zhangziAdmin := s.As(t, ctx, zz.Phone)
	enable := &redpointv1.CreateErrandTypeAdmissionRequest{Parent: zhangzi, ErrandTypeAdmission: &redpointv1.ErrandTypeAdmission{ErrandType: "errandTypes/" + code}}
	b, err := types.CreateErrandTypeAdmission(zhangziAdmin, enable)
	if err != nil {
		t.Fatal(err)
	}
	if b.NewErrandType != nil || b.ErrandTypeDisplayName != "农村户厕改造奖补申领" {
		t.Errorf("enabling an existing type: %v", b)
	}
	if _, err := types.RejectErrandTypeAdmission(city, &redpointv1.RejectErrandTypeAdmissionRequest{Name: b.Name}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a rejection without a note: %v", err)
	}
	rejected, err := types.RejectErrandTypeAdmission(city, &redpointv1.RejectErrandTypeAdmissionRequest{Name: b.Name, Note: "长子县暂无改厕任务"})
	if err != nil || rejected.StateDisplayName != "已驳回" {
		t.Fatalf("rejected %v, %v", rejected, err)
	}
	if c, r := statusReason(create(danzhu, code)); c != codes.FailedPrecondition || r != "ERRAND_TYPE_NOT_ADMITTED" {
		t.Errorf("长子县's agent after the rejection: %v %s", c, r)
	}
	if got := offered(t, s, danzhuTown); slices.Contains(got, code) {
		t.Errorf("%s offered in 丹朱镇 after the rejection", code)
	}
	again, err := types.CreateErrandTypeAdmission(zhangziAdmin, enable)
	if err != nil {
		t.Fatalf("proposing again after a rejection: %v", err)
	}
	if _, err := types.AdmitErrandTypeAdmission(city, &redpointv1.AdmitErrandTypeAdmissionRequest{Name: again.Name}); err != nil {
		t.Fatal(err)
	}
	if err := create(danzhu, code); err != nil {
		t.Errorf("长子县's agent once admitted there: %v", err)
	}
	if got := offered(t, s, danzhuTown); !slices.Contains(got, code) {
		t.Errorf("%s not offered in 丹朱镇 once admitted there", code)
	}
	mine, err := types.ListErrandTypeAdmissions(zhangziAdmin, &redpointv1.ListErrandTypeAdmissionsRequest{Parent: zhangzi})
	if err != nil || len(mine.ErrandTypeAdmissions) != 2 || mine.ErrandTypeAdmissions[0].Name != again.Name {
		t.Errorf("长子县's admissions, newest first: %v, %v", mine, err)
	}
	if _, err := types.ListErrandTypeAdmissions(zhangziAdmin, &redpointv1.ListErrandTypeAdmissionsRequest{Parent: xiangyuan}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("长子县's admin listing 襄垣县's: %v", err)
	}

	entries, err := db.AuditEntry.Query().Where(auditentry.ResourceEQ(a.Name)).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	want := []string{"/redpoint.v1.ErrandTypeService/CreateErrandTypeAdmission", "/redpoint.v1.ErrandTypeService/AdmitErrandTypeAdmission"}
	if !slices.Equal(actions, want) {
		t.Errorf("audit of %s: %v, want %v", a.Name, actions, want)
	}
	for _, e := range entries {
		if e.RegionID != "140423000000" || e.ActorUserID == nil {
			t.Errorf("audit entry %+v: want region 140423000000 and its actor", e)
		}
	}
}
