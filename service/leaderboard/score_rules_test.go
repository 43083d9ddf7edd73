package leaderboard_test

import (
	"testing"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/rating"
	"github.com/changzhi/redpoint/service/errands"
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

// TestQuickCompletionsAndConsent: a completion within QuickCompletion of
// acceptance scores only once rated, unless its resident confirmed the
// errand (a consent given, not revoked, holding at completion); then it
// scores at completion like any other.
func TestQuickCompletionsAndConsent(t *testing.T) {
	t.Parallel()
	accept := time.Date(2027, 3, 2, 1, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := accept.Add(d); return &x }
	paper := errand.ConsentMethodPAPER
	full := leaderboard.PointsCompleted + leaderboard.PointsOnTime
	for _, c := range []struct {
		name                  string
		closed                time.Duration
		consent, expire, gone *time.Time
		rated                 bool
		want                  float64 // the completion's points
		wantAt                time.Time
	}{
		{name: "slow, unconfirmed", closed: time.Hour, want: full, wantAt: *at(time.Hour)},
		{name: "quick, unconfirmed, unrated", closed: 3 * time.Minute},
		{name: "quick, unconfirmed, rated", closed: 3 * time.Minute, rated: true, want: full, wantAt: *at(24 * time.Hour)},
		{name: "quick, confirmed", closed: 3 * time.Minute, consent: at(time.Minute), expire: at(errands.ConsentValidity), want: full, wantAt: *at(3 * time.Minute)},
		{name: "quick, confirmed and rated: scores at completion, once", closed: 3 * time.Minute, consent: at(time.Minute), expire: at(errands.ConsentValidity), rated: true, want: full, wantAt: *at(3 * time.Minute)},
		{name: "quick, consent revoked", closed: 3 * time.Minute, consent: at(time.Minute), expire: at(errands.ConsentValidity), gone: at(2 * time.Minute)},
		{name: "quick, consent lapsed before completion", closed: 3 * time.Minute, consent: at(time.Minute), expire: at(2 * time.Minute)},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := &ent.Errand{ID: 1, ServicePointID: 2, RegionID: "140423100201", State: errand.StateCOMPLETED,
				AcceptTime: accept, DueTime: accept.Add(72 * time.Hour), CloseTime: at(c.closed),
				ConsentTime: c.consent, ConsentExpireTime: c.expire, ConsentRevokeTime: c.gone}
			if c.consent != nil {
				e.ConsentMethod = &paper
			}
			var r *ent.Rating
			if c.rated {
				r = &ent.Rating{Level: rating.LevelSATISFIED, CreateTime: accept.Add(24 * time.Hour)}
			}
			var got float64
			var gotAt time.Time
			n := 0
			for _, comp := range leaderboard.Components(e, r, nil, false) {
				if comp.Completed == 1 {
					got, gotAt = comp.Points, comp.At
					n++
				}
			}
			if n > 1 {
				t.Fatalf("the completion scored %d times", n)
			}
			if got != c.want || (n == 1 && !gotAt.Equal(c.wantAt)) {
				t.Errorf("completion: %v points at %v, want %v at %v", got, gotAt, c.want, c.wantAt)
			}
		})
	}
}
