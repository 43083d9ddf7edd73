package leaderboard

import (
	"context"
	"slices"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/period"
)

// ApplyEach is Apply with one round trip per key: the baseline the
// per-period scripts are measured against (BenchmarkFanOut).
func (b *Boards) ApplyEach(ctx context.Context, comps []Component) error {
	counts, err := b.pointCounts(ctx)
	if err != nil {
		return err
	}
	for _, c := range comps {
		for _, w := range b.writes(c, counts, period.All(c.At)) {
			if w.hash {
				err = b.kv.Client.HIncrBy(ctx, w.key, w.member, int64(w.delta)).Err()
			} else {
				err = b.kv.Client.ZIncrBy(ctx, w.key, w.delta, w.member).Err()
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// Board is the board a ListLeaderboardEntries request names, once the
// handler has checked it.
func (s *Server) Board(req *redpointv1.ListLeaderboardEntriesRequest) (Board, error) {
	return s.board(req)
}

// LevelSpellings are the values the server takes for a board's level,
// but for the empty default.
func LevelSpellings() []string {
	var out []string
	for s := range levels {
		if s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// BuildHooks are called as a build of a period starts (Building), once
// its boards are staged and not swapped in yet (Staged), and as a read
// waits for the build of a missing period (Waiting); nil ones are not.
type BuildHooks struct{ Building, Staged, Waiting func(period.Period) }

// OnBuild sets the hooks, before the boards are used.
func (b *Boards) OnBuild(h BuildHooks) {
	b.hooks = buildHooks{building: h.Building, staged: h.Staged, waiting: h.Waiting}
}

// BoardKey, StatsKey and BuiltKey name a board's sorted set, a level's
// statistics and a period's built marker in k.
func BoardKey(k *kv.KV, p period.Period, scope string, l Level, average bool) string {
	return (&Boards{kv: k}).boardKey(p, scope, l, average)
}
func StatsKey(k *kv.KV, p period.Period, l Level) string { return (&Boards{kv: k}).statsKey(p, l) }
func BuiltKey(k *kv.KV, p period.Period) string          { return (&Boards{kv: k}).builtKey(p) }

// AppliedKey names the set of the events applied to a period's boards.
func AppliedKey(k *kv.KV, p period.Period) string { return (&Boards{kv: k}).appliedKey(p) }

// KeyPattern matches every key of the boards in k (SCAN's MATCH).
func KeyPattern(k *kv.KV) string { return k.Prefix + "{lb:*" }

// Effect is what the event p adds to the boards, read through the
// database as it is now: what its job would add if it ran now.
func (b *Boards) Effect(ctx context.Context, p outbox.Payload) ([]Component, error) {
	return effect(ctx, b.db, p)
}
