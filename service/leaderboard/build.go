package leaderboard

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/period"
)

// How a period's boards get into Redis: a build writes them under staged
// keys of its own, then one script swaps them all in, so a reader sees
// the boards of before the build or of after it, whole, never a mix, and
// reads the old ones for as long as the build takes. When: on the first
// read of a period that has none (ensureBuilt), at start-up for the
// periods read most (Warm), after a demo seed (RebuildCurrent), and on
// demand (Rebuild).

const (
	// coldBuilds is how many builds reads of missing boards run at once;
	// reads of more missing periods wait for a slot.
	coldBuilds = 2
	// buildTimeout bounds a build a read started: it runs on when that
	// reader gives up, for the readers that joined it.
	buildTimeout = 2 * time.Minute
	// stagedTTL is how long the staged keys of a build that died before
	// its swap stay in Redis.
	stagedTTL = 10 * time.Minute
)

// buildHooks let tests hold a build at its steps.
type buildHooks struct {
	building func(period.Period) // a build of the period starts
	staged   func(period.Period) // its boards are staged and not swapped in yet
	waiting  func(period.Period) // a read waits for the period's build
}

// Rebuild recomputes period p's boards from the database (ReadsFrom's)
// and swaps them in; readers read the boards it replaces until then.
func (b *Boards) Rebuild(ctx context.Context, p period.Period) error {
	return b.rebuild(ctx, b.reads(ctx), p)
}

func (b *Boards) rebuild(ctx context.Context, db *ent.Client, p period.Period) error {
	if b.hooks.building != nil {
		b.hooks.building(p)
	}
	t, err := b.tally(ctx, db, p)
	if err != nil {
		return err
	}
	return b.store(ctx, p, t)
}

// store makes t period p's boards: written first under staged keys named
// after this build (a token), in a pipeline that holds Redis up no longer
// than any other, then swapped in by one script.
func (b *Boards) store(ctx context.Context, p period.Period, t *tally) error {
	token := kv.Token()
	staged := func(key string) string { return key + ":next:" + token } // the period's hash tag: its slot
	keys := []string{b.builtKey(p), b.appliedKey(p)}
	args := []any{time.Now().UTC().Format(time.RFC3339)}
	pipe := b.kv.Client.Pipeline()
	for key, members := range t.boards {
		zs := make([]redis.Z, 0, len(members))
		for m, s := range members {
			zs = append(zs, redis.Z{Score: s, Member: m})
		}
		pipe.ZAdd(ctx, staged(key), zs...)
		pipe.Expire(ctx, staged(key), stagedTTL)
		keys, args = append(keys, staged(key), key), append(args, "1")
	}
	for _, l := range []Level{Points, Townships, Counties} {
		key := b.statsKey(p, l)
		keys = append(keys, staged(key), key)
		if len(t.stats[key]) == 0 {
			args = append(args, "0") // nothing staged: the swap deletes the live statistics
			continue
		}
		vals := make([]any, 0, 2*len(t.stats[key]))
		for f, v := range t.stats[key] {
			vals = append(vals, f, v)
		}
		pipe.HSet(ctx, staged(key), vals...)
		pipe.Expire(ctx, staged(key), stagedTTL)
		args = append(args, "1")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.discard(keys)
		return fmt.Errorf("leaderboard.store: staging: %w", err)
	}
	if b.hooks.staged != nil {
		b.hooks.staged(p)
	}
	if err := swapScript.Run(ctx, b.kv.Client, keys, args...).Err(); err != nil {
		b.discard(keys)
		return fmt.Errorf("leaderboard.store: swap: %w", err)
	}
	return nil
}

// discard deletes what a failed build staged (keys as store passes them
// to swapScript), rather than leave it to stagedTTL; on its own context,
// as the build's may be what ended it.
func (b *Boards) discard(keys []string) {
	var staged []string
	for i := 2; i < len(keys); i += 2 {
		staged = append(staged, keys[i])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.kv.Client.Del(ctx, staged...).Err() // best effort: stagedTTL ends them anyway
}

// swapScript puts a staged build in place of the live boards, all or
// nothing. KEYS[1] is the period's built marker, set to ARGV[1]; KEYS[2]
// the events applied to the boards it replaces (appliedKey), which it
// forgets: the build counted those the ledger has as handled, and an
// event applied whose job then failed is applied again when the job is
// retried. (A job that commits its ledger entry after the build read the
// ledger is lost to the build, as before: the race the hourly
// reconciliation repairs.) Then come pairs of a staged key and the live key it
// replaces, and ARGV[1+i] says
// whether pair i's staged key must be there ("1") or, absent, means the
// live key goes ("0": no statistics). A staged key that is gone — evicted
// under memory pressure, as keys with a TTL are first — fails the swap
// before it changed anything. RENAME carries the staged key's TTL over,
// hence PERSIST.
var swapScript = redis.NewScript(`
local n = (#KEYS - 2) / 2
for i = 1, n do
  if ARGV[i + 1] == "1" and redis.call("EXISTS", KEYS[2 * i + 1]) == 0 then
    return redis.error_reply("staged key gone: " .. KEYS[2 * i + 1])
  end
end
for i = 1, n do
  local staged, live = KEYS[2 * i + 1], KEYS[2 * i + 2]
  if redis.call("EXISTS", staged) == 1 then
    redis.call("RENAME", staged, live)
    redis.call("PERSIST", live)
  else
    redis.call("DEL", live)
  end
end
redis.call("SET", KEYS[1], ARGV[1])
redis.call("DEL", KEYS[2])
return n
`)

// ensureBuilt builds those of periods that have no boards yet (Redis
// restarted empty, a period nobody read before), and waits for those
// builds only: a period that has boards is read as it is, even while a
// rebuild of it runs. Readers of one period share one build.
func (b *Boards) ensureBuilt(ctx context.Context, periods ...period.Period) error {
	missing, err := b.missing(ctx, periods)
	if err != nil {
		return err
	}
	waits := make([]<-chan singleflight.Result, len(missing))
	for i, p := range missing {
		waits[i] = b.build(ctx, p)
		if b.hooks.waiting != nil {
			b.hooks.waiting(p)
		}
	}
	for _, w := range waits {
		select {
		case r := <-w:
			if r.Err != nil {
				return r.Err
			}
		case <-ctx.Done():
			return fmt.Errorf("leaderboard: waiting for a build: %w", ctx.Err())
		}
	}
	return nil
}

// missing are those of periods whose boards were never built, read in one
// round trip.
func (b *Boards) missing(ctx context.Context, periods []period.Period) ([]period.Period, error) {
	pipe := b.kv.Client.Pipeline()
	built := make([]*redis.IntCmd, len(periods))
	for i, p := range periods {
		built[i] = pipe.Exists(ctx, b.builtKey(p))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("leaderboard: %w", err)
	}
	var out []period.Period
	for i, n := range built {
		if n.Val() == 0 {
			out = append(out, periods[i])
		}
	}
	return out, nil
}

// build starts a build of p's missing boards, or joins the one running,
// and returns where its result comes. The build runs on its own context
// (the first reader's values, no cancel, buildTimeout), so the reader that
// started it giving up fails none of those that joined; it takes one of
// the coldBuilds slots, and builds nothing when p was built while it
// waited for one (by Rebuild, or another replica).
func (b *Boards) build(ctx context.Context, p period.Period) <-chan singleflight.Result {
	return b.sf.DoChan(p.String(), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), buildTimeout)
		defer cancel()
		select {
		case b.builds <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("leaderboard: waiting to build %s: %w", p, ctx.Err())
		}
		defer func() { <-b.builds }()
		if still, err := b.missing(ctx, []period.Period{p}); err != nil || len(still) == 0 {
			return nil, err
		}
		return nil, b.Rebuild(ctx, p)
	})
}

// CurrentPeriods are the periods of the boards read most, most read
// first: today's month (the default), week, quarter and year, each
// followed by the one before it, whose ranks give the rank changes and
// whose boards the 周调度 and 月通报 read once it closed.
func CurrentPeriods(now time.Time) []period.Period {
	var out []period.Period
	for _, k := range []period.Kind{period.Month, period.Week, period.Quarter, period.Year} {
		p := period.Of(k, now)
		out = append(out, p, p.Previous())
	}
	return out
}

// Warm builds, one after another, those of the current periods' boards
// (CurrentPeriods) that are missing, for a server starting over a Redis
// that lost them, so that its first reads need not. A read of a period
// Warm is building joins that build; a read of one with boards doesn't
// wait. Boards that exist are left to the events that update them and to
// the hourly reconciliation. It reports how many were missing.
func (b *Boards) Warm(ctx context.Context, now time.Time) (int, error) {
	missing, err := b.missing(ctx, CurrentPeriods(now))
	if err != nil {
		return 0, err
	}
	for _, p := range missing {
		if err := b.ensureBuilt(ctx, p); err != nil {
			return len(missing), err
		}
	}
	return len(missing), nil
}

// RebuildCurrent rebuilds every current period's boards (CurrentPeriods),
// whether or not Redis has some: after a demo seed, boards a Redis kept
// from an earlier database would be wrong. It reads the primary, which
// has the seed's rows.
func (b *Boards) RebuildCurrent(ctx context.Context, now time.Time) error {
	for _, p := range CurrentPeriods(now) {
		if err := b.rebuild(ctx, b.db, p); err != nil {
			return fmt.Errorf("leaderboard: building %s: %w", p, err)
		}
	}
	return nil
}
