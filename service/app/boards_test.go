package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/period"
	"github.com/changzhi/redpoint/service/testutil"
)

// TestServeBuildsTheMissingBoardsBeforeItsWorkers: a server starting over
// a Redis without boards builds the current periods' and the ones before
// them in the background, without a read asking, equal to a rebuild from
// the database; and it starts its workers (here: the scheduler leading)
// only after, so that no event the leaderboard job applies is lost to a
// build running under it.
func TestServeBuildsTheMissingBoardsBeforeItsWorkers(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	log := &apptest.LogBuffer{}
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: now, Errands: 100},
		Clock: func() time.Time { return now }, Log: log})
	k := s.App.KV
	boards := leaderboard.New(s.App.Store.Client, k)
	for _, cur := range period.All(now) {
		for _, p := range []period.Period{cur, cur.Previous()} {
			if n, err := k.Client.Exists(ctx, k.Key(kv.Tag("lb", p.String()), "built")).Result(); err != nil || n != 1 {
				t.Errorf("%s: no boards after the start-up (%v)", p, err)
				continue
			}
			if drift, err := boards.Reconcile(ctx, p); err != nil || drift != 0 {
				t.Errorf("%s: the start-up's boards differ from a rebuild in %d members (%v)", p, drift, err)
			}
		}
	}
	testutil.Eventually(t, 30*time.Second, "the scheduler leading", func() bool { return strings.Contains(log.String(), "scheduler leading") })
	out := log.String()
	built, leading := strings.Index(out, "boards built at start-up"), strings.Index(out, "scheduler leading")
	if built < 0 || built > leading {
		t.Errorf("the workers started before the boards were built:\n%s", out)
	}
}
