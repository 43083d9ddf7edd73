package leaderboard

import (
	"context"
	"fmt"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/service/outbox"
)

// An event's effect is the components it adds to the boards (negative
// ones withdraw points). It is read from the event and from what does not
// change after it (the errand's acceptance and first completion, its
// rating, its history), never from the errand's current state alone: the
// jobs of one errand's events may run in any order, and a completion's
// job that runs after the errand was reopened must still add what the
// reopening's job withdraws. Summed over an errand's events, the effects
// are its Components: completions and reopenings cancel in pairs and
// leave the last completion, if the errand is completed now.

// scoring reports whether p is an event that can score, and its errand.
func scoring(p outbox.Payload) (int, bool) {
	switch p := p.(type) {
	case outbox.ErrandChange:
		return p.ErrandID, p.Kind == outbox.ErrandTransitioned && (p.State == errand.StateCOMPLETED || p.Reopening())
	case outbox.RatingCreated:
		return p.ErrandID, true
	case outbox.FollowUpClosed:
		return p.ErrandID, true
	}
	return 0, false
}

// effect is what the event p adds to the boards, read through db.
func effect(ctx context.Context, db *ent.Client, p outbox.Payload) ([]Component, error) {
	id, ok := scoring(p)
	if !ok {
		return nil, nil
	}
	e, err := db.Errand.Query().Where(errand.ID(id)).WithRating(func(q *ent.RatingQuery) { q.WithFollowUp() }).Only(ctx)
	if ent.IsNotFound(err) { // errands are never deleted; if one were, it scores nothing
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("leaderboard.effect: %w", err)
	}
	dup, err := isDuplicate(ctx, db, e)
	if err != nil || dup {
		return nil, err
	}
	r := e.Edges.Rating
	switch p := p.(type) {
	case outbox.ErrandChange:
		if p.Reopening() {
			return withdrawal(e, r, *p.ReopenedClose, *p.ReopenedDue, p.At), nil
		}
		return completed(e, p.At, p.DueTime), nil
	case outbox.RatingCreated:
		if r == nil {
			return nil, nil
		}
		reopened, err := firstReopen(ctx, db, e)
		if err != nil {
			return nil, err
		}
		return ratingEffect(e, r, reopened), nil
	case outbox.FollowUpClosed:
		if r == nil {
			return nil, nil
		}
		if c, ok := followedUp(e, r, r.Edges.FollowUp); ok {
			return []Component{c}, nil
		}
	}
	return nil, nil
}

// isFirst reports whether the completion at closed was e's first.
func isFirst(e *ent.Errand, closed time.Time) bool {
	return e.FirstCloseTime == nil || e.FirstCloseTime.Equal(closed)
}

// completed is the effect of a completion at closed against due: its
// points, unless it was a quick first completion (its rating adds them).
func completed(e *ent.Errand, closed, due time.Time) []Component {
	if isFirst(e, closed) && quick(e, closed) {
		return nil
	}
	return []Component{completion(e, closed, due)}
}

// withdrawal is the effect of reopening at reopenedAt the completion at
// closed against due: what that completion added, taken back — for a quick
// first completion, what its rating added for it, if it was rated before.
func withdrawal(e *ent.Errand, r *ent.Rating, closed, due, reopenedAt time.Time) []Component {
	c := completion(e, closed, due)
	if isFirst(e, closed) && quick(e, closed) {
		if r == nil || !r.CreateTime.Before(reopenedAt) {
			return nil // never counted
		}
		c.Source, c.At = FromRating, r.CreateTime
	}
	return []Component{negated(c)}
}

// ratingEffect is the effect of the rating r: its points, and for a quick first
// completion rated before any reopening (reopened: the first reopening's
// time, zero if none) that completion's.
func ratingEffect(e *ent.Errand, r *ent.Rating, reopened time.Time) []Component {
	out := []Component{rated(e, r)}
	closed := firstClose(e)
	if closed == nil || !quick(e, *closed) || (!reopened.IsZero() && !r.CreateTime.Before(reopened)) {
		return out
	}
	due := e.DueTime
	if e.ReopenCount > 0 {
		due = *closed // reopened since: a quick completion was on time (see quick)
	}
	c := completion(e, *closed, due)
	c.Source, c.At = FromRating, r.CreateTime
	return append(out, c)
}

// firstReopen is when e was first reopened; zero if never.
func firstReopen(ctx context.Context, db *ent.Client, e *ent.Errand) (time.Time, error) {
	if e.ReopenCount == 0 {
		return time.Time{}, nil
	}
	ev, err := db.ErrandEvent.Query().Where(errandevent.ErrandID(e.ID), errandevent.KindEQ(errandevent.KindREOPENED)).
		Order(ent.Asc(errandevent.FieldID)).First(ctx)
	if ent.IsNotFound(err) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("leaderboard.firstReopen: %w", err)
	}
	return ev.CreateTime, nil
}
