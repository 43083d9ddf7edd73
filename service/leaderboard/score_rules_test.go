package leaderboard_test

import (
	"testing"

	"github.com/changzhi/redpoint/ent/rating"
	"github.com/changzhi/redpoint/service/feedback"
	"github.com/changzhi/redpoint/service/leaderboard"
)

// TestRatingPointsFollowFeedback: the board's points per level agree with
// what feedback says the levels mean: every level scores, a bad rating
// costs and a satisfied one adds, and the follow-up's credit (bad ratings
// only) gives back less than the penalty.
func TestRatingPointsFollowFeedback(t *testing.T) {
	t.Parallel()
	all := append(append([]rating.Level{}, feedback.SatisfiedLevels...), feedback.BadLevels...)
	if len(leaderboard.PointsRating) != len(all) {
		t.Errorf("%d levels score, feedback has %d", len(leaderboard.PointsRating), len(all))
	}
	for _, l := range all {
		points, ok := leaderboard.PointsRating[l]
		credit := leaderboard.CreditFollowUp[l]
		switch {
		case !ok:
			t.Errorf("%s scores nothing", l)
		case feedback.BadRating(l) && (points >= 0 || credit <= 0 || credit >= -points):
			t.Errorf("bad %s: %v points, %v back after the follow-up", l, points, credit)
		case feedback.SatisfiedRating(l) && (points <= 0 || credit != 0):
			t.Errorf("satisfied %s: %v points, %v follow-up credit", l, points, credit)
		}
	}
}
