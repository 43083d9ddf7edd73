package access

import (
	"context"
	"testing"

	"google.golang.org/grpc/metadata"
)

func TestClientIPBehindProxies(t *testing.T) {
	t.Parallel()
	// A client claims 1.1.1.1; the load balancer adds the client's real
	// address; the gateway adds the load balancer's.
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("x-forwarded-for", "1.1.1.1, 203.0.113.7, 10.0.0.2"))
	cases := map[int]string{0: "10.0.0.2", 1: "203.0.113.7", 5: "1.1.1.1"}
	for hops, want := range cases {
		if got := clientIP(ctx, hops); got != want {
			t.Errorf("%d trusted proxies: %s, want %s", hops, got, want)
		}
	}
}
