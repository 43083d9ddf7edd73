package app

import (
	"context"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/idempotency"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/report"
	"github.com/changzhi/redpoint/service/resident"
	"github.com/changzhi/redpoint/service/sla"
)

// jobs is the background half of the process: relay, workers, scheduler.
type jobs struct {
	handlers  []events.Handler
	reports   *report.Workloads
	relay     *events.Relay
	worker    *events.Worker
	scheduler *events.Scheduler
	timers    *sla.Timers
}

// jobs wires the background half; invalidators are the caches' outbox
// handlers.
func (a *App) jobs(cal *calendar.Cache, boards *leaderboard.Boards, reports *report.Workloads, reg prometheus.Registerer, invalidators ...events.Handler) *jobs {
	queue := events.Queue(a.KV)
	client := asynq.NewClientFromRedisClient(a.KV.Client)
	timers := sla.New(a.Store.Client, cal, client, queue, a.log)
	if a.Clock != nil {
		timers.SetClock(a.Clock)
	}
	var sender resident.Sender
	if c := a.weChat(); c != nil {
		sender = c
	}
	handlers := append(append([]events.Handler{timers.Handler(), boards.Handler(), resident.Notifier(sender, a.Templates, a.log)}, invalidators...), a.ExtraHandlers...)
	drift := prometheus.NewCounter(prometheus.CounterOpts{Name: "redpoint_leaderboard_drift_total",
		Help: "Board members the reconciliation found off and repaired."})
	reg.MustRegister(drift)
	now := time.Now
	if a.Clock != nil {
		now = a.Clock
	}
	keeper := idempotency.New(a.Store.Client, a.Keys)
	purgeKeys := func(ctx context.Context, now time.Time) error {
		_, err := keeper.Purge(ctx, now)
		return err
	}
	jobList := append(append(timers.Jobs(), reports.Jobs(now)...), boards.Job(now, func(n int) { drift.Add(float64(n)) }),
		events.NewPurgeJob(a.Store.Client, now, purgeKeys))
	sweep := a.SweepSpec
	if sweep == "" {
		sweep = "@every 1m"
	}
	scheduler := events.NewScheduler(a.KV, queue, append([]events.Periodic{
		{Spec: sweep, Type: sla.SweepJob, Unique: 30 * time.Second},
		{Spec: "30 3 * * *", Type: events.PurgeJob, Unique: time.Hour},
		{Spec: "17 * * * *", Type: leaderboard.ReconcileJob, Unique: 30 * time.Minute},
	}, report.Periodic...), a.log)
	if a.LeaderTTL > 0 {
		scheduler.TTL = a.LeaderTTL
	}
	relay := events.NewRelay(a.Store.Client, client, queue, handlers, a.log, reg)
	relay.FreshQueue = a.KV.Embedded
	return &jobs{
		handlers:  handlers,
		reports:   reports,
		relay:     relay,
		worker:    events.NewWorker(a.Store.Client, a.KV.Client, queue, handlers, jobList, a.log, reg),
		scheduler: scheduler,
		timers:    timers,
	}
}

// Leader reports whether this process runs the periodic schedule.
func (j *jobs) Leader() bool { return j.scheduler.Leader() }

// Timers are the SLA timers, for tests that sweep on demand.
func (j *jobs) Timers() *sla.Timers { return j.timers }

// Reports are the workload queries, for tests that snapshot on demand.
func (j *jobs) Reports() *report.Workloads { return j.reports }

// Relay is the outbox relay.
func (j *jobs) Relay() *events.Relay { return j.relay }

// run starts the relay, the workers and the scheduler, and sweeps the SLA
// timers once; it returns when ctx is done and all have stopped.
func (j *jobs) run(ctx context.Context, wg *sync.WaitGroup) {
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
