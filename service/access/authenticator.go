package access

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/changzhi/redpoint/service/apierr"
)

// ErrNotInPolicy denies an RPC the policy table does not list.
var ErrNotInPolicy = apierr.ErrPermissionDenied.WithMessage("该接口未开放")

// Authenticator enforces the policy table for every call, gRPC and REST
// alike: it reads the bearer token, checks the caller's role and puts the
// caller in the context. Scope checks that need the target are the
// handlers', made before they look the target up.
type Authenticator struct {
	Tokens   *Tokens
	Policies map[string]Policy
	// TrustedProxies is how many proxies (load balancers) stand in front
	// of the REST port, each appending to X-Forwarded-For.
	TrustedProxies int
}

// Authenticate implements the server's auth hook.
func (a *Authenticator) Authenticate(ctx context.Context, method string, _ any) (context.Context, error) {
	ctx = context.WithValue(ctx, clientIPKey{}, clientIP(ctx, a.TrustedProxies))
	pol, ok := a.Policies[method]
	if !ok {
		return ctx, ErrNotInPolicy
	}
	token, present := bearer(ctx)
	if present {
		p, err := a.Tokens.ParseAccess(token)
		if err != nil {
			if pol.Public {
				// An app that still sends its expired token must be able
				// to refresh, log out and read public data.
				return ctx, nil
			}
			return ctx, err
		}
		ctx = NewContext(ctx, p)
		if pol.Public || pol.allows(p.Role) {
			return ctx, nil
		}
		return ctx, apierr.ErrPermissionDenied
	}
	if pol.Public {
		return ctx, nil
	}
	return ctx, apierr.ErrUnauthenticated
}

func bearer(ctx context.Context) (string, bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		// The scheme is case-insensitive (RFC 9110 §11.1): "bearer x" too.
		if scheme, tok, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") && tok != "" {
			return tok, true
		}
		if v != "" {
			return "", true // a malformed header is a bad token, not anonymity
		}
	}
	return "", false
}

type clientIPKey struct{}

// ClientIP is the caller's address, as the authenticator found it.
func ClientIP(ctx context.Context) string {
	if ip, ok := ctx.Value(clientIPKey{}).(string); ok {
		return ip
	}
	return clientIP(ctx, 0)
}

// clientIP is the peer of a gRPC call; for a REST call (which reaches gRPC
// in-process) it is read from X-Forwarded-For, to which the gateway
// appended its HTTP peer: skipping the trusted proxies from the right, the
// next address is the client's. Addresses further left are the client's
// own claims and are not believed.
func clientIP(ctx context.Context, trusted int) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil && net.ParseIP(host) != nil {
			return host
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	fwd := md.Get("x-forwarded-for")
	if len(fwd) == 0 {
		return ""
	}
	parts := strings.Split(fwd[len(fwd)-1], ",")
	i := max(len(parts)-1-trusted, 0)
	return strings.TrimSpace(parts[i])
}

// ClientNetwork is the address the per-address limits count: an IPv4
// address itself, an IPv6 address's /64, which one subscriber usually
// holds whole and can walk through at will; an IPv4-mapped IPv6 address
// is IPv4. Anything else (no address at all) is counted as it is.
func ClientNetwork(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		// A proxy that forwards the port too ("1.2.3.4:5678",
		// "[2001:db8::1]:443"): the port is not the client.
		ap, perr := netip.ParseAddrPort(ip)
		if perr != nil {
			return ip
		}
		addr = ap.Addr()
	}
	addr = addr.WithZone("").Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, _ := addr.Prefix(64) // cannot fail: 64 bits of an IPv6 address
	return p.String()
}

// RequestIP is the client's address of a plain HTTP request (a route
// outside the gateway), found as clientIP finds a REST call's: the peer,
// or behind trusted proxies the address they saw.
func RequestIP(r *http.Request, trusted int) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if trusted == 0 {
		return host
	}
	fwd := strings.Join(r.Header.Values("X-Forwarded-For"), ",")
	parts := strings.Split(fwd+","+host, ",")
	if fwd == "" {
		parts = []string{host}
	}
	i := max(len(parts)-1-trusted, 0)
	return strings.TrimSpace(parts[i])
}

// WithClientIP returns ctx carrying the client's address, for ClientIP,
// where no authenticator ran (a signed URL's route).
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}
