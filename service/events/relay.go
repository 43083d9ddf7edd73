package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/outboxevent"
	"github.com/changzhi/redpoint/ent/predicate"
	"github.com/changzhi/redpoint/ent/processedevent"
)

// Relay moves unsent outbox rows into jobs, one per interested handler,
// and marks them sent. Several replicas may run it at once: a job id is
// derived from the row, so a second enqueue is a no-op. When Redis is
// down the rows stay unsent and the relay retries with backoff.
type Relay struct {
	db       *ent.Client
	client   *asynq.Client
	queue    string
	handlers []Handler
	log      *slog.Logger
	// Interval is how often it polls when idle.
	Interval time.Duration
	// Batch is how many rows one pass takes.
	Batch int
	// RedriveEvery is how often relayed events that no handler has
	// processed yet are enqueued again, in case Redis lost their jobs.
	RedriveEvery time.Duration
	// RedriveAfter is how long a relayed event may wait for its handlers
	// before it counts as lost.
	RedriveAfter time.Duration
	// FreshQueue says the queue started empty with this process (the
	// embedded Redis lives and dies with it): the jobs of every relayed
	// event a handler has not processed died with the previous process,
	// so Run enqueues them again at once rather than RedriveAfter later,
	// as it does when it resumes after Redis was away.
	FreshQueue bool

	relayed  prometheus.Counter
	failures prometheus.Counter
}

// NewRelay returns a relay that enqueues into queue.
func NewRelay(db *ent.Client, client *asynq.Client, queue string, handlers []Handler, log *slog.Logger, reg prometheus.Registerer) *Relay {
	r := &Relay{
		db: db, client: client, queue: queue, handlers: handlers, log: log,
		Interval: 100 * time.Millisecond, Batch: 200, RedriveEvery: 30 * time.Second, RedriveAfter: time.Minute,
		relayed:  prometheus.NewCounter(prometheus.CounterOpts{Name: "redpoint_outbox_relayed_total", Help: "Outbox events moved into jobs."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "redpoint_outbox_relay_failures_total", Help: "Relay passes that could not reach Redis or the database."}),
	}
	if reg != nil {
		reg.MustRegister(r.relayed, r.failures)
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "redpoint_outbox_unsent", Help: "Outbox events not yet relayed."},
			func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				n, err := db.OutboxEvent.Query().Where(outboxevent.SentTimeIsNil()).Count(ctx)
				if err != nil {
					// Unknown, not zero: a database outage must not read as "all relayed".
					log.WarnContext(ctx, "outbox backlog not counted", "error", err)
					return math.NaN()
				}
				return float64(n)
			}))
	}
	return r
}

// Run relays until ctx is done.
func (r *Relay) Run(ctx context.Context) {
	backoff := r.Interval
	lastRedrive := time.Now()
	after := r.RedriveAfter
	if r.FreshQueue {
		lastRedrive, after = time.Time{}, 0
	}
	for {
		if time.Since(lastRedrive) >= r.RedriveEvery {
			n, err := r.Redrive(ctx, after)
			switch {
			case err != nil:
				r.log.WarnContext(ctx, "outbox redrive failed", "error", err)
			case n > 0:
				r.log.WarnContext(ctx, "outbox events re-enqueued after their jobs were lost", "count", n)
				fallthrough
			default:
				after = r.RedriveAfter
			}
			lastRedrive = time.Now()
		}
		n, err := r.Pass(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			r.failures.Inc()
			if backoff == r.Interval {
				r.log.WarnContext(ctx, "outbox relay paused", "error", err)
			}
			backoff = min(backoff*2, 5*time.Second)
		default:
			if backoff != r.Interval {
				r.log.InfoContext(ctx, "outbox relay resumed")
				// Redis may be back empty, without the jobs of what was
				// relayed before: enqueue those again now, not minutes on.
				lastRedrive, after = time.Time{}, 0
			}
			backoff = r.Interval
		}
		if n == r.Batch && err == nil {
			continue // more waiting: no sleep
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

// Pass relays one batch and returns how many rows it moved.
func (r *Relay) Pass(ctx context.Context) (int, error) {
	rows, err := r.db.OutboxEvent.Query().Where(outboxevent.SentTimeIsNil()).
		Order(ent.Asc(outboxevent.FieldID)).Limit(r.Batch).All(ctx)
	if err != nil {
		return 0, fmt.Errorf("events.Relay: %w", err)
	}
	var sent []int
	var firstErr error
	for _, row := range rows {
		if err := r.enqueue(ctx, row); err != nil {
			firstErr = err
			break // keep order: later rows wait for this one
		}
		sent = append(sent, row.ID)
	}
	if len(sent) > 0 {
		if err := r.db.OutboxEvent.Update().Where(outboxevent.IDIn(sent...)).
			SetSentTime(time.Now().UTC()).AddAttempts(1).Exec(ctx); err != nil {
			return 0, fmt.Errorf("events.Relay: mark sent: %w", err)
		}
		r.relayed.Add(float64(len(sent)))
	}
	return len(sent), firstErr
}

func (r *Relay) enqueue(ctx context.Context, row *ent.OutboxEvent) error {
	payload, err := jobOf(row)
	if err != nil {
		return err
	}
	for _, h := range r.handlers {
		if h.wants(row.Topic) {
			if err := r.enqueueTask(ctx, row.ID, h, payload); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Relay) enqueueFor(ctx context.Context, row *ent.OutboxEvent, h Handler) error {
	payload, err := jobOf(row)
	if err != nil {
		return err
	}
	return r.enqueueTask(ctx, row.ID, h, payload)
}

func (r *Relay) enqueueTask(ctx context.Context, id int, h Handler, payload []byte) error {
	_, err := r.client.EnqueueContext(ctx, asynq.NewTask(eventTaskType(h.Name), payload),
		asynq.Queue(r.queue), asynq.TaskID(eventTaskID(id, h.Name)),
		asynq.MaxRetry(12), asynq.Retention(24*time.Hour))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("events.Relay: enqueue %d for %s: %w", id, h.Name, err)
	}
	return nil
}

// Log is the relay's logger.
func (r *Relay) Log() *slog.Logger { return r.log }

// Redrive enqueues again every event relayed more than after ago (and
// within the last day) that a handler has not processed: the jobs Redis
// lost when it restarted empty. A job that still exists is not duplicated
// (same job id), and a handler that already ran finds its ledger entry.
func (r *Relay) Redrive(ctx context.Context, after time.Duration) (int, error) {
	now := time.Now().UTC()
	n := 0
	for _, h := range r.handlers {
		rows, err := r.db.OutboxEvent.Query().Where(
			outboxevent.SentTimeNotNil(),
			outboxevent.SentTimeLTE(now.Add(-after)),
			outboxevent.SentTimeGT(now.Add(-24*time.Hour)),
			outboxevent.TopicIn(h.Topics...),
			NotProcessedBy(h.Name),
		).Order(ent.Asc(outboxevent.FieldID)).Limit(5000).All(ctx)
		if err != nil {
			return n, fmt.Errorf("events.Redrive: %w", err)
		}
		for _, row := range rows {
			if err := r.enqueueFor(ctx, row, h); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// NotProcessedBy selects the outbox events handler has no ledger entry for:
// those whose effect it has yet to make.
func NotProcessedBy(handler string) predicate.OutboxEvent {
	return func(s *sql.Selector) {
		t := sql.Table(processedevent.Table)
		s.Where(sql.NotExists(sql.Select(t.C(processedevent.FieldID)).From(t).Where(sql.And(
			sql.ColumnsEQ(t.C(processedevent.FieldEventID), s.C(outboxevent.FieldID)),
			sql.EQ(t.C(processedevent.FieldHandler), handler),
		))))
	}
}
