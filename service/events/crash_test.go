package events_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/processedevent"
	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/testutil"
)

// TestWorkerDiesMidJob: the first worker is stopped while a job runs; the
// job goes back to the queue, a second worker runs it, and its effect
// (the handler's writes, with the ledger entry) happens once.
func TestWorkerDiesMidJob(t *testing.T) {
	testutil.SkipIfShort(t, "a stopped worker holds its job for its 8 s shutdown timeout")
	var attempts, started atomic.Int32
	slow := events.Handler{Name: "slow", Topics: []string{outbox.TopicErrandCreated},
		Handle: func(ctx context.Context, tx *ent.Tx, ev events.Event) error {
			if attempts.Add(1) == 1 {
				started.Store(1)
				<-ctx.Done() // the worker dies while this job runs
				return ctx.Err()
			}
			return nil
		}}
	withSlow := func(a *app.Options) { a.ExtraHandlers = []events.Handler{slow} }
	first := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: seeded, Errands: 20}, Configure: withSlow})
	create(t, first, first.As(t, context.Background(), demo.GuhanAgentPhone), 1)
	testutil.Eventually(t, 10*time.Second, "the job started", func() bool { return started.Load() > 0 })
	first.Stop()
	if n := first.App.Store.Client.ProcessedEvent.Query().Where(processedevent.Handler("slow")).CountX(context.Background()); n != 0 {
		t.Fatalf("the interrupted job left %d ledger entries", n)
	}
	second := apptest.Join(t, first, withSlow)
	waitHandled(t, second.App.Store.Client, "slow", 30*time.Second)
	if n := attempts.Load(); n != 2 {
		t.Errorf("the job ran %d times, want 2 (interrupted, then redelivered)", n)
	}
	if n := second.App.Store.Client.ProcessedEvent.Query().Where(processedevent.Handler("slow")).CountX(context.Background()); n != 1 {
		t.Errorf("ledger has %d entries, want 1", n)
	}
}

// TestEmbeddedRestartRunsLostJobsAtOnce: in embedded mode the queue lives
// in the process's own Redis, so the jobs of the events a process had
// relayed die with it. The next process runs them as it starts, not a
// minute and more later when the periodic redrive would find them.
func TestEmbeddedRestartRunsLostJobsAtOnce(t *testing.T) {
	testutil.SkipIfShort(t, "a stopped worker holds its job for its 8 s shutdown timeout")
	ctx := context.Background()
	var attempts, started atomic.Int32
	slow := events.Handler{Name: "slow", Topics: []string{outbox.TopicErrandCreated},
		Handle: func(ctx context.Context, tx *ent.Tx, ev events.Event) error {
			if attempts.Add(1) == 1 {
				started.Store(1)
				<-ctx.Done() // the process dies while this job runs
				return ctx.Err()
			}
			return nil
		}}
	withSlow := func(a *app.Options) { a.ExtraHandlers = []events.Handler{slow} }
	embedded := func() *kv.KV {
		k, err := kv.Open(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { kvtest.Close(t, k) })
		return k
	}
	first := apptest.Start(t, apptest.Options{KV: embedded(), Demo: &demo.Options{Now: seeded, Errands: 20}, Configure: withSlow})
	create(t, first, first.As(t, ctx, demo.GuhanAgentPhone), 1)
	testutil.Eventually(t, 10*time.Second, "the job started", func() bool { return started.Load() > 0 })
	first.Stop()
	testutil.Close(t, first.App.KV) // its in-process Redis, and the job in it, are gone
	second := apptest.JoinKV(t, first, embedded(), withSlow)
	// Well inside the periodic redrive's 30 s + 1 min.
	waitHandled(t, second.App.Store.Client, "slow", 15*time.Second)
}
