package report

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/changzhi/redpoint/service/leaderboard"
)

func TestBestAndWeakest(t *testing.T) {
	t.Parallel()
	entry := func(id int, score float64) leaderboard.Entry {
		return leaderboard.Entry{Member: fmt.Sprint(id), Name: fmt.Sprintf("点%d", id), Score: score}
	}
	pt := func(id int, score float64) ReviewPoint {
		return ReviewPoint{ID: id, Name: fmt.Sprintf("点%d", id), Score: score}
	}
	cases := []struct {
		name          string
		entries       []leaderboard.Entry
		active        map[string]bool
		idle          int
		best, weakest []ReviewPoint
	}{
		{name: "no points"},
		{name: "all idle", entries: []leaderboard.Entry{entry(1, 0), entry(2, 0)}, idle: 2},
		{name: "one active point is best, none weakest", entries: []leaderboard.Entry{entry(1, 15), entry(2, 0)},
			active: map[string]bool{"1": true}, idle: 1, best: []ReviewPoint{pt(1, 15)}},
		{name: "all tie: all best, none weakest", entries: []leaderboard.Entry{entry(2, 15), entry(1, 15)},
			active: map[string]bool{"1": true, "2": true}, best: []ReviewPoint{pt(1, 15), pt(2, 15)}},
		{name: "ties at both ends, in id order", entries: []leaderboard.Entry{entry(4, 18), entry(3, 18), entry(5, 7), entry(9, 5), entry(8, 5), entry(6, 0)},
			active: map[string]bool{"3": true, "4": true, "5": true, "8": true, "9": true}, idle: 1,
			best: []ReviewPoint{pt(3, 18), pt(4, 18)}, weakest: []ReviewPoint{pt(8, 5), pt(9, 5)}},
		{name: "a negative score (no errand, a bad rating's penalty) is activity and weakest",
			entries: []leaderboard.Entry{entry(1, 10), entry(2, 0), entry(3, -5)},
			active:  map[string]bool{"1": true, "2": true}, best: []ReviewPoint{pt(1, 10)}, weakest: []ReviewPoint{pt(3, -5)}},
		{name: "an active point scoring 0 can be weakest", entries: []leaderboard.Entry{entry(1, 10), entry(2, 0), entry(3, 0)},
			active: map[string]bool{"1": true, "2": true}, idle: 1, best: []ReviewPoint{pt(1, 10)}, weakest: []ReviewPoint{pt(2, 0)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			points, idle, best, weakest := bestAndWeakest(tc.entries, tc.active)
			if points != len(tc.entries) || idle != tc.idle {
				t.Errorf("points %d idle %d, want %d %d", points, idle, len(tc.entries), tc.idle)
			}
			if diff := cmp.Diff(tc.best, best); diff != "" {
				t.Errorf("best (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.weakest, weakest); diff != "" {
				t.Errorf("weakest (-want +got):\n%s", diff)
			}
		})
	}
}
