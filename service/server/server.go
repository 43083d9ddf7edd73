// Package server runs the gRPC server and the REST gateway in one process,
// behind one interceptor chain, with health, metrics and the OpenAPI
// document on the HTTP side.
package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/changzhi/redpoint/service/console"
)

// Config is what the server needs from the process.
type Config struct {
	Logger        *slog.Logger
	Authenticator Authenticator // nil: calls carry no identity
	// Checks are run by GET /healthz; it answers 200 only when all pass.
	Checks map[string]func(context.Context) error
	// OpenAPI is the document served at /openapi.json.
	OpenAPI []byte
	// Registry receives the gRPC metrics; the caller may add its own.
	Registry *prometheus.Registry
	// AfterAuth are interceptors that run once the caller is known
	// (auditing), before validation and the handler.
	AfterAuth []grpc.UnaryServerInterceptor
	// Timeouts: DefaultTimeouts where zero.
	Timeouts Timeouts
	// ETagKey keys the ETags of REST answers (ETag): replicas that share
	// it give the same answer the same ETag. Empty: a random key, for this
	// process alone.
	ETagKey []byte
	// Files are the REST routes that carry raw bytes rather than JSON
	// (attachments' uploads and downloads), by http.ServeMux pattern. They
	// authorise themselves (signed URLs), bound their own bodies, and
	// answer errors with WriteError.
	Files map[string]http.Handler
}

// Service is one API service: how it registers on the gRPC server and on
// the gateway (the generated Register…HandlerClient, given a client over
// the connection).
type Service struct {
	Register func(grpc.ServiceRegistrar)
	Gateway  func(context.Context, *runtime.ServeMux, grpc.ClientConnInterface) error
}

// Gateway is a Service's Gateway from the generated pair: the REST
// handlers' registration and the client they call the API through.
func Gateway[C any](register func(context.Context, *runtime.ServeMux, C) error, client func(grpc.ClientConnInterface) C) func(context.Context, *runtime.ServeMux, grpc.ClientConnInterface) error {
	return func(ctx context.Context, mux *runtime.ServeMux, cc grpc.ClientConnInterface) error {
		return register(ctx, mux, client(cc))
	}
}

// Server is the gRPC server plus the HTTP server in front of the gateway.
type Server struct {
	cfg      Config
	log      *slog.Logger
	metrics  *grpcprom.ServerMetrics
	grpc     *grpc.Server
	health   *health.Server
	gwMux    *runtime.ServeMux
	http     *http.Server
	admin    *http.Server
	services []Service
	// routes matches requests against the registered REST bindings (for
	// 405's Allow); etagged, against those that declare a 304.
	routes, etagged *routeMatcher
	// serviceNames are the registered gRPC services, for health.
	serviceNames []string
	// etagKey keys the ETags (ETag); answers are the answers repeated
	// requests are served from (UseAnswer).
	etagKey []byte
	answers answerMemory
}

// New builds the servers and registers services on both.
func New(ctx context.Context, cfg Config, services ...Service) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, services: services, etagKey: cfg.ETagKey, answers: answerMemory{m: map[[sha256.Size]byte]remembered{}}}
	if len(s.etagKey) == 0 {
		s.etagKey = make([]byte, 32)
		_, _ = rand.Read(s.etagKey)
	}
	s.metrics = grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets([]float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}),
	))
	if err := cfg.Registry.Register(s.metrics); err != nil {
		return nil, fmt.Errorf("server.New: metrics: %w", err)
	}
	_ = cfg.Registry.Register(collectors.NewGoCollector())
	_ = cfg.Registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	unary := s.unaryChain()
	// Registration fills methods before anything is served; the deadline
	// tap only reads it.
	methods := map[string]unaryMethod{}
	s.grpc = grpc.NewServer(append(grpcLimits(cfg.Timeouts, methods),
		grpc.ChainUnaryInterceptor(append([]grpc.UnaryServerInterceptor{releaseDeadline}, unary...)...),
		grpc.ChainStreamInterceptor(s.streamChain()...),
	)...)
	reg := &registrar{server: s.grpc, methods: methods}
	for _, svc := range services {
		svc.Register(reg)
	}
	rpcs := make([]string, 0, len(methods))
	for rpc := range methods {
		rpcs = append(rpcs, rpc)
	}
	routes := routesOf(rpcs)
	s.routes = newRouteMatcher(routes)
	s.etagged = newRouteMatcher(filterRoutes(routes, func(r route) bool { return r.notModified && r.method == http.MethodGet }))
	s.serviceNames = reg.services
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.metrics.InitializeMetrics(s.grpc)

	// The gateway calls the API through the same interceptor chain as a
	// gRPC call, in-process.
	conn := &inproc{methods: reg.methods, chain: chainOf(unary)}
	s.gwMux = runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, jsonMarshaler),
		runtime.WithForwardResponseRewriter(useRendered),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithRoutingErrorHandler(s.routingErrorHandler),
		// A file download names itself: Content-Disposition goes out as is.
		runtime.WithOutgoingHeaderMatcher(func(key string) (string, bool) {
			if key == "content-disposition" {
				return "Content-Disposition", true
			}
			return runtime.MetadataHeaderPrefix + key, true
		}),
	)
	for _, svc := range services {
		if svc.Gateway == nil {
			continue
		}
		if err := svc.Gateway(ctx, s.gwMux, conn); err != nil {
			return nil, fmt.Errorf("server.New: gateway: %w", err)
		}
	}

	healthz := Healthz(cfg.Checks, cfg.Logger)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.Handle("GET /openapi.json", compress(http.HandlerFunc(s.openapi)))
	// The secretaries' console, a client of the routes below; the bare
	// host leads to it.
	mux.Handle(console.Prefix, compress(console.Handler()))
	mux.Handle("GET /{$}", http.RedirectHandler(console.Prefix, http.StatusFound))
	for pattern, h := range cfg.Files {
		mux.Handle(pattern, h)
	}
	mux.Handle("/", compress(headAsGet(methodOverride(limitBody(s.withETags(s.gwMux))))))
	s.http = NewHTTPServer(mux, cfg.Logger, cfg.Timeouts)
	s.admin = NewHTTPServer(AdminMux(cfg.Registry, healthz), cfg.Logger, cfg.Timeouts)
	return s, nil
}

// AdminMux serves what operators read and the public must not: /metrics,
// profiles (/debug/pprof/), and /healthz again for probes that only reach
// the admin port.
func AdminMux(reg *prometheus.Registry, healthz http.HandlerFunc) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// Profiles, for the load harness and for an operator chasing a slow
	// replica: the admin port is not public.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	return mux
}

// Listeners are where a server answers: the public gRPC and REST ports,
// and the admin port (metrics), which only operators should reach.
type Listeners struct {
	GRPC, HTTP, Admin net.Listener
}

// Serve serves gRPC, HTTP and the admin port until ctx is done, then shuts
// them down gracefully. Each listener takes at most MaxConnections at once.
func (s *Server) Serve(ctx context.Context, lis Listeners) error {
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	for _, name := range s.serviceNames {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	errc := make(chan error, 3)
	go func() { errc <- s.grpc.Serve(netutil.LimitListener(lis.GRPC, MaxConnections)) }()
	serveHTTP := func(srv *http.Server, l net.Listener) {
		if err := srv.Serve(netutil.LimitListener(l, MaxConnections)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
			return
		}
		errc <- nil
	}
	go serveHTTP(s.http, lis.HTTP)
	go serveHTTP(s.admin, lis.Admin)
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.shutdown()
	return serveErr
}

func (s *Server) shutdown() {
	s.health.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		s.log.Warn("http shutdown", "error", err)
	}
	_ = s.admin.Shutdown(ctx)
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		s.grpc.Stop()
	}
}

// Healthz answers 200 only when every check passes within two seconds,
// 503 naming the failing ones otherwise.
func Healthz(checks map[string]func(context.Context) error, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		result := map[string]string{}
		ok := true
		for name, check := range checks {
			if err := check(ctx); err != nil {
				ok = false
				result[name] = "unavailable"
				log.WarnContext(ctx, "health check failed", "check", name, "error", err)
				continue
			}
			result[name] = "ok"
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"status": map[bool]string{true: "ok", false: "unavailable"}[ok], "checks": result})
	}
}

func (s *Server) openapi(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.cfg.OpenAPI)
}
