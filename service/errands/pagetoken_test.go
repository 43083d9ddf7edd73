package errands_test

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/user"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/pagetoken/pagetokentest"
)

// TestPageTokensAcrossReplicas: the next page may be asked of another
// replica of the deployment, which accepts the token because it derives
// the same key from the shared REDPOINT_AUTH_KEY; a token a client made
// itself is refused.
func TestPageTokensAcrossReplicas(t *testing.T) {
	e := newEnv(t)
	ctx := e.as(demo.CountyAdminPhone)
	first, err := e.client.ListErrands(ctx, &redpointv1.ListErrandsRequest{PageSize: 3})
	if err != nil || first.NextPageToken == "" {
		t.Fatalf("first page: %v, token %q", err, first.GetNextPageToken())
	}
	// Another replica: its own page-token signer, made from the shared
	// auth key when it starts, as in another process.
	other := apptest.Join(t, e.Server)
	second, err := redpointv1.NewErrandServiceClient(other.GRPC).ListErrands(ctx, &redpointv1.ListErrandsRequest{PageSize: 3, PageToken: first.NextPageToken})
	if err != nil {
		t.Fatalf("second page from the other replica: %v", err)
	}
	if len(second.Errands) == 0 || second.Errands[0].Name == first.Errands[0].Name {
		t.Fatalf("second page %v repeats or is empty", second.Errands)
	}

	// Before tokens were signed, this token (the query's hash and a cursor
	// past everything) was accepted.
	admin, err := e.App.Store.Client.User.Query().Where(user.Phone(demo.CountyAdminPhone)).Only(ctx)
	if err != nil {
		t.Fatal(err)
	}
	forged := pagetokentest.OldScheme(fmt.Sprintf("errands?u=%d&f=&o=", admin.ID), map[string]int64{"t": 1 << 62, "i": 1})
	_, err = e.client.ListErrands(ctx, &redpointv1.ListErrandsRequest{PageToken: forged})
	if code, _, fields := reason(err); code != codes.InvalidArgument || len(fields) != 1 || fields[0] != "page_token" {
		t.Fatalf("forged token: %v, want INVALID_ARGUMENT on page_token", err)
	}
}

// TestSyncTokenFromBeforeTheV2Format: an agent's app that kept its sync
// token across the upgrade syncs on from it, not from scratch; the same
// token is no use to another agent.
func TestSyncTokenFromBeforeTheV2Format(t *testing.T) {
	e := newEnv(t)
	ctx := e.as(demo.GuhanAgentPhone)
	all, err := e.client.SyncErrands(ctx, &redpointv1.SyncErrandsRequest{PageSize: 500})
	if err != nil || len(all.Errands) < 2 {
		t.Fatalf("full sync: %v, %d errands", err, len(all.GetErrands()))
	}
	agent, err := e.App.Store.Client.User.Query().Where(user.Phone(demo.GuhanAgentPhone)).Only(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seq, err := e.App.Store.Client.Errand.Query().Where(errand.TrackingCode(strings.ReplaceAll(all.Errands[0].TrackingCode, "-", ""))).Only(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kept := pagetokentest.V1(t, e.App.AuthKey, fmt.Sprintf("sync?u=%d", agent.ID), seq.ChangeSeq)
	rest, err := e.client.SyncErrands(ctx, &redpointv1.SyncErrandsRequest{PageSize: 500, SyncToken: kept})
	if err != nil {
		t.Fatalf("sync from a v1 token: %v", err)
	}
	from := ""
	if len(rest.Errands) > 0 {
		from = rest.Errands[0].Name
	}
	if len(rest.Errands) != len(all.Errands)-1 || from != all.Errands[1].Name {
		t.Errorf("sync from the first errand's change: %d errands from %q, want %d from %s",
			len(rest.Errands), from, len(all.Errands)-1, all.Errands[1].Name)
	}
	_, err = e.client.SyncErrands(e.as(demo.CountyAdminPhone), &redpointv1.SyncErrandsRequest{SyncToken: kept})
	if code, _, fields := reason(err); code != codes.InvalidArgument || len(fields) != 1 || fields[0] != "sync_token" {
		t.Errorf("another user's v1 token: %v, want INVALID_ARGUMENT on sync_token", err)
	}
}
