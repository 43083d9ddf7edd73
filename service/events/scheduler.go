package events

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/kv"
)

// Periodic is a job the scheduler enqueues on a cron spec (Asia/Shanghai),
// e.g. "@every 1m" or "0 8 * * 1".
type Periodic struct {
	Spec string
	Type string
	// Unique keeps a second enqueue of the same slot out for this long.
	Unique time.Duration
}

// Scheduler enqueues periodic jobs from one replica at a time: the holder
// of a Redis lock, renewed while it lives and taken over when it dies.
type Scheduler struct {
	kv      *kv.KV
	rdb     redis.UniversalClient
	key     string
	token   string
	queue   string
	entries []Periodic
	log     *slog.Logger
	leader  atomic.Bool
	// TTL is how long the lock outlives a replica that stopped renewing it.
	TTL time.Duration
}

// NewScheduler returns a scheduler for queue.
func NewScheduler(k *kv.KV, queue string, entries []Periodic, log *slog.Logger) *Scheduler {
	return &Scheduler{kv: k, rdb: k.Client, key: k.Key("scheduler", "leader"), token: kv.Token(),
		queue: queue, entries: entries, log: log, TTL: 15 * time.Second}
}

// Leader reports whether this replica runs the schedule now.
func (s *Scheduler) Leader() bool { return s.leader.Load() }

// Run campaigns for the lock and runs the schedule while holding it.
func (s *Scheduler) Run(ctx context.Context) {
	var sched *asynq.Scheduler
	stop := func() {
		if sched != nil {
			sched.Shutdown()
			sched = nil
		}
		if s.leader.Swap(false) {
			s.log.Info("scheduler stepped down")
		}
	}
	tick := time.NewTicker(s.TTL / 3)
	defer tick.Stop()
	for {
		held := s.hold(ctx)
		switch {
		case held && sched == nil:
			sched = asynq.NewScheduler(lentRedis{s.rdb}, &asynq.SchedulerOpts{Location: calendar.Location, LogLevel: asynq.WarnLevel, Logger: asynqLogger{s.log}})
			for _, e := range s.entries {
				opts := []asynq.Option{asynq.Queue(s.queue), asynq.MaxRetry(3)}
				if e.Unique > 0 {
					opts = append(opts, asynq.Unique(e.Unique))
				}
				if _, err := sched.Register(e.Spec, asynq.NewTask(e.Type, nil), opts...); err != nil {
					s.log.Error("periodic job not registered", "type", e.Type, "error", err)
				}
			}
			if err := sched.Start(); err != nil {
				s.log.Error("scheduler did not start", "error", err)
				sched = nil
				break
			}
			s.leader.Store(true)
			s.log.Info("scheduler leading")
		case !held:
			stop()
		}
		select {
		case <-ctx.Done():
			stop()
			rctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = s.kv.Unlock(rctx, s.key, s.token)
			cancel()
			return
		case <-tick.C:
		}
	}
}

// hold takes the lock, or renews it if this replica has it.
func (s *Scheduler) hold(ctx context.Context) bool {
	if ok, err := s.kv.Lock(ctx, s.key, s.token, s.TTL); err == nil && ok {
		return true
	}
	ok, err := s.kv.Renew(ctx, s.key, s.token, s.TTL)
	return err == nil && ok
}

// lentRedis lends the shared client to an asynq.Scheduler as a connection
// of its own whose Close leaves the client open for the KV that owns it.
// Built on the shared client itself (NewSchedulerFromRedisClient), asynq
// v0.26's Scheduler.Shutdown still tries to close it and logs the refusal
// at ERROR on every clean stop (hibiken/asynq#1068).
type lentRedis struct{ redis.UniversalClient }

func (l lentRedis) MakeRedisClient() any { return l }

func (lentRedis) Close() error { return nil }
