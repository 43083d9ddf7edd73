package errands_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/store/storetest"
	"github.com/changzhi/redpoint/service/testutil"
)

// FuzzListErrands sends ListErrands any filter, order and page token, as an
// agent or as a county admin, over a small demo in the test's own store
// (PostgreSQL when REDPOINT_TEST_DATABASE_URL is set), and requires an
// answer or a client error: never a panic, never INTERNAL, and every
// INVALID_ARGUMENT names the request field at fault. The committed corpus
// (testdata/fuzz/FuzzListErrands) holds the 10,000-term filter that once
// failed in SQLite after 5 s.
func FuzzListErrands(f *testing.F) {
	for _, s := range []string{
		"",
		"state = IN_PROGRESS",
		`errand_type = "errandTypes/SI-PENSION-CERT" AND state = COMPLETED`,
		`region = "regions/140423100000" AND overdue = true`,
		`region = "regions/140100000000"`,
		`create_time >= "2026-11-01T00:00:00+08:00" AND create_time < "2026-12-01T00:00:00+08:00"`,
		`update_time > "0000-01-01T00:00:00+14:00" AND update_time < "9999-12-31T23:59:59.999999999-14:00"`,
		`service_point = "servicePoints/9223372036854775807" AND agent = "users/1"`,
		`due_soon = false and resident_phone = "13900000001"`,
		"state = DREAMING",
		`state = IN_PROGRESS AND AND`,
		richestFilter,
	} {
		f.Add(s, "", "", false)
		f.Add(s, "due_time desc", "", true)
	}
	f.Add("", "update_time", "eyJ0IjoxLCJpIjoyfQ", false)
	f.Add(strings.Repeat("state = COMPLETED AND ", pagetoken.MaxFilterTerms)+"overdue = true", "", "", false)

	ctx := context.Background()
	st := storetest.Open(f)
	keys, err := pii.ParseKeyring(pii.NewKeyringString())
	if err != nil {
		f.Fatal(err)
	}
	if _, err := demo.Seed(ctx, st.Client, keys, demo.Options{Now: seededNow, Errands: 30}); err != nil {
		f.Fatal(err)
	}
	point, err := st.Client.ServicePoint.Query().First(ctx)
	if err != nil {
		f.Fatal(err)
	}
	agent := access.Principal{UserID: 1, Role: access.RoleAgent, Region: "140423100201", ServicePointID: point.ID}
	admin := access.Principal{UserID: 2, Role: access.RoleCountyAdmin, Region: "140423000000"}
	cal := calendar.NewCache(func(context.Context) ([]calendar.Day, error) { return calendar.Official() }, time.Hour)
	pages, err := pagetoken.NewSigner(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		f.Fatal(err)
	}
	s := errands.New(errands.Config{DB: st.Client, Dialect: st.Dialect, Keys: keys, Calendar: cal, Pages: pages,
		Now: testutil.NewClock(seededNow).Now})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	f.Fuzz(func(t *testing.T, filter, orderBy, pageToken string, asAgent bool) {
		p := admin
		if asAgent {
			p = agent
		}
		// The handler is called directly: the context carries the page
		// size the server's validation would have handed on.
		_, err := s.ListErrands(pagetoken.WithSize(access.NewContext(ctx, p), 5), &redpointv1.ListErrandsRequest{
			Filter: filter, OrderBy: orderBy, PageToken: pageToken, PageSize: 5,
		})
		if err == nil {
			if len(filter) > pagetoken.MaxFilterBytes {
				t.Fatalf("a filter of %d bytes was accepted", len(filter))
			}
			return
		}
		// The client sees what the server's error mapping makes of err.
		status := apierr.Status(ctx, log, "/redpoint.v1.ErrandService/ListErrands", err)
		switch status.Code() {
		case codes.InvalidArgument:
		case codes.PermissionDenied:
			if !errors.Is(err, errands.ErrOutOfScope) {
				t.Fatalf("PERMISSION_DENIED other than out of scope: %v", err)
			}
			return
		default:
			t.Fatalf("ListErrands(%q, %q, %q) = %v (%v)", clip(filter), clip(orderBy), clip(pageToken), status.Code(), err)
		}
		// Strings on the wire are UTF-8 (gRPC and the gateway refuse
		// others before the handler), and only then do the details marshal.
		if !utf8.ValidString(filter + orderBy + pageToken) {
			return
		}
		var fields []string
		for _, d := range status.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok {
				for _, v := range br.GetFieldViolations() {
					fields = append(fields, v.GetField())
				}
			}
		}
		if len(fields) != 1 || !slices.Contains([]string{"filter", "order_by", "page_token"}, fields[0]) {
			t.Fatalf("INVALID_ARGUMENT with field violations %v, want one on filter, order_by or page_token: %v", fields, err)
		}
	})
}

// clip keeps a failure message readable when the input is 200 kB.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
