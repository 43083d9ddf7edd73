package directory_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/changzhi/redpoint/ent/errandtype"
	"github.com/changzhi/redpoint/ent/errandtypeadmission"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/directory"
	"github.com/changzhi/redpoint/service/pagetoken"
)

func newTypeProposal(code string) *redpointv1.ErrandTypeAdmission {
	return &redpointv1.ErrandTypeAdmission{ErrandType: "errandTypes/" + code, Reason: "本县需求集中",
		NewErrandType: &redpointv1.ErrandType{DisplayName: "谷子种植补贴申报", Department: "县农业农村局", TimeLimitDays: 15,
			RequiredMaterials: []string{"居民身份证", "一卡通"}}}
}

func propose(ctx context.Context, f *fixture, parent string, a *redpointv1.ErrandTypeAdmission) (*redpointv1.ErrandTypeAdmission, error) {
	return f.srv.CreateErrandTypeAdmission(ctx, &redpointv1.CreateErrandTypeAdmissionRequest{Parent: "regions/" + parent, ErrandTypeAdmission: a})
}

func wantReason(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	var e *apierr.Error
	if !errors.As(err, &e) || e.Code != code || e.Reason != reason {
		t.Errorf("%s: %v, want %v %s", what, err, code, reason)
	}
}

func (f *fixture) admissions(t *testing.T) int {
	t.Helper()
	n, err := f.db.ErrandTypeAdmission.Query().Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestProposeAdmissionValidation: a bad proposal is a violation per bad
// field, checked as CreateErrandType checks a type, and writes nothing.
func TestProposeAdmissionValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := access.NewContext(context.Background(), countyAdmin)
	const pfx = "errand_type_admission."
	cases := []struct {
		name   string
		parent string
		modify func(*redpointv1.ErrandTypeAdmission)
		want   []string // violated fields
	}{
		{"a township, not a county", township, nil, []string{"parent"}},
		{"no type", county, func(a *redpointv1.ErrandTypeAdmission) { a.ErrandType = "" }, []string{pfx + "errand_type"}},
		{"a lower-case code", county, func(a *redpointv1.ErrandTypeAdmission) { a.ErrandType = "errandTypes/xy-a" }, []string{pfx + "errand_type"}},
		{"a new type without name, department or time limit", county, func(a *redpointv1.ErrandTypeAdmission) {
			a.NewErrandType = &redpointv1.ErrandType{}
		}, []string{pfx + "new_errand_type.display_name", pfx + "new_errand_type.department", pfx + "new_errand_type.time_limit_days"}},
		{"a time limit over a year", county, func(a *redpointv1.ErrandTypeAdmission) { a.NewErrandType.TimeLimitDays = 366 },
			[]string{pfx + "new_errand_type.time_limit_days"}},
		{"an empty material", county, func(a *redpointv1.ErrandTypeAdmission) { a.NewErrandType.RequiredMaterials = []string{" "} },
			[]string{pfx + "new_errand_type.required_materials"}},
		{"a reason over 500 characters", county, func(a *redpointv1.ErrandTypeAdmission) { a.Reason = strings.Repeat("因", 501) },
			[]string{pfx + "reason"}},
		{"enabling a type the catalog lacks", county, func(a *redpointv1.ErrandTypeAdmission) { a.NewErrandType = nil },
			[]string{pfx + "errand_type"}},
		{"enabling a city-wide type", county, func(a *redpointv1.ErrandTypeAdmission) {
			a.ErrandType, a.NewErrandType = "errandTypes/"+existingType, nil
		}, []string{pfx + "errand_type"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newTypeProposal("XY-MILLET")
			if tc.modify != nil {
				tc.modify(a)
			}
			_, err := propose(ctx, f, tc.parent, a)
			var e *apierr.Error
			if !errors.As(err, &e) || e.Code != codes.InvalidArgument {
				t.Fatalf("error = %v, want INVALID_ARGUMENT", err)
			}
			var got []string
			for _, fv := range e.Violations {
				got = append(got, fv.Field)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("violations on %v, want %v", got, tc.want)
			}
			if n := f.admissions(t); n != 0 {
				t.Errorf("%d admissions written", n)
			}
		})
	}
}

// TestProposeAdmissionRules: permission before anything else, one live
// admission per type and county, a new type's code free in the catalog.
func TestProposeAdmissionRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := access.NewContext(context.Background(), countyAdmin)
	// Another county: denied, even for a proposal that is bad anyway.
	_, err := propose(ctx, f, otherCounty, &redpointv1.ErrandTypeAdmission{})
	wantReason(t, "another county", err, codes.PermissionDenied, "PERMISSION_DENIED")
	_, err = propose(ctx, f, county, newTypeProposal(existingType))
	wantReason(t, "a new type with a catalog code", err, codes.AlreadyExists, "ERRAND_TYPE_EXISTS")
	if n := f.admissions(t); n != 0 {
		t.Fatalf("%d admissions written", n)
	}
	a, err := propose(ctx, f, county, newTypeProposal("XY-MILLET"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.Name, "regions/"+county+"/errandTypeAdmissions/") || a.County != "regions/"+county ||
		a.Proposer != "users/3" || a.State != redpointv1.ErrandTypeAdmissionState_ERRAND_TYPE_ADMISSION_STATE_PROPOSED {
		t.Errorf("proposed %v", a)
	}
	_, err = propose(ctx, f, county, newTypeProposal("XY-MILLET"))
	wantReason(t, "the same proposal twice", err, codes.AlreadyExists, "ERRAND_TYPE_ADMISSION_EXISTS")
	// Another county may propose the same new code; the first admitted wins.
	b, err := propose(access.NewContext(context.Background(), cityAdmin), f, otherCounty, newTypeProposal("XY-MILLET"))
	if err != nil {
		t.Fatal(err)
	}
	city := access.NewContext(context.Background(), cityAdmin)
	if _, err := f.srv.AdmitErrandTypeAdmission(city, &redpointv1.AdmitErrandTypeAdmissionRequest{Name: a.Name}); err != nil {
		t.Fatal(err)
	}
	_, err = f.srv.AdmitErrandTypeAdmission(city, &redpointv1.AdmitErrandTypeAdmissionRequest{Name: b.Name})
	wantReason(t, "admitting a second new type of one code", err, codes.AlreadyExists, "ERRAND_TYPE_EXISTS")
	got, err := f.db.ErrandTypeAdmission.Get(context.Background(), testutilID(t, b.Name))
	if err != nil || got.State != errandtypeadmission.StatePROPOSED {
		t.Errorf("the refused admission: %v, %v; want it still proposed", got, err)
	}
	// Rejected, it may be proposed again (to enable the type that exists now).
	if _, err := f.srv.RejectErrandTypeAdmission(city, &redpointv1.RejectErrandTypeAdmissionRequest{Name: b.Name, Note: "已有同编码事项"}); err != nil {
		t.Fatal(err)
	}
	if _, err := propose(ctx, f, county, &redpointv1.ErrandTypeAdmission{ErrandType: "errandTypes/XY-MILLET"}); err == nil {
		t.Error("襄垣县 enabling a type it has admitted: no error")
	}
	if _, err := propose(access.NewContext(context.Background(), cityAdmin), f, otherCounty,
		&redpointv1.ErrandTypeAdmission{ErrandType: "errandTypes/XY-MILLET"}); err != nil {
		t.Errorf("proposing again after a rejection: %v", err)
	}
}

func testutilID(t *testing.T, name string) int {
	t.Helper()
	i := strings.LastIndex(name, "/")
	n := 0
	for _, r := range name[i+1:] {
		n = n*10 + int(r-'0')
	}
	return n
}

// TestAdmissionDecidedOnce: only one of two racing decisions lands; a
// rejection needs its reason; an unknown admission is NOT_FOUND; a county
// admin outside the county is denied before existence.
func TestAdmissionDecidedOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, err := propose(access.NewContext(context.Background(), countyAdmin), f, county, newTypeProposal("XY-MILLET"))
	if err != nil {
		t.Fatal(err)
	}
	city := access.NewContext(context.Background(), cityAdmin)
	_, err = f.srv.RejectErrandTypeAdmission(city, &redpointv1.RejectErrandTypeAdmissionRequest{Name: a.Name, Note: " "})
	wantReason(t, "a rejection without a reason", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	_, err = f.srv.AdmitErrandTypeAdmission(city, &redpointv1.AdmitErrandTypeAdmissionRequest{Name: "regions/" + county + "/errandTypeAdmissions/999"})
	wantReason(t, "an unknown admission", err, codes.NotFound, "NOT_FOUND")
	_, err = f.srv.AdmitErrandTypeAdmission(city, &redpointv1.AdmitErrandTypeAdmissionRequest{Name: "regions/" + otherCounty + "/errandTypeAdmissions/" + strings.TrimPrefix(a.Name, "regions/"+county+"/errandTypeAdmissions/")})
	wantReason(t, "an admission under the wrong county", err, codes.NotFound, "NOT_FOUND")
	outsider := access.NewContext(context.Background(), access.Principal{UserID: 9, Role: access.RoleCountyAdmin, Region: otherCounty})
	_, err = f.srv.AdmitErrandTypeAdmission(outsider, &redpointv1.AdmitErrandTypeAdmissionRequest{Name: a.Name})
	wantReason(t, "another county's admin", err, codes.PermissionDenied, "PERMISSION_DENIED")
	_, err = f.srv.AdmitErrandTypeAdmission(city, &redpointv1.AdmitErrandTypeAdmissionRequest{Name: a.Name, Etag: `"7"`})
	wantReason(t, "a stale etag", err, codes.Aborted, "ETAG_MISMATCH")

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 0 {
				_, errs[i] = f.srv.AdmitErrandTypeAdmission(city, &redpointv1.AdmitErrandTypeAdmissionRequest{Name: a.Name, Note: "同意"})
			} else {
				_, errs[i] = f.srv.RejectErrandTypeAdmission(city, &redpointv1.RejectErrandTypeAdmissionRequest{Name: a.Name, Note: "不同意"})
			}
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			wantReason(t, "the second decision", err, codes.FailedPrecondition, "ERRAND_TYPE_ADMISSION_DECIDED")
		}
	}
	if ok != 1 {
		t.Fatalf("%d decisions landed, want 1: %v", ok, errs)
	}
	_, err = f.srv.AdmitErrandTypeAdmission(city, &redpointv1.AdmitErrandTypeAdmissionRequest{Name: a.Name})
	wantReason(t, "deciding again", err, codes.FailedPrecondition, "ERRAND_TYPE_ADMISSION_DECIDED")
	// The type joined the catalog exactly when it was admitted.
	row, err := f.db.ErrandTypeAdmission.Get(context.Background(), testutilID(t, a.Name))
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.db.ErrandType.Query().Where(errandtype.ID("XY-MILLET"), errandtype.AvailabilityEQ(errandtype.AvailabilityADMITTED_COUNTIES)).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := map[errandtypeadmission.State]int{errandtypeadmission.StateADMITTED: 1, errandtypeadmission.StateREJECTED: 0}[row.State]; n != want {
		t.Errorf("%s admission: %d catalog rows, want %d", row.State, n, want)
	}
}

// TestErrandTypesInRegion: a region's catalog is the city-wide types and
// those admitted for its county; the city's, the city-wide ones.
func TestErrandTypesInRegion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, err := propose(access.NewContext(context.Background(), countyAdmin), f, county, newTypeProposal("XY-MILLET"))
	if err != nil {
		t.Fatal(err)
	}
	list := func(region string) []string {
		t.Helper()
		resp, err := f.srv.ListErrandTypes(pagetoken.WithSize(context.Background(), 50), &redpointv1.ListErrandTypesRequest{Region: region})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, et := range resp.ErrandTypes {
			out = append(out, et.Code)
		}
		return out
	}
	both, cityWide := []string{existingType, "XY-MILLET"}, []string{existingType}
	if got := list("regions/" + village); !slices.Equal(got, cityWide) {
		t.Errorf("proposed only: %v", got)
	}
	if _, err := f.srv.AdmitErrandTypeAdmission(access.NewContext(context.Background(), cityAdmin),
		&redpointv1.AdmitErrandTypeAdmissionRequest{Name: a.Name}); err != nil {
		t.Fatal(err)
	}
	for region, want := range map[string][]string{
		"": both, "regions/" + village: both, "regions/" + county: both, "regions/" + township: both,
		"regions/" + otherVillage: cityWide, "regions/" + otherCounty: cityWide, "regions/" + city: cityWide,
	} {
		if got := list(region); !slices.Equal(got, want) {
			t.Errorf("region %q: %v, want %v", region, got, want)
		}
	}
	_, err = f.srv.ListErrandTypes(pagetoken.WithSize(context.Background(), 50), &redpointv1.ListErrandTypesRequest{Region: "regions/140423100299"})
	wantReason(t, "an unknown region", err, codes.NotFound, "NOT_FOUND")
	_, err = f.srv.ListErrandTypes(pagetoken.WithSize(context.Background(), 50), &redpointv1.ListErrandTypesRequest{Region: "140423"})
	wantReason(t, "a bad region name", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	if _, ok := directory.CountyOf("140400000000"); ok {
		t.Error("the city has a county")
	}
}

// TestListAdmissions: in scope only, newest first, by state.
func TestListAdmissions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	county1 := access.NewContext(context.Background(), countyAdmin)
	city1 := access.NewContext(context.Background(), cityAdmin)
	a, err := propose(county1, f, county, newTypeProposal("XY-A"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := propose(county1, f, county, newTypeProposal("XY-B"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := propose(city1, f, otherCounty, newTypeProposal("XY-C"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.AdmitErrandTypeAdmission(city1, &redpointv1.AdmitErrandTypeAdmissionRequest{Name: a.Name}); err != nil {
		t.Fatal(err)
	}
	names := func(ctx context.Context, parent string, st redpointv1.ErrandTypeAdmissionState) []string {
		t.Helper()
		resp, err := f.srv.ListErrandTypeAdmissions(pagetoken.WithSize(ctx, 50), &redpointv1.ListErrandTypeAdmissionsRequest{Parent: "regions/" + parent, State: st})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range resp.ErrandTypeAdmissions {
			out = append(out, x.Name)
		}
		return out
	}
	all := redpointv1.ErrandTypeAdmissionState_ERRAND_TYPE_ADMISSION_STATE_UNSPECIFIED
	proposed := redpointv1.ErrandTypeAdmissionState_ERRAND_TYPE_ADMISSION_STATE_PROPOSED
	if got, want := names(county1, county, all), []string{b.Name, a.Name}; !slices.Equal(got, want) {
		t.Errorf("the county's: %v, want %v", got, want)
	}
	if got, want := names(city1, city, proposed), []string{c.Name, b.Name}; !slices.Equal(got, want) {
		t.Errorf("the city's proposed: %v, want %v", got, want)
	}
	_, err = f.srv.ListErrandTypeAdmissions(county1, &redpointv1.ListErrandTypeAdmissionsRequest{Parent: "regions/" + otherCounty})
	wantReason(t, "another county's", err, codes.PermissionDenied, "PERMISSION_DENIED")
	_, err = f.srv.ListErrandTypeAdmissions(county1, &redpointv1.ListErrandTypeAdmissionsRequest{Parent: "regions/" + county, State: 9})
	wantReason(t, "an unknown state", err, codes.InvalidArgument, "INVALID_ARGUMENT")
}

// TestCityTypeCountiesOptInto: the city creates a type counties must opt
// into; a county enables it; made city-wide, every county offers it.
func TestCityTypeCountiesOptInto(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	city1 := access.NewContext(context.Background(), cityAdmin)
	optIn := redpointv1.ErrandTypeAvailability_ERRAND_TYPE_AVAILABILITY_ADMITTED_COUNTIES
	_, err := f.srv.CreateErrandType(city1, &redpointv1.CreateErrandTypeRequest{ErrandTypeId: "CA-WINTER-HEAT",
		ErrandType: &redpointv1.ErrandType{DisplayName: "冬季取暖补贴申请", Department: "县民政局", TimeLimitDays: 10, Availability: 7}})
	var e *apierr.Error
	if !errors.As(err, &e) || len(e.Violations) != 1 || e.Violations[0].Field != "errand_type.availability" {
		t.Errorf("an unknown availability: %v", err)
	}
	et, err := f.srv.CreateErrandType(city1, &redpointv1.CreateErrandTypeRequest{ErrandTypeId: "CA-WINTER-HEAT",
		ErrandType: &redpointv1.ErrandType{DisplayName: "冬季取暖补贴申请", Department: "县民政局", TimeLimitDays: 10, Availability: optIn}})
	if err != nil || et.Availability != optIn {
		t.Fatalf("created %v, %v", et, err)
	}
	offered := func(region string) bool {
		t.Helper()
		resp, err := f.srv.ListErrandTypes(pagetoken.WithSize(context.Background(), 50), &redpointv1.ListErrandTypesRequest{Region: "regions/" + region})
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(resp.ErrandTypes, func(x *redpointv1.ErrandType) bool { return x.Name == et.Name })
	}
	if offered(village) || offered(otherVillage) {
		t.Error("an opt-in type offered before any county admitted it")
	}
	a, err := propose(access.NewContext(context.Background(), countyAdmin), f, county, &redpointv1.ErrandTypeAdmission{ErrandType: et.Name})
	if err != nil || a.NewErrandType != nil || a.ErrandTypeDisplayName != "冬季取暖补贴申请" {
		t.Fatalf("enabling it: %v, %v", a, err)
	}
	if _, err := f.srv.AdmitErrandTypeAdmission(city1, &redpointv1.AdmitErrandTypeAdmissionRequest{Name: a.Name}); err != nil {
		t.Fatal(err)
	}
	if !offered(village) || offered(otherVillage) {
		t.Error("admitted for one county: want it offered there only")
	}
	if _, err := f.srv.UpdateErrandType(city1, &redpointv1.UpdateErrandTypeRequest{ErrandType: &redpointv1.ErrandType{Name: et.Name,
		Availability: redpointv1.ErrandTypeAvailability_ERRAND_TYPE_AVAILABILITY_CITY_WIDE}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"availability"}}}); err != nil {
		t.Fatal(err)
	}
	if !offered(otherVillage) {
		t.Error("made city-wide: not offered in the other county")
	}
}

// TestAdmissionTextsAtTheirLimits: the limits the handlers check are in
// characters, and Chinese text at them is stored, not a 500: a new type's
// name (128) and department (128), its description (1024), the reason
// (500), and the decision's note (500), which the admitted type's entry
// in the catalog takes too.
func TestAdmissionTextsAtTheirLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := newTypeProposal("XY-LONG")
	a.NewErrandType.DisplayName = strings.Repeat("名", 128)
	a.NewErrandType.Department = strings.Repeat("部", 128)
	a.NewErrandType.Description = strings.Repeat("说", 1024)
	a.Reason = strings.Repeat("因", 500)
	got, err := propose(access.NewContext(context.Background(), countyAdmin), f, county, a)
	if err != nil {
		t.Fatalf("a proposal at the limits: %v", err)
	}
	city := access.NewContext(context.Background(), cityAdmin)
	if _, err := f.srv.AdmitErrandTypeAdmission(city, &redpointv1.AdmitErrandTypeAdmissionRequest{Name: got.Name, Note: strings.Repeat("准", 500)}); err != nil {
		t.Fatalf("admitting it with a 500-character note: %v", err)
	}
	typ, err := f.db.ErrandType.Get(context.Background(), "XY-LONG")
	if err != nil || typ.Name != a.NewErrandType.DisplayName || typ.Description != a.NewErrandType.Description {
		t.Fatalf("the admitted type: %v, %v", typ, err)
	}
	b, err := propose(access.NewContext(context.Background(), countyAdmin), f, county, newTypeProposal("XY-LONG-TWO"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.RejectErrandTypeAdmission(city, &redpointv1.RejectErrandTypeAdmissionRequest{Name: b.Name, Note: strings.Repeat("驳", 500)}); err != nil {
		t.Fatalf("a rejection with a 500-character note: %v", err)
	}
}
