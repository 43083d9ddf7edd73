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
	"github.com/changzhi/redpoint/ent/predicate"
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
// these, and the incremental updater adds each event's effect as it
// happens (effects.go), so the two agree.
//
// duplicate is whether an earlier completed errand of the same agent,
// resident, type and day exists (see isDuplicate).
//
// A reopened errand (reopen_count > 0) scores its completion once, at its
// last completion, on time against its current due time; while it is
// reopened its completion scores nothing. Its rating and follow-up credit
// stay: they happened. The quick-completion rule judges its first
// completion only.
func Components(e *ent.Errand, r *ent.Rating, f *ent.FollowUp, duplicate bool) []Component {
	if firstClose(e) == nil || duplicate {
		return nil
	}
	var out []Component
	if e.State == errand.StateCOMPLETED && e.CloseTime != nil {
		c := completion(e, *e.CloseTime, e.DueTime)
		switch {
		case e.ReopenCount > 0 || !quick(e, *e.CloseTime):
			out = append(out, c)
		case r != nil: // a quick one counts once its resident rated it
			c.Source, c.At = FromRating, r.CreateTime
			out = append(out, c)
		}
	}
	if r != nil {
		out = append(out, rated(e, r))
		if c, ok := followedUp(e, r, f); ok {
			out = append(out, c)
		}
	}
	return out
}

// firstClose is when e was first completed, kept through reopens; nil if
// it never was. Rows completed before first_close_time was kept have only
// their close time.
func firstClose(e *ent.Errand) *time.Time {
	if e.FirstCloseTime != nil {
		return e.FirstCloseTime
	}
	if e.State == errand.StateCOMPLETED {
		return e.CloseTime
	}
	return nil
}

// quick reports whether a completion at closed came sooner than
// QuickCompletion after e was logged. Only a first completion can be
// quick: its due time is at least the end of the next working day (time
// limits are at least one day), so a quick completion is always on time.
//
// A completion the resident confirmed (委托授权, errands.Confirmed) is
// never quick: the consent is the proof the errand was real. It is judged
// at closed, not by the consent as it is now: a consent revoked or given
// after a reopening must not change what an earlier event's job added.
func quick(e *ent.Errand, closed time.Time) bool {
	return closed.Sub(e.AcceptTime) < QuickCompletion && !errands.Confirmed(e, closed)
}

func base(e *ent.Errand) Component {
	return Component{ErrandID: e.ID, PointID: e.ServicePointID, Village: e.RegionID}
}

// completion is e's completion at closed against due, counted at closed.
func completion(e *ent.Errand, closed, due time.Time) Component {
	c := base(e)
	c.Source, c.At, c.Completed, c.Points = FromCompletion, closed, 1, PointsCompleted
	if !closed.After(due) {
		c.OnTime, c.Points = 1, PointsCompleted+PointsOnTime
	}
	return c
}

// rated is the rating r's own points.
func rated(e *ent.Errand, r *ent.Rating) Component {
	c := base(e)
	c.Source, c.At, c.Points, c.Rated = FromRating, r.CreateTime, PointsRating[r.Level], 1
	if feedback.SatisfiedRating(r.Level) {
		c.Satisfied = 1
	}
	return c
}

// followedUp is the credit of r's closed follow-up f, if any.
func followedUp(e *ent.Errand, r *ent.Rating, f *ent.FollowUp) (Component, bool) {
	if f == nil || f.State != followup.StateCLOSED || f.CloseTime == nil || CreditFollowUp[r.Level] <= 0 {
		return Component{}, false
	}
	c := base(e)
	c.Source, c.At, c.Points = FromFollowUp, *f.CloseTime, CreditFollowUp[r.Level]
	return c, true
}

// negated is c withdrawn.
func negated(c Component) Component {
	c.Points, c.Completed, c.OnTime, c.Rated, c.Satisfied = -c.Points, -c.Completed, -c.OnTime, -c.Rated, -c.Satisfied
	return c
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

// first reports whether a precedes b among completions: by first close
// time (firstClose, so a reopen does not change a group's first), then id.
// Both must have been completed.
func first(a, b *ent.Errand) bool {
	fa, fb := firstClose(a), firstClose(b)
	if !fa.Equal(*fb) {
		return fa.Before(*fb)
	}
	return a.ID < b.ID
}

// everCompleted selects the errands that were completed at least once:
// completed now, or reopened since (and maybe cancelled after).
func everCompleted() predicate.Errand {
	return errand.Or(errand.StateEQ(errand.StateCOMPLETED), errand.FirstCloseTimeNotNil())
}

// isDuplicate reports whether another errand of e's group was first
// completed before e was: only the first of a group scores. A reopened
// errand keeps its place, so reopening it neither hands its group's score
// to a later group-mate nor lets it score beside one.
func isDuplicate(ctx context.Context, db *ent.Client, e *ent.Errand) (bool, error) {
	if firstClose(e) == nil {
		return false, nil
	}
	start, end := dayOf(e.AcceptTime)
	group, err := db.Errand.Query().Where(
		errand.AgentID(e.AgentID), errand.ResidentPhoneHash(e.ResidentPhoneHash), errand.ErrandTypeID(e.ErrandTypeID),
		errand.AcceptTimeGTE(start), errand.AcceptTimeLT(end), everCompleted(), errand.IDNEQ(e.ID),
	).All(ctx)
	if err != nil {
		return false, fmt.Errorf("leaderboard.isDuplicate: %w", err)
	}
	for _, o := range group {
		if firstClose(o) != nil && first(o, e) {
			return true, nil
		}
	}
	return false, nil
}
