package leaderboard

import (
	"context"

	"github.com/changzhi/redpoint/service/period"
)

// ApplyEach is Apply with one round trip per key: the baseline the
// pipelined fan-out is measured against.
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
