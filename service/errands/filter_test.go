package errands_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/pagetoken"
)

// richestFilter is the longest filter that still means something: every
// field once, both bounds of both time ranges, each value at its longest.
// The caps in pagetoken must let it through.
const richestFilter = `state = "ERRAND_STATE_NEEDS_MATERIALS"` +
	` AND errand_type = "errandTypes/ABCDEFGHIJKLMNOPQRSTUVWXYZ-12345"` +
	` AND service_point = "servicePoints/9223372036854775807"` +
	` AND agent = "users/9223372036854775807"` +
	` AND region = "regions/140423100201"` +
	` AND create_time >= "2026-11-01T00:00:00.999999999+08:00"` +
	` AND create_time < "2026-12-01T00:00:00.999999999+08:00"` +
	` AND update_time >= "2026-11-01T00:00:00.999999999+08:00"` +
	` AND update_time < "2026-12-01T00:00:00.999999999+08:00"` +
	` AND overdue = false` +
	` AND due_soon = false` +
	` AND resident_phone = "13900000001"`

func TestListErrandsBoundsFilterAndOrder(t *testing.T) {
	e := newEnv(t)
	ctx := e.as(demo.CountyAdminPhone)
	terms := func(n int) string {
		return strings.TrimSuffix(strings.Repeat(`agent = "users/7" AND `, n), " AND ")
	}
	cases := []struct {
		name, filter, order string
		wantField           string // "" when the request is valid
	}{
		{name: "richest meaningful filter", filter: richestFilter},
		{name: "terms at the cap", filter: terms(pagetoken.MaxFilterTerms)},
		{name: "one term too many", filter: terms(pagetoken.MaxFilterTerms + 1), wantField: "filter"},
		// An agent's filter once took 5 s and 1.7 GB, then INTERNAL.
		{name: "10,000 terms", filter: terms(10000), wantField: "filter"},
		{name: "bytes at the cap", filter: "state = COMPLETED" + strings.Repeat(" ", pagetoken.MaxFilterBytes-len("state = COMPLETED"))},
		{name: "one byte too many", filter: "state = COMPLETED" + strings.Repeat(" ", pagetoken.MaxFilterBytes+1-len("state = COMPLETED")), wantField: "filter"},
		{name: "long order_by", order: "due_time" + strings.Repeat(" ", pagetoken.MaxOrderByBytes), wantField: "order_by"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.ListErrands(ctx, &redpointv1.ListErrandsRequest{Filter: tc.filter, OrderBy: tc.order})
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("ListErrands: %v", err)
				}
				return
			}
			if code, _, fields := reason(err); code != codes.InvalidArgument || len(fields) != 1 || fields[0] != tc.wantField {
				t.Fatalf("ListErrands = %v (%v), want INVALID_ARGUMENT on %s", code, err, tc.wantField)
			}
		})
	}
}
