package resname_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/resname"
)

// violations returns the field violations of an INVALID_ARGUMENT error, or
// fails the test when err is anything else.
func violations(tb testing.TB, err error) []apierr.FieldViolation {
	tb.Helper()
	var e *apierr.Error
	if !errors.As(err, &e) {
		tb.Fatalf("error %v is not an *apierr.Error", err)
	}
	if e.Code != codes.InvalidArgument || !errors.Is(err, apierr.ErrInvalidArgument) {
		tb.Fatalf("error %v: code %v, want InvalidArgument", err, e.Code)
	}
	return e.Violations
}

func oneViolation(field, description string) []apierr.FieldViolation {
	return []apierr.FieldViolation{{Field: field, Description: description}}
}

func TestIntID(t *testing.T) {
	t.Parallel()
	const field = "errand.service_point"
	badFormat := oneViolation(field, "格式应为 servicePoints/{id}")
	badNumber := oneViolation(field, "编号应为正整数")
	cases := []struct {
		name   string
		in     string
		want   int
		errors []apierr.FieldViolation // nil: accepted
	}{
		{"plain", "servicePoints/7", 7, nil},
		{"large", "servicePoints/2147483647", 2147483647, nil},
		{"empty", "", 0, oneViolation(field, "不能为空，格式为 servicePoints/{id}")},
		{"collection only", "servicePoints", 0, badFormat},
		{"missing id", "servicePoints/", 0, badFormat},
		{"extra segment", "servicePoints/7/x", 0, badFormat},
		{"trailing slash", "servicePoints/7/", 0, badFormat},
		{"leading slash", "/servicePoints/7", 0, badFormat},
		{"wrong collection", "regions/7", 0, badFormat},
		{"collection case", "servicepoints/7", 0, badFormat},
		{"collection prefix only", "servicePointsX/7", 0, badFormat},
		{"bare id", "7", 0, badFormat},
		{"non-numeric", "servicePoints/abc", 0, badNumber},
		{"zero", "servicePoints/0", 0, badNumber},
		{"negative", "servicePoints/-3", 0, badNumber},
		{"decimal", "servicePoints/1.5", 0, badNumber},
		{"space", "servicePoints/ 7", 0, badNumber},
		{"overflow", "servicePoints/99999999999999999999", 0, badNumber},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := resname.IntID(field, tc.in, resname.ServicePoints)
			if tc.errors == nil {
				if err != nil || got != tc.want {
					t.Fatalf("IntID(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
				}
				if back := resname.Name(resname.ServicePoints, got); back != tc.in {
					t.Errorf("Name(IntID(%q)) = %q", tc.in, back)
				}
				return
			}
			if diff := cmp.Diff(tc.errors, violations(t, err)); diff != "" {
				t.Errorf("IntID(%q) = %d; violations mismatch (-want +got):\n%s", tc.in, got, diff)
			}
			if got != 0 {
				t.Errorf("IntID(%q) returned %d with its error", tc.in, got)
			}
		})
	}
}

func TestStringID(t *testing.T) {
	t.Parallel()
	const field = "errand.errand_type"
	const maxLen = 8
	badFormat := oneViolation(field, "格式应为 errandTypes/{id}")
	badChars := oneViolation(field, "编码只能包含字母、数字和连字符")
	cases := []struct {
		name   string
		in     string
		want   string
		errors []apierr.FieldViolation
	}{
		{"letters", "errandTypes/social", "social", nil},
		{"mixed", "errandTypes/Ab-1_z", "Ab-1_z", nil},
		{"at max length", "errandTypes/abcdefgh", "abcdefgh", nil},
		{"empty", "", "", oneViolation(field, "不能为空，格式为 errandTypes/{id}")},
		{"missing id", "errandTypes/", "", badFormat},
		{"extra segment", "errandTypes/a/b", "", badFormat},
		{"wrong collection", "errands/social", "", badFormat},
		{"too long", "errandTypes/abcdefghi", "", oneViolation(field, "编码过长")},
		{"space", "errandTypes/a b", "", badChars},
		{"dot", "errandTypes/a.b", "", badChars},
		{"chinese", "errandTypes/社保", "", badChars},
		{"percent-encoded", "errandTypes/a%2Fb", "", badChars},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := resname.StringID(field, tc.in, resname.ErrandTypes, maxLen)
			if tc.errors == nil {
				if err != nil || got != tc.want {
					t.Fatalf("StringID(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
				}
				if back := resname.Name(resname.ErrandTypes, got); back != tc.in {
					t.Errorf("Name(StringID(%q)) = %q", tc.in, back)
				}
				return
			}
			if diff := cmp.Diff(tc.errors, violations(t, err)); diff != "" {
				t.Errorf("StringID(%q) = %q; violations mismatch (-want +got):\n%s", tc.in, got, diff)
			}
		})
	}
}

func TestRegion(t *testing.T) {
	t.Parallel()
	const field = "service_point.region"
	badFormat := oneViolation(field, "格式应为 regions/{id}")
	badCode := oneViolation(field, "区划代码应为 12 位数字")
	cases := []struct {
		name   string
		in     string
		want   string
		errors []apierr.FieldViolation
	}{
		{"village", "regions/140423100201", "140423100201", nil},
		{"city", "regions/140400000000", "140400000000", nil},
		{"empty", "", "", oneViolation(field, "不能为空，格式为 regions/{id}")},
		{"missing code", "regions/", "", badFormat},
		{"extra segment", "regions/140423100201/x", "", badFormat},
		{"wrong collection", "servicePoints/140423100201", "", badFormat},
		{"short code", "regions/140423", "", badCode},
		{"long code", "regions/1404231002011", "", badCode},
		{"letters", "regions/14042310020a", "", badCode},
		{"zero province", "regions/000000000000", "", badCode},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := resname.Region(field, tc.in)
			if tc.errors == nil {
				if err != nil || string(got) != tc.want {
					t.Fatalf("Region(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
				}
				return
			}
			if diff := cmp.Diff(tc.errors, violations(t, err)); diff != "" {
				t.Errorf("Region(%q) = %q; violations mismatch (-want +got):\n%s", tc.in, got, diff)
			}
		})
	}
}

func TestName(t *testing.T) {
	t.Parallel()
	cases := []struct {
		collection string
		id         any
		want       string
	}{
		{resname.Errands, 42, "errands/42"},
		{resname.Regions, "140423100201", "regions/140423100201"},
		{resname.Users, "agent-1", "users/agent-1"},
	}
	for _, tc := range cases {
		if got := resname.Name(tc.collection, tc.id); got != tc.want {
			t.Errorf("Name(%q, %v) = %q, want %q", tc.collection, tc.id, got, tc.want)
		}
	}
	// Any other id type is a programming error, caught at once.
	defer func() {
		if recover() == nil {
			t.Error("Name with an int64 id did not panic")
		}
	}()
	resname.Name(resname.Errands, int64(1))
}

func TestUpdatePaths(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   []string
		want []string
	}{
		{"nil", nil, []string{}},
		{"mixed, order kept", []string{"etag", "resident_name", "name", "description"}, []string{"resident_name", "description"}},
		{"JSON names become proto names", []string{"residentName", "residentPhone"}, []string{"resident_name", "resident_phone"}},
		{"output-only and immutable fields dropped", []string{"state", "createTime", "tracking_code", "errandType", "description"}, []string{"description"}},
		{"unknown and nested paths kept", []string{"contact.name", "nonsense"}, []string{"contact.name", "nonsense"}},
		{"a field named twice counts once", []string{"residentName", "description", "resident_name", "description"}, []string{"resident_name", "description"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := resname.UpdatePaths(&redpointv1.Errand{}, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("UpdatePaths(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
	t.Run("a mask of only name and etag is refused, not taken for no mask", func(t *testing.T) {
		t.Parallel()
		for _, mask := range [][]string{{"etag"}, {"name", "etag"}} {
			_, err := resname.UpdatePaths(&redpointv1.Errand{}, mask)
			if v := violations(t, err); len(v) != 1 || v[0].Field != "update_mask" {
				t.Errorf("UpdatePaths(%q): violations = %v", mask, v)
			}
		}
	})
	t.Run("a mask of only fields that can't change is refused, naming them", func(t *testing.T) {
		t.Parallel()
		_, err := resname.UpdatePaths(&redpointv1.Errand{}, []string{"errandType", "state"})
		if v := violations(t, err); len(v) != 1 || v[0].Field != "update_mask" || v[0].Description != "不能修改字段 errand_type、state" {
			t.Errorf("violations = %v", v)
		}
	})
}
