package report

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/changzhi/redpoint/ent/region"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/period"
	"github.com/changzhi/redpoint/service/regioncode"
)

// The quarterly review (季观摩): for a city, county or township and a
// quarter, each county's and township's figures against the quarter
// before, their leaderboard score and rank with the rank change, and
// each township's best and weakest service points. Review computes it;
// the 季观摩 sheet (reviewSheet) and GetQuarterlyReview only present it.
//
// Where the figures come from:
//   - received, completed, completed late (超期办结), the on-time and
//     satisfaction rates: the workload queries (compute), over the quarter,
//     as the other sheets count them. "Overdue now" is left out: it is a
//     figure of the moment the report is made, not of a quarter, and the
//     quarter before has none to compare with; 超期办结 is the quarter's.
//   - score and rank: the leaderboard's quarter boards, ordered by total
//     score (the leaderboard's default): counties on the city's board,
//     townships on their county's, points on their township's. The rank is
//     the board's position (equal scores keep the board's order), so it is
//     what the leaderboard shows for that quarter; a region with no active
//     service point is on no board and has rank 0 (shown as "—").
//   - best and weakest points: among a township's points on the quarter's
//     board that had activity in the quarter (an errand received or
//     completed, a rating, or a non-zero score), the best are all those
//     with the highest score, the weakest all those with the lowest (tied
//     points listed in the order of their ids); when all of them score the
//     same, none is weakest. Points without activity
//     are counted (idle), never best or weakest: an idle point is a matter
//     for the township, not a 观摩 comparison.

// Figures are a county's or township's figures in one quarter.
type Figures struct {
	Received, Completed, CompletedLate, Ratings int
	OnTimeRate, SatisfactionRate, Score         float64
	Rank, RankOf                                int // Rank 0: not on the board
}

// ReviewPoint is a service point named best or weakest.
type ReviewPoint struct {
	ID    int
	Name  string
	Score float64
}

// ReviewRow is one county's or township's review.
type ReviewRow struct {
	Code, Name string
	County     string // a township's county's name
	Current    Figures
	Previous   Figures
	// RankChange is places gained: previous rank − rank, 0 unless both ranked.
	RankChange int
	// Points are the active service points (on the board), Idle those of
	// them without activity in the quarter.
	Points, Idle  int
	Best, Weakest []ReviewPoint // townships only
}

// Review is a region's quarterly review.
type Review struct {
	Region              regioncode.Code
	Name                string
	Quarter             period.Period
	Start, End          time.Time
	Counties, Townships []ReviewRow
}

// ErrReviewLevel is a review asked of a region that has none: a village
// (or a province, which no scope covers).
var ErrReviewLevel = errors.New("report: quarterly reviews are of a city, county or township")

// The internal groupings of the review (GetWorkload offers neither).
const (
	byCounty   GroupBy = "county"
	byTownship GroupBy = "township"
)

// Review computes region code's review of quarter q as of now.
func (w *Workloads) Review(ctx context.Context, code regioncode.Code, q period.Period, now time.Time) (*Review, error) {
	if q.Kind != period.Quarter {
		return nil, fmt.Errorf("report.Review: %s is not a quarter", q)
	}
	lvl := code.Level()
	if lvl != regioncode.City && lvl != regioncode.County && lvl != regioncode.Township {
		return nil, ErrReviewLevel
	}
	w = w.pinned(ctx)
	name, err := w.regionName(ctx, code)
	if err != nil {
		return nil, err
	}
	start, end := q.Range()
	out := &Review{Region: code, Name: name, Quarter: q, Start: start, End: end}

	// The regions reviewed, all of them, idle ones too.
	lo, hi := code.Range()
	levels := []region.Level{region.LevelTOWNSHIP}
	if lvl != regioncode.Township {
		levels = append(levels, region.LevelCOUNTY)
	}
	regions, err := w.rd.Client.Region.Query().Where(region.IDGTE(lo), region.IDLTE(hi), region.LevelIn(levels...)).Order(region.ByID()).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("report.Review: %w", err)
	}
	countyNames := map[string]string{}
	if lvl == regioncode.Township {
		county := regioncode.Code(code.String()[:6] + "000000")
		if countyNames[county.String()], err = w.regionName(ctx, county); err != nil {
			return nil, err
		}
	}
	for _, r := range regions {
		if r.Level == region.LevelCOUNTY {
			countyNames[r.ID] = r.Name
		}
	}

	// The workload figures, by county and township, of both quarters.
	figures := map[period.Period]map[string]Row{}
	for _, p := range []period.Period{q, q.Previous()} {
		ps, pe := p.Range()
		figures[p] = map[string]Row{}
		groups := []GroupBy{byTownship}
		if lvl != regioncode.Township {
			groups = append(groups, byCounty)
		}
		for _, g := range groups {
			rows, err := w.Rows(ctx, Query{Region: code, Start: ps, End: pe, Now: now, GroupBy: g})
			if err != nil {
				return nil, err
			}
			for _, r := range rows {
				figures[p][strings.TrimPrefix(r.Key, "regions/")] = r
			}
		}
	}

	// The boards: counties on the city's, townships on their county's.
	city := code.String()[:4]
	type boardKey struct {
		p     period.Period
		scope string
		level leaderboard.Level
	}
	boards := map[boardKey]map[string]leaderboard.Entry{}
	sizes := map[boardKey]int{}
	read := func(p period.Period, scope string, l leaderboard.Level) (map[string]leaderboard.Entry, int, error) {
		k := boardKey{p, scope, l}
		if m, ok := boards[k]; ok {
			return m, sizes[k], nil
		}
		entries, n, err := w.boards.Top(ctx, leaderboard.Board{Period: p, Scope: scope, Level: l}, 0, math.MaxInt32)
		if err != nil {
			return nil, 0, err
		}
		m := make(map[string]leaderboard.Entry, len(entries))
		for _, e := range entries {
			m[e.Member] = e
		}
		boards[k], sizes[k] = m, n
		return m, n, nil
	}
	fig := func(p period.Period, code12 string, scope string, l leaderboard.Level, member string) (Figures, error) {
		r := figures[p][code12]
		f := Figures{Received: r.Received, Completed: r.Completed, CompletedLate: r.CompletedLate, Ratings: r.Ratings,
			OnTimeRate: r.OnTimeRate(), SatisfactionRate: r.SatisfactionRate()}
		board, n, err := read(p, scope, l)
		if err != nil {
			return f, err
		}
		if e, ok := board[member]; ok {
			f.Score, f.Rank, f.RankOf = roundScore(e.Score), e.Rank, n
		}
		return f, nil
	}
	row := func(r string, scope string, l leaderboard.Level, member string) (ReviewRow, error) {
		cur, err := fig(q, r, scope, l, member)
		if err != nil {
			return ReviewRow{}, err
		}
		prev, err := fig(q.Previous(), r, scope, l, member)
		if err != nil {
			return ReviewRow{}, err
		}
		rr := ReviewRow{Code: r, Current: cur, Previous: prev}
		if cur.Rank > 0 && prev.Rank > 0 {
			rr.RankChange = prev.Rank - cur.Rank
		}
		return rr, nil
	}

	// The points, on the region's own point board, with their activity.
	points, _, err := read(q, code.Prefix(), leaderboard.Points)
	if err != nil {
		return nil, err
	}
	pointRows, err := w.Rows(ctx, Query{Region: code, Start: start, End: end, Now: now, GroupBy: ByServicePoint})
	if err != nil {
		return nil, err
	}
	active := map[string]bool{}
	for _, r := range pointRows {
		if r.Received > 0 || r.Completed > 0 || r.Ratings > 0 {
			active[strings.TrimPrefix(r.Key, "servicePoints/")] = true
		}
	}
	byTownshipPoints := map[string][]leaderboard.Entry{}
	for _, e := range points {
		if len(e.Village) != 12 { // a point gone from the database since it scored
			continue
		}
		tw := e.Village[:9] + "000"
		byTownshipPoints[tw] = append(byTownshipPoints[tw], e)
	}

	for _, r := range regions {
		switch r.Level {
		case region.LevelCOUNTY:
			rr, err := row(r.ID, city, leaderboard.Counties, r.ID[:6])
			if err != nil {
				return nil, err
			}
			rr.Name = r.Name
			out.Counties = append(out.Counties, rr)
		case region.LevelTOWNSHIP:
			rr, err := row(r.ID, r.ID[:6], leaderboard.Townships, r.ID[:9])
			if err != nil {
				return nil, err
			}
			rr.Name, rr.County = r.Name, countyNames[r.ID[:6]+"000000"]
			rr.Points, rr.Idle, rr.Best, rr.Weakest = bestAndWeakest(byTownshipPoints[r.ID], active)
			out.Townships = append(out.Townships, rr)
		}
	}
	// A county's points are its townships'.
	for i := range out.Counties {
		for _, t := range out.Townships {
			if t.Code[:6] == out.Counties[i].Code[:6] {
				out.Counties[i].Points += t.Points
				out.Counties[i].Idle += t.Idle
			}
		}
	}
	return out, nil
}

// bestAndWeakest picks a township's best and weakest points among those
// with activity (a non-zero score counts as activity too: a follow-up's
// credit); see Review.
func bestAndWeakest(entries []leaderboard.Entry, active map[string]bool) (points, idle int, best, weakest []ReviewPoint) {
	var cands []ReviewPoint
	for _, e := range entries {
		if !active[e.Member] && e.Score == 0 {
			idle++
			continue
		}
		id, _ := strconv.Atoi(e.Member)
		cands = append(cands, ReviewPoint{ID: id, Name: e.Name, Score: roundScore(e.Score)})
	}
	if len(cands) == 0 {
		return len(entries), idle, nil, nil
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].Score != cands[j].Score {
			return cands[i].Score > cands[j].Score
		}
		return cands[i].ID < cands[j].ID
	})
	top, bottom := cands[0].Score, cands[len(cands)-1].Score
	for _, c := range cands {
		if c.Score == top {
			best = append(best, c)
		}
	}
	if bottom != top {
		for _, c := range cands {
			if c.Score == bottom {
				weakest = append(weakest, c)
			}
		}
	}
	return len(entries), idle, best, weakest
}

// roundScore rounds a board's score to 0.001, as the leaderboard shows it.
func roundScore(f float64) float64 { return math.Round(f*1000) / 1000 }
