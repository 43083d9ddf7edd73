package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/changzhi/redpoint/service/kv/kvtest"
)

// replicas returns n limiters sharing one Redis, as n server replicas do,
// on a clock the test moves.
func replicas(t *testing.T, n int, limitWindow time.Duration) ([]*Limiter, *time.Time) {
	t.Helper()
	k := kvtest.Open(t)
	now := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	ls := make([]*Limiter, n)
	for i := range ls {
		ls[i] = New(k, "test", limitWindow)
		ls[i].now = func() time.Time { return now }
		t.Cleanup(ls[i].Close)
	}
	return ls, &now
}

func allow(t *testing.T, l *Limiter, hits ...Hit) bool {
	t.Helper()
	ok, err := l.Allow(context.Background(), hits...)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestLimitHoldsAcrossReplicas(t *testing.T) {
	for _, limit := range []int{1, 4, 8, 30} {
		ls, _ := replicas(t, 2, time.Minute)
		allowed := 0
		for i := 0; i < 3*limit; i++ {
			if allow(t, ls[i%2], Hit{Key: "code:X", Limit: limit}) {
				allowed++
			} else if i < limit {
				t.Fatalf("limit %d: hit %d refused", limit, i+1)
			}
		}
		if allowed != limit {
			t.Errorf("limit %d, hits alternating between two replicas: %d allowed", limit, allowed)
		}
	}
}

func TestEveryKeyCounts(t *testing.T) {
	ls, _ := replicas(t, 1, time.Minute)
	l := ls[0]
	for i := 0; i < 3; i++ {
		if !allow(t, l, Hit{Key: "ip:A", Limit: 3}, Hit{Key: "code:" + string(rune('a'+i)), Limit: 10}) {
			t.Fatalf("hit %d refused", i+1)
		}
	}
	// The address is spent, though this code is fresh.
	if allow(t, l, Hit{Key: "ip:A", Limit: 3}, Hit{Key: "code:z", Limit: 10}) {
		t.Error("fourth hit from one address allowed")
	}
	if !allow(t, l, Hit{Key: "ip:B", Limit: 3}, Hit{Key: "code:z", Limit: 10}) {
		t.Error("another address refused")
	}
}

func TestWindowsRollOver(t *testing.T) {
	ls, now := replicas(t, 1, time.Minute)
	for i := 0; i < 2; i++ {
		allow(t, ls[0], Hit{Key: "k", Limit: 2})
	}
	if allow(t, ls[0], Hit{Key: "k", Limit: 2}) {
		t.Fatal("third hit in the window allowed")
	}
	*now = now.Add(time.Minute)
	if !allow(t, ls[0], Hit{Key: "k", Limit: 2}) {
		t.Error("first hit of the next window refused")
	}
}

// Every hit, allowed, refused or admitted locally, reaches the shared
// count, and concurrent hits on two replicas stay within the bound the
// package promises.
func TestConcurrentHitsAllCounted(t *testing.T) {
	const limit, perReplica = 40, 100
	ls, _ := replicas(t, 2, time.Minute)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for _, l := range ls {
		for g := 0; g < 10; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < perReplica/10; i++ {
					if ok, err := l.Allow(context.Background(), Hit{Key: "k", Limit: limit}); err != nil {
						t.Error(err)
					} else if ok {
						allowed.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	if n := allowed.Load(); n < limit || n > limit+2*(limit/4) {
		t.Errorf("%d allowed of %d concurrent hits, limit %d", n, 2*perReplica, limit)
	}
	for _, l := range ls {
		l.Close()
	}
	key := ls[0].redisKey("k", ls[0].now().UnixNano()/int64(time.Minute))
	if n, err := ls[0].kv.Client.Get(context.Background(), key).Int(); err != nil || n != 2*perReplica {
		t.Errorf("shared count %d (%v), want %d", n, err, 2*perReplica)
	}
}

// A login that succeeds on one replica clears its phone's count for all
// replicas and gives its address one hit back.
func TestResetAndForgive(t *testing.T) {
	ls, _ := replicas(t, 2, time.Minute)
	a, b := ls[0], ls[1]
	ctx := context.Background()
	allow(t, a, Hit{Key: "phone", Limit: 3})
	allow(t, b, Hit{Key: "phone", Limit: 3})
	if err := a.Reset(ctx, "phone"); err != nil {
		t.Fatal(err)
	}
	got := []bool{}
	for i, l := range []*Limiter{b, a, b, a} {
		got = append(got, allow(t, l, Hit{Key: "phone", Limit: 3}))
		if i < 3 && !got[i] {
			t.Fatalf("after the reset: %v, want three allowed, then refused", got)
		}
	}
	if got[3] {
		t.Errorf("after the reset: %v, want three allowed, then refused", got)
	}

	for i := 0; i < 3; i++ {
		allow(t, a, Hit{Key: "ip", Limit: 4})
	}
	if err := a.Forgive(ctx, "ip"); err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, l := range []*Limiter{b, b, b} {
		got = append(got, allow(t, l, Hit{Key: "ip", Limit: 4}))
	}
	if !got[0] || !got[1] || got[2] {
		t.Errorf("4 a window, 3 hits, one forgiven: then %v, want two allowed and one refused", got)
	}
}

// Close sends what was admitted locally, at once, and counts later hits in
// Redis directly.
func TestCloseSendsPending(t *testing.T) {
	ls, _ := replicas(t, 1, time.Minute)
	l := ls[0]
	shared := func() int {
		n, _ := l.kv.Client.Get(context.Background(), l.redisKey("k", l.now().UnixNano()/int64(time.Minute))).Int()
		return n
	}
	for i := 0; i < 3; i++ {
		allow(t, l, Hit{Key: "k", Limit: 40})
	}
	l.Close()
	if n := shared(); n != 3 {
		t.Errorf("after Close: %d in Redis, want 3", n)
	}
	allow(t, l, Hit{Key: "k", Limit: 40})
	if n := shared(); n != 4 {
		t.Errorf("a hit after Close: %d in Redis, want 4", n)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		t.Error("a flush is still scheduled after Close")
	}
}
