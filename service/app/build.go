package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/service/attachments"
	"github.com/changzhi/redpoint/service/audit"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/calendar/calendardb"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/idempotency"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/report"
	"github.com/changzhi/redpoint/service/resident"
	"github.com/changzhi/redpoint/service/sla"
)

// parts are what both halves of a process are built from, made once by
// build for Serve and Work alike, so the API and a worker can't wire the
// same thing two ways.
type parts struct {
	pages      *pagetoken.Signer
	cal        *calendar.Cache
	boards     *leaderboard.Boards
	reports    *report.Workloads
	workloads  *report.Cache
	audit      *audit.Log
	files      *attachments.Server
	background *Background
}

// Background is the background half of the process: the outbox relay, the
// job workers with every event handler, and the periodic scheduler.
type Background struct {
	handlers    []events.Handler
	reports     *report.Workloads
	relay       *events.Relay
	worker      *events.Worker
	scheduler   *events.Scheduler
	timers      *sla.Timers
	boards      *leaderboard.Boards
	files       *attachments.Server
	boardsReady chan struct{}
}

// Attachments are the attachments' server, for tests that purge and
// sweep on demand.
func (j *Background) Attachments() *attachments.Server { return j.files }

// build makes the parts both halves share, with the App's clock, and
// registers their metrics on reg. It starts nothing and records nothing on
// the App: Serve and Work keep the Background they run.
func (a *App) build(reg prometheus.Registerer) (*parts, error) {
	pages, err := pagetoken.NewSigner(a.AuthKey)
	if err != nil {
		return nil, fmt.Errorf("REDPOINT_AUTH_KEY: %w", err)
	}
	now := a.opts.now()
	// The rebuilds read the replica when there is one (store.Store.Reads).
	boards := leaderboard.New(a.Store.Client, a.KV, leaderboard.ReadsFrom(func(ctx context.Context) *ent.Client { return a.Store.Reads(ctx).Client }))
	reg.MustRegister(a.Store.Collectors()...)
	p := &parts{
		pages:     pages,
		cal:       calendar.NewCache(calendardb.Loader(a.Store.Client), 5*time.Minute),
		boards:    boards,
		reports:   report.New(a.Store, boards),
		workloads: report.NewCache(a.KV, reg),
	}
	p.audit = audit.New(a.Store.Client, a.log, pages)
	p.files = attachments.New(attachments.Config{DB: a.Store.Client, Objects: a.Objects, Keys: a.Keys,
		Audit: p.audit, Pages: pages, Log: a.log, URLKey: a.derivedKey("redpoint attachment urls"),
		Retention: a.opts.Retention, TrustedProxies: a.opts.TrustedProxies, Now: now})
	queue := events.Queue(a.KV)
	client := asynq.NewClientFromRedisClient(a.KV.Client)
	timers := sla.New(a.Store.Client, p.cal, client, queue, a.log, now)
	var sender resident.Sender
	if c := a.weChat(); c != nil {
		sender = c
	}
	handlers := append([]events.Handler{
		timers.Handler(),
		p.boards.Handler(),
		resident.Notifier(sender, a.opts.Templates, a.log),
		resident.NewLookupCache(a.KV).Invalidator(),
		errands.AnswersInvalidator(a.KV),
		p.workloads.Invalidator(),
		p.files.Handler(client, queue),
	}, a.opts.ExtraHandlers...)
	drift := prometheus.NewCounter(prometheus.CounterOpts{Name: "redpoint_leaderboard_drift_total",
		Help: "Board members the reconciliation found off and repaired."})
	reg.MustRegister(drift)
	keeper := idempotency.New(a.Store.Client, a.Keys)
	purgeKeys := func(ctx context.Context, now time.Time) error {
		if _, err := keeper.Purge(ctx, now); err != nil {
			return err
		}
		_, err := errands.PurgeConsentCodes(ctx, a.Store.Client, now)
		return err
	}
	jobList := append(append(append(timers.Jobs(), p.reports.Jobs(now)...), p.files.Jobs()...), p.boards.Job(now, func(n int) { drift.Add(float64(n)) }),
		events.NewPurgeJob(a.Store.Client, now, purgeKeys))
	sweep := a.opts.SweepSpec
	if sweep == "" {
		sweep = "@every 1m"
	}
	scheduler := events.NewScheduler(a.KV, queue, append([]events.Periodic{
		{Spec: sweep, Type: sla.SweepJob, Unique: 30 * time.Second},
		{Spec: "30 3 * * *", Type: events.PurgeJob, Unique: time.Hour},
		{Spec: "17 * * * *", Type: leaderboard.ReconcileJob, Unique: 30 * time.Minute},
	}, append(report.Periodic, attachments.Periodic...)...), a.log)
	if a.opts.LeaderTTL > 0 {
		scheduler.TTL = a.opts.LeaderTTL
	}
	relay := events.NewRelay(a.Store.Client, client, queue, handlers, a.log, reg)
	relay.FreshQueue = a.KV.Embedded
	p.background = &Background{
		handlers:    handlers,
		reports:     p.reports,
		relay:       relay,
		worker:      events.NewWorker(a.Store.Client, a.KV.Client, queue, handlers, jobList, a.log, reg),
		scheduler:   scheduler,
		timers:      timers,
		boards:      p.boards,
		files:       p.files,
		boardsReady: make(chan struct{}),
	}
	return p, nil
}

// Leader reports whether this process runs the periodic schedule.
func (j *Background) Leader() bool { return j.scheduler.Leader() }

// Timers are the SLA timers, for tests that sweep on demand.
func (j *Background) Timers() *sla.Timers { return j.timers }

// Reports are the workload queries, for tests that snapshot on demand.
func (j *Background) Reports() *report.Workloads { return j.reports }

// BoardsReady is closed once Serve's start-up build of the current
// periods' missing boards (warmBoards) has ended, built or failed; Work
// builds none and never closes it.
func (j *Background) BoardsReady() <-chan struct{} { return j.boardsReady }

// Relay is the outbox relay.
func (j *Background) Relay() *events.Relay { return j.relay }

// run starts the relay, the workers and the scheduler, and sweeps the SLA
// timers once; it returns when ctx is done and all have stopped.
func (j *Background) run(ctx context.Context, wg *sync.WaitGroup) {
	wg.Add(3)
	go func() { defer wg.Done(); j.relay.Run(ctx) }()
	go func() { defer wg.Done(); _ = j.worker.Run(ctx) }()
	go func() { defer wg.Done(); j.scheduler.Run(ctx) }()
	go func() {
		if err := j.timers.Sweep(ctx); err != nil && ctx.Err() == nil {
			j.relay.Log().WarnContext(ctx, "first SLA sweep failed", "error", err)
		}
	}()
}

// warmBoards builds the current periods' missing boards
// (leaderboard.Boards.Warm), so that the first reads after a start over an
// emptied Redis need not, then closes BoardsReady. Serve starts the
// workers after it: a build misses the events the leaderboard job applies
// while it runs (until the hourly reconciliation), and after a restart
// over an emptied Redis the relay's backlog would be just that.
func (j *Background) warmBoards(ctx context.Context, now time.Time) {
	defer close(j.boardsReady)
	start := time.Now()
	n, err := j.boards.Warm(ctx, now)
	switch {
	case err != nil && ctx.Err() == nil:
		j.relay.Log().WarnContext(ctx, "leaderboard: building the boards at start-up failed; their first reads build them", "error", err)
	case err == nil && n > 0:
		j.relay.Log().InfoContext(ctx, "leaderboard: boards built at start-up", "periods", n, "duration_ms", time.Since(start).Milliseconds())
	}
}
