package demo

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/changzhi/redpoint/ent/reportsnapshot"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/period"
	"github.com/changzhi/redpoint/service/report"
)

// The past weekly dispatches (周调度), monthly reports (月通报) and
// quarterly reviews (季观摩) the demo stores, for the README's township and
// county: the last four weeks, three months and one quarter. The city's
// report takes the longest (about 0.8 s each, a sheet row per agent
// city-wide), so it gets only the latest week and month and no quarter;
// the other 138 regions none, which would add about a minute to the seed.
// The scheduler stores every region's from the next Monday, the 1st and
// the next quarter on.
var snapshotHistory = []struct {
	region                  string
	weeks, months, quarters int
}{
	{pad(cityCode), 1, 1, 0},
	{pad(xiangyuanCounty), 4, 3, 1},
	{pad(guhanTownship), 4, 3, 1},
}

// Snapshots stores the reports the snapshot jobs would have stored over
// the demo's last weeks and months had the server been running, through
// the jobs' own code, each as of its job's run time, and says how many.
// Call it after Seed, with Seed's Now: the reports read the committed
// errands. The quarterly reviews read the boards of their quarter and the
// one before, which it rebuilds first (boards is w's): a Redis that
// outlived an earlier database may hold boards of its.
func Snapshots(ctx context.Context, w *report.Workloads, boards *leaderboard.Boards, now time.Time) (int, error) {
	type job struct {
		kind    reportsnapshot.Kind
		p       period.Period
		regions []string
	}
	var jobs []job
	for _, s := range []struct {
		kind  reportsnapshot.Kind
		of    period.Kind
		count func(region int) int
	}{
		{reportsnapshot.KindWEEKLY_DISPATCH, period.Week, func(i int) int { return snapshotHistory[i].weeks }},
		{reportsnapshot.KindMONTHLY_REPORT, period.Month, func(i int) int { return snapshotHistory[i].months }},
		{reportsnapshot.KindQUARTERLY_REVIEW, period.Quarter, func(i int) int { return snapshotHistory[i].quarters }},
	} {
		p := period.Of(s.of, now).Previous()
		if report.RunTime(p).After(now) { // this period's job has not run yet
			p = p.Previous()
		}
		for back := 0; ; back++ {
			var regions []string
			for i, h := range snapshotHistory {
				if back < s.count(i) {
					regions = append(regions, h.region)
				}
			}
			if len(regions) == 0 {
				break
			}
			jobs = append(jobs, job{s.kind, p, regions})
			p = p.Previous()
		}
	}
	// In the order the jobs would have run: lists show the highest id,
	// so the latest report, first.
	sort.SliceStable(jobs, func(i, j int) bool { return report.RunTime(jobs[i].p).Before(report.RunTime(jobs[j].p)) })
	rebuilt := map[period.Period]bool{}
	for _, j := range jobs {
		if j.kind != reportsnapshot.KindQUARTERLY_REVIEW {
			continue
		}
		for _, p := range []period.Period{j.p, j.p.Previous()} {
			if !rebuilt[p] {
				if err := boards.Rebuild(ctx, p); err != nil {
					return 0, fmt.Errorf("demo.Snapshots: %w", err)
				}
				rebuilt[p] = true
			}
		}
	}
	n := 0
	for _, j := range jobs {
		if err := w.SnapshotRegions(ctx, j.kind, j.p, report.RunTime(j.p), j.regions...); err != nil {
			return n, fmt.Errorf("demo.Snapshots: %w", err)
		}
		n += len(j.regions)
	}
	return n, nil
}
