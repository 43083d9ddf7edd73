package leaderboard

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/outboxevent"
	"github.com/changzhi/redpoint/ent/servicepoint"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/period"
)

// Level is what a board ranks.
type Level string

// The levels.
const (
	Points    Level = "sp" // service points
	Townships Level = "tw"
	Counties  Level = "co"
)

// Boards keeps the boards in Redis and rebuilds them from the database.
type Boards struct {
	db *ent.Client
	// reads is the database a rebuild reads (ReadsFrom); db without.
	reads func(context.Context) *ent.Client
	kv    *kv.KV
	// builds holds a slot per running build of a missing board, a read's
	// or Warm's (coldBuilds of them): reads of many missing periods queue
	// instead of all building at once.
	builds chan struct{}
	sf     singleflight.Group
	hooks  buildHooks

	mu       sync.Mutex
	counts   map[string]int // active points per township (9) and county (6)
	countsAt time.Time
}

// Option tunes New.
type Option func(*Boards)

// ReadsFrom has the rebuilds — on demand, the cold builds of a first
// read, Warm — read the database reads returns for each (a read replica,
// store.Store.Reads): they are the boards' heaviest reads. The hourly
// reconciliation and RebuildCurrent read db: the one compares with the
// live boards, which have every event handled up to now, and the other
// follows the demo seed's writes.
func ReadsFrom(reads func(context.Context) *ent.Client) Option {
	return func(b *Boards) { b.reads = reads }
}

// New returns the boards, kept from db.
func New(db *ent.Client, k *kv.KV, opts ...Option) *Boards {
	b := &Boards{db: db, kv: k, builds: make(chan struct{}, coldBuilds)}
	b.reads = func(context.Context) *ent.Client { return db }
	for _, o := range opts {
		o(b)
	}
	return b
}

// A period's keys share the hash tag {lb:PERIOD} (kv.Tag), so on a Redis
// Cluster they sit in one slot: the build swaps them all in by one script
// (swapScript), and a read's pipeline finds them on one master. Periods
// spread over the masters.
func periodTag(p period.Period) string { return kv.Tag("lb", p.String()) }

// boardKey names a sorted set: rp:{lb:2026-11}:1404:sp, and :avg for an
// average board.
func (b *Boards) boardKey(p period.Period, scope string, l Level, average bool) string {
	k := b.kv.Key(periodTag(p), scope, string(l))
	if average {
		k += ":avg"
	}
	return k
}

// statsKey names the hash of a level's statistics in a period.
func (b *Boards) statsKey(p period.Period, l Level) string {
	return b.kv.Key(periodTag(p), "stats", string(l))
}

// builtKey marks a period whose boards were built.
func (b *Boards) builtKey(p period.Period) string { return b.kv.Key(periodTag(p), "built") }

// appliedKey is the sorted set of the events applied to a period's boards
// in the last appliedKeep, scored by when (applyScript).
func (b *Boards) appliedKey(p period.Period) string { return b.kv.Key(periodTag(p), "applied") }

// scopes of a village: township (9 digits), county (6), city (4).
func scopes(village string) (tw, co, city string) { return village[:9], village[:6], village[:4] }

// pointCounts are the active service points per township and county, the
// divisor of the average boards; cached for ten minutes.
func (b *Boards) pointCounts(ctx context.Context) (map[string]int, error) {
	return b.pointCountsWith(ctx, b.db)
}

// pointCountsWith reads through db: a job inside a transaction passes the
// transaction's client, never waiting for a second pool connection.
func (b *Boards) pointCountsWith(ctx context.Context, db *ent.Client) (map[string]int, error) {
	b.mu.Lock()
	counts, fresh := b.counts, time.Since(b.countsAt) < 10*time.Minute
	b.mu.Unlock()
	if counts != nil && fresh {
		return counts, nil
	}
	// No lock is held while querying: a job inside a transaction may call this.
	villages, err := db.ServicePoint.Query().Where(servicepoint.Active(true)).Select(servicepoint.FieldRegionID).Strings(ctx)
	if err != nil {
		return nil, fmt.Errorf("leaderboard.pointCounts: %w", err)
	}
	counts = map[string]int{}
	for _, v := range villages {
		tw, co, _ := scopes(v)
		counts[tw]++
		counts[co]++
	}
	b.mu.Lock()
	b.counts, b.countsAt = counts, time.Now()
	b.mu.Unlock()
	return counts, nil
}

// write is one command of a board update.
type write struct {
	key, member string
	delta       float64
	hash        bool // HINCRBY (stats) instead of ZINCRBY
}

// writes fans a component out to every board and statistic it touches in
// the given periods (period.All(c.At) for a live update; one period in a rebuild).
func (b *Boards) writes(c Component, counts map[string]int, periods []period.Period) []write {
	tw, co, city := scopes(c.Village)
	point := strconv.Itoa(c.PointID)
	var out []write
	for _, p := range periods {
		if c.Points != 0 {
			out = append(out,
				write{b.boardKey(p, tw, Points, false), point, c.Points, false},
				write{b.boardKey(p, co, Points, false), point, c.Points, false},
				write{b.boardKey(p, city, Points, false), point, c.Points, false},
				write{b.boardKey(p, co, Townships, false), tw, c.Points, false},
				write{b.boardKey(p, city, Townships, false), tw, c.Points, false},
				write{b.boardKey(p, city, Counties, false), co, c.Points, false},
			)
			if n := counts[tw]; n > 0 {
				out = append(out, write{b.boardKey(p, co, Townships, true), tw, c.Points / float64(n), false},
					write{b.boardKey(p, city, Townships, true), tw, c.Points / float64(n), false})
			}
			if n := counts[co]; n > 0 {
				out = append(out, write{b.boardKey(p, city, Counties, true), co, c.Points / float64(n), false})
			}
		}
		for _, lm := range []struct {
			l Level
			m string
		}{{Points, point}, {Townships, tw}, {Counties, co}} {
			for field, v := range map[string]int{"c": c.Completed, "o": c.OnTime, "r": c.Rated, "s": c.Satisfied} {
				if v != 0 {
					out = append(out, write{b.statsKey(p, lm.l), lm.m + ":" + field, float64(v), true})
				}
			}
		}
	}
	return out
}

// Apply adds event's components to every affected key, once however
// often it is called for the same event (applyOnce).
func (b *Boards) Apply(ctx context.Context, event string, comps []Component) error {
	return b.apply(ctx, b.db, event, comps)
}

func (b *Boards) apply(ctx context.Context, db *ent.Client, event string, comps []Component) error {
	counts, err := b.pointCountsWith(ctx, db)
	if err != nil {
		return err
	}
	return b.applyOnce(ctx, event, comps, counts)
}

// applyOnce applies an event's components to each period's boards once,
// however often its job runs: one script a period adds the event to the
// period's applied set and the components to its boards, or nothing if
// the event is there. The handler's job commits its ledger entry after
// the boards are written; a process killed in between, or a lost job run
// twice, ran the increments again (seen as drift in TestServerKilledMidBurst
// until the hourly reconciliation).
func (b *Boards) applyOnce(ctx context.Context, event string, comps []Component, counts map[string]int) error {
	byPeriod := map[period.Period][]write{}
	var order []period.Period
	for _, c := range comps {
		for _, p := range period.All(c.At) {
			if _, seen := byPeriod[p]; !seen {
				order = append(order, p)
			}
			byPeriod[p] = append(byPeriod[p], b.writes(c, counts, []period.Period{p})...)
		}
	}
	now := time.Now().Unix()
	// The periods' scripts in one pipelined round trip (by their hash, so
	// a Redis that lost its scripts answers NOSCRIPT: they are loaded and
	// the pipeline sent again, the periods already applied doing nothing).
	run := func() error {
		pipe := b.kv.Client.Pipeline()
		for _, p := range order {
			keys := []string{b.appliedKey(p)}
			args := []any{event, now, int64(appliedKeep / time.Second)}
			for _, w := range byPeriod[p] {
				kind := "z"
				if w.hash {
					kind = "h"
				}
				keys = append(keys, w.key)
				args = append(args, kind, w.member, strconv.FormatFloat(w.delta, 'f', -1, 64))
			}
			applyScript.EvalSha(ctx, pipe, keys, args...)
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	err := run()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err = applyScript.Load(ctx, b.kv.Client).Err(); err == nil {
			err = run()
		}
	}
	if err != nil {
		return fmt.Errorf("leaderboard.apply: %w", err)
	}
	return nil
}

// appliedKeep is how long a period remembers an applied event: longer
// than the relay's re-enqueueing of lost jobs (a day, pendingHorizon).
const appliedKeep = 48 * time.Hour

// applyScript: KEYS[1] is the period's applied set, ARGV[1] the event,
// ARGV[2] now (Unix seconds), ARGV[3] how long to remember; then for each
// further key a triple of ARGV: "z" (ZINCRBY) or "h" (HINCRBY), the
// member and the delta. All keys carry the period's hash tag: one slot.
// It forgets what is older than ARGV[3] before it looks (an event id of
// an earlier database, under a Redis that outlived it, must not match),
// and the whole set once no event came for that long.
var applyScript = redis.NewScript(`
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", "(" .. (tonumber(ARGV[2]) - tonumber(ARGV[3])))
if redis.call("ZADD", KEYS[1], "NX", ARGV[2], ARGV[1]) == 0 then
  return 0
end
redis.call("EXPIRE", KEYS[1], ARGV[3])
for i = 2, #KEYS do
  local j = 4 + (i - 2) * 3
  if ARGV[j] == "h" then
    redis.call("HINCRBY", KEYS[i], ARGV[j + 1], ARGV[j + 2])
  else
    redis.call("ZINCRBY", KEYS[i], ARGV[j + 2], ARGV[j + 1])
  end
end
return 1
`)

// pendingHorizon is how long an unhandled event still counts as on its
// way after it was relayed: the relay re-enqueues lost jobs of the last
// day, and an older one (its job failed for good) is left to the rebuild.
const pendingHorizon = 24 * time.Hour

// pending are the effects of the scoring events the leaderboard handler
// has yet to apply. A rebuild leaves them out, as the boards it replaces
// do: the handler adds them when it runs. Counting them in the rebuild too
// would count them twice — every completion of an outage, when a board is
// rebuilt on its first read after Redis came back empty and before the
// relay's backlog drained. (A pending reopening's effect is negative:
// the rebuild keeps the completion it will withdraw.)
func (b *Boards) pending(ctx context.Context, db *ent.Client) ([]Component, error) {
	rows, err := db.OutboxEvent.Query().Where(
		outboxevent.Or(outboxevent.SentTimeIsNil(), outboxevent.SentTimeGT(time.Now().Add(-pendingHorizon))),
		outboxevent.TopicIn(handlerTopics...),
		events.NotProcessedBy(handlerName),
	).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("leaderboard.pending: %w", err)
	}
	var out []Component
	for _, row := range rows {
		// A row this release can't read (outbox.Decode's errors) fails in
		// the handler too, for good: it is not on its way.
		p, err := outbox.Decode(row.Topic, row.Payload)
		if err != nil {
			continue
		}
		comps, err := effect(ctx, db, p)
		if err != nil {
			return nil, fmt.Errorf("leaderboard.pending: %w", err)
		}
		out = append(out, comps...)
	}
	return out, nil
}

// tally sums components into board contents.
type tally struct {
	boards map[string]map[string]float64
	stats  map[string]map[string]int64
}

// tally sums period p's components, as db has them (expected), into
// board contents.
func (b *Boards) tally(ctx context.Context, db *ent.Client, p period.Period) (*tally, error) {
	counts, err := b.pointCounts(ctx)
	if err != nil {
		return nil, err
	}
	t := &tally{boards: map[string]map[string]float64{}, stats: map[string]map[string]int64{}}
	add := func(m map[string]map[string]float64, key, member string, v float64) {
		if m[key] == nil {
			m[key] = map[string]float64{}
		}
		m[key][member] += v
	}
	// Every active point, township and county is on its boards, with 0 if idle.
	points, err := db.ServicePoint.Query().Where(servicepoint.Active(true)).Select(servicepoint.FieldRegionID).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("leaderboard.tally: %w", err)
	}
	for _, sp := range points {
		tw, co, city := scopes(sp.RegionID)
		id := strconv.Itoa(sp.ID)
		for _, w := range []write{
			{b.boardKey(p, tw, Points, false), id, 0, false}, {b.boardKey(p, co, Points, false), id, 0, false},
			{b.boardKey(p, city, Points, false), id, 0, false}, {b.boardKey(p, co, Townships, false), tw, 0, false},
			{b.boardKey(p, city, Townships, false), tw, 0, false}, {b.boardKey(p, city, Counties, false), co, 0, false},
			{b.boardKey(p, co, Townships, true), tw, 0, false}, {b.boardKey(p, city, Townships, true), tw, 0, false},
			{b.boardKey(p, city, Counties, true), co, 0, false},
		} {
			add(t.boards, w.key, w.member, 0)
		}
	}
	// Components are summed per point as they stream in, then each
	// point's sum fans out to its boards: every board is a sum over
	// points, and a period has millions of components but at most a few
	// hundred thousand points.
	sums := map[int]*Component{}
	err = b.expected(ctx, db, p, func(c Component) {
		sum := sums[c.PointID]
		if sum == nil {
			sum = &Component{PointID: c.PointID, Village: c.Village}
			sums[c.PointID] = sum
		}
		sum.Points += c.Points
		sum.Completed += c.Completed
		sum.OnTime += c.OnTime
		sum.Rated += c.Rated
		sum.Satisfied += c.Satisfied
	})
	if err != nil {
		return nil, err
	}
	for _, sum := range sums {
		for _, w := range b.writes(*sum, counts, []period.Period{p}) {
			if w.hash {
				if t.stats[w.key] == nil {
					t.stats[w.key] = map[string]int64{}
				}
				t.stats[w.key][w.member] += int64(w.delta)
			} else {
				add(t.boards, w.key, w.member, w.delta)
			}
		}
	}
	return t, nil
}

// Reconcile compares p's boards in Redis with the database and rewrites
// them when they drifted. It returns how many members were off.
func (b *Boards) Reconcile(ctx context.Context, p period.Period) (int, error) {
	t, err := b.tally(ctx, b.db, p)
	if err != nil {
		return 0, err
	}
	drift := 0
	for key, members := range t.boards {
		got, err := b.kv.Client.ZRangeWithScores(ctx, key, 0, -1).Result()
		if err != nil {
			return 0, fmt.Errorf("leaderboard.Reconcile: %w", err)
		}
		if len(got) != len(members) {
			drift += int(math.Abs(float64(len(got) - len(members))))
		}
		for _, z := range got {
			if want, ok := members[z.Member.(string)]; !ok || math.Abs(want-z.Score) > 1e-6 {
				drift++
			}
		}
	}
	if drift > 0 {
		return drift, b.store(ctx, p, t)
	}
	return 0, nil
}
