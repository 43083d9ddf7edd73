package errands_test

import (
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"

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
