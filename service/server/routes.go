package server

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2/options"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// route is one REST binding of an RPC, as its google.api.http rule (or one
// of the rule's additional bindings) declares it.
type route struct {
	method string // GET, POST, …
	path   string // the rule's template, /v1/{name=errands/*}:start
	rpc    string // /redpoint.v1.ErrandService/StartErrand
	// notModified: the operation declares a 304 answer in its OpenAPI
	// options, so GET answers carry an ETag and If-None-Match is honoured.
	notModified bool
}

// routesOf reads the REST bindings of the registered RPCs (full method
// names) from their descriptors: the protos are the one place routes are
// declared, for the gateway, the OpenAPI document and this server alike.
func routesOf(rpcs []string) []route {
	var out []route
	for _, rpc := range rpcs {
		md := methodOf(rpc)
		if md == nil {
			continue
		}
		rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
		if rule == nil {
			continue
		}
		op, _ := proto.GetExtension(md.Options(), options.E_Openapiv2Operation).(*options.Operation)
		_, notModified := op.GetResponses()["304"]
		for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
			method, path := httpRule(r)
			if path != "" {
				out = append(out, route{method: method, path: path, rpc: rpc, notModified: notModified})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path+out[i].method < out[j].path+out[j].method })
	return out
}

// methodOf finds an RPC (a full method name) among the registered protos.
func methodOf(rpc string) protoreflect.MethodDescriptor {
	name := protoreflect.FullName(strings.ReplaceAll(strings.TrimPrefix(rpc, "/"), "/", "."))
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
	if err != nil {
		return nil
	}
	md, _ := d.(protoreflect.MethodDescriptor)
	return md
}

// bodyField is the request field the JSON body of the route a gateway
// call took fills (errand for PATCH /v1/errands/1), empty when the body is
// the whole request (body: "*") or the call is not known.
func bodyField(ctx context.Context) string {
	rpc, ok := runtime.RPCMethod(ctx)
	if !ok {
		return ""
	}
	pattern, _ := runtime.HTTPPathPattern(ctx)
	md := methodOf(rpc)
	if md == nil {
		return ""
	}
	rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
	if rule == nil {
		return ""
	}
	for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
		if _, path := httpRule(r); path == pattern && r.GetBody() != "*" {
			return r.GetBody()
		}
	}
	return ""
}

func filterRoutes(routes []route, keep func(route) bool) []route {
	var out []route
	for _, r := range routes {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// methodOverride lets a client without PATCH (the WeChat mini-program's
// wx.request has GET, POST, PUT and DELETE only) send POST with
// X-HTTP-Method-Override: PATCH (or PUT, DELETE).
func methodOverride(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			switch m := strings.ToUpper(r.Header.Get("X-HTTP-Method-Override")); m {
			case http.MethodPatch, http.MethodPut, http.MethodDelete:
				r.Method = m
			}
		}
		next.ServeHTTP(w, r)
	})
}

// headAsGet answers HEAD wherever GET is answered, as RFC 9110 asks of
// every server: the GET's status and headers (its ETag among them), no
// body. The handlers get a copy of the request as a GET; net/http, which
// still sees the HEAD, drops the body and sends the GET's Content-Length.
func headAsGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			r = r.WithContext(r.Context())
			r.Method = http.MethodGet
		}
		next.ServeHTTP(w, r)
	})
}

func httpRule(r *annotations.HttpRule) (method, path string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		return http.MethodPost, p.Post
	case *annotations.HttpRule_Put:
		return http.MethodPut, p.Put
	case *annotations.HttpRule_Patch:
		return http.MethodPatch, p.Patch
	case *annotations.HttpRule_Delete:
		return http.MethodDelete, p.Delete
	case *annotations.HttpRule_Custom:
		return p.Custom.GetKind(), p.Custom.GetPath()
	}
	return "", ""
}

// routeMatcher tells which of a set of routes a request's method and path
// match, with the gateway's own path matching (a runtime.ServeMux of
// handlers that only note the match): the same templates, the same verbs,
// the same escaping.
type routeMatcher struct {
	mux *runtime.ServeMux
}

type matchedKey struct{}

func newRouteMatcher(routes []route) *routeMatcher {
	mux := runtime.NewServeMux(runtime.WithRoutingErrorHandler(func(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, _ http.ResponseWriter, _ *http.Request, _ int) {
	}))
	for _, r := range routes {
		// The templates come from protos the gateway itself registered, so
		// they parse.
		_ = mux.HandlePath(r.method, r.path, func(_ http.ResponseWriter, req *http.Request, _ map[string]string) {
			if hit, ok := req.Context().Value(matchedKey{}).(*route); ok {
				*hit = r
			}
		})
	}
	return &routeMatcher{mux: mux}
}

// find returns the route method and the request's path match. The probe
// is a shallow copy: only its method, body and headers differ, and the
// mux reads nothing else it could change.
func (m *routeMatcher) find(r *http.Request, method string) (route, bool) {
	var hit route
	probe := r.WithContext(context.WithValue(r.Context(), matchedKey{}, &hit))
	probe.Method = method
	probe.Body = http.NoBody
	probe.ContentLength = 0
	probe.Header = http.Header{}
	m.mux.ServeHTTP(discard{}, probe)
	return hit, hit.path != ""
}

// allowed lists the methods some route takes at the request's path, for a
// 405's Allow header: those the protos, and so the OpenAPI document,
// declare (HEAD, answered wherever GET is, goes without saying). Where a
// route with a
// custom verb matches (/v1/errands/1:start), only such routes count: the
// gateway would also take GET and PATCH there, reading "1:start" as the
// errand's id, but no client means that.
func (m *routeMatcher) allowed(r *http.Request) []string {
	var found []route
	verb := false
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if rt, ok := m.find(r, method); ok {
			found = append(found, rt)
			verb = verb || hasVerb(rt.path)
		}
	}
	var out []string
	for _, rt := range found {
		if verb && !hasVerb(rt.path) {
			continue
		}
		out = append(out, rt.method)
	}
	return out
}

// hasVerb reports whether a path template ends in a custom verb
// (/v1/{name=errands/*}:start, /v1/errands:sync).
func hasVerb(template string) bool {
	last := template[strings.LastIndexAny(template, "/}")+1:]
	return strings.Contains(last, ":")
}

// discard is a ResponseWriter for probes, which never answer.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
