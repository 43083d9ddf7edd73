// Command redpoint is the backend of Changzhi's village red service points.
//
//	redpoint serve [--demo]   serve gRPC and REST (embedded mode by default)
//	redpoint migrate          apply database migrations
//	redpoint seed --demo      seed the Changzhi demo data into an empty database
//	redpoint seed --scale S   seed a city, province or the country at Changzhi's density
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/period"
	"github.com/changzhi/redpoint/service/scaleseed"
	"github.com/changzhi/redpoint/service/server"
	"github.com/changzhi/redpoint/service/wechat"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "redpoint:", err)
		os.Exit(1)
	}
}

const usage = `usage: redpoint <command> [flags]

commands:
  serve     serve the gRPC API and the REST gateway, with the background workers
            (--demo seeds an empty database and listens on 127.0.0.1 only;
            --workers=false leaves the jobs to 'worker')
  worker    run only the outbox relay, job workers and scheduler (/healthz, /metrics on --admin-addr)
  migrate   apply the database migrations
  seed      seed data into an empty database: --demo, the Changzhi demo; or
            --scale city|province|national, the real divisions of 长治市, 山西省
            or China with staff and a year of errands at Changzhi's density
            (province and national need PostgreSQL)
  user      user create --role ROLE --region CODE --phone PHONE --name NAME [--service-point ID] --password-stdin
  leaderboard  leaderboard rebuild [--period 2026-11]: recompute boards from the database

Every flag has a REDPOINT_* environment variable; run 'redpoint serve -h'.`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("no command")
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("redpoint "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := configFlags(fs)
	var demoFlag bool
	var scale string
	workers := true
	var acct accountFlags
	var onlyPeriod string
	switch cmd {
	case "leaderboard":
		if len(args) == 0 || args[0] != "rebuild" {
			return errors.New("leaderboard: the only subcommand is 'rebuild'")
		}
		args = args[1:]
		fs.StringVar(&onlyPeriod, "period", "", "2026-W48, 2026-11, 2026-Q4 or 2026; empty: today's month, week, quarter and year, and the ones before them")
	case "worker":
	case "user":
		if len(args) == 0 || args[0] != "create" {
			return errors.New("user: the only subcommand is 'create'")
		}
		args = args[1:]
		acct.bind(fs)
	case "seed":
		fs.BoolVar(&demoFlag, "demo", false, "seed the deterministic Changzhi demo data when the database is empty")
		fs.StringVar(&scale, "scale", "", "city, province or national: seed that much of China's real divisions, with staff and a year of errands")
	case "serve":
		fs.BoolVar(&demoFlag, "demo", false, "seed the deterministic Changzhi demo data when the database is empty, "+
			"and serve REST and gRPC on 127.0.0.1 only unless --http-addr/--grpc-addr or their variables say otherwise")
		fs.BoolVar(&workers, "workers", true, "also run the outbox relay, job workers and scheduler")
	case "migrate":
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	loopback := keepDemoOnLoopback(cfg, fs, cmd == "serve" && demoFlag)
	if err := cfg.Validate(); err != nil {
		return err
	}
	level, _ := cfg.Level()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	switch cmd {
	case "serve":
		if len(loopback) > 0 {
			log.Info("demo: serving on loopback only, as its accounts share a published password; "+
				"to serve other machines give --http-addr/--grpc-addr or REDPOINT_HTTP_ADDR/REDPOINT_GRPC_ADDR, e.g. :8080 and :9090", loopback...)
		}
		return serve(ctx, *cfg, demoFlag, workers, log)
	case "worker":
		return work(ctx, *cfg, log)
	case "migrate":
		return migrate(ctx, *cfg, log)
	case "user":
		return createUser(ctx, *cfg, acct, stdin, stdout, log)
	case "leaderboard":
		return rebuildBoards(ctx, *cfg, onlyPeriod, stdout, log)
	default:
		switch {
		case demoFlag && scale != "":
			return errors.New("seed: --demo or --scale, not both")
		case scale != "":
			s, err := scaleseed.ParseScale(scale)
			if err != nil {
				return fmt.Errorf("seed: --scale: %w", err)
			}
			return app.SeedScale(ctx, *cfg, s, log)
		case !demoFlag:
			return errors.New("seed: say what to seed: --demo or --scale city|province|national")
		}
		return seed(ctx, *cfg, log)
	}
}

// configFlags binds every setting to a flag whose default comes from its
// REDPOINT_* variable, falling back to the embedded mode's default.
func configFlags(fs *flag.FlagSet) *app.Config {
	def := app.Defaults()
	cfg := &app.Config{}
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", env("REDPOINT_GRPC_ADDR", def.GRPCAddr), "gRPC listen address; serve --demo: "+onLoopback(def.GRPCAddr)+" unless given (REDPOINT_GRPC_ADDR)")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", env("REDPOINT_HTTP_ADDR", def.HTTPAddr), "REST/HTTP listen address; serve --demo: "+onLoopback(def.HTTPAddr)+" unless given (REDPOINT_HTTP_ADDR)")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", env("REDPOINT_ADMIN_ADDR", def.AdminAddr), "operators' listen address: /metrics, /healthz (REDPOINT_ADMIN_ADDR)")
	fs.StringVar(&cfg.DataDir, "data-dir", env("REDPOINT_DATA_DIR", def.DataDir), "embedded mode's data directory (REDPOINT_DATA_DIR)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", env("REDPOINT_DATABASE_URL", ""), "postgres:// URL; empty: SQLite in the data dir (REDPOINT_DATABASE_URL)")
	fs.StringVar(&cfg.DatabaseReplicaURL, "database-replica-url", env("REDPOINT_DATABASE_REPLICA_URL", ""), "postgres:// URL of a streaming read replica for reports, exports and leaderboard builds; needs --database-url (REDPOINT_DATABASE_REPLICA_URL)")
	fs.DurationVar(&cfg.DatabaseReplicaMaxLag, "database-replica-max-lag", envDuration("REDPOINT_DATABASE_REPLICA_MAX_LAG", 0), "how far behind the replica may be for those reads to use it, 1s–10m; 0: 10s (REDPOINT_DATABASE_REPLICA_MAX_LAG)")
	fs.StringVar(&cfg.RedisURL, "redis-url", env("REDPOINT_REDIS_URL", ""), "redis:// URL; empty: an in-process Redis (REDPOINT_REDIS_URL)")
	fs.IntVar(&cfg.RetentionDays, "attachment-retention-days", envInt("REDPOINT_ATTACHMENT_RETENTION_DAYS", 0), "days materials are kept after their errand closes; 0: 30 (REDPOINT_ATTACHMENT_RETENTION_DAYS)")
	fs.StringVar(&cfg.LogLevel, "log-level", env("REDPOINT_LOG_LEVEL", def.LogLevel), "debug, info, warn or error (REDPOINT_LOG_LEVEL)")
	fs.IntVar(&cfg.TrustedProxies, "trusted-proxies", envInt("REDPOINT_TRUSTED_PROXIES", 0), "load balancers in front of the REST port (REDPOINT_TRUSTED_PROXIES)")
	cfg.PIIKey = os.Getenv("REDPOINT_PII_KEY") // secrets: never flags, never logged
	cfg.AuthKey = os.Getenv("REDPOINT_AUTH_KEY")
	cfg.S3URL = os.Getenv("REDPOINT_S3_URL") // holds the secret key
	cfg.WeChat.BaseURL = os.Getenv("REDPOINT_WECHAT_BASE_URL")
	cfg.WeChat.AppID = os.Getenv("REDPOINT_WECHAT_APP_ID")
	cfg.WeChat.Secret = os.Getenv("REDPOINT_WECHAT_APP_SECRET")
	cfg.WeChatTemplate = os.Getenv("REDPOINT_WECHAT_TEMPLATE_ID")
	cfg.WeChatTemplates = os.Getenv("REDPOINT_WECHAT_TEMPLATE_IDS")
	return cfg
}

// keepDemoOnLoopback moves a demo's REST and gRPC addresses that the user
// did not give, by flag or variable, from every interface to 127.0.0.1: its
// accounts share the password the README publishes, so a demo left running
// on a laptop must not answer the rest of the network. It returns the
// addresses it moved, for the log.
func keepDemoOnLoopback(cfg *app.Config, fs *flag.FlagSet, demo bool) (moved []any) {
	if !demo {
		return nil // production listens where the defaults say: every interface
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, a := range []struct {
		flag, env, log string
		addr           *string
	}{
		{"http-addr", "REDPOINT_HTTP_ADDR", "http", &cfg.HTTPAddr},
		{"grpc-addr", "REDPOINT_GRPC_ADDR", "grpc", &cfg.GRPCAddr},
	} {
		if _, inEnv := os.LookupEnv(a.env); given[a.flag] || inEnv {
			continue
		}
		*a.addr = onLoopback(*a.addr)
		moved = append(moved, a.log, *a.addr)
	}
	return moved
}

// onLoopback is addr's port on 127.0.0.1; a malformed addr is left for
// Validate to name.
func onLoopback(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return net.JoinHostPort("127.0.0.1", port)
}

func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

// envInt is env's number; one that is not a number is -1, which
// Validate refuses naming the setting.
func envInt(key string, def int) int {
	v, ok := os.LookupEnv(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return n
}

// envDuration is env's duration ("10s"); one that is not a duration is
// -1, which Validate refuses naming the setting.
func envDuration(key string, def time.Duration) time.Duration {
	v, ok := os.LookupEnv(key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return -1
	}
	return d
}

func serve(ctx context.Context, cfg app.Config, demo, workers bool, log *slog.Logger) error {
	start := time.Now()
	if demo && cfg.WeChat.BaseURL == "" {
		// The demo walks the residents' flow against a loopback fake WeChat.
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("demo WeChat: %w", err)
		}
		go func() { _ = http.Serve(lis, wechat.NewFake("wx-demo", "demo-secret")) }()
		defer closeLogged(log, "the demo WeChat listener", lis)
		cfg.WeChat = wechat.Config{BaseURL: "http://" + lis.Addr().String(), AppID: "wx-demo", Secret: "demo-secret"}
		if cfg.WeChatTemplate == "" {
			cfg.WeChatTemplate = "demo-errand-progress"
		}
	}
	log.Info("starting redpoint", cfg.LogAttrs()...)
	// Listen first, so a taken port fails before any slow work.
	lis, err := listen(cfg)
	if err != nil {
		return err
	}
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		lis.close()
		return err
	}
	defer closeLogged(log, "the app", a)
	opts := a.Options()
	opts.NoWorkers = !workers
	a.SetOptions(opts)
	if a.KV.Embedded {
		log.Info("embedded mode: in-process Redis", "addr", a.KV.Addr())
	} else if a.KV.Cluster {
		log.Info("redis is a Redis Cluster", "seeds", a.KV.Addr())
	}
	if demo {
		if err := a.SeedDemoIfEmpty(ctx); err != nil {
			return err
		}
	}
	log.Info("ready", "startup_ms", time.Since(start).Milliseconds())
	return a.Serve(ctx, lis.Listeners)
}

type listeners struct{ server.Listeners }

// listen opens the three listeners, naming the setting of one that fails.
func listen(cfg app.Config) (listeners, error) {
	var l listeners
	for _, x := range []struct {
		setting, addr string
		lis           *net.Listener
	}{
		{"REDPOINT_GRPC_ADDR", cfg.GRPCAddr, &l.GRPC},
		{"REDPOINT_HTTP_ADDR", cfg.HTTPAddr, &l.HTTP},
		{"REDPOINT_ADMIN_ADDR", cfg.AdminAddr, &l.Admin},
	} {
		lis, err := net.Listen("tcp", x.addr)
		if err != nil {
			l.close()
			return l, fmt.Errorf("%s: %w", x.setting, err)
		}
		*x.lis = lis
	}
	return l, nil
}

func (l listeners) close() {
	for _, lis := range []net.Listener{l.GRPC, l.HTTP, l.Admin} {
		if lis != nil {
			_ = lis.Close() // never served; the caller returns the error that stopped it
		}
	}
}

// closeLogged closes c when a command ends. Its work is done, or failed
// for a reason already returned, so a failure to close changes nothing the
// command reports, but the operator sees it in the log.
func closeLogged(log *slog.Logger, what string, c io.Closer) {
	if err := c.Close(); err != nil {
		log.Warn("closing "+what, "error", err)
	}
}

func work(ctx context.Context, cfg app.Config, log *slog.Logger) error {
	log.Info("starting redpoint worker", cfg.LogAttrs()...)
	if cfg.Embedded() || cfg.RedisURL == "" {
		return errors.New("worker: needs REDPOINT_DATABASE_URL and REDPOINT_REDIS_URL shared with 'serve'; in embedded mode 'serve' runs the workers itself")
	}
	adminLis, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("REDPOINT_ADMIN_ADDR: %w", err)
	}
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		_ = adminLis.Close() // never served; app.Open's error is the one to report
		return err
	}
	defer closeLogged(log, "the app", a)
	return a.Work(ctx, adminLis)
}

func migrate(ctx context.Context, cfg app.Config, log *slog.Logger) error {
	a, err := app.OpenForMigration(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeLogged(log, "the database", a)
	v, _, err := a.MigrationVersion(ctx)
	if err != nil {
		return err
	}
	log.Info("database migrated", "version", v)
	return nil
}

func seed(ctx context.Context, cfg app.Config, log *slog.Logger) error {
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeLogged(log, "the app", a)
	return a.SeedDemo(ctx)
}

func rebuildBoards(ctx context.Context, cfg app.Config, only string, stdout io.Writer, log *slog.Logger) error {
	periods := leaderboard.CurrentPeriods(time.Now())
	if only != "" {
		p, err := period.Parse(only)
		if err != nil {
			return fmt.Errorf("leaderboard rebuild: --period: %w", err)
		}
		periods = []period.Period{p}
	}
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeLogged(log, "the app", a)
	if a.KV.Embedded {
		return errors.New("leaderboard rebuild: with the embedded Redis the boards live inside 'serve', which builds them as it starts")
	}
	boards := leaderboard.New(a.Store.Client, a.KV)
	for _, p := range periods {
		start := time.Now()
		if err := boards.Rebuild(ctx, p); err != nil {
			return fmt.Errorf("leaderboard rebuild %s: %w", p, err)
		}
		fmt.Fprintf(stdout, "rebuilt %s in %v\n", p, time.Since(start).Round(time.Millisecond))
	}
	return nil
}
