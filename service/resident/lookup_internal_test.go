package resident

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/store/storetest"
	"github.com/changzhi/redpoint/service/testutil"
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

	stmtsMu sync.Mutex
	stmts   []string // every statement's text, arguments left out
}

func newLookupFixture(t testing.TB, limits LookupLimits) *lookupFixture {
	t.Helper()
	return newLookupFixtureOn(t, kvtest.Open(t), limits)
}

// newLookupFixtureOn is newLookupFixture on k's Redis.
func newLookupFixtureOn(t testing.TB, k *kv.KV, limits LookupLimits) *lookupFixture {
	t.Helper()
	st := storetest.Open(t)
	f := &lookupFixture{kv: k, store: st.Client, held: make(chan struct{}, 16)}
	counting := dialect.DebugWithContext(entsql.OpenDB(st.Dialect, st.DB), func(_ context.Context, v ...any) {
		q := fmt.Sprint(v...)
		f.stmtsMu.Lock()
		f.stmts = append(f.stmts, strings.SplitN(q, " args=", 2)[0])
		f.stmtsMu.Unlock()
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
func (f *lookupFixture) openErrand(t testing.TB) *ent.Errand {
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
	code, err := trackingcode.New(nil)
	if err != nil {
		t.Fatal(err)
	}
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
	for _, step := range []func() error{
		func() error { _, err := f.load(ctx, code); return err },
		func() error { return f.Invalidate(ctx, code) },
		func() error { _, err := f.load(ctx, code); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
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
	// It does not join the read from before the change: it starts its own,
	// which reaches the hold too.
	testutil.Eventually(t, 10*time.Second, "the read after the change under way", func() bool {
		select {
		case <-f.held:
			return true
		default:
			return false
		}
	})
	hangUp()
	release()
	if err := <-leader; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("the caller who hung up: %v, want its answer or its hang-up", err)
	}
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
	if n, err := f.kv.Client.Exists(ctx, f.cacheKey(e.TrackingCode)).Result(); err != nil || n != 1 {
		t.Fatalf("the read from before the change wrote nothing to Redis (%v); the test proves nothing", err)
	}
	if cached, _ := f.fromRedis(ctx, e.TrackingCode); cached != nil {
		t.Errorf("the entry from before the change is served: %v", cached.GetErrand().GetState())
	}
}

// TestLookupCacheOnARedisCluster: on a Redis Cluster, which refuses an
// MGET over keys of two slots (CROSSSLOT), a code's entry and its version
// are read together, so a lookup is answered from Redis, and goes stale
// on a change, as on one server.
func TestLookupCacheOnARedisCluster(t *testing.T) {
	ctx := context.Background()
	node := kvtest.StartClusterNode(t)
	k, err := kv.Open(ctx, node.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kvtest.Close(t, k) })
	f := newLookupFixtureOn(t, k, LookupLimits{})
	e := f.openErrand(t)
	if err := f.allow(ctx, "192.0.2.1", e.TrackingCode); err != nil { // the limiter's script, over two keys
		t.Fatalf("a lookup's rate limit on the cluster: %v", err)
	}
	if _, err := f.load(ctx, e.TrackingCode); err != nil {
		t.Fatal(err)
	}
	cached, version := f.fromRedis(ctx, e.TrackingCode)
	if cached == nil || cached.GetErrand() == nil {
		t.Fatalf("no current entry read from the cluster (version %q)", version)
	}
	if err := f.Invalidate(ctx, e.TrackingCode); err != nil {
		t.Fatal(err)
	}
	if cached, version := f.fromRedis(ctx, e.TrackingCode); cached != nil || version == "" {
		t.Errorf("after a change: entry %v, version %q; want none, and the new version", cached, version)
	}
}

// The change is committed before Invalidate runs: a client that hung up
// must not leave the old answer cached.
func TestInvalidateOutlivesTheRequest(t *testing.T) {
	f := newLookupFixture(t, LookupLimits{})
	code, err := trackingcode.New(nil)
	if err != nil {
		t.Fatal(err)
	}
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
	testutil.Close(t, f.kv.Client) // kvtest's cleanup takes a closed client
	var err error
	for i := 0; i < 4 && err == nil; i++ {
		err = f.allow(context.Background(), "192.0.2.1", "")
	}
	if !errors.Is(err, ErrLookupUnavailable) {
		t.Errorf("lookups with Redis away: %v, want %v", err, ErrLookupUnavailable)
	}
}

// statements returns what fn sent to the database, arguments left out.
func (f *lookupFixture) statements(fn func()) []string {
	f.stmtsMu.Lock()
	f.stmts = nil
	f.stmtsMu.Unlock()
	fn()
	f.stmtsMu.Lock()
	defer f.stmtsMu.Unlock()
	return f.stmts
}

// A cold lookup of an unknown code does the database work of a cold
// lookup of a known code with wrong digits — the same statements, in the
// same order — so its time does not tell a stranger that the code exists.
// (BenchmarkColdLookupMiss times the two.)
func TestLookupMissesReadAlike(t *testing.T) {
	f := newLookupFixture(t, LookupLimits{})
	ctx := context.Background()
	e := f.openErrand(t)
	unknown, err := trackingcode.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	miss := func(code string) func() {
		return func() {
			if m, err := f.load(ctx, code); err != nil {
				t.Fatal(err)
			} else if code == unknown && m.entry.Errand != nil {
				t.Fatalf("an unknown code found %v", m.entry.Errand)
			}
		}
	}
	known := f.statements(miss(e.TrackingCode))
	if len(known) < 2 {
		t.Fatalf("a known code's read: %q", known)
	}
	if diff := cmp.Diff(known, f.statements(miss(unknown))); diff != "" {
		t.Errorf("an unknown code's read differs from a known code's (-known +unknown):\n%s", diff)
	}
}

// BenchmarkColdLookupMiss times the two misses TestLookupMissesReadAlike
// compares, each read cold (in neither memory nor Redis), taking turns so
// that the machine's drift falls on both alike, and reports each one's
// median: they should agree within noise. (Without readDecoy, on two
// busy cores: 60 µs against 140 µs; with it, 105–110 µs against 112–117 µs.)
func BenchmarkColdLookupMiss(b *testing.B) {
	f := newLookupFixture(b, LookupLimits{})
	known := f.openErrand(b).TrackingCode
	ctx := context.Background()
	// The fixture's Lookup logs every statement; this one reads as served.
	l, err := NewLookup(ctx, f.store, f.kv, LookupLimits{}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(l.Close)
	miss := func(code string) time.Duration {
		if err := l.Invalidate(ctx, code); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := l.load(ctx, code); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var unknown, wrongDigits []time.Duration
	for i := 0; i < b.N; i++ {
		code, err := trackingcode.New(nil)
		if err != nil {
			b.Fatal(err)
		}
		if i%2 == 0 {
			unknown = append(unknown, miss(code))
			wrongDigits = append(wrongDigits, miss(known))
		} else {
			wrongDigits = append(wrongDigits, miss(known))
			unknown = append(unknown, miss(code))
		}
	}
	median := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2].Nanoseconds())
	}
	b.ReportMetric(median(unknown), "unknown-code-median-ns")
	b.ReportMetric(median(wrongDigits), "wrong-digits-median-ns")
}

// The README greps /metrics for the lookup counters on a fresh start:
// every source is there at zero before the first lookup.
func TestLookupCountersStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	l, err := NewLookup(context.Background(), nil, kvtest.Open(t), LookupLimits{}, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "redpoint_lookup_answers_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				got[lp.GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	want := map[string]float64{"memory": 0, "redis": 0, "database": 0}
	if !maps.Equal(got, want) {
		t.Errorf("redpoint_lookup_answers_total on a fresh registry: %v, want %v", got, want)
	}
}
