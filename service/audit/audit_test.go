package audit

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/auditentry"
	"github.com/changzhi/redpoint/ent/region"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/store"
	"github.com/changzhi/redpoint/service/store/storetest"
)

// The fixture's regions: a city, two of its counties, a village of the first.
const (
	city        = "140400000000"
	county      = "140423000000"
	otherCounty = "140424000000"
	village     = "140423100201"
)

func newLog(t *testing.T) (*Log, *ent.Client) {
	t.Helper()
	db := storetest.Open(t).Client
	pages, err := pagetoken.NewSigner(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return New(db, slog.New(slog.NewTextHandler(io.Discard, nil)), pages), db
}

// from is a call's context from client address ip, made by p (when p is
// not the zero Principal).
func from(p access.Principal, ip string) context.Context {
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}})
	if p != (access.Principal{}) {
		ctx = access.NewContext(ctx, p)
	}
	return ctx
}

var (
	countyAdmin = access.Principal{UserID: 3, Role: access.RoleCountyAdmin, Region: county}
	cityAdmin   = access.Principal{UserID: 4, Role: access.RoleCityAdmin, Region: city}
	agent       = access.Principal{UserID: 5, Role: access.RoleAgent, Region: village, ServicePointID: 2}
	resident    = access.Principal{Role: access.RoleResident, ResidentID: 9}
)

func entries(t *testing.T, db *ent.Client) []*ent.AuditEntry {
	t.Helper()
	rows, err := db.AuditEntry.Query().Order(ent.Asc(auditentry.FieldID)).All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// row is what an audit entry says, compared whole.
type row struct {
	UserID, ResidentID       int // 0 when unset
	Role, Action, Resource   string
	Region, ClientIP         string
	Unmasked, HasUser, HasRs bool
}

func rowOf(e *ent.AuditEntry) row {
	r := row{Role: e.ActorRole, Action: e.Action, Resource: e.Resource, Region: e.RegionID, ClientIP: e.ClientIP, Unmasked: e.UnmaskedRead}
	if e.ActorUserID != nil {
		r.UserID, r.HasUser = *e.ActorUserID, true
	}
	if e.ActorResidentID != nil {
		r.ResidentID, r.HasRs = *e.ActorResidentID, true
	}
	return r
}

// TestRecordUnmaskedRead: an unmasked read records who read what, where
// the data lies and from which address; a resident is named as a
// resident, and a read with no region is filed under the caller's.
func TestRecordUnmaskedRead(t *testing.T) {
	t.Parallel()
	const action = "/redpoint.v1.ErrandService/GetErrand"
	cases := []struct {
		name   string
		caller access.Principal
		region string
		want   row
	}{
		{"staff", agent, village, row{UserID: 5, HasUser: true, Role: "AGENT", Region: village}},
		{"staff, region from the caller", countyAdmin, "", row{UserID: 3, HasUser: true, Role: "COUNTY_ADMIN", Region: county}},
		{"resident", resident, village, row{ResidentID: 9, HasRs: true, Role: "RESIDENT", Region: village}},
		{"nobody logged in", access.Principal{}, village, row{Region: village}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, db := newLog(t)
			if err := l.RecordUnmaskedRead(from(tc.caller, "203.0.113.7"), action, "errands/17", tc.region); err != nil {
				t.Fatal(err)
			}
			got := entries(t, db)
			want := tc.want
			want.Action, want.Resource, want.ClientIP, want.Unmasked = action, "errands/17", "203.0.113.7", true
			if len(got) != 1 || rowOf(got[0]) != want {
				t.Fatalf("entries = %v, want one %+v", got, want)
			}
		})
	}
}

// call runs the interceptor for method with handler.
func call(l *Log, ctx context.Context, method string, req any, handler grpc.UnaryHandler) (any, error) {
	return l.Interceptor(access.Policies)(ctx, req, &grpc.UnaryServerInfo{FullMethod: method}, handler)
}

// TestInterceptorAuditsWrites: every successful call the policy table
// marks as a write leaves one audit entry; reads, and methods the table
// doesn't know, leave none.
func TestInterceptorAuditsWrites(t *testing.T) {
	t.Parallel()
	l, db := newLog(t)
	ctx := from(cityAdmin, "198.51.100.1")
	methods := make([]string, 0, len(access.Policies)+1)
	for m := range access.Policies {
		methods = append(methods, m)
	}
	methods = append(methods, "/redpoint.v1.Unknown/DoSomething")
	sort.Strings(methods)
	resp := &redpointv1.ServicePoint{Name: "servicePoints/3", Region: "regions/" + village}
	for _, m := range methods {
		if _, err := call(l, ctx, m, &emptypb.Empty{}, func(context.Context, any) (any, error) { return resp, nil }); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
	}
	audited := map[string]int{}
	for _, e := range entries(t, db) {
		audited[e.Action]++
		if e.Resource != "servicePoints/3" || e.RegionID != village || e.ClientIP != "198.51.100.1" || e.UnmaskedRead {
			t.Errorf("%s: entry %+v, want the response's servicePoints/3 in %s from 198.51.100.1, masked", e.Action, rowOf(e), village)
		}
	}
	for _, m := range methods {
		want := 0
		if access.Policies[m].Write {
			want = 1
		}
		if audited[m] != want {
			t.Errorf("%s (write %v): %d entries, want %d", m, access.Policies[m].Write, audited[m], want)
		}
	}
}

// TestInterceptorSkipsFailedWrites: a write that failed changed nothing,
// so it is not audited; its error reaches the client unchanged.
func TestInterceptorSkipsFailedWrites(t *testing.T) {
	t.Parallel()
	l, db := newLog(t)
	denied := apierr.ErrPermissionDenied
	_, err := call(l, from(agent, "198.51.100.1"), "/redpoint.v1.ErrandService/StartErrand", &redpointv1.StartErrandRequest{Name: "errands/5"},
		func(context.Context, any) (any, error) { return nil, denied })
	if !errors.Is(err, denied) {
		t.Fatalf("error = %v, want the handler's", err)
	}
	if got := entries(t, db); len(got) != 0 {
		t.Errorf("entries = %v, want none", got)
	}
}

// TestTarget: the audited resource is the response's name and region when
// the response is a resource, else the request's name.
func TestTarget(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		req, resp    any
		wantResource string
		wantRegion   string
	}{
		{"resource response", &redpointv1.StartErrandRequest{Name: "errands/5"},
			&redpointv1.ServicePoint{Name: "servicePoints/3", Region: "regions/" + village}, "servicePoints/3", village},
		{"response without a name", &redpointv1.StartErrandRequest{Name: "errands/5"}, &emptypb.Empty{}, "errands/5", ""},
		{"response with an empty name", &redpointv1.StartErrandRequest{Name: "errands/5"}, &redpointv1.ServicePoint{}, "errands/5", ""},
		{"neither names anything", &redpointv1.SetSubscriptionRequest{Subscribed: true}, &emptypb.Empty{}, "", ""},
		{"no response", &redpointv1.StartErrandRequest{Name: "errands/5"}, nil, "errands/5", ""},
		{"not protobuf", "errands/5", 42, "", ""},
	}
	for _, tc := range cases {
		resource, region := target(tc.req, tc.resp)
		if resource != tc.wantResource || region != tc.wantRegion {
			t.Errorf("%s: target = %q, %q; want %q, %q", tc.name, resource, region, tc.wantResource, tc.wantRegion)
		}
	}
}

// TestInterceptorNamesTheResident: a resident's "residents/me" is written
// as the resident's own name, so the log says whose it was.
func TestInterceptorNamesTheResident(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		caller access.Principal
		in     string
		want   string
	}{
		{"resident's own errand", resident, "residents/me/errands/5", "residents/9/errands/5"},
		{"resident's self", resident, "residents/me", "residents/9"},
		{"staff's name kept", agent, "residents/me/errands/5", "residents/me/errands/5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, db := newLog(t)
			_, err := call(l, from(tc.caller, "198.51.100.1"), "/redpoint.v1.ResidentService/RateMyErrand",
				&redpointv1.RateMyErrandRequest{Name: tc.in}, func(context.Context, any) (any, error) { return &emptypb.Empty{}, nil })
			if err != nil {
				t.Fatal(err)
			}
			got := entries(t, db)
			if len(got) != 1 || got[0].Resource != tc.want {
				t.Fatalf("entries = %v, want one for %s", got, tc.want)
			}
		})
	}
}

// TestInTx: a write that audits itself in its transaction writes its lines
// with the change (one per item of a batch) and none after it; rolled
// back, the change takes its lines with it.
func TestInTx(t *testing.T) {
	t.Parallel()
	const method = "/redpoint.v1.ErrandService/BatchCreateErrands"
	boom := errors.New("boom")
	cases := []struct {
		name    string
		items   []string
		fail    bool
		wantErr error
		want    []string
	}{
		{"one", []string{"errands/1"}, false, nil, []string{"errands/1"}},
		{"a batch", []string{"errands/1", "errands/2", "errands/3"}, false, nil, []string{"errands/1", "errands/2", "errands/3"}},
		{"rolled back", []string{"errands/1", "errands/2"}, true, boom, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, db := newLog(t)
			handler := func(ctx context.Context, _ any) (any, error) {
				err := store.WithTx(ctx, db, func(tx *ent.Tx) error {
					for i, item := range tc.items {
						// The change itself, and its audit line.
						if err := tx.Region.Create().SetID(village[:11] + strconv.Itoa(i)).SetName("村").SetLevel(region.LevelVILLAGE).Exec(ctx); err != nil {
							return err
						}
						if err := InTx(ctx, tx, item, village); err != nil {
							return err
						}
					}
					if tc.fail {
						return boom
					}
					return nil
				})
				if err != nil {
					return nil, err
				}
				return &redpointv1.BatchCreateErrandsResponse{}, nil
			}
			if _, err := call(l, from(agent, "198.51.100.1"), method, &emptypb.Empty{}, handler); !errors.Is(err, tc.wantErr) {
				t.Fatalf("call: %v, want %v", err, tc.wantErr)
			}
			var got []string
			for _, e := range entries(t, db) {
				got = append(got, e.Resource)
				if want := (row{UserID: 5, HasUser: true, Role: "AGENT", Action: method, Resource: e.Resource, Region: village, ClientIP: "198.51.100.1"}); rowOf(e) != want {
					t.Errorf("entry %+v, want %+v", rowOf(e), want)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("entries %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("entries %v, want %v", got, tc.want)
				}
			}
			changes, err := db.Region.Query().Count(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if changes != len(tc.want) {
				t.Errorf("%d changes committed, want %d (as many as audit lines)", changes, len(tc.want))
			}
		})
	}
}

// TestInTxOutsideAWrite: outside an audited write call InTx writes nothing.
func TestInTxOutsideAWrite(t *testing.T) {
	t.Parallel()
	l, db := newLog(t)
	ctx := from(agent, "198.51.100.1")
	err := store.WithTx(ctx, db, func(tx *ent.Tx) error { return InTx(ctx, tx, "errands/1", village) })
	if err != nil {
		t.Fatal(err)
	}
	// Nor inside a read the interceptor passed through.
	_, err = call(l, ctx, "/redpoint.v1.ErrandService/GetErrand", &emptypb.Empty{}, func(ctx context.Context, _ any) (any, error) {
		return &emptypb.Empty{}, store.WithTx(ctx, db, func(tx *ent.Tx) error { return InTx(ctx, tx, "errands/1", village) })
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := entries(t, db); len(got) != 0 {
		t.Errorf("entries = %v, want none", got)
	}
}

// TestListAuditEntriesScope: an admin lists the entries of a region in
// their scope, and entries tied to no region only when the whole
// deployment is theirs and they list all of it.
func TestListAuditEntriesScope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, db := newLog(t)
	seed := []struct {
		resource, region string
		unmasked         bool
	}{
		{"errands/1", village, false},
		{"errands/2", village, true},
		{"users/7", county, false},
		{"errands/3", "140424100201", true}, // the other county's village
		{"residents/9", "", false},          // no region: a resident's subscription
	}
	for _, s := range seed {
		if err := db.AuditEntry.Create().SetAction("/x").SetResource(s.resource).SetRegionID(s.region).SetUnmaskedRead(s.unmasked).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name    string
		caller  access.Principal
		parent  string
		filter  string
		want    []string // resources, newest first
		wantErr error
	}{
		{"county admin, own county", countyAdmin, county, "", []string{"users/7", "errands/2", "errands/1"}, nil},
		{"county admin, a village of it", countyAdmin, village, "", []string{"errands/2", "errands/1"}, nil},
		{"county admin, unmasked reads", countyAdmin, county, " unmasked_read  =  true ", []string{"errands/2"}, nil},
		{"county admin, another county", countyAdmin, otherCounty, "", nil, access.ErrRegionOutOfScope},
		{"county admin, the city", countyAdmin, city, "", nil, access.ErrRegionOutOfScope},
		{"city admin, the whole city", cityAdmin, city, "", []string{"residents/9", "errands/3", "users/7", "errands/2", "errands/1"}, nil},
		{"city admin, one county", cityAdmin, otherCounty, "", []string{"errands/3"}, nil},
		{"city admin, unmasked reads", cityAdmin, city, "unmasked_read = true", []string{"errands/3", "errands/2"}, nil},
		{"unsupported filter", cityAdmin, city, "unmasked_read = false", nil, apierr.ErrInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := pagetoken.WithSize(access.NewContext(ctx, tc.caller), pagetoken.DefaultSize)
			resp, err := l.ListAuditEntries(ctx, &redpointv1.ListAuditEntriesRequest{Parent: "regions/" + tc.parent, Filter: tc.filter})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range resp.GetAuditEntries() {
				got = append(got, e.GetResource())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("listed %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("listed %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestListAuditEntriesFilterViolation: an unsupported filter names the
// field and says what is supported.
func TestListAuditEntriesFilterViolation(t *testing.T) {
	t.Parallel()
	l, _ := newLog(t)
	ctx := pagetoken.WithSize(access.NewContext(context.Background(), cityAdmin), pagetoken.DefaultSize)
	_, err := l.ListAuditEntries(ctx, &redpointv1.ListAuditEntriesRequest{Parent: "regions/" + city, Filter: "action = x"})
	var e *apierr.Error
	if !errors.As(err, &e) || e.Code != codes.InvalidArgument || len(e.Violations) != 1 ||
		e.Violations[0].Field != "filter" || e.Violations[0].Description != "只支持 unmasked_read = true" {
		t.Errorf("error = %#v, want a violation on filter", err)
	}
}

// TestEntryProto: a listed entry names its actor, staff or resident.
func TestEntryProto(t *testing.T) {
	t.Parallel()
	staff, res := 5, 9
	cases := []struct {
		name string
		in   *ent.AuditEntry
		want string
	}{
		{"staff", &ent.AuditEntry{ID: 1, RegionID: village, ActorUserID: &staff, ActorRole: "AGENT"}, "users/5"},
		{"resident", &ent.AuditEntry{ID: 2, RegionID: village, ActorResidentID: &res, ActorRole: "RESIDENT"}, "residents/9"},
		{"nobody", &ent.AuditEntry{ID: 3, RegionID: village}, ""},
	}
	for _, tc := range cases {
		p := entryProto(tc.in)
		if p.GetActor() != tc.want {
			t.Errorf("%s: actor = %q, want %q", tc.name, p.GetActor(), tc.want)
		}
		if want := "regions/" + village + "/auditEntries/" + strconv.Itoa(tc.in.ID); p.GetName() != want {
			t.Errorf("%s: name = %q, want %q", tc.name, p.GetName(), want)
		}
	}
}
