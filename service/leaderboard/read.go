package leaderboard

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/changzhi/redpoint/ent/region"
	"github.com/changzhi/redpoint/ent/servicepoint"
	"github.com/changzhi/redpoint/service/period"
)

// Entry is one member of a board as read.
type Entry struct {
	Rank, RankChange         int
	Score, Total             float64
	Member                   string // point id, or township/county code
	Name, Village            string
	Completed                int
	OnTimeRate, Satisfaction float64
}

// Board names one board.
type Board struct {
	Period  period.Period
	Scope   string // 4, 6 or 9 significant digits
	Level   Level
	Average bool
}

// Top reads a page of a board, best first, with statistics and rank
// changes; a board whose keys are gone is built first (ensureBuilt).
func (b *Boards) Top(ctx context.Context, bd Board, offset, limit int) ([]Entry, int, error) {
	if err := b.ensureBuilt(ctx, bd.Period, bd.Period.Previous()); err != nil {
		return nil, 0, err
	}
	key := b.boardKey(bd.Period, bd.Scope, bd.Level, bd.Average)
	pipe := b.kv.Client.Pipeline()
	zs := pipe.ZRevRangeWithScores(ctx, key, int64(offset), int64(offset+limit-1))
	card := pipe.ZCard(ctx, key)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, fmt.Errorf("leaderboard.Top: %w", err)
	}
	members := make([]string, len(zs.Val()))
	entries := make([]Entry, len(zs.Val()))
	for i, z := range zs.Val() {
		members[i] = z.Member.(string)
		entries[i] = Entry{Rank: offset + i + 1, Score: z.Score, Member: members[i]}
	}
	if err := b.decorate(ctx, bd, entries); err != nil {
		return nil, 0, err
	}
	return entries, int(card.Val()), nil
}

// RankOf reads one member's entry; ok is false when it is not on the board.
func (b *Boards) RankOf(ctx context.Context, bd Board, member string) (Entry, int, bool, error) {
	if err := b.ensureBuilt(ctx, bd.Period, bd.Period.Previous()); err != nil {
		return Entry{}, 0, false, err
	}
	key := b.boardKey(bd.Period, bd.Scope, bd.Level, bd.Average)
	pipe := b.kv.Client.Pipeline()
	rank := pipe.ZRevRank(ctx, key, member)
	score := pipe.ZScore(ctx, key, member)
	card := pipe.ZCard(ctx, key)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Entry{}, 0, false, fmt.Errorf("leaderboard.RankOf: %w", err)
	}
	if errors.Is(rank.Err(), redis.Nil) {
		return Entry{}, int(card.Val()), false, nil
	}
	entries := []Entry{{Rank: int(rank.Val()) + 1, Score: score.Val(), Member: member}}
	if err := b.decorate(ctx, bd, entries); err != nil {
		return Entry{}, 0, false, err
	}
	return entries[0], int(card.Val()), true, nil
}

// decorate adds totals, statistics, rank changes and names, in one round
// trip to Redis and one query.
func (b *Boards) decorate(ctx context.Context, bd Board, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	totalKey := b.boardKey(bd.Period, bd.Scope, bd.Level, false)
	prevKey := b.boardKey(bd.Period.Previous(), bd.Scope, bd.Level, bd.Average)
	statsKey := b.statsKey(bd.Period, bd.Level)
	pipe := b.kv.Client.Pipeline()
	totals := make([]*redis.FloatCmd, len(entries))
	prev := make([]*redis.IntCmd, len(entries))
	fields := make([]string, 0, 4*len(entries))
	for i, e := range entries {
		totals[i] = pipe.ZScore(ctx, totalKey, e.Member)
		prev[i] = pipe.ZRevRank(ctx, prevKey, e.Member)
		for _, f := range []string{"c", "o", "r", "s"} {
			fields = append(fields, e.Member+":"+f)
		}
	}
	stats := pipe.HMGet(ctx, statsKey, fields...)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("leaderboard.decorate: %w", err)
	}
	vals := stats.Val()
	for i := range entries {
		e := &entries[i]
		e.Total = totals[i].Val()
		if prev[i].Err() == nil {
			e.RankChange = int(prev[i].Val()) + 1 - e.Rank
		}
		n := func(j int) int {
			s, _ := vals[4*i+j].(string)
			v, _ := strconv.Atoi(s)
			return v
		}
		e.Completed = n(0)
		if e.Completed > 0 {
			e.OnTimeRate = float64(n(1)) / float64(e.Completed)
		}
		if rated := n(2); rated > 0 {
			e.Satisfaction = float64(n(3)) / float64(rated)
		}
	}
	return b.names(ctx, bd.Level, entries)
}

func (b *Boards) names(ctx context.Context, l Level, entries []Entry) error {
	if l == Points {
		ids := make([]int, 0, len(entries))
		for _, e := range entries {
			id, _ := strconv.Atoi(e.Member)
			ids = append(ids, id)
		}
		rows, err := b.db.ServicePoint.Query().Where(servicepoint.IDIn(ids...)).All(ctx)
		if err != nil {
			return fmt.Errorf("leaderboard.names: %w", err)
		}
		byID := map[string][2]string{}
		for _, r := range rows {
			byID[strconv.Itoa(r.ID)] = [2]string{r.Name, r.RegionID}
		}
		for i := range entries {
			entries[i].Name, entries[i].Village = byID[entries[i].Member][0], byID[entries[i].Member][1]
		}
		return nil
	}
	codes := make([]string, 0, len(entries))
	for _, e := range entries {
		codes = append(codes, pad(e.Member))
	}
	rows, err := b.db.Region.Query().Where(region.IDIn(codes...)).All(ctx)
	if err != nil {
		return fmt.Errorf("leaderboard.names: %w", err)
	}
	byID := map[string]string{}
	for _, r := range rows {
		byID[r.ID] = r.Name
	}
	for i := range entries {
		entries[i].Village = pad(entries[i].Member)
		entries[i].Name = byID[entries[i].Village]
	}
	return nil
}

func pad(prefix string) string { return prefix + "000000000000"[:12-len(prefix)] }
