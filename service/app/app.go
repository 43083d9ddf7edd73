// Package app wires redpoint's capabilities into one process: it opens the
// database, Redis and the PII keys from a Config, and serves the API. The
// command and the end-to-end tests both start the server through it.
package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"

	"github.com/changzhi/redpoint"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/answers"
	"github.com/changzhi/redpoint/service/calendar/calendardb"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/directory"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/feedback"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/objects"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/report"
	"github.com/changzhi/redpoint/service/resident"
	"github.com/changzhi/redpoint/service/scaleseed"
	"github.com/changzhi/redpoint/service/server"
	"github.com/changzhi/redpoint/service/sla"
	"github.com/changzhi/redpoint/service/store"
	"github.com/changzhi/redpoint/service/wechat"
)

// Options are what a deployment chooses beyond its stores and keys; Open
// takes them from the Config, tests set them for the server they start.
// The zero value is production's defaults.
type Options struct {
	// Authenticator replaces the policy-table authenticator.
	Authenticator server.Authenticator
	// Clock replaces time.Now in the domain's rules: due times and SLA
	// timers, ratings' window, default periods, reports and the purge's
	// cut-off. Rows' bookkeeping times (outbox sent_time, the ledger,
	// request ids' create_time) stay on the wall clock, so a test clock far
	// from it must not run the purge.
	Clock func() time.Time
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
	// Retention is how long materials are kept after their errand
	// closes; attachments.DefaultRetention when zero.
	Retention time.Duration
}

// now is the process's clock.
func (o Options) now() func() time.Time {
	if o.Clock != nil {
		return o.Clock
	}
	return time.Now
}

// App is an opened process: its stores, keys and options.
type App struct {
	opts       Options
	wx         *wechat.Client // see weChat
	background atomic.Pointer[Background]
	log        *slog.Logger
	// AuthKey signs access tokens (at least 32 bytes).
	AuthKey []byte
	Store   *store.Store
	KV      *kv.KV
	Objects *objects.Store
	Keys    *pii.Keyring
	closed  bool
}

// Open connects to the database and Redis and loads the PII keys. In
// embedded mode (no database URL) it also applies the migrations; in
// production that is `redpoint migrate`'s job, and Open only checks it ran.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	templates, _ := cfg.templates() // checked by Validate
	a := &App{log: log, opts: Options{TrustedProxies: cfg.TrustedProxies, WeChat: cfg.WeChat, Templates: templates}}
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
	if cfg.DatabaseReplicaURL != "" {
		if err := st.UseReplica(cfg.DatabaseReplicaURL, store.ReplicaOptions{MaxLag: cfg.replicaLag(), Log: log}); err != nil {
			return nil, errors.Join(fmt.Errorf("REDPOINT_DATABASE_REPLICA_URL: %w", err), st.Close())
		}
	}
	cfg.warnIfDataDirShared(log)
	if cfg.Embedded() {
		err = st.Migrate(ctx)
	} else {
		err = st.CheckCurrent(ctx)
	}
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	k, err := kv.Open(ctx, cfg.RedisURL)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	a.KV = k
	objs, err := objects.Open(ctx, cfg.S3URL, cfg.DataDir)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("REDPOINT_S3_URL: %w", err), k.Close(), st.Close())
	}
	a.Objects = objs
	a.opts.Retention = cfg.retention()
	return a, nil
}

// New assembles an App from stores opened elsewhere (tests open theirs
// with storetest, kvtest and objectstest). Close closes them.
func New(log *slog.Logger, st *store.Store, k *kv.KV, objs *objects.Store, keys *pii.Keyring, authKey []byte, opts Options) *App {
	return &App{log: log, Store: st, KV: k, Objects: objs, Keys: keys, AuthKey: authKey, opts: opts}
}

// Options are the options the App was made with.
func (a *App) Options() Options { return a.opts }

// SetOptions replaces the options before Serve or Work (the command sets
// NoWorkers from its flags).
func (a *App) SetOptions(o Options) { a.opts = o }

// Background is the background half — relay, workers, scheduler — once
// Serve or Work has built it; nil before.
func (a *App) Background() *Background { return a.background.Load() }

// Close releases the stores.
func (a *App) Close() error {
	if a.closed {
		return nil
	}
	a.closed = true
	return errors.Join(a.Objects.Close(), a.KV.Close(), a.Store.Close())
}

// weChat is the process's one WeChat client, for the API and the jobs
// alike; nil when none is configured.
func (a *App) weChat() *wechat.Client {
	if a.wx == nil && a.opts.WeChat.BaseURL != "" {
		a.wx = wechat.New(a.opts.WeChat, a.KV)
	}
	return a.wx
}

// SeedDemoIfEmpty seeds the Changzhi demo unless the database has data.
func (a *App) SeedDemoIfEmpty(ctx context.Context) error {
	empty, err := demo.IsEmpty(ctx, a.Store.Client)
	if err != nil {
		return err
	}
	if !empty {
		a.log.InfoContext(ctx, "demo: the database already has data; reusing it (delete the data directory to start over)")
		return nil
	}
	return a.seedDemo(ctx, demo.Options{Now: time.Now()})
}

// seedDemo seeds the demo with opt into an empty database, and what a
// demo has beyond its rows: the past reports and the current boards.
func (a *App) seedDemo(ctx context.Context, opt demo.Options) error {
	start := time.Now()
	sum, err := demo.Seed(ctx, a.Store.Client, a.Keys, opt)
	if err != nil {
		return err
	}
	// The past weeks', months' and quarter's reports the scheduler would have stored,
	// so the demo has some to list; after the seed's commit, as they read
	// its errands.
	boards := leaderboard.New(a.Store.Client, a.KV)
	snapshots, err := demo.Snapshots(ctx, report.New(a.Store, boards), boards, opt.Now)
	if err != nil {
		return err
	}
	// The current periods' boards, so that the demo's first reads find
	// them; rebuilt, not just built: a Redis that outlived an earlier
	// database may hold boards of its.
	boardsStart := time.Now()
	if err := boards.RebuildCurrent(ctx, a.opts.now()()); err != nil {
		return err
	}
	boardsMS := time.Since(boardsStart).Milliseconds()
	// Seeding is a one-off burst of allocations; hand the memory back now
	// rather than carry it for the life of the server.
	debug.FreeOSMemory()
	a.log.InfoContext(ctx, "demo data seeded", "duration_ms", time.Since(start).Milliseconds(),
		"regions", sum.Regions, "service_points", sum.ServicePoints, "users", sum.Users,
		"errand_types", sum.ErrandTypes, "errands", sum.Errands, "events", sum.Events, "ratings", sum.Ratings,
		"report_snapshots", snapshots, "boards_ms", boardsMS)
	return nil
}

// Serve serves the API on the listeners until ctx is done, builds the
// current periods' missing boards in the background, and then runs the
// background half too unless NoWorkers.
func (a *App) Serve(ctx context.Context, lis server.Listeners) error {
	reg := prometheus.NewRegistry()
	p, err := a.build(reg)
	if err != nil {
		return err
	}
	a.background.Store(p.background)
	if err := errands.EnsureSequence(ctx, a.Store.Client); err != nil {
		return err
	}
	if err := calendardb.EnsureOfficial(ctx, a.Store.Client); err != nil {
		return err
	}
	now := a.opts.now()
	tokens, err := access.NewTokens(a.AuthKey, a.Store.Client)
	if err != nil {
		return fmt.Errorf("REDPOINT_AUTH_KEY: %w", err)
	}
	limits := a.opts.LoginLimits
	if limits == (access.LoginLimits{}) {
		limits = access.DefaultLoginLimits
	}
	auth, err := access.NewServer(a.Store.Client, tokens, a.KV, limits)
	if err != nil {
		return err
	}
	defer auth.Close()
	authenticator := a.opts.Authenticator
	if authenticator == nil {
		authenticator = &access.Authenticator{Tokens: tokens, Policies: access.Policies, TrustedProxies: a.opts.TrustedProxies}
	}
	var wx resident.WeChat
	if c := a.weChat(); c != nil {
		wx = c
	}
	lookup, err := resident.NewLookup(ctx, a.Store.Client, a.KV, a.opts.LookupLimits, a.log, reg)
	if err != nil {
		return err
	}
	defer lookup.Close()
	etagKey := a.etagKey()
	hot, err := answers.New(ctx, a.KV, now, etagKey, a.log, reg)
	if err != nil {
		return err
	}
	defer hot.Close()
	ratings := feedback.New(a.Store.Client, p.cal, p.pages, now)
	auditLog := p.audit
	errandServer := errands.New(errands.Config{DB: a.Store.Client, Dialect: a.Store.Dialect, Keys: a.Keys, Calendar: p.cal,
		Audit: auditLog, Pages: p.pages, Changed: lookup.Changed, Answers: hot, Now: now})
	residents := resident.New(a.Store.Client, a.Keys, wx, tokens, lookup, p.pages, ratings, hot, errandServer,
		errands.NewConsents(a.Store.Client, a.Store.Dialect, a.Keys, now), p.files, now)
	users := access.NewUserServer(a.Store.Client, tokens, p.pages, hot)
	dir := directory.New(a.Store.Client, p.pages, hot, now)
	jobAdmin := events.NewAdmin(asynq.NewInspectorFromRedisClient(a.KV.Client), events.Queue(a.KV), p.pages)
	reportServer := report.NewServer(p.reports, p.cal, p.workloads, p.pages, ratings, now)
	board := leaderboard.NewServer(p.boards, p.pages, now)
	notifications := sla.NewNotifications(a.Store.Client, p.pages)
	calendars := calendardb.NewServer(a.Store.Client, p.cal, errandServer)
	srv, err := server.New(ctx, server.Config{
		Logger:        a.log,
		Authenticator: authenticator,
		AfterAuth:     []grpc.UnaryServerInterceptor{auditLog.Interceptor(access.Policies)},
		OpenAPI:       redpoint.OpenAPI,
		Registry:      reg,
		Checks:        a.checks(),
		Timeouts:      a.opts.Timeouts,
		ETagKey:       etagKey,
		Files:         p.files.Routes(),
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
		server.Service{
			Register: func(s grpc.ServiceRegistrar) { redpointv1.RegisterAttachmentServiceServer(s, p.files) },
			Gateway:  server.Gateway(redpointv1.RegisterAttachmentServiceHandlerClient, redpointv1.NewAttachmentServiceClient),
		},
	)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.background.warmBoards(ctx, now())
		if !a.opts.NoWorkers && ctx.Err() == nil {
			p.background.run(ctx, &wg)
		}
	}()
	a.log.InfoContext(ctx, "serving", "grpc", lis.GRPC.Addr().String(), "http", lis.HTTP.Addr().String(),
		"admin", lis.Admin.Addr().String(), "workers", !a.opts.NoWorkers)
	err = srv.Serve(ctx, lis)
	wg.Wait()
	return err
}

// etagKey keys the REST answers' ETags: derived from the auth key, so
// every replica gives an answer the same ETag and no one else can.
func (a *App) etagKey() []byte { return a.derivedKey("redpoint etag") }

// derivedKey is a key for one purpose, derived from the auth key: every
// replica derives the same, and no purpose's key opens another's.
func (a *App) derivedKey(purpose string) []byte {
	mac := hmac.New(sha256.New, a.AuthKey)
	_, _ = mac.Write([]byte(purpose))
	return mac.Sum(nil)
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
		return nil, errors.Join(err, st.Close())
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

// SeedScale loads the real divisions of a city, a province or the country,
// with staff and a year of errands at Changzhi's density
// (service/scaleseed), into the empty database cfg names. It opens only
// the database (migrated, as Open requires) and the PII keys the errands
// are sealed with: the servers that read the data need the same
// REDPOINT_PII_KEY. The boards are left to 'leaderboard rebuild' or to
// 'serve', which builds the current ones as it starts.
func SeedScale(ctx context.Context, cfg Config, scale scaleseed.Scale, log *slog.Logger) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	keys, err := cfg.keyring()
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.databaseTarget())
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	if cfg.Embedded() {
		err = st.Migrate(ctx)
	} else {
		err = st.CheckCurrent(ctx)
	}
	if err != nil {
		return err
	}
	start := time.Now()
	sum, err := scaleseed.Seed(ctx, st, keys, scaleseed.Options{Scale: scale, Log: log})
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "scale data seeded", "scale", string(scale), "duration_ms", time.Since(start).Milliseconds(),
		"regions", sum.Regions, "service_points", sum.ServicePoints, "users", sum.Users, "errand_types", sum.ErrandTypes,
		"errands", sum.Errands, "events", sum.Events, "ratings", sum.Ratings, "follow_ups", sum.FollowUps)
	return nil
}

func (a *App) checks() map[string]func(context.Context) error {
	return map[string]func(context.Context) error{"database": a.Store.Ping, "redis": a.KV.Ping, "objects": a.Objects.Ping}
}

// EventHandlers are the outbox handlers a replica runs, wired as Serve and
// Work wire them but not started: a check that every event took effect
// once per handler takes their names and topics from here, not from a list
// of its own that a new handler would not be on.
func (a *App) EventHandlers() ([]events.Handler, error) {
	p, err := a.build(prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	return p.background.handlers, nil
}

// Work runs only the background half — outbox relay, job workers and the
// periodic scheduler — with /healthz and /metrics on adminLis, until ctx is
// done. It is `redpoint worker`, for scaling workers apart from the API.
func (a *App) Work(ctx context.Context, adminLis net.Listener) error {
	reg := prometheus.NewRegistry()
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p, err := a.build(reg)
	if err != nil {
		return err
	}
	a.background.Store(p.background)
	var wg sync.WaitGroup
	p.background.run(ctx, &wg)
	srv := server.NewHTTPServer(server.AdminMux(reg, server.Healthz(a.checks(), a.log)), a.log, a.opts.Timeouts)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(adminLis) }()
	a.log.InfoContext(ctx, "worker running", "admin", adminLis.Addr().String())
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
