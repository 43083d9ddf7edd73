package access

import (
	"context"
	"net"
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
}

// Authenticate implements the server's auth hook.
func (a *Authenticator) Authenticate(ctx context.Context, method string, _ any) (context.Context, error) {
	pol, ok := a.Policies[method]
	if !ok {
		return ctx, ErrNotInPolicy
	}
	token, present := bearer(ctx)
	if present {
		p, err := a.Tokens.ParseAccess(token)
		if err != nil {
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
		if tok, ok := strings.CutPrefix(v, "Bearer "); ok && tok != "" {
			return tok, true
		}
		if v != "" {
			return "", true // a malformed header is a bad token, not anonymity
		}
	}
	return "", false
}

// ClientIP is the caller's address: the peer of a gRPC call, or for a REST
// call (which reaches gRPC in-process) the address the gateway appended to
// X-Forwarded-For, which is the HTTP peer.
func ClientIP(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil && net.ParseIP(host) != nil {
			return host
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if fwd := md.Get("x-forwarded-for"); len(fwd) > 0 {
		parts := strings.Split(fwd[len(fwd)-1], ",")
		return strings.TrimSpace(parts[len(parts)-1])
	}
	return ""
}
