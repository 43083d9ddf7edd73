package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/store"
)

// Worker runs the jobs of a queue: outbox events through their handlers,
// each once in effect, and timer and periodic jobs.
type Worker struct {
	db        *ent.Client
	rdb       redis.UniversalClient
	queue     string
	log       *slog.Logger
	mux       *asynq.ServeMux
	processed *prometheus.CounterVec
	failed    *prometheus.CounterVec
	// Concurrency is how many jobs run at once.
	Concurrency int
}

// NewWorker returns a worker for queue with the given handlers and jobs.
func NewWorker(db *ent.Client, rdb redis.UniversalClient, queue string, handlers []Handler, jobs []Job, log *slog.Logger, reg prometheus.Registerer) *Worker {
	w := &Worker{
		db: db, rdb: rdb, queue: queue, log: log, mux: asynq.NewServeMux(), Concurrency: 8,
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "redpoint_jobs_processed_total", Help: "Jobs run, by type and result."}, []string{"type", "result"}),
		failed:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "redpoint_jobs_failed_total", Help: "Jobs that used up their retries and were archived."}, []string{"type"}),
	}
	if reg != nil {
		reg.MustRegister(w.processed, w.failed)
		insp := asynq.NewInspectorFromRedisClient(rdb)
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "redpoint_jobs_archived", Help: "Failed jobs waiting in the archive (ListFailedJobs)."},
			func() float64 {
				info, err := insp.GetQueueInfo(queue)
				if err != nil {
					return 0
				}
				return float64(info.Archived)
			}))
	}
	for _, h := range handlers {
		w.mux.HandleFunc(eventTaskType(h.Name), w.event(h))
	}
	for _, j := range jobs {
		j := j
		w.mux.HandleFunc(j.Type, func(ctx context.Context, t *asynq.Task) error { return j.Handle(ctx, t.Payload()) })
	}
	w.mux.Use(w.count)
	return w
}

func (w *Worker) count(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		err := next.ProcessTask(ctx, t)
		result := "ok"
		if err != nil {
			result = "error"
		}
		w.processed.WithLabelValues(t.Type(), result).Inc()
		return err
	})
}

// event wraps a handler with the ledger: the processed marker and the
// handler's writes commit together, or not at all.
func (w *Worker) event(h Handler) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		var j job
		if err := json.Unmarshal(t.Payload(), &j); err != nil {
			return fmt.Errorf("%w: bad payload: %w", asynq.SkipRetry, err)
		}
		ev, err := j.event()
		if err != nil {
			// Neither a malformed payload nor one of a newer version reads
			// better on a retry: the job goes to the archive at once.
			var newer *outbox.UnknownVersionError
			if errors.As(err, &newer) {
				w.log.ErrorContext(ctx, "event written by a newer release: its job is archived; retry it (RetryFailedJob) once this replica is upgraded",
					"event", j.ID, "topic", j.Topic, "handler", h.Name, "version", newer.Version, "known_version", outbox.SchemaVersion)
			}
			return fmt.Errorf("%w: event %d: %w", asynq.SkipRetry, j.ID, err)
		}
		err = store.WithTx(ctx, w.db, func(tx *ent.Tx) error {
			if err := tx.ProcessedEvent.Create().SetEventID(ev.ID).SetHandler(h.Name).Exec(ctx); err != nil {
				if ent.IsConstraintError(err) {
					return errDuplicate
				}
				return err
			}
			return h.Handle(ctx, tx, ev)
		})
		if errors.Is(err, errDuplicate) {
			return nil
		}
		return err
	}
}

// Run processes jobs until ctx is done. Jobs still running at shutdown
// are given ShutdownTimeout, then returned to the queue.
func (w *Worker) Run(ctx context.Context) error {
	srv := asynq.NewServerFromRedisClient(w.rdb, asynq.Config{
		Concurrency:              w.Concurrency,
		Queues:                   map[string]int{w.queue: 1},
		TaskCheckInterval:        50 * time.Millisecond,
		DelayedTaskCheckInterval: time.Second,
		ShutdownTimeout:          8 * time.Second,
		RetryDelayFunc: func(n int, _ error, _ *asynq.Task) time.Duration {
			return min(time.Duration(1<<min(n, 10))*time.Second, 10*time.Minute)
		},
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			retried, _ := asynq.GetRetryCount(ctx)
			maxRetry, _ := asynq.GetMaxRetry(ctx)
			if retried >= maxRetry || errors.Is(err, asynq.SkipRetry) {
				w.failed.WithLabelValues(t.Type()).Inc()
				w.log.ErrorContext(ctx, "job failed for good", "type", t.Type(), "error", err)
			}
		}),
		Logger:   asynqLogger{w.log},
		LogLevel: asynq.WarnLevel,
	})
	if err := srv.Start(w.mux); err != nil {
		return fmt.Errorf("events.Worker: %w", err)
	}
	<-ctx.Done()
	srv.Shutdown()
	return nil
}

// asynqLogger sends asynq's own log lines to slog.
type asynqLogger struct{ log *slog.Logger }

func (l asynqLogger) Debug(args ...any) { l.log.Debug(fmt.Sprint(args...), "component", "asynq") }
func (l asynqLogger) Info(args ...any)  { l.log.Info(fmt.Sprint(args...), "component", "asynq") }
func (l asynqLogger) Warn(args ...any)  { l.log.Warn(fmt.Sprint(args...), "component", "asynq") }
func (l asynqLogger) Error(args ...any) { l.log.Error(fmt.Sprint(args...), "component", "asynq") }
func (l asynqLogger) Fatal(args ...any) {
	l.log.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}
