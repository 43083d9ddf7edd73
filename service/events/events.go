// Package events moves outbox rows into Redis jobs (asynq) and runs them:
// the relay, the workers with their exactly-once ledger, and the
// single-leader scheduler of periodic jobs. The database is the source of
// truth: Redis may lose everything and nothing is lost.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/outbox"
)

// Event is an outbox row as a handler sees it, its payload decoded to
// the type its topic carries (service/outbox).
type Event struct {
	ID        int
	Topic     string
	Aggregate string
	Payload   outbox.Payload
	Time      time.Time
}

// Unexpected is the error of a handler given a payload of a type it does
// not handle: a handler subscribed to a topic it can't read, a wiring
// mistake that no retry mends.
func (ev Event) Unexpected() error {
	return fmt.Errorf("%w: event %d: %s carries %T, which this handler does not handle", asynq.SkipRetry, ev.ID, ev.Topic, ev.Payload)
}

// Typed is the Handle of a handler whose topics all carry payloads of
// type P: handle gets the payload as a P.
func Typed[P outbox.Payload](handle func(ctx context.Context, tx *ent.Tx, p P) error) func(context.Context, *ent.Tx, Event) error {
	return func(ctx context.Context, tx *ent.Tx, ev Event) error {
		p, ok := ev.Payload.(P)
		if !ok {
			return ev.Unexpected()
		}
		return handle(ctx, tx, p)
	}
}

// job is an event job's payload in Redis: the outbox row as relayed, its
// payload as written. Jobs already queued and archived have this shape.
type job struct {
	ID        int             `json:"id"`
	Topic     string          `json:"topic"`
	Aggregate string          `json:"aggregate"`
	Payload   json.RawMessage `json:"payload"`
	Time      time.Time       `json:"time"`
}

// jobOf is the job of an outbox row.
func jobOf(row *ent.OutboxEvent) ([]byte, error) {
	return json.Marshal(job{ID: row.ID, Topic: row.Topic, Aggregate: row.Aggregate, Payload: row.Payload, Time: row.CreateTime})
}

// event decodes the job's payload (outbox.Decode).
func (j job) event() (Event, error) {
	p, err := outbox.Decode(j.Topic, j.Payload)
	if err != nil {
		return Event{}, err
	}
	return Event{ID: j.ID, Topic: j.Topic, Aggregate: j.Aggregate, Payload: p, Time: j.Time}, nil
}

// Handler reacts to outbox events of some topics. Handle runs inside a
// transaction that also records the event as processed by this handler,
// so a redelivered job changes nothing: the effect happens once. Build
// Handle with Typed when every topic carries one payload type; otherwise
// switch on ev.Payload's type, with ev.Unexpected() for the rest.
type Handler struct {
	Name   string // short, stable: part of job ids and the ledger
	Topics []string
	Handle func(ctx context.Context, tx *ent.Tx, ev Event) error
}

func (h Handler) wants(topic string) bool {
	for _, t := range h.Topics {
		if t == topic {
			return true
		}
	}
	return false
}

// Job is a task that is not an outbox event: a timer or a periodic job.
// Its handler must be idempotent by itself.
type Job struct {
	Type   string
	Handle func(ctx context.Context, payload []byte) error
}

// Queue is the asynq queue of a deployment: its Redis key prefix without
// the colon, so tests that share a Redis don't share queues.
func Queue(k *kv.KV) string {
	q := strings.TrimSuffix(k.Prefix, ":")
	if q == "" {
		return "rp"
	}
	return q
}

// eventTaskType is the asynq task type of handler h's event jobs.
func eventTaskType(h string) string { return "event:" + h }

// eventTaskID makes a re-enqueue of the same event for the same handler a
// no-op while asynq still remembers the task (Retention).
func eventTaskID(eventID int, h string) string { return fmt.Sprintf("ev-%d-%s", eventID, h) }

// errDuplicate reports that the ledger already has this event for the handler.
var errDuplicate = errors.New("events: already processed")
