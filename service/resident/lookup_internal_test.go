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
	"github.com/changzhi/redpoint/ent/errand"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/store/storetest"
	"github.com/changzhi/redpoint/service/trackingcode"
)

// lookupFixture is a Lookup over a store whose reads of errands by
// tracking code are counted, and held while hold is set.
type lookupFixture struct {
	*Lookup
	kv      *kv.KV
	store   *ent.Client // uncounted
	queries atomic.Int64
	hold    atomic.Pointer[chan struct{}]
	held    chan struct{} // a read is waiting on hold
}

func newLookupFixture(t *testing.T, limits LookupLimits) *lookupFixture {
	t.Helper()
	st := storetest.Open(t)
	f := &lookupFixture{kv: kvtest.Open(t), store: st.Client, held: make(chan struct{}, 16)}
	counting := dialect.DebugWithContext(entsql.OpenDB(st.Dialect, st.DB), func(_ context.Context, v ...any) {
		q := fmt.Sprint(v...)
		if strings.Contains(q, "tracking_code") {
			f.queries.Add(1)
		}
		// Held between reading the errand and reading its type: what the
		// read holds by then is the errand as it was.
		if h := f.hold.Load(); h != nil && strings.Contains(q, "errand_types") {
			f.held <- struct{}{}
			<-*h
		}
	})
	l, err := NewLookup(context.Background(), ent.NewClient(ent.Driver(counting)), f.kv, limits, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	f.Lookup = l
	return f
}

// openErrand seeds a little demo data and returns an errand still open.
func (f *lookupFixture) openErrand(t *testing.T) *ent.Errand {
	t.Helper()
	keys, err := pii.ParseKeyring(pii.NewKeyringString())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := demo.Seed(ctx, f.store, keys, demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 5}); err != nil {
		t.Fatal(err)
	}
	return f.store.Errand.Query().Where(errand.StateNEQ(errand.StateCANCELLED)).FirstX(ctx)
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

// A read that began before a change may answer the callers that came
// before it, but no caller after the change, and it is kept neither in
// memory nor in Redis; a caller that hangs up does not fail the others.
func TestLookupReadRacingAChange(t *testing.T) {
	f := newLookupFixture(t, LookupLimits{})
	ctx := context.Background()
	e := f.openErrand(t)
	code := e.TrackingCode
	release := f.holdReads()
	leaderCtx, hangUp := context.WithCancel(ctx)
	leader := make(chan error, 1)
	go func() { _, err := f.load(leaderCtx, code); leader <- err }()
	<-f.held // the first read is under way
	f.store.Errand.UpdateOneID(e.ID).SetState(errand.StateCANCELLED).ExecX(ctx)
	if err := f.Invalidate(ctx, code); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		m   localEntry
		err error
	}
	after := make(chan answer, 1)
	go func() { m, err := f.load(ctx, code); after <- answer{m, err} }()
	time.Sleep(50 * time.Millisecond) // let it find the first read under way
	hangUp()
	release()
	<-leader
	a := <-after
	if a.err != nil {
		t.Fatalf("a caller after the change, while one who hung up was reading: %v", a.err)
	}
	if got := a.m.entry.GetErrand().GetState(); got != redpointv1.ErrandState_ERRAND_STATE_CANCELLED {
		t.Errorf("a caller after the change got %v", got)
	}
	f.mu.RLock()
	m, inMemory := f.local[code]
	f.mu.RUnlock()
	if inMemory && m.entry.GetErrand().GetState() != redpointv1.ErrandState_ERRAND_STATE_CANCELLED {
		t.Error("the read from before the change is kept in memory")
	}
	if cached, _ := f.fromRedis(ctx, code); cached != nil && cached.GetErrand().GetState() != redpointv1.ErrandState_ERRAND_STATE_CANCELLED {
		t.Error("the read from before the change is served from Redis")
	}
}

// What a read from before a change writes to Redis after it is ignored
// by every replica: its version is no longer the code's.
func TestLookupEntryFromBeforeAChangeIsIgnored(t *testing.T) {
	f := newLookupFixture(t, LookupLimits{})
	ctx := context.Background()
	e := f.openErrand(t)
	release := f.holdReads()
	done := make(chan error, 1)
	go func() { _, err := f.load(ctx, e.TrackingCode); done <- err }()
	<-f.held
	f.store.Errand.UpdateOneID(e.ID).SetState(errand.StateCANCELLED).ExecX(ctx)
	if err := f.Invalidate(ctx, e.TrackingCode); err != nil {
		t.Fatal(err)
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, _ := f.kv.Client.Exists(ctx, f.cacheKey(e.TrackingCode)).Result(); n != 1 {
		t.Fatal("the read from before the change wrote nothing to Redis; the test proves nothing")
	}
	if cached, _ := f.fromRedis(ctx, e.TrackingCode); cached != nil {
		t.Errorf("the entry from before the change is served: %v", cached.GetErrand().GetState())
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
