package resident

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/store/storetest"
	"github.com/changzhi/redpoint/service/trackingcode"
)

// lookupFixture is a Lookup over an empty store whose reads of errands by
// tracking code are counted, and held while hold is set.
type lookupFixture struct {
	*Lookup
	kv      *kv.KV
	queries atomic.Int64
	hold    atomic.Pointer[chan struct{}]
	held    chan struct{} // a read is waiting on hold
}

func newLookupFixture(t *testing.T, limits LookupLimits) *lookupFixture {
	t.Helper()
	st := storetest.Open(t)
	f := &lookupFixture{kv: kvtest.Open(t), held: make(chan struct{}, 16)}
	counting := dialect.DebugWithContext(entsql.OpenDB(st.Dialect, st.DB), func(_ context.Context, v ...any) {
		if !strings.Contains(fmt.Sprint(v...), "tracking_code") {
			return
		}
		f.queries.Add(1)
		if h := f.hold.Load(); h != nil {
			f.held <- struct{}{}
			<-*h
		}
	})
	l, err := NewLookup(context.Background(), ent.NewClient(ent.Driver(counting)), f.kv, limits, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	f.Lookup = l
	return f
}

// holdReads makes the next reads wait until the returned func is called.
func (f *lookupFixture) holdReads() (release func()) {
	ch := make(chan struct{})
	f.hold.Store(&ch)
	return func() { f.hold.Store(nil); close(ch) }
}

func (f *lookupFixture) inMemory(code string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, ok := f.local[code]
	return ok
}

// A burst of lookups of a code no cache holds reaches the database once.
func TestLookupBurstQueriesOnce(t *testing.T) {
	f := newLookupFixture(t, LookupLimits{})
	ctx := context.Background()
	code, _ := trackingcode.New(nil)
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if m, err := f.load(ctx, code); err != nil || m.entry.Errand != nil {
				t.Errorf("unknown code: %v, %v", m.entry, err)
			}
		}()
	}
	wg.Wait()
	if n := f.queries.Load(); n != 1 {
		t.Errorf("64 concurrent lookups of one uncached code: %d queries, want 1", n)
	}
	// The memory and Redis answer after that; a change sends it back once.
	f.load(ctx, code)
	f.Invalidate(ctx, code)
	f.load(ctx, code)
	if n := f.queries.Load(); n != 2 {
		t.Errorf("after an invalidation: %d queries in all, want 2", n)
	}
}

// A read that began before a change is stale for everyone who shares it,
// even callers that joined it after the change, and in Redis too; and a
// caller that hangs up does not fail the others.
func TestLookupReadRacingAChange(t *testing.T) {
	f := newLookupFixture(t, LookupLimits{})
	code, _ := trackingcode.New(nil)
	release := f.holdReads()
	leaderCtx, hangUp := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() { _, err := f.load(leaderCtx, code); leader <- err }()
	<-f.held // the shared read is under way
	if err := f.Invalidate(context.Background(), code); err != nil {
		t.Fatal(err)
	}
	joiner := make(chan error, 1)
	go func() { _, err := f.load(context.Background(), code); joiner <- err }()
	time.Sleep(50 * time.Millisecond) // let the joiner join the read
	hangUp()
	release()
	<-leader
	if err := <-joiner; err != nil {
		t.Errorf("a caller sharing the read of one that hung up: %v", err)
	}
	if f.inMemory(code) {
		t.Error("a read that began before the change is kept in memory")
	}
	if entry, _ := f.fromRedis(context.Background(), code); entry != nil {
		t.Error("a read that began before the change is served from Redis")
	}
}

// The change is committed before Invalidate runs: a client that hung up
// must not leave the old answer cached.
func TestInvalidateOutlivesTheRequest(t *testing.T) {
	f := newLookupFixture(t, LookupLimits{})
	code, _ := trackingcode.New(nil)
	if _, err := f.load(context.Background(), code); err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Invalidate(gone, code); err != nil {
		t.Fatal(err)
	}
	if entry, _ := f.fromRedis(context.Background(), code); entry != nil || f.inMemory(code) {
		t.Error("still cached after an invalidation by a request that hung up")
	}
}

// With Redis away, lookups are refused as unavailable — not let through
// uncounted, not answered as internal errors.
func TestLookupWithoutRedis(t *testing.T) {
	f := newLookupFixture(t, LookupLimits{PerIP: 4, PerCode: 4, Window: time.Minute})
	f.kv.Client.Close()
	var err error
	for i := 0; i < 4 && err == nil; i++ {
		err = f.allow(context.Background(), "192.0.2.1", "")
	}
	if !errors.Is(err, ErrLookupUnavailable) {
		t.Errorf("lookups with Redis away: %v, want %v", err, ErrLookupUnavailable)
	}
}
