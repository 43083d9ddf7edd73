package events_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/outboxevent"
	"github.com/changzhi/redpoint/ent/processedevent"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/store/storetest"
	"github.com/changzhi/redpoint/service/testutil"
)

// publish writes p as its producer does, in a transaction of its own, and
// returns the row's id.
func publish(t *testing.T, db *ent.Client, at time.Time, p outbox.Payload) int {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := outbox.Publish(ctx, tx, at, p); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	id, err := db.OutboxEvent.Query().Aggregate(ent.Max(outboxevent.FieldID)).Int(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestEventOfANewerReleaseIsArchivedAtOnce: an event whose payload a
// newer release wrote (a schema version this one does not know) is not
// guessed at and not retried: its job goes straight to the failed-jobs
// archive, where an operator reruns it after upgrading, and the worker
// says why in the log. The events this release can read go on.
func TestEventOfANewerReleaseIsArchivedAtOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	k := kvtest.Open(t)
	db := storetest.Open(t).Client
	var logs apptest.LogBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	rec := newRecorder()
	handlers := []events.Handler{rec.handler()}
	queue := events.Queue(k)

	p := outbox.NewErrandChange(outbox.ErrandCreated, &ent.Errand{ID: 1, RegionID: "140423100201"}, 0, "", "", "")
	current := publish(t, db, time.Now(), p)
	payload, err := outbox.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	next := outbox.SchemaVersion + 1
	payload = bytes.Replace(payload, fmt.Appendf(nil, `"v":%d`, outbox.SchemaVersion), fmt.Appendf(nil, `"v":%d`, next), 1)
	row, err := db.OutboxEvent.Create().SetTopic(p.Topic()).SetAggregate(p.Aggregate()).SetPayload(payload).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newer := row.ID
	after := publish(t, db, time.Now(), p)

	relay := events.NewRelay(db, asynq.NewClientFromRedisClient(k.Client), queue, handlers, log, nil)
	worker := events.NewWorker(db, k.Client, queue, handlers, nil, log, nil)
	wg.Add(2)
	go func() { defer wg.Done(); relay.Run(ctx) }()
	go func() { defer wg.Done(); _ = worker.Run(ctx) }()

	pages, err := pagetoken.NewSigner(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	admin := events.NewAdmin(asynq.NewInspectorFromRedisClient(k.Client), queue, pages)
	listCtx := pagetoken.WithSize(ctx, pagetoken.DefaultSize) // as the server's validation step passes it
	var failed []*redpointv1.FailedJob
	testutil.Eventually(t, 15*time.Second, "the newer event's job archived", func() bool {
		list, err := admin.ListFailedJobs(listCtx, &redpointv1.ListFailedJobsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		failed = list.FailedJobs
		return len(failed) > 0
	})
	handled := func(id int) bool {
		n, err := db.ProcessedEvent.Query().Where(processedevent.EventID(id), processedevent.Handler("test")).Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	testutil.Eventually(t, 15*time.Second, "the readable events handled", func() bool { return handled(current) && handled(after) })

	if len(failed) != 1 || failed[0].Name != fmt.Sprintf("failedJobs/ev-%d-test", newer) || failed[0].Type != "event:test" {
		t.Fatalf("failed jobs = %v, want the newer event's", failed)
	}
	if failed[0].Retried != 0 || !strings.Contains(failed[0].LastError, fmt.Sprintf("version %d", next)) {
		t.Errorf("failed job retried %d times, last error %q: want none, naming version %d", failed[0].Retried, failed[0].LastError, next)
	}
	if handled(newer) {
		t.Error("the newer event has a ledger entry")
	}
	rec.mu.Lock()
	seen := rec.seen[newer]
	rec.mu.Unlock()
	if seen != 0 {
		t.Errorf("the handler was given the newer event %d times", seen)
	}
	if out := logs.String(); !strings.Contains(out, "newer release") || !strings.Contains(out, fmt.Sprintf("version=%d", next)) {
		t.Errorf("log does not say why the job was archived:\n%s", out)
	}
}

// TestTypedHandlerTakesOnlyItsPayload: a handler built with Typed gets
// its payload type; given another, the job fails for good without it.
func TestTypedHandlerTakesOnlyItsPayload(t *testing.T) {
	var got []outbox.RatingCreated
	handle := events.Typed(func(_ context.Context, _ *ent.Tx, p outbox.RatingCreated) error {
		got = append(got, p)
		return nil
	})
	rated := outbox.NewRatingCreated(&ent.Rating{ErrandID: 42, Level: "DISSATISFIED", RegionID: "140423100201"})
	if err := handle(context.Background(), nil, events.Event{ID: 1, Topic: rated.Topic(), Payload: rated}); err != nil {
		t.Fatal(err)
	}
	created := outbox.NewErrandChange(outbox.ErrandCreated, &ent.Errand{ID: 42}, 0, "", "", "")
	err := handle(context.Background(), nil, events.Event{ID: 2, Topic: created.Topic(), Payload: created})
	if !errors.Is(err, asynq.SkipRetry) {
		t.Errorf("given an errand change: %v, want SkipRetry", err)
	}
	if len(got) != 1 || got[0] != rated {
		t.Errorf("handled %v, want only %v", got, rated)
	}
}
