// Package app wires redpoint's capabilities into one process: it opens the
// database, Redis and the PII keys from a Config, and serves the API. The
// command and the end-to-end tests both start the server through it.
package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"

	"github.com/changzhi/redpoint"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/audit"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/calendar/calendardb"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/directory"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/feedback"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/report"
	"github.com/changzhi/redpoint/service/resident"
	"github.com/changzhi/redpoint/service/server"
	"github.com/changzhi/redpoint/service/sla"
	"github.com/changzhi/redpoint/service/store"
	"github.com/changzhi/redpoint/service/wechat"
)

// App is an opened process: its stores and keys.
type App struct {
	wx *wechat.Client // see weChat
	// Authenticator replaces the policy-table authenticator; nil in production.
	Authenticator server.Authenticator
	// Clock replaces time.Now in the errand lifecycle; for tests.
	Clock func() time.Time
	// AuthKey signs access tokens (at least 32 bytes).
	AuthKey []byte
	// LoginLimits bound failed logins; DefaultLoginLimits when zero.
	LoginLimits access.LoginLimits
	// LookupLimits bound public lookups; DefaultLookupLimits when zero.
	LookupLimits resident.LookupLimits
	// TrustedProxies is how many load balancers front the REST port.
	TrustedProxies int
	// WeChat is the mini-program's server API; residents can't log in
	// while its BaseURL is empty.
	WeChat wechat.Config
	// Templates are the subscribe-message template ids by state.
	Templates resident.Templates
	// NoWorkers keeps Serve from running the relay, workers and scheduler
	// (run them apart with Work).
	NoWorkers bool
	// SweepSpec is the SLA sweep's schedule; "@every 1m" when empty.
	SweepSpec string
	// LeaderTTL is how long the scheduler lock outlives a dead replica;
	// 15s when zero.
	LeaderTTL time.Duration
	// Timeouts bound slow clients; server.DefaultTimeouts where zero.
	Timeouts server.Timeouts
	// ExtraHandlers are added to the event handlers (tests).
	ExtraHandlers []events.Handler
	// Jobs is the background machinery, once Serve or Work built it.
	Jobs   *jobs
	log    *slog.Logger
	Store  *store.Store
	KV     *kv.KV
	Keys   *pii.Keyring
	closed bool
}

// Open connects to the database and Redis and loads the PII keys. In
// embedded mode (no database URL) it also applies the migrations; in
// production that is `redpoint migrate`'s job, and Open only checks it ran.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	templates, _ := cfg.templates() // checked by Validate
	a := &App{log: log, TrustedProxies: cfg.TrustedProxies, WeChat: cfg.WeChat, Templates: templates}
	keys, err := cfg.keyring()
	if err != nil {
		return nil, err
	}
	a.Keys = keys
	if a.AuthKey, err = cfg.authKey(); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.databaseTarget())
	if err != nil {
		return nil, err
	}
	a.Store = st
	cfg.warnIfDataDirShared(log)
	if cfg.Embedded() {
		err = st.Migrate(ctx)
	} else {
		err = st.CheckCurrent(ctx)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	k, err := kv.Open(ctx, cfg.RedisURL)
	if err != nil {
		st.Close()
		return nil, err
	}
	a.KV = k
	return a, nil
}

// New assembles an App from stores opened elsewhere (tests open theirs
// with storetest and kvtest). Close closes them.
func New(log *slog.Logger, st *store.Store, k *kv.KV, keys *pii.Keyring, authKey []byte) *App {
	return &App{log: log, Store: st, KV: k, Keys: keys, AuthKey: authKey}
}

// Close releases the stores.
func (a *App) Close() error {
	if a.closed {
		return nil
	}
	a.closed = true
	return errors.Join(a.KV.Close(), a.Store.Close())
}

// weChat is the process's one WeChat client, for the API and the jobs
// alike; nil when none is configured.
func (a *App) weChat() *wechat.Client {
	if a.wx == nil && a.WeChat.BaseURL != "" {
		a.wx = wechat.New(a.WeChat, a.KV)
	}
	return a.wx
}

// SeedDemoIfEmpty seeds the Changzhi demo unless the database has data.
func (a *App) SeedDemoIfEmpty(ctx context.Context) error {
	empty, err := demo.IsEmpty(ctx, a.Store.Client)
	if err != nil || !empty {
		return err
	}
	start := time.Now()
	sum, err := demo.Seed(ctx, a.Store.Client, a.Keys, demo.Options{})
	if err != nil {
		return err
	}
	// Seeding is a one-off burst of allocations; hand the memory back now
	// rather than carry it for the life of the server.
	debug.FreeOSMemory()
	a.log.InfoContext(ctx, "demo data seeded", "duration_ms", time.Since(start).Milliseconds(),
		"regions", sum.Regions, "service_points", sum.ServicePoints, "users", sum.Users,
		"errand_types", sum.ErrandTypes, "errands", sum.Errands, "events", sum.Events, "ratings", sum.Ratings)
	return nil
}

// Serve serves the API on the listeners until ctx is done.
func (a *App) Serve(ctx context.Context, lis server.Listeners) error {
	if err := errands.EnsureSequence(ctx, a.Store.Client); err != nil {
		return err
	}
	if err := calendardb.EnsureOfficial(ctx, a.Store.Client); err != nil {
		return err
	}
	tokens, err := access.NewTokens(a.AuthKey, a.Store.Client)
	if err != nil {
		return fmt.Errorf("REDPOINT_AUTH_KEY: %w", err)
	}
	pages, err := pagetoken.NewSigner(a.AuthKey)
	if err != nil {
		return fmt.Errorf("REDPOINT_AUTH_KEY: %w", err)
	}
	limits := a.LoginLimits
	if limits == (access.LoginLimits{}) {
		limits = access.DefaultLoginLimits
	}
	auth, err := access.NewServer(a.Store.Client, tokens, a.KV, limits)
	if err != nil {
		return err
	}
	defer auth.Close()
	authenticator := a.Authenticator
	if authenticator == nil {
		authenticator = &access.Authenticator{Tokens: tokens, Policies: access.Policies, TrustedProxies: a.TrustedProxies}
	}
	var wx resident.WeChat
	if c := a.weChat(); c != nil {
		wx = c
	}
	reg := prometheus.NewRegistry()
	lookup, err := resident.NewLookup(ctx, a.Store.Client, a.KV, a.LookupLimits, a.log, reg)
	if err != nil {
		return err
	}
	defer lookup.Close()
	cal := calendar.NewCache(calendardb.Loader(a.Store.Client), 5*time.Minute)
	residentFeedback := feedback.New(a.Store.Client, cal, pages)
	residents := resident.New(a.Store.Client, a.Keys, wx, tokens, lookup, pages, residentFeedback)
	if a.Clock != nil {
		residents.SetClock(a.Clock)
		residentFeedback.SetClock(a.Clock)
	}
	auditLog := audit.New(a.Store.Client, a.log, pages)
	users := access.NewUserServer(a.Store.Client, tokens, pages)
	dir := directory.New(a.Store.Client, pages)
	boards := leaderboard.New(a.Store.Client, a.KV)
	reports := report.New(a.Store, a.Store.Client, a.Store.Dialect)
	workloads := report.NewCache(a.KV, reg)
	a.Jobs = a.jobs(cal, boards, reports, reg, lookup.Invalidator(), workloads.Invalidator())
	jobAdmin := events.NewAdmin(asynq.NewInspectorFromRedisClient(a.KV.Client), events.Queue(a.KV), pages)
	reportServer := report.NewServer(reports, cal, workloads, pages, residentFeedback)
	if a.Clock != nil {
		reportServer.SetClock(a.Clock)
	}
	board := leaderboard.NewServer(boards, pages)
	if a.Clock != nil {
		board.SetClock(a.Clock)
	}
	notifications := sla.NewNotifications(a.Store.Client, pages)
	errandServer := errands.New(a.Store.Client, a.Store.Dialect, a.Keys, cal, auditLog, pages)
	calendars := calendardb.NewServer(a.Store.Client, cal, errandServer)
	errandServer.Changed = lookup.Changed
	if a.Clock != nil {
		errandServer.SetClock(a.Clock)
	}
	srv, err := server.New(ctx, server.Config{
		Logger:        a.log,
		Authenticator: authenticator,
		AfterAuth:     []grpc.UnaryServerInterceptor{auditLog.Interceptor(access.Policies)},
		OpenAPI:       redpoint.OpenAPI,
		Registry:      reg,
		Checks:        a.checks(),
		Timeouts:      a.Timeouts,
	},
		server.Service{
			Register: func(s grpc.ServiceRegistrar) { redpointv1.RegisterRegionServiceServer(s, dir) },
			Gateway:  server.Gateway(redpointv1.RegisterRegionServiceHandlerClient, redpointv1.NewRegionServiceClient),
		},
		server.Service{
			Register: func(s grpc.ServiceRegistrar) { redpointv1.RegisterServicePointServiceServer(s, dir) },
			Gateway:  server.Gateway(redpointv1.RegisterServicePointServiceHandlerClient, redpointv1.NewServicePointServiceClient),
		},
		server.Service{
			Register: func(s grpc.ServiceRegistrar) { redpointv1.RegisterErrandTypeServiceServer(s, dir) },
			Gateway:  server.Gateway(redpointv1.RegisterErrandTypeServiceHandlerClient, redpointv1.NewErrandTypeServiceClient),
		},
		server.Service{
			Register: func(s grpc.ServiceRegistrar) { redpointv1.RegisterCalendarServiceServer(s, calendars) },
			Gateway:  server.Gateway(redpointv1.RegisterCalendarServiceHandlerClient, redpointv1.NewCalendarServiceClient),
		},
		server.Service{
			Register: func(s grpc.ServiceRegistrar) { redpointv1.RegisterUserServiceServer(s, users) },
			Gateway:  server.Gateway(redpointv1.RegisterUserServiceHandlerClient, redpointv1.NewUserServiceClient),
		},
		server.Service{
			Register: func(s grpc.ServiceRegistrar) { redpointv1.RegisterResidentServiceServer(s, residents) },
			Gateway:  server.Gateway(redpointv1.RegisterResidentServiceHandlerClient, redpointv1.NewResidentServiceClient),
		},
		server.Service{
			Register: func(s grpc.ServiceRegistrar) { redpointv1.RegisterReportServiceServer(s, reportServer) },
			Gateway:  server.Gateway(redpointv1.RegisterReportServiceHandlerClient, redpointv1.NewReportServiceClient),
		},
		server.Service{
			Register: func(s grpc.ServiceRegistrar) { redpointv1.RegisterLeaderboardServiceServer(s, board) },
			Gateway:  server.Gateway(redpointv1.RegisterLeaderboardServiceHandlerClient, redpointv1.NewLeaderboardServiceClient),
		},
		server.Service{
			Register: func(s grpc.ServiceRegistrar) { redpointv1.RegisterNotificationServiceServer(s, notifications) },
			Gateway:  server.Gateway(redpointv1.RegisterNotificationServiceHandlerClient, redpointv1.NewNotificationServiceClient),
		},
		server.Service{
			Register: func(s grpc.ServiceRegistrar) { redpointv1.RegisterJobServiceServer(s, jobAdmin) },
			Gateway:  server.Gateway(redpointv1.RegisterJobServiceHandlerClient, redpointv1.NewJobServiceClient),
		},
		server.Service{
			Register: func(s grpc.ServiceRegistrar) { redpointv1.RegisterAuditServiceServer(s, auditLog) },
			Gateway:  server.Gateway(redpointv1.RegisterAuditServiceHandlerClient, redpointv1.NewAuditServiceClient),
		},
		server.Service{
			Register: func(s grpc.ServiceRegistrar) { redpointv1.RegisterAuthServiceServer(s, auth) },
			Gateway:  server.Gateway(redpointv1.RegisterAuthServiceHandlerClient, redpointv1.NewAuthServiceClient),
		},
		server.Service{
			Register: func(s grpc.ServiceRegistrar) { redpointv1.RegisterErrandServiceServer(s, errandServer) },
			Gateway:  server.Gateway(redpointv1.RegisterErrandServiceHandlerClient, redpointv1.NewErrandServiceClient),
		},
	)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	if !a.NoWorkers {
		a.Jobs.run(ctx, &wg)
	}
	a.log.InfoContext(ctx, "serving", "grpc", lis.GRPC.Addr().String(), "http", lis.HTTP.Addr().String(),
		"admin", lis.Admin.Addr().String(), "workers", !a.NoWorkers)
	err = srv.Serve(ctx, lis)
	wg.Wait()
	return err
}

// authKey is REDPOINT_AUTH_KEY (base64, at least 32 bytes) or, in
// embedded mode, a key file made in the data dir on first start.
func (c Config) authKey() ([]byte, error) {
	raw := c.AuthKey
	if raw == "" {
		if !c.Embedded() {
			return nil, errors.New("REDPOINT_AUTH_KEY: required with REDPOINT_DATABASE_URL")
		}
		var err error
		raw, err = pii.LoadOrCreateSecretFile(filepath.Join(c.DataDir, "auth.key"), func() string {
			key := make([]byte, 32)
			_, _ = rand.Read(key)
			return base64.StdEncoding.EncodeToString(key)
		})
		if err != nil {
			return nil, fmt.Errorf("REDPOINT_DATA_DIR: %w", err)
		}
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) < 32 {
		return nil, errors.New("REDPOINT_AUTH_KEY: must be base64 of at least 32 bytes")
	}
	return key, nil
}

func (c Config) keyring() (*pii.Keyring, error) {
	if c.PIIKey != "" {
		k, err := pii.ParseKeyring(c.PIIKey)
		if err != nil {
			return nil, fmt.Errorf("REDPOINT_PII_KEY: %w", err)
		}
		return k, nil
	}
	if !c.Embedded() {
		return nil, errors.New("REDPOINT_PII_KEY: required with REDPOINT_DATABASE_URL (production keeps keys out of the data dir)")
	}
	k, err := pii.LoadOrCreateKeyFile(filepath.Join(c.DataDir, "pii.key"))
	if err != nil {
		return nil, fmt.Errorf("REDPOINT_DATA_DIR: %w", err)
	}
	return k, nil
}

// OpenForMigration opens only the database and applies every pending
// migration, for `redpoint migrate`.
func OpenForMigration(ctx context.Context, cfg Config) (*store.Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.databaseTarget())
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// ErrNotEmpty reports an explicit seed into a database that has data.
var ErrNotEmpty = errors.New("the database already has data; demo data goes only into an empty database")

// SeedDemo seeds the demo, failing if the database has data.
func (a *App) SeedDemo(ctx context.Context) error {
	empty, err := demo.IsEmpty(ctx, a.Store.Client)
	if err != nil {
		return err
	}
	if !empty {
		return ErrNotEmpty
	}
	return a.SeedDemoIfEmpty(ctx)
}

func (a *App) checks() map[string]func(context.Context) error {
	return map[string]func(context.Context) error{"database": a.Store.Ping, "redis": a.KV.Ping}
}

// workerJobs wires the background half without the API's caches: their
// outbox handlers reach them through Redis alone.
func (a *App) workerJobs(reg prometheus.Registerer) *jobs {
	return a.jobs(calendar.NewCache(calendardb.Loader(a.Store.Client), 5*time.Minute), leaderboard.New(a.Store.Client, a.KV),
		report.New(a.Store, a.Store.Client, a.Store.Dialect), reg, resident.NewLookupCache(a.KV).Invalidator(), report.NewCache(a.KV, nil).Invalidator())
}

// EventHandlers are the outbox handlers a replica runs, wired as Work
// wires them but not started: a check that every event took effect once
// per handler takes their names and topics from here, not from a list of
// its own that a new handler would not be on.
func (a *App) EventHandlers() []events.Handler {
	return a.workerJobs(prometheus.NewRegistry()).handlers
}

// Work runs only the background half — outbox relay, job workers and the
// periodic scheduler — with /healthz and /metrics on adminLis, until ctx is
// done. It is `redpoint worker`, for scaling workers apart from the API.
func (a *App) Work(ctx context.Context, adminLis net.Listener) error {
	reg := prometheus.NewRegistry()
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.Jobs = a.workerJobs(reg)
	var wg sync.WaitGroup
	a.Jobs.run(ctx, &wg)
	srv := server.NewHTTPServer(server.AdminMux(reg, server.Healthz(a.checks(), a.log)), a.log, a.Timeouts)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(adminLis) }()
	a.log.InfoContext(ctx, "worker running", "admin", adminLis.Addr().String())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
