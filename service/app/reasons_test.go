package app_test

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"

	"github.com/changzhi/redpoint/service/apierr"
)

// TestReasonsTableIsComplete: client developers handle errors by
// ErrorInfo.reason, from the table in docs/api.md. Every reason the server
// can send (every error declared with apierr.New in the packages the
// server links, and the reasons statuses get from their code) has a row
// with its gRPC code, and the table lists no reason the server can't send.
func TestReasonsTableIsComplete(t *testing.T) {
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\| (\\d{3}) \\| `([A-Za-z]+)` \\|")
	// The REST status of a reason is its code's (the gateway's mapping),
	// except where the server answers before the gateway does.
	written := map[string]int{"METHOD_NOT_ALLOWED": 405, "REQUEST_TOO_LARGE": 413, "REQUEST_TIMEOUT": 408}
	documented := map[string][]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = append(documented[m[1]], m[3])
		want := written[m[1]]
		for c := codes.OK; want == 0 && c <= codes.Unauthenticated; c++ {
			if c.String() == m[3] {
				want = runtime.HTTPStatusFromCode(c)
			}
		}
		if m[2] != strconv.Itoa(want) {
			t.Errorf("docs/api.md: %s (%s) is HTTP %s; the server answers %d", m[1], m[3], m[2], want)
		}
	}
	if len(documented) == 0 {
		t.Fatal("docs/api.md has no reasons table")
	}
	var missing, stale []string
	for reason, cs := range apierr.Reasons() {
		for _, c := range cs {
			if !slices.Contains(documented[reason], c.String()) {
				missing = append(missing, reason+" ("+c.String()+")")
			}
		}
	}
	for reason, cs := range documented {
		for _, c := range cs {
			if !slices.ContainsFunc(apierr.Reasons()[reason], func(have codes.Code) bool { return have.String() == c }) {
				stale = append(stale, reason+" ("+c+")")
			}
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("reasons the server sends that docs/api.md does not list:\n%s", strings.Join(missing, "\n"))
	}
	if len(stale) > 0 {
		t.Errorf("reasons docs/api.md lists that the server does not send:\n%s", strings.Join(stale, "\n"))
	}
}
