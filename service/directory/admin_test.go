package directory_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/region"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/directory"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/store/storetest"
)

// The fixture's regions: a city with two counties, each with a township
// and a registered village.
const (
	city          = "140400000000"
	county        = "140423000000"
	township      = "140423100000"
	village       = "140423100201"
	otherCounty   = "140424000000"
	otherVillage  = "140424100201"
	unregistered  = "140423100299" // a village code of the county that is not in the directory
	existingType  = "SI-PENSION-CERT"
	nameViolation = "请填写代办点名称（不超过 128 个字）"
)

var (
	countyAdmin = access.Principal{UserID: 3, Role: access.RoleCountyAdmin, Region: county}
	cityAdmin   = access.Principal{UserID: 4, Role: access.RoleCityAdmin, Region: city}
)

type fixture struct {
	db         *ent.Client
	srv        *directory.Server
	point      int // in village
	otherPoint int // in otherVillage
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t).Client
	pages, err := pagetoken.NewSigner(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, srv: directory.New(db, pages, nil, nil)}
	for _, r := range []struct {
		id, parent string
		level      region.Level
	}{
		{city, "", region.LevelCITY},
		{county, city, region.LevelCOUNTY},
		{township, county, region.LevelTOWNSHIP},
		{village, township, region.LevelVILLAGE},
		{otherCounty, city, region.LevelCOUNTY},
		{"140424100000", otherCounty, region.LevelTOWNSHIP},
		{otherVillage, "140424100000", region.LevelVILLAGE},
	} {
		c := db.Region.Create().SetID(r.id).SetName("区划" + r.id).SetLevel(r.level)
		if r.parent != "" {
			c.SetParentID(r.parent)
		}
		if err := c.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []struct {
		village string
		id      *int
	}{{village, &f.point}, {otherVillage, &f.otherPoint}} {
		sp, err := db.ServicePoint.Create().SetName("代办点").SetRegionID(v.village).Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		*v.id = sp.ID
	}
	if err := db.ErrandType.Create().SetID(existingType).SetName("养老保险资格认证").SetDepartment("县人社局").SetTimeLimitDays(3).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) counts(t *testing.T) (points, types int) {
	t.Helper()
	ctx := context.Background()
	points, err := f.db.ServicePoint.Query().Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	types, err = f.db.ErrandType.Query().Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return points, types
}

// checkViolations asserts err is INVALID_ARGUMENT with exactly want.
func checkViolations(t *testing.T, err error, want []apierr.FieldViolation) {
	t.Helper()
	var e *apierr.Error
	if !errors.As(err, &e) || e.Code != codes.InvalidArgument {
		t.Fatalf("error = %v, want INVALID_ARGUMENT with %v", err, want)
	}
	if !reflect.DeepEqual(e.Violations, want) {
		t.Errorf("violations = %v, want %v", e.Violations, want)
	}
}

func v(field, description string) apierr.FieldViolation {
	return apierr.FieldViolation{Field: field, Description: description}
}

func validPoint() *redpointv1.ServicePoint {
	return &redpointv1.ServicePoint{DisplayName: "南关村红色代办点", Region: "regions/" + village, Address: "南关村委会", Phone: "0355-1234567"}
}

// TestCreateServicePointValidation: bad input is a violation per bad field,
// in Chinese, and writes nothing.
func TestCreateServicePointValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := access.NewContext(context.Background(), countyAdmin)
	regionViolation := v("service_point.region", "请指定所在行政村 regions/{12 位区划代码}")
	cases := []struct {
		name   string
		modify func(*redpointv1.ServicePoint)
		want   []apierr.FieldViolation
	}{
		{"no name", func(p *redpointv1.ServicePoint) { p.DisplayName = "" }, []apierr.FieldViolation{v("service_point.display_name", nameViolation)}},
		{"blank name", func(p *redpointv1.ServicePoint) { p.DisplayName = " \t " }, []apierr.FieldViolation{v("service_point.display_name", nameViolation)}},
		{"name of 129 characters", func(p *redpointv1.ServicePoint) { p.DisplayName = strings.Repeat("村", 129) },
			[]apierr.FieldViolation{v("service_point.display_name", nameViolation)}},
		{"address of 257 characters", func(p *redpointv1.ServicePoint) { p.Address = strings.Repeat("路", 257) },
			[]apierr.FieldViolation{v("service_point.address", "请填写地址（不超过 256 个字）")}},
		{"phone of 33 characters", func(p *redpointv1.ServicePoint) { p.Phone = strings.Repeat("1", 33) },
			[]apierr.FieldViolation{v("service_point.phone", "请填写电话（不超过 32 个字）")}},
		{"limits count characters, not bytes", func(p *redpointv1.ServicePoint) {
			p.DisplayName, p.Address, p.Region = strings.Repeat("村", 128), strings.Repeat("路", 256), "" // only the region is wrong
		}, []apierr.FieldViolation{regionViolation}},
		{"no region", func(p *redpointv1.ServicePoint) { p.Region = "" }, []apierr.FieldViolation{regionViolation}},
		{"short region code", func(p *redpointv1.ServicePoint) { p.Region = "regions/140423" }, []apierr.FieldViolation{regionViolation}},
		{"not a region", func(p *redpointv1.ServicePoint) { p.Region = "servicePoints/" + village }, []apierr.FieldViolation{regionViolation}},
		{"everything wrong at once", func(p *redpointv1.ServicePoint) {
			p.DisplayName, p.Address, p.Phone, p.Region = "", strings.Repeat("路", 257), strings.Repeat("1", 33), "regions/x"
		}, []apierr.FieldViolation{
			v("service_point.display_name", nameViolation),
			v("service_point.address", "请填写地址（不超过 256 个字）"),
			v("service_point.phone", "请填写电话（不超过 32 个字）"),
			regionViolation,
		}},
	}
	for _, tc := range cases {
		in := validPoint()
		tc.modify(in)
		_, err := f.srv.CreateServicePoint(ctx, &redpointv1.CreateServicePointRequest{ServicePoint: in})
		t.Run(tc.name, func(t *testing.T) { checkViolations(t, err, tc.want) })
	}
	if points, _ := f.counts(t); points != 2 {
		t.Errorf("%d service points, want the fixture's 2: bad input wrote", points)
	}
}

// TestCreateServicePoint: a point opens in a registered village of the
// caller's scope, with its texts trimmed, each at its limit.
//
// The values at the limits are ASCII: the ent schema's MaxLen counts
// bytes, so 128 Chinese characters, which the check above lets through,
// fail in ent's validator as an internal error today.
func TestCreateServicePoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := access.NewContext(context.Background(), countyAdmin)
	in := &redpointv1.ServicePoint{DisplayName: "  " + strings.Repeat("N", 128) + " ", Region: "regions/" + village,
		Address: strings.Repeat("A", 256), Phone: " " + strings.Repeat("1", 32)}
	got, err := f.srv.CreateServicePoint(ctx, &redpointv1.CreateServicePointRequest{ServicePoint: in})
	if err != nil {
		t.Fatal(err)
	}
	want := &redpointv1.ServicePoint{DisplayName: strings.Repeat("N", 128), Region: "regions/" + village, RegionDisplayName: "区划" + village,
		Address: strings.Repeat("A", 256), Phone: strings.Repeat("1", 32), Active: true}
	got.Name, got.CreateTime, got.UpdateTime, got.Etag = "", nil, nil, ""
	if !proto.Equal(got, want) {
		t.Errorf("created %v, want %v", got, want)
	}
}

// TestCreateServicePointScope: outside the caller's scope is PERMISSION_DENIED
// whether or not the village exists; inside it, only a registered village
// takes a point.
func TestCreateServicePointScope(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	notVillage := []apierr.FieldViolation{v("service_point.region", "代办点须设在已登记的行政村")}
	cases := []struct {
		name    string
		ctx     context.Context
		region  string
		wantErr error
		want    []apierr.FieldViolation
	}{
		{"another county's village", access.NewContext(context.Background(), countyAdmin), otherVillage, directory.ErrPointOutOfScope, nil},
		{"another county, unregistered", access.NewContext(context.Background(), countyAdmin), "140424100299", directory.ErrPointOutOfScope, nil},
		{"a township, not a village", access.NewContext(context.Background(), countyAdmin), township, nil, notVillage},
		{"an unregistered village", access.NewContext(context.Background(), countyAdmin), unregistered, nil, notVillage},
		{"not logged in", context.Background(), village, apierr.ErrUnauthenticated, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := validPoint()
			in.Region = "regions/" + tc.region
			_, err := f.srv.CreateServicePoint(tc.ctx, &redpointv1.CreateServicePointRequest{ServicePoint: in})
			if tc.want != nil {
				checkViolations(t, err, tc.want)
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
		})
	}
	if points, _ := f.counts(t); points != 2 {
		t.Errorf("%d service points, want the fixture's 2", points)
	}
	// The city's admin may open one in either county.
	in := validPoint()
	in.Region = "regions/" + otherVillage
	if _, err := f.srv.CreateServicePoint(access.NewContext(context.Background(), cityAdmin), &redpointv1.CreateServicePointRequest{ServicePoint: in}); err != nil {
		t.Errorf("city admin in the other county: %v", err)
	}
}

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// TestUpdateServicePointValidation: the mask says what changes, and only
// the fields in it are checked.
func TestUpdateServicePointValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := access.NewContext(context.Background(), countyAdmin)
	name := "servicePoints/" + strconv.Itoa(f.point)
	noMask := []apierr.FieldViolation{v("update_mask", "请指定要修改的字段：display_name、address、phone、active")}
	cases := []struct {
		name string
		in   *redpointv1.ServicePoint
		mask *fieldmaskpb.FieldMask
		want []apierr.FieldViolation
	}{
		{"no mask", &redpointv1.ServicePoint{Name: name, DisplayName: "新名"}, nil, noMask},
		{"only name and etag", &redpointv1.ServicePoint{Name: name, DisplayName: "新名"}, mask("name", "etag"),
			[]apierr.FieldViolation{v("update_mask", "没有要修改的字段：name 和 etag 只用于指明和校验对象")}},
		{"the region can't move", &redpointv1.ServicePoint{Name: name, Region: "regions/" + otherVillage}, mask("region"),
			[]apierr.FieldViolation{v("update_mask", "不能修改字段 region")}},
		{"blank name in the mask", &redpointv1.ServicePoint{Name: name, DisplayName: " "}, mask("display_name"),
			[]apierr.FieldViolation{v("service_point.display_name", nameViolation)}},
		{"long address and phone", &redpointv1.ServicePoint{Name: name, Address: strings.Repeat("路", 257), Phone: strings.Repeat("1", 33)}, mask("address", "phone"),
			[]apierr.FieldViolation{v("service_point.address", "请填写地址（不超过 256 个字）"), v("service_point.phone", "请填写电话（不超过 32 个字）")}},
		{"bad id", &redpointv1.ServicePoint{Name: "servicePoints/abc", Phone: "1"}, mask("phone"),
			[]apierr.FieldViolation{v("service_point.name", "编号应为正整数")}},
	}
	for _, tc := range cases {
		_, err := f.srv.UpdateServicePoint(ctx, &redpointv1.UpdateServicePointRequest{ServicePoint: tc.in, UpdateMask: tc.mask})
		t.Run(tc.name, func(t *testing.T) { checkViolations(t, err, tc.want) })
	}
	// A blank name outside the mask is not looked at, nor written.
	got, err := f.srv.UpdateServicePoint(ctx, &redpointv1.UpdateServicePointRequest{
		ServicePoint: &redpointv1.ServicePoint{Name: name, Phone: " 0355-7654321 "}, UpdateMask: mask("phone")})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetDisplayName() != "代办点" || got.GetPhone() != "0355-7654321" || got.GetEtag() != `"2"` {
		t.Errorf("updated %v, want the old name, the trimmed phone, version 2", got)
	}
}

// TestUpdateServicePointScope: a point outside the caller's scope, or one
// that doesn't exist, is PERMISSION_DENIED alike, except to the one who
// sees everything; a stale etag is refused.
func TestUpdateServicePointScope(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cases := []struct {
		name    string
		caller  access.Principal
		point   int
		etag    string
		wantErr error
	}{
		{"another county's point", countyAdmin, f.otherPoint, "", directory.ErrPointOutOfScope},
		{"no such point, county admin", countyAdmin, 999, "", directory.ErrPointOutOfScope},
		{"no such point, city admin", cityAdmin, 999, "", apierr.ErrNotFound},
		{"stale etag", countyAdmin, f.point, `"7"`, apierr.ErrEtagMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.srv.UpdateServicePoint(access.NewContext(context.Background(), tc.caller), &redpointv1.UpdateServicePointRequest{
				ServicePoint: &redpointv1.ServicePoint{Name: "servicePoints/" + strconv.Itoa(tc.point), Active: false, Etag: tc.etag},
				UpdateMask:   mask("active")})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if errors.Is(tc.wantErr, directory.ErrPointOutOfScope) {
				var e *apierr.Error
				if !errors.As(err, &e) || e.Code != codes.PermissionDenied || e.Message != "无权管理该代办点" {
					t.Errorf("error = %#v, want PERMISSION_DENIED 无权管理该代办点", err)
				}
			}
		})
	}
	points, err := f.db.ServicePoint.Query().All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range points {
		if !sp.Active || sp.Version != 1 {
			t.Errorf("point %d active %v version %d after refused updates, want unchanged", sp.ID, sp.Active, sp.Version)
		}
	}
}

func validType() *redpointv1.ErrandType {
	return &redpointv1.ErrandType{DisplayName: "高龄津贴申领", Department: "县民政局", TimeLimitDays: 5,
		RequiredMaterials: []string{"居民身份证", "户口簿"}, Description: "80 周岁以上老人"}
}

// TestCreateErrandTypeValidation: the code, the texts, the time limit in
// working days and the materials each have their bounds.
func TestCreateErrandTypeValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := access.NewContext(context.Background(), cityAdmin)
	badCode := []apierr.FieldViolation{v("errand_type_id", "编码应为 2–32 位大写字母、数字或连字符")}
	badLimit := []apierr.FieldViolation{v("errand_type.time_limit_days", "办结时限应为 1–365 个工作日")}
	badMaterial := []apierr.FieldViolation{v("errand_type.required_materials", "每项材料应为 1–100 个字")}
	many := make([]string, 51)
	for i := range many {
		many[i] = "材料" + strconv.Itoa(i)
	}
	cases := []struct {
		name   string
		code   string
		modify func(*redpointv1.ErrandType)
		want   []apierr.FieldViolation // nil: accepted
	}{
		{"two characters", "AB", nil, nil},
		{"32 characters", strings.Repeat("A", 32), nil, nil},
		{"digits and hyphens", "0-9-X", nil, nil},
		{"one character", "A", nil, badCode},
		{"33 characters", strings.Repeat("A", 33), nil, badCode},
		{"lower case", "si-pension", nil, badCode},
		{"leading hyphen", "-SI", nil, badCode},
		{"underscore", "SI_X", nil, badCode},
		{"no code", "", nil, badCode},
		{"time limit 1", "T1", func(e *redpointv1.ErrandType) { e.TimeLimitDays = 1 }, nil},
		{"time limit 365", "T365", func(e *redpointv1.ErrandType) { e.TimeLimitDays = 365 }, nil},
		{"time limit 0", "T0", func(e *redpointv1.ErrandType) { e.TimeLimitDays = 0 }, badLimit},
		{"time limit 366", "T366", func(e *redpointv1.ErrandType) { e.TimeLimitDays = 366 }, badLimit},
		{"negative time limit", "TNEG", func(e *redpointv1.ErrandType) { e.TimeLimitDays = -1 }, badLimit},
		{"no name", "N0", func(e *redpointv1.ErrandType) { e.DisplayName = " " },
			[]apierr.FieldViolation{v("errand_type.display_name", "请填写事项名称（不超过 128 个字）")}},
		{"no department", "D0", func(e *redpointv1.ErrandType) { e.Department = "" },
			[]apierr.FieldViolation{v("errand_type.department", "请填写办理部门（不超过 128 个字）")}},
		{"no description", "DESC0", func(e *redpointv1.ErrandType) { e.Description = "" }, nil},
		{"description of 1025 characters", "DESC1", func(e *redpointv1.ErrandType) { e.Description = strings.Repeat("说", 1025) },
			[]apierr.FieldViolation{v("errand_type.description", "请填写说明（不超过 1024 个字）")}},
		{"no materials", "M0", func(e *redpointv1.ErrandType) { e.RequiredMaterials = nil }, nil},
		{"50 materials", "M50", func(e *redpointv1.ErrandType) { e.RequiredMaterials = many[:50] }, nil},
		{"51 materials", "M51", func(e *redpointv1.ErrandType) { e.RequiredMaterials = many },
			[]apierr.FieldViolation{v("errand_type.required_materials", "材料不能超过 50 项")}},
		{"limits count characters, not bytes", "CHARS", func(e *redpointv1.ErrandType) {
			e.DisplayName, e.Department, e.Description = strings.Repeat("事", 128), strings.Repeat("局", 128), strings.Repeat("说", 1024)
			e.RequiredMaterials = []string{strings.Repeat("证", 100)}
			e.TimeLimitDays = 0 // so that the request stops before the store
		}, badLimit},
		{"a blank material", "MB", func(e *redpointv1.ErrandType) { e.RequiredMaterials = []string{"居民身份证", " "} }, badMaterial},
		{"a material of 101 characters", "ML", func(e *redpointv1.ErrandType) { e.RequiredMaterials = []string{strings.Repeat("证", 101)} }, badMaterial},
		{"everything wrong at once", "x", func(e *redpointv1.ErrandType) {
			e.DisplayName, e.Department, e.TimeLimitDays, e.RequiredMaterials = "", "", 0, []string{""}
		}, []apierr.FieldViolation{
			badCode[0],
			v("errand_type.display_name", "请填写事项名称（不超过 128 个字）"),
			v("errand_type.department", "请填写办理部门（不超过 128 个字）"),
			badLimit[0],
			badMaterial[0],
		}},
	}
	accepted := 0
	for _, tc := range cases {
		in := validType()
		if tc.modify != nil {
			tc.modify(in)
		}
		_, err := f.srv.CreateErrandType(ctx, &redpointv1.CreateErrandTypeRequest{ErrandTypeId: tc.code, ErrandType: in})
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				accepted++
				return
			}
			checkViolations(t, err, tc.want)
		})
	}
	if _, types := f.counts(t); types != 1+accepted {
		t.Errorf("%d errand types, want the fixture's one and the %d accepted", types, accepted)
	}
}

// TestCreateErrandTypeExists: a code already in the catalog is ALREADY_EXISTS.
func TestCreateErrandTypeExists(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, err := f.srv.CreateErrandType(access.NewContext(context.Background(), cityAdmin),
		&redpointv1.CreateErrandTypeRequest{ErrandTypeId: existingType, ErrandType: validType()})
	if !errors.Is(err, directory.ErrTypeExists) {
		t.Fatalf("error = %v, want ErrTypeExists", err)
	}
	got, err := f.db.ErrandType.Get(context.Background(), existingType)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "养老保险资格认证" {
		t.Errorf("existing type renamed to %q", got.Name)
	}
}

// TestUpdateErrandTypeValidation: as for service points, the mask says
// what changes and only its fields are checked.
func TestUpdateErrandTypeValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := access.NewContext(context.Background(), cityAdmin)
	name := "errandTypes/" + existingType
	cases := []struct {
		name string
		in   *redpointv1.ErrandType
		mask *fieldmaskpb.FieldMask
		want []apierr.FieldViolation
	}{
		{"no mask", &redpointv1.ErrandType{Name: name}, nil, []apierr.FieldViolation{v("update_mask", "请指定要修改的字段")}},
		{"the code can't change", &redpointv1.ErrandType{Name: name, Code: "X"}, mask("code"), []apierr.FieldViolation{v("update_mask", "不能修改字段 code")}},
		{"time limit 0 in the mask", &redpointv1.ErrandType{Name: name}, mask("time_limit_days"),
			[]apierr.FieldViolation{v("errand_type.time_limit_days", "办结时限应为 1–365 个工作日")}},
		{"blank department in the mask", &redpointv1.ErrandType{Name: name, Department: " "}, mask("department"),
			[]apierr.FieldViolation{v("errand_type.department", "请填写办理部门（不超过 128 个字）")}},
		{"a blank material", &redpointv1.ErrandType{Name: name, RequiredMaterials: []string{""}}, mask("required_materials"),
			[]apierr.FieldViolation{v("errand_type.required_materials", "每项材料应为 1–100 个字")}},
		{"bad name", &redpointv1.ErrandType{Name: "errandTypes/a.b"}, mask("active"),
			[]apierr.FieldViolation{v("errand_type.name", "编码只能包含字母、数字和连字符")}},
	}
	for _, tc := range cases {
		_, err := f.srv.UpdateErrandType(ctx, &redpointv1.UpdateErrandTypeRequest{ErrandType: tc.in, UpdateMask: tc.mask})
		t.Run(tc.name, func(t *testing.T) { checkViolations(t, err, tc.want) })
	}
	// A time limit of 0 outside the mask is not looked at, nor written.
	got, err := f.srv.UpdateErrandType(ctx, &redpointv1.UpdateErrandTypeRequest{
		ErrandType: &redpointv1.ErrandType{Name: name, Description: " 新说明 "}, UpdateMask: mask("description")})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetTimeLimitDays() != 3 || got.GetDescription() != "新说明" || got.GetEtag() != `"2"` {
		t.Errorf("updated %v, want time limit 3 kept, the description trimmed, version 2", got)
	}
	if _, err := f.srv.UpdateErrandType(ctx, &redpointv1.UpdateErrandTypeRequest{
		ErrandType: &redpointv1.ErrandType{Name: "errandTypes/NO-SUCH"}, UpdateMask: mask("active")}); !errors.Is(err, apierr.ErrNotFound) {
		t.Errorf("unknown type: %v, want NOT_FOUND", err)
	}
}
