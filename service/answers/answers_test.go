package answers

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/regioncode"
	"github.com/changzhi/redpoint/service/testutil"
)

// replica is one replica's answers over k, on clock.
func replica(t *testing.T, k *kv.KV, clock *testutil.Clock) *Cache {
	t.Helper()
	c, err := New(context.Background(), k, clock.Now, []byte("etag key"), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// counter is a read that counts its runs and answers with the count.
type counter struct {
	runs    atomic.Int32
	scopes  []string
	changes time.Time
}

func (r *counter) read(ctx context.Context) func(w *Watch) (*wrapperspb.StringValue, time.Time, error) {
	return func(w *Watch) (*wrapperspb.StringValue, time.Time, error) {
		w.Scopes(ctx, r.scopes...)
		n := r.runs.Add(1)
		return wrapperspb.String("answer " + strconv.Itoa(int(n))), r.changes, nil
	}
}

func get(t *testing.T, c *Cache, key string, r *counter) string {
	t.Helper()
	m, err := Read(context.Background(), c, key, r.read(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return m.GetValue()
}

func TestAnswerStandsUntilAScopeChanges(t *testing.T) {
	clock := testutil.NewClock(time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC))
	c := replica(t, kvtest.Open(t), clock)
	r := &counter{scopes: []string{Errand(1), Directory}}
	if a, b := get(t, c, "k", r), get(t, c, "k", r); a != "answer 1" || b != "answer 1" {
		t.Fatalf("two reads: %q, %q; want the first kept", a, b)
	}
	c.Changed(context.Background(), Errand(2)) // another errand
	if got := get(t, c, "k", r); got != "answer 1" {
		t.Errorf("after a change elsewhere: %q, want answer 1", got)
	}
	c.Changed(context.Background(), Directory)
	if got := get(t, c, "k", r); got != "answer 2" {
		t.Errorf("after a change of a scope it read: %q, want answer 2", got)
	}
}

// A read that a change overtakes is answered but not kept: what it read
// may be from before the change.
func TestReadRacingAChangeIsNotKept(t *testing.T) {
	clock := testutil.NewClock(time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC))
	c := replica(t, kvtest.Open(t), clock)
	ctx := context.Background()
	reading, release := make(chan struct{}), make(chan struct{})
	done := make(chan string)
	go func() {
		m, err := Read(ctx, c, "k", func(w *Watch) (*wrapperspb.StringValue, time.Time, error) {
			w.Scopes(ctx, Errand(1))
			close(reading)
			<-release // the change lands while the database is read
			return wrapperspb.String("old"), time.Time{}, nil
		})
		if err != nil {
			t.Error(err)
		}
		done <- m.GetValue()
	}()
	<-reading
	c.Changed(ctx, Errand(1))
	close(release)
	if got := <-done; got != "old" {
		t.Fatalf("the racing read answered %q", got)
	}
	r := &counter{scopes: []string{Errand(1)}}
	if got := get(t, c, "k", r); got != "answer 1" {
		t.Errorf("the next read got %q: the racing read's answer was kept", got)
	}
}

// Another replica's change reaches this one's memory through Redis's
// channel; when the news is lost, memory asks Redis within LocalTTL.
func TestOtherReplicasChanges(t *testing.T) {
	clock := testutil.NewClock(time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC))
	k := kvtest.Open(t)
	a, b := replica(t, k, clock), replica(t, kvtest.Replica(t, k), clock)
	r := &counter{scopes: []string{Point(7)}}
	get(t, b, "k", r)
	a.Changed(context.Background(), Point(7))
	testutil.Eventually(t, 5*time.Second, "replica b re-reads after a's change", func() bool {
		return get(t, b, "k", r) != "answer 1"
	})
	// News lost: the version moves in Redis and nobody is told.
	before := r.runs.Load()
	if err := k.Client.Set(context.Background(), versionKey(k, Point(7)), "moved on", 0).Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, LocalTTL+5*time.Second, "replica b re-reads once it asks Redis", func() bool {
		get(t, b, "k", r)
		return r.runs.Load() > before
	})
}

// Answers that time changes live until then, none past MaxAge.
func TestTimeEndsAnswers(t *testing.T) {
	start := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	clock := testutil.NewClock(start)
	c := replica(t, kvtest.Open(t), clock)
	r := &counter{scopes: []string{Errand(1)}, changes: start.Add(MaxAge / 2)}
	get(t, c, "k", r)
	clock.Set(start.Add(MaxAge/2 - time.Second))
	if got := get(t, c, "k", r); got != "answer 1" {
		t.Errorf("before the answer's change: %q", got)
	}
	clock.Set(start.Add(MaxAge / 2))
	if got := get(t, c, "k", r); got != "answer 2" {
		t.Errorf("at the answer's change: %q, want a fresh read", got)
	}
	r.changes = time.Time{} // nothing changes it but data
	get(t, c, "k2", r)
	clock.Advance(MaxAge)
	before := r.runs.Load()
	get(t, c, "k2", r)
	if r.runs.Load() == before {
		t.Error("an answer outlived MaxAge")
	}
}

// Without Redis an answer can't be checked later, so none is kept: every
// read reads.
func TestNothingKeptWhileRedisIsAway(t *testing.T) {
	clock := testutil.NewClock(time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC))
	k := kvtest.Open(t)
	c := replica(t, k, clock)
	// Nothing listens there.
	away := &kv.KV{Client: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}), Prefix: k.Prefix}
	t.Cleanup(func() { _ = away.Client.Close() })
	c.kv = away
	r := &counter{scopes: []string{Errand(1)}}
	get(t, c, "k", r)
	if got := get(t, c, "k", r); got != "answer 2" {
		t.Errorf("second read without Redis: %q, want a fresh read", got)
	}
}

// The answers' memory stays under MaxBytes however many keys are asked.
func TestMemoryIsBounded(t *testing.T) {
	clock := testutil.NewClock(time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC))
	c := replica(t, kvtest.Open(t), clock)
	big := make([]byte, MaxBytes/200)
	for i := range big {
		big[i] = 'x'
	}
	ctx := context.Background()
	for i := range 400 {
		if _, err := Read(ctx, c, "k"+strconv.Itoa(i), func(w *Watch) (*wrapperspb.StringValue, time.Time, error) {
			w.Scopes(ctx, Errand(i))
			return wrapperspb.String(string(big)), time.Time{}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bytes > MaxBytes || len(c.answers) == 0 || len(c.answers) >= 400 {
		t.Errorf("%d answers in %d bytes; want some, within %d", len(c.answers), c.bytes, MaxBytes)
	}
}

func TestRegionTree(t *testing.T) {
	got := RegionTree(regioncode.Code("140423100201"))
	want := []string{"region:14", "region:1404", "region:140423", "region:140423100", "region:140423100201"}
	if len(got) != len(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%v, want %v", got, want)
		}
	}
	// A township's list is bumped by its villages' errands.
	if Region(regioncode.Code("140423100000")) != want[3] {
		t.Errorf("a township's scope %q is not among its villages' %v", Region(regioncode.Code("140423100000")), want)
	}
}
