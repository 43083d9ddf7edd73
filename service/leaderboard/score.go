// Package leaderboard ranks service points, townships and counties by
// score (太行先锋) in Redis sorted sets, per ISO week, month, quarter and
// year, rebuildable from the database. The formula is docs/leaderboard.md;
// its constants are here and nowhere else.
package leaderboard

import (
	"context"
	"fmt"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/followup"
	"github.com/changzhi/redpoint/ent/rating"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/feedback"
)

// The score formula (docs/leaderboard.md says why).
const (
	// PointsCompleted for each completed errand.
	PointsCompleted = 10.0
	// PointsOnTime on top, when completed by its due time.
	PointsOnTime = 5.0
	// QuickCompletion: an errand completed sooner than this after it was
	// logged scores its completion only once its resident rates it, unless
	// its resident confirmed it (errands.Confirmed: a consent given, not
	// revoked, still holding at completion).
	QuickCompletion = 10 * time.Minute
)

// PointsRating is what each 好差评 level adds or takes away (which levels
// are bad or satisfied is feedback's: BadLevels, SatisfiedLevels).
var PointsRating = map[rating.Level]float64{
	rating.LevelVERY_SATISFIED:      5,
	rating.LevelSATISFIED:           3,
	rating.LevelBASICALLY_SATISFIED: 1,
	rating.LevelDISSATISFIED:        -5,
	rating.LevelVERY_DISSATISFIED:   -10,
}

// CreditFollowUp is given back when the township closes the follow-up of
// a bad rating: the penalty is halved (rounded up), never erased.
var CreditFollowUp = map[rating.Level]float64{
	rating.LevelDISSATISFIED:      3,
	rating.LevelVERY_DISSATISFIED: 5,
}

// Source is what a component comes from: it is also the event that adds it.
type Source int

// Sources of points.
const (
	FromCompletion Source = iota + 1
	FromRating
	FromFollowUp
)

// Component is one scoring fact: points and statistics for a service point
// at a time. A board's score is the sum of its components in the period.
type Component struct {
	Source    Source
	ErrandID  int
	PointID   int
	Village   string // 12-digit code of the point's village
	At        time.Time
	Points    float64
	Completed int // counted completions
	OnTime    int
	Rated     int
	Satisfied int
}

// Components are an errand's scoring facts, all of them: the rebuild sums
// these, and the incremental updater adds the ones of each event as it
// happens, so the two agree.
//
// duplicate is whether an earlier completed errand of the same agent,
// resident, type and day exists (see isDuplicate).
func Components(e *ent.Errand, r *ent.Rating, f *ent.FollowUp, duplicate bool) []Component {
	if e.State != errand.StateCOMPLETED || e.CloseTime == nil || duplicate {
		return nil
	}
	base := Component{ErrandID: e.ID, PointID: e.ServicePointID, Village: e.RegionID}
	var out []Component
	// A quick completion is suspect, unless the resident confirmed the
	// errand (委托授权): then it scores like any other.
	quick := e.CloseTime.Sub(e.AcceptTime) < QuickCompletion && !errands.Confirmed(e)
	completion := base
	completion.Source, completion.Completed, completion.Points = FromCompletion, 1, PointsCompleted
	if !e.CloseTime.After(e.DueTime) {
		completion.OnTime, completion.Points = 1, PointsCompleted+PointsOnTime
	}
	switch {
	case !quick:
		completion.At = *e.CloseTime
		out = append(out, completion)
	case r != nil: // a quick one counts once its resident rated it
		completion.Source, completion.At = FromRating, r.CreateTime
		out = append(out, completion)
	}
	if r != nil {
		c := base
		c.Source, c.At, c.Points, c.Rated = FromRating, r.CreateTime, PointsRating[r.Level], 1
		if feedback.SatisfiedRating(r.Level) {
			c.Satisfied = 1
		}
		out = append(out, c)
		if f != nil && f.State == followup.StateCLOSED && f.CloseTime != nil && CreditFollowUp[r.Level] > 0 {
			c := base
			c.Source, c.At, c.Points = FromFollowUp, *f.CloseTime, CreditFollowUp[r.Level]
			out = append(out, c)
		}
	}
	return out
}

// dayOf is the Asia/Shanghai day of t, as [start, end).
func dayOf(t time.Time) (time.Time, time.Time) {
	t = t.In(calendar.Location)
	start := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, calendar.Location)
	return start.UTC(), start.AddDate(0, 0, 1).UTC()
}

// groupKey is what makes errands "the same errand logged twice": one
// agent, one resident, one type, one day of acceptance.
type groupKey struct {
	agent int
	phone string
	typ   string
	day   time.Time
}

func keyOf(e *ent.Errand) groupKey {
	d, _ := dayOf(e.AcceptTime)
	return groupKey{e.AgentID, e.ResidentPhoneHash, e.ErrandTypeID, d}
}

// first reports whether a precedes b among completions: by close time, then id.
func first(a, b *ent.Errand) bool {
	if !a.CloseTime.Equal(*b.CloseTime) {
		return a.CloseTime.Before(*b.CloseTime)
	}
	return a.ID < b.ID
}

// isDuplicate reports whether another completed errand of e's group was
// completed before e: only the first of a group scores.
func isDuplicate(ctx context.Context, db *ent.Client, e *ent.Errand) (bool, error) {
	if e.CloseTime == nil {
		return false, nil
	}
	start, end := dayOf(e.AcceptTime)
	group, err := db.Errand.Query().Where(
		errand.AgentID(e.AgentID), errand.ResidentPhoneHash(e.ResidentPhoneHash), errand.ErrandTypeID(e.ErrandTypeID),
		errand.AcceptTimeGTE(start), errand.AcceptTimeLT(end), errand.StateEQ(errand.StateCOMPLETED), errand.IDNEQ(e.ID),
	).All(ctx)
	if err != nil {
		return false, fmt.Errorf("leaderboard.isDuplicate: %w", err)
	}
	for _, o := range group {
		if o.CloseTime != nil && first(o, e) {
			return true, nil
		}
	}
	return false, nil
}
