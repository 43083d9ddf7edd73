package leaderboard_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/period"
)

// page is what one read of a board answered.
type page struct {
	entries []leaderboard.Entry
	total   int
	err     error
}

// readAsync reads a board's top five in the background: a read that waits
// for a build it should not wait for shows as no answer (within).
func readAsync(b *leaderboard.Boards, bd leaderboard.Board) <-chan page {
	out := make(chan page, 1)
	go func() {
		entries, total, err := b.Top(context.Background(), bd, 0, 5)
		out <- page{entries, total, err}
	}()
	return out
}

// within waits for a signal, failing the test at the deadline with what
// did not happen.
func within[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("after 30s: %s", what)
		panic("unreachable")
	}
}

// liveKeys are the leaderboard's keys in Redis but a build's staged ones.
func liveKeys(t *testing.T, k *kv.KV) (live, staged []string) {
	t.Helper()
	for _, key := range kvtest.Keys(t, k, leaderboard.KeyPattern(k)) {
		if strings.Contains(key, ":next:") {
			staged = append(staged, key)
		} else {
			live = append(live, key)
		}
	}
	return live, staged
}

// TestReadDuringARebuildSeesTheOldBoardsWhole: while a rebuild of a period
// has its new boards staged, a read of the period answers at once, from
// the old boards, all of them (the board's scores and totals and the
// statistics hash agree); once it swapped them in, a read sees the new
// ones, all of them, and no staged key or TTL is left behind.
func TestReadDuringARebuildSeesTheOldBoardsWhole(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	k := e.App.KV
	p := mustPeriod("2026-11")
	city := leaderboard.Board{Period: p, Scope: "1404", Level: leaderboard.Points}
	b := rebuilt(t, e, p)
	fresh := within(t, readAsync(b, city), "a read of a built board")
	if fresh.err != nil || len(fresh.entries) != 5 {
		t.Fatalf("the built board: %+v", fresh)
	}
	// The boards before the rebuild differ from what it writes: the 5th
	// point 1,000 points up on the city board and 7 completions up in the
	// statistics, which put it first with its own total and count.
	fifth := fresh.entries[4]
	k.Client.ZIncrBy(ctx, leaderboard.BoardKey(k, p, "1404", leaderboard.Points, false), 1000, fifth.Member)
	k.Client.HIncrBy(ctx, leaderboard.StatsKey(k, p, leaderboard.Points), fifth.Member+":c", 7)
	old := within(t, readAsync(b, city), "a read of the old board")
	if old.err != nil || old.entries[0].Member != fifth.Member || old.entries[0].Total != fifth.Total+1000 || old.entries[0].Completed != fifth.Completed+7 {
		t.Fatalf("the doctored board: %+v", old)
	}

	staged, release := make(chan struct{}), make(chan struct{})
	b.OnBuild(leaderboard.BuildHooks{Staged: func(period.Period) { close(staged); <-release }})
	rebuilt := make(chan error, 1)
	go func() { rebuilt <- b.Rebuild(ctx, p) }()
	within(t, staged, "the rebuild staged its boards")
	during := within(t, readAsync(b, city), "a read answered while the rebuild was held before its swap")
	close(release)
	if during.err != nil || !reflect.DeepEqual(during, old) {
		t.Errorf("read during the rebuild:\n got %+v\nwant the old boards %+v", during, old)
	}
	if err := within(t, rebuilt, "the rebuild ended"); err != nil {
		t.Fatal(err)
	}
	after := within(t, readAsync(b, city), "a read after the rebuild")
	if after.err != nil || !reflect.DeepEqual(after, fresh) {
		t.Errorf("read after the rebuild:\n got %+v\nwant the new boards %+v", after, fresh)
	}
	live, left := liveKeys(t, k)
	if len(left) > 0 {
		t.Errorf("staged keys left after the swap: %v", left)
	}
	for _, key := range live {
		if ttl := k.Client.TTL(ctx, key).Val(); ttl != -1 {
			t.Errorf("%s expires in %v: a live board must not", key, ttl)
		}
	}
}

// liveWrites records the commands that write a live leaderboard key
// outside a script: a build must write its own staged keys only, and the
// live ones in its swap.
type liveWrites struct {
	prefix  string
	mu      sync.Mutex
	outside []string
	scripts int
}

func (w *liveWrites) see(cmds ...redis.Cmder) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range cmds {
		switch c.Name() {
		case "eval", "evalsha":
			w.scripts++
			continue
		case "multi", "exec", "exists", "get", "ttl", "zrange", "zscore", "zrevrange", "zrevrank", "zcard", "hmget", "hgetall", "scan":
			continue
		}
		for _, a := range c.Args()[1:] {
			if s, ok := a.(string); ok && strings.HasPrefix(s, w.prefix+"{lb:") && !strings.Contains(s, ":next:") {
				w.outside = append(w.outside, fmt.Sprintf("%.200v", c.Args()))
				break
			}
		}
	}
}

func (w *liveWrites) DialHook(next redis.DialHook) redis.DialHook { return next }
func (w *liveWrites) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, c redis.Cmder) error { w.see(c); return next(ctx, c) }
}
func (w *liveWrites) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { w.see(cmds...); return next(ctx, cmds) }
}

// TestABuildWritesTheLiveKeysOnlyInItsSwap: every command of a rebuild
// that writes a live key is the one script that swaps the staged boards
// in, which Redis runs whole, so no reader sees part of a build.
func TestABuildWritesTheLiveKeysOnlyInItsSwap(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	own := kvtest.Replica(t, e.App.KV) // a client of the build's own, its commands watched
	w := &liveWrites{prefix: own.Prefix}
	own.Client.AddHook(w)
	b := leaderboard.New(e.App.Store.Client, own)
	for _, p := range []string{"2026-11", "2026-W48", "2026-Q4", "2026"} {
		if err := b.Rebuild(ctx, mustPeriod(p)); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.outside) > 0 {
		t.Errorf("%d commands wrote live keys outside the swap, e.g. %s", len(w.outside), w.outside[0])
	}
	if w.scripts < 4 {
		t.Errorf("%d swap scripts for 4 rebuilds", w.scripts)
	}
}

// TestWarmBuildsTheMissingCurrentBoards: over a Redis that lost the
// boards, Warm builds every current period's, each once: a read of a
// period it is building waits for that build instead of starting its own,
// and a read of a period that has boards answers while it builds.
func TestWarmBuildsTheMissingCurrentBoards(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	k := e.App.KV
	live, _ := liveKeys(t, k)
	kvtest.Del(t, k, live...) // Redis restarted empty
	b := leaderboard.New(e.App.Store.Client, k)
	other := mustPeriod("2026-11")
	for _, p := range []period.Period{other, other.Previous()} {
		if err := b.Rebuild(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	now := e.clock.Now()
	month := period.Of(period.Month, now)
	var mu sync.Mutex
	builds := map[period.Period]int{}
	holding, release, waiting := make(chan struct{}), make(chan struct{}), make(chan period.Period, 16)
	b.OnBuild(leaderboard.BuildHooks{
		Building: func(p period.Period) {
			mu.Lock()
			builds[p]++
			first := builds[p] == 1
			mu.Unlock()
			if p == month && first {
				close(holding)
				<-release
			}
		},
		Waiting: func(p period.Period) { waiting <- p },
	})
	type warmed struct {
		n   int
		err error
	}
	done := make(chan warmed, 1)
	go func() { n, err := b.Warm(ctx, now); done <- warmed{n, err} }()
	within(t, holding, "Warm building this month's boards")

	built := within(t, readAsync(b, leaderboard.Board{Period: other, Scope: "1404", Level: leaderboard.Points}),
		"a read of a period with boards answered while Warm built another")
	if built.err != nil || built.total != 1286 {
		t.Errorf("read of %s during Warm: %d members, %v", other, built.total, built.err)
	}
	read := readAsync(b, leaderboard.Board{Period: month, Scope: "1404", Level: leaderboard.Points})
	// Warm waits for this month's build, and then the read does.
	for waits := 0; waits < 2; {
		if within(t, waiting, "Warm and the read of this month waiting for its build") == month {
			waits++
		}
	}
	close(release)
	w := within(t, done, "Warm ended")
	if w.err != nil || w.n != 8 {
		t.Errorf("Warm: %d periods built, %v; want all 8 current ones", w.n, w.err)
	}
	if r := within(t, read, "the read of this month answered"); r.err != nil || r.total != 1286 {
		t.Errorf("read of %s: %d members, %v", month, r.total, r.err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range leaderboard.CurrentPeriods(now) {
		if builds[p] != 1 {
			t.Errorf("%s built %d times, want once", p, builds[p])
		}
		if n := k.Client.Exists(ctx, leaderboard.BuiltKey(k, p)).Val(); n != 1 {
			t.Errorf("%s not built", p)
		}
	}
	if len(builds) != 8 {
		t.Errorf("builds %v: want the 8 current periods only", builds)
	}
}

// TestASwapWithAStagedKeyGoneChangesNothing: when a staged key is gone by
// the swap (Redis evicts keys with a TTL first), the rebuild fails and
// the live boards stay as they were, all of them, with nothing staged
// left behind.
func TestASwapWithAStagedKeyGoneChangesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	k := e.App.KV
	p := mustPeriod("2026-11")
	city := leaderboard.Board{Period: p, Scope: "1404", Level: leaderboard.Points}
	b := rebuilt(t, e, p)
	fresh := within(t, readAsync(b, city), "a read of a built board")
	k.Client.ZIncrBy(ctx, leaderboard.BoardKey(k, p, "1404", leaderboard.Points, false), 1000, fresh.entries[4].Member)
	old := within(t, readAsync(b, city), "a read of the old board")

	stats := leaderboard.StatsKey(k, p, leaderboard.Points)
	b.OnBuild(leaderboard.BuildHooks{Staged: func(period.Period) {
		gone := kvtest.Keys(t, k, stats+":next:*")
		if len(gone) != 1 {
			panic(fmt.Sprintf("staged statistics %v", gone))
		}
		kvtest.Del(t, k, gone...)
	}})
	if err := b.Rebuild(ctx, p); err == nil {
		t.Error("a rebuild whose staged statistics were gone swapped")
	}
	if got := within(t, readAsync(b, city), "a read after the failed swap"); !reflect.DeepEqual(got, old) {
		t.Errorf("after the failed swap:\n got %+v\nwant the old boards %+v", got, old)
	}
	if _, left := liveKeys(t, k); len(left) > 0 {
		t.Errorf("%d staged keys left after the failed swap, e.g. %s", len(left), left[0])
	}
}

// TestAReaderGivingUpFailsNoneThatJoinedItsBuild: the build of a missing
// board runs on when the reader that started it gives up (its request
// timed out, its client went away), for the readers that joined it.
func TestAReaderGivingUpFailsNoneThatJoinedItsBuild(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	k := e.App.KV
	live, _ := liveKeys(t, k)
	kvtest.Del(t, k, live...) // Redis restarted empty
	p := mustPeriod("2026-11")
	city := leaderboard.Board{Period: p, Scope: "1404", Level: leaderboard.Points}
	b := leaderboard.New(e.App.Store.Client, k)
	holding, release, waiting := make(chan struct{}), make(chan struct{}), make(chan period.Period, 16)
	var once sync.Once
	b.OnBuild(leaderboard.BuildHooks{
		Building: func(q period.Period) {
			if q == p {
				once.Do(func() { close(holding) })
				<-release
			}
		},
		Waiting: func(q period.Period) { waiting <- q },
	})
	first, giveUp := context.WithCancel(ctx)
	gaveUp := make(chan error, 1)
	go func() { _, _, err := b.Top(first, city, 0, 5); gaveUp <- err }()
	within(t, holding, "the first reader's build of "+p.String()+" started")
	joined := readAsync(b, city)
	for waits := 0; waits < 2; { // the first reader's wait, then the second's
		if within(t, waiting, "both readers waiting for the build") == p {
			waits++
		}
	}
	giveUp()
	if err := within(t, gaveUp, "the first reader gave up"); err == nil {
		t.Error("the reader that gave up got an answer")
	}
	close(release)
	if r := within(t, joined, "the second reader answered"); r.err != nil || r.total != 1286 {
		t.Errorf("the reader that joined: %d members, %v", r.total, r.err)
	}
}

// rebuilt returns e's boards with p and the period before it built.
func rebuilt(t *testing.T, e *env, p period.Period) *leaderboard.Boards {
	t.Helper()
	b := leaderboard.New(e.App.Store.Client, e.App.KV)
	for _, q := range []period.Period{p, p.Previous()} {
		if err := b.Rebuild(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	return b
}
