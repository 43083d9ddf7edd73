package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/testutil"
)

// replicas returns n limiters sharing one Redis, each over a connection of
// its own, as n server replicas do, on a clock the test moves.
func replicas(t *testing.T, n int, limitWindow time.Duration) ([]*Limiter, *testutil.Clock) {
	t.Helper()
	return replicasOn(t, kvtest.Open(t), n, limitWindow)
}

// replicasOn is replicas on k's Redis.
func replicasOn(t *testing.T, k *kv.KV, n int, limitWindow time.Duration) ([]*Limiter, *testutil.Clock) {
	t.Helper()
	clock := testutil.NewClock(time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC))
	ls := make([]*Limiter, n)
	for i := range ls {
		ki := k
		if i > 0 {
			ki = kvtest.Replica(t, k)
		}
		ls[i] = New(ki, "test", limitWindow)
		ls[i].now = clock.Now
		t.Cleanup(ls[i].Close)
	}
	return ls, clock
}

func allow(t *testing.T, l *Limiter, hits ...Hit) bool {
	t.Helper()
	ok, err := l.Allow(context.Background(), hits...)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// shared is what Redis holds for key: the slots taken and those leased out.
func shared(t *testing.T, l *Limiter, key string) (taken, leased int) {
	t.Helper()
	v, err := l.kv.Client.HMGet(context.Background(), l.redisKey(key, l.window, l.now().UnixNano()/int64(l.window)), "n", "l").Result()
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range []*int{&taken, &leased} {
		if s, ok := v[i].(string); ok {
			if _, err := fmt.Sscan(s, p); err != nil {
				t.Fatalf("%s in Redis: %v", s, err)
			}
		}
	}
	return taken, leased
}

// TestOnARedisCluster: on a Redis Cluster, which refuses a script over
// keys of two slots (CROSSSLOT), a hit counts against an address and a
// code in two windows at once, a refused one takes nothing, and leases
// come back in one flush, as on one server.
func TestOnARedisCluster(t *testing.T) {
	ctx := context.Background()
	node := kvtest.StartClusterNode(t)
	k, err := kv.Open(ctx, node.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kvtest.Close(t, k) })
	ls, _ := replicasOn(t, k, 2, time.Minute)
	l := ls[0]
	for i := range 3 {
		if !allow(t, l, Hit{Key: "ip:A", Limit: 3}, Hit{Key: "code:" + string(rune('a'+i)), Limit: 10}, Hit{Key: "code:" + string(rune('a'+i)), Limit: 20, Window: time.Hour}) {
			t.Fatalf("hit %d refused", i+1)
		}
	}
	if allow(t, l, Hit{Key: "ip:A", Limit: 3}, Hit{Key: "code:z", Limit: 1}) {
		t.Error("fourth hit from one address allowed")
	}
	if taken, _ := shared(t, l, "code:z"); taken != 0 {
		t.Errorf("a hit refused for its address took %d slots of its code", taken)
	}
	// A busy key leases; the other replica waits for the lease to come
	// back in the flush, which reports every key of the limiter at once.
	for range 2 {
		if !allow(t, l, Hit{Key: "ip:B", Limit: 8}, Hit{Key: "code:y", Limit: 8}) {
			t.Fatal("a hit on fresh keys refused")
		}
	}
	if _, leased := shared(t, l, "ip:B"); leased == 0 {
		t.Fatal("no lease for a busy key")
	}
	l.Close()
	if taken, leased := shared(t, l, "ip:B"); taken != 2 || leased != 0 {
		t.Errorf("after the flush: %d taken, %d leased; want 2, 0", taken, leased)
	}
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

// Bursts of concurrent hits on one key through two replicas admit exactly
// the limit: never more (the local allowance once let a limit of 10 admit
// 12), and never fewer, though leases were out when the slots ran short.
func TestBurstAcrossReplicasAdmitsExactlyTheLimit(t *testing.T) {
	const goroutines, hitsEach, bursts = 16, 4, 5
	for _, limit := range []int{1, 5, 10, 40} {
		ls, _ := replicas(t, 2, time.Minute)
		for _, l := range ls {
			l.leaseTimeout = time.Minute // however slow the machine, leases come back
		}
		for burst := 0; burst < bursts; burst++ {
			key := fmt.Sprintf("burst-%d", burst)
			var allowed atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for _, l := range ls {
				for g := 0; g < goroutines; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						for i := 0; i < hitsEach; i++ {
							if ok, err := l.Allow(context.Background(), Hit{Key: key, Limit: limit}); err != nil {
								t.Error(err)
							} else if ok {
								allowed.Add(1)
							}
						}
					}()
				}
			}
			close(start)
			wg.Wait()
			if n := allowed.Load(); n != int64(limit) {
				t.Errorf("limit %d, burst %d: %d of %d hits allowed", limit, burst+1, n, 2*goroutines*hitsEach)
			}
		}
		// Once the leases are back, Redis holds just the admitted hits.
		for _, l := range ls {
			l.Close()
		}
		for burst := 0; burst < bursts; burst++ {
			if taken, leased := shared(t, ls[0], fmt.Sprintf("burst-%d", burst)); taken != limit || leased != 0 {
				t.Errorf("limit %d, burst %d: %d slots taken and %d leased in Redis, want %d and 0", limit, burst+1, taken, leased, limit)
			}
		}
	}
}

// A hit is admitted only when every key has a slot, and a refused hit
// takes none.
func TestRefusedHitTakesNoSlot(t *testing.T) {
	ls, _ := replicas(t, 1, time.Minute)
	l := ls[0]
	for i := 0; i < 3; i++ {
		if !allow(t, l, Hit{Key: "ip:A", Limit: 3}, Hit{Key: "code:" + string(rune('a'+i)), Limit: 10}) {
			t.Fatalf("hit %d refused", i+1)
		}
	}
	// The address is spent, though this code is fresh.
	if allow(t, l, Hit{Key: "ip:A", Limit: 3}, Hit{Key: "code:z", Limit: 1}) {
		t.Error("fourth hit from one address allowed")
	}
	// The refused hit left code z's one slot free.
	if !allow(t, l, Hit{Key: "ip:B", Limit: 3}, Hit{Key: "code:z", Limit: 1}) {
		t.Error("another address refused")
	}
	if allow(t, l, Hit{Key: "ip:C", Limit: 3}, Hit{Key: "code:z", Limit: 1}) {
		t.Error("code z admitted twice with a limit of 1")
	}
	if taken, _ := shared(t, l, "ip:C"); taken != 0 {
		t.Errorf("a hit refused for its code took %d slots of its address", taken)
	}
}

// A hit admitted from a lease for one key but refused for another gives
// the leased slot back: it is free for the next hit, and not reported as
// used.
func TestRefusedHitGivesItsLeasedSlotBack(t *testing.T) {
	ls, _ := replicas(t, 1, time.Minute)
	l := ls[0]
	l.flushEvery = time.Hour
	allow(t, l, Hit{Key: "ip", Limit: 40})
	allow(t, l, Hit{Key: "ip", Limit: 40}) // leases 10
	if !allow(t, l, Hit{Key: "ip", Limit: 40}, Hit{Key: "code", Limit: 1}) {
		t.Fatal("first hit of a code refused")
	}
	if allow(t, l, Hit{Key: "ip", Limit: 40}, Hit{Key: "code", Limit: 1}) {
		t.Fatal("second hit of a code with a limit of 1 allowed")
	}
	l.Close()
	if taken, leased := shared(t, l, "ip"); taken != 3 || leased != 0 {
		t.Errorf("3 hits admitted, one refused: %d slots taken and %d leased, want 3 and 0", taken, leased)
	}
}

func TestWindowsRollOver(t *testing.T) {
	ls, clock := replicas(t, 1, time.Minute)
	for i := 0; i < 2; i++ {
		allow(t, ls[0], Hit{Key: "k", Limit: 2})
	}
	if allow(t, ls[0], Hit{Key: "k", Limit: 2}) {
		t.Fatal("third hit in the window allowed")
	}
	clock.Advance(time.Minute)
	if !allow(t, ls[0], Hit{Key: "k", Limit: 2}) {
		t.Error("first hit of the next window refused")
	}
}

// A hit may count one key in two windows, a minute's and a day's: each
// window rolls over on its own, and a hit refused in one takes no slot in
// the other.
func TestHitInTwoWindows(t *testing.T) {
	ls, clock := replicas(t, 1, time.Minute)
	l := ls[0]
	hit := func() bool {
		return allow(t, l, Hit{Key: "code:X", Limit: 2}, Hit{Key: "code:X", Limit: 3, Window: 24 * time.Hour})
	}
	got := []bool{hit(), hit(), hit()}
	clock.Advance(time.Minute)
	got = append(got, hit(), hit())
	clock.Advance(time.Minute)
	got = append(got, hit())
	if want := []bool{true, true, false, true, false, false}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("2 a minute and 3 a day, three hits a minute apart: %v, want %v", got, want)
	}
}

// A busy key is admitted from a lease, without a round trip; a hit on
// another replica that finds the slots all taken while that lease is out
// waits for it to come back instead of being refused.
func TestHitWaitsForUnusedLease(t *testing.T) {
	const limit = 8 // leases come from the first 4 slots, at most 2 at a time
	ls, _ := replicas(t, 2, time.Minute)
	a, b := ls[0], ls[1]
	a.flushEvery = time.Hour // a flushes when the test says
	allow(t, a, Hit{Key: "k", Limit: limit})
	allow(t, a, Hit{Key: "k", Limit: limit}) // busy here: leases 2 more
	if taken, leased := shared(t, a, "k"); taken != 4 || leased != 2 {
		t.Fatalf("after two hits on a busy key: %d taken, %d leased; want 4 and 2", taken, leased)
	}
	if !allow(t, a, Hit{Key: "k", Limit: limit}) {
		t.Fatal("a hit on the lease refused")
	}
	if taken, _ := shared(t, a, "k"); taken != 4 {
		t.Errorf("a hit on the lease reached Redis: %d taken, want 4", taken)
	}
	// a holds one leased slot unused; b takes the four others, then waits
	// for a to give the last one back: while a keeps it, until b gives up.
	for i := 0; i < 4; i++ {
		if !allow(t, b, Hit{Key: "k", Limit: limit}) {
			t.Fatalf("b's hit %d refused", i+1)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*retryEvery)
	defer cancel()
	if ok, err := b.Allow(ctx, Hit{Key: "k", Limit: limit}); err == nil {
		t.Fatalf("a hit with a leased slot unused elsewhere: %v, want it to wait", ok)
	}
	got := make(chan bool)
	go func() {
		ok, err := b.Allow(context.Background(), Hit{Key: "k", Limit: limit})
		if err != nil {
			t.Error(err)
		}
		got <- ok
	}()
	a.flush(false)
	if !<-got {
		t.Error("the slot a gave back went to nobody")
	}
	if allow(t, b, Hit{Key: "k", Limit: limit}) || allow(t, a, Hit{Key: "k", Limit: limit}) {
		t.Error("a hit admitted past the limit")
	}
}

// A lease its replica never reports (it died) holds its slots only until
// the lease times out: hits wait that long, no longer.
func TestLeaseOfDeadReplicaTimesOut(t *testing.T) {
	ls, _ := replicas(t, 2, time.Minute)
	a, b := ls[0], ls[1]
	a.flushEvery = time.Hour // a dies after it leased: no flush reports the lease
	b.leaseTimeout = 2 * FlushEvery
	allow(t, a, Hit{Key: "k", Limit: 8})
	allow(t, a, Hit{Key: "k", Limit: 8})
	for i := 0; i < 4; i++ {
		if !allow(t, b, Hit{Key: "k", Limit: 8}) {
			t.Fatalf("hit %d on b refused", i+1)
		}
	}
	if allow(t, b, Hit{Key: "k", Limit: 8}) {
		t.Error("a hit admitted past the limit, counting a dead replica's lease as free")
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

// A reset frees the slots hits took, not those leased out: the lease is
// still the other replica's to use, so the limit holds after it.
func TestResetKeepsLeasedSlots(t *testing.T) {
	const limit = 8
	ls, _ := replicas(t, 2, time.Minute)
	a, b := ls[0], ls[1]
	a.flushEvery = time.Hour
	allow(t, a, Hit{Key: "phone", Limit: limit})
	allow(t, a, Hit{Key: "phone", Limit: limit}) // leases 2
	if err := b.Reset(context.Background(), "phone"); err != nil {
		t.Fatal(err)
	}
	allowed := 0
	for _, l := range []*Limiter{a, a} {
		if allow(t, l, Hit{Key: "phone", Limit: limit}) {
			allowed++
		}
	}
	a.flush(false) // reports the two used
	for i := 0; i < 8; i++ {
		if allow(t, b, Hit{Key: "phone", Limit: limit}) {
			allowed++
		}
	}
	if allowed != limit {
		t.Errorf("after a reset, %d hits allowed, want %d", allowed, limit)
	}
}

// Close gives the leases back at once and decides later hits in Redis.
func TestCloseGivesLeasesBack(t *testing.T) {
	ls, _ := replicas(t, 1, time.Minute)
	l := ls[0]
	l.flushEvery = time.Hour
	for i := 0; i < 3; i++ {
		allow(t, l, Hit{Key: "k", Limit: 40})
	}
	if _, leased := shared(t, l, "k"); leased == 0 {
		t.Fatal("a busy key leased nothing")
	}
	l.Close()
	if taken, leased := shared(t, l, "k"); taken != 3 || leased != 0 {
		t.Errorf("after Close: %d taken and %d leased in Redis, want 3 and 0", taken, leased)
	}
	allow(t, l, Hit{Key: "k", Limit: 40})
	allow(t, l, Hit{Key: "k", Limit: 40})
	if taken, leased := shared(t, l, "k"); taken != 5 || leased != 0 {
		t.Errorf("two hits after Close: %d taken and %d leased in Redis, want 5 and 0", taken, leased)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		t.Error("a flush is still scheduled after Close")
	}
}
