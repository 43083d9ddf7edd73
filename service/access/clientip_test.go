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

func TestClientNetwork(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, ip, want string }{
		{"ipv4", "203.0.113.7", "203.0.113.7"},
		{"ipv6 by its /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"another address of that /64", "2001:db8:1:2::9", "2001:db8:1:2::/64"},
		{"the next /64", "2001:db8:1:3::9", "2001:db8:1:3::/64"},
		{"ipv4-mapped ipv6 is ipv4", "::ffff:203.0.113.7", "203.0.113.7"},
		{"ipv4 with a forwarded port", "203.0.113.7:5678", "203.0.113.7"},
		{"ipv6 with a forwarded port", "[2001:db8:1:2::9]:443", "2001:db8:1:2::/64"},
		{"zone dropped", "fe80::1%eth0", "fe80::/64"},
		{"no address", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClientNetwork(tc.ip); got != tc.want {
				t.Errorf("ClientNetwork(%q) = %q, want %q", tc.ip, got, tc.want)
			}
		})
	}
	// The login limit counts addresses the same way.
	l := &limiter{}
	_, a := l.keys("13800000000", "2001:db8::1")
	_, b := l.keys("13800000000", "2001:db8::ffff:2")
	if a != b {
		t.Errorf("two addresses of one /64: login keys %q and %q", a, b)
	}
}
