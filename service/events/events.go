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
)

// Event is an outbox row as a handler sees it.
type Event struct {
	ID        int             `json:"id"`
	Topic     string          `json:"topic"`
	Aggregate string          `json:"aggregate"`
	Payload   json.RawMessage `json:"payload"`
	Time      time.Time       `json:"time"`
}

// Decode reads the event's payload into v. A payload that can't be read
// never will be: the job is not retried.
func (ev Event) Decode(v any) error {
	if err := json.Unmarshal(ev.Payload, v); err != nil {
		return fmt.Errorf("%w: %s payload: %v", asynq.SkipRetry, ev.Topic, err)
	}
	return nil
}

// Handler reacts to outbox events of some topics. Handle runs inside a
// transaction that also records the event as processed by this handler,
// so a redelivered job changes nothing: the effect happens once.
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
