package errands

import (
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/predicate"
	"github.com/changzhi/redpoint/service/calendar"
)

type sla struct{ overdue, dueSoon bool }

// slaOf computes the SLA flags. While NEEDS_MATERIALS the clock is stopped:
// the errand is overdue only if it already was when the pause began.
func slaOf(e *ent.Errand, cal *calendar.Calendar, now time.Time) sla {
	if Final(e.State) {
		return sla{}
	}
	if e.PauseTime != nil {
		return sla{overdue: e.PauseTime.After(e.DueTime)}
	}
	if now.After(e.DueTime) {
		return sla{overdue: true}
	}
	return sla{dueSoon: !e.DueTime.After(cal.Due(now, 1))}
}

// Running are the states the SLA clock runs in.
var Running = []errand.State{errand.StateACCEPTED, errand.StateIN_PROGRESS, errand.StateFORWARDED}

// OverduePredicate matches what the errand view calls overdue, in SQL.
func OverduePredicate(now time.Time) predicate.Errand {
	return errand.Or(
		errand.And(errand.StateIn(Running...), errand.DueTimeLT(now)),
		errand.And(errand.StateEQ(errand.StateNEEDS_MATERIALS), errand.PauseTimeNotNil(), predicate.Errand(func(s *sql.Selector) {
			s.Where(sql.ColumnsGT(s.C(errand.FieldPauseTime), s.C(errand.FieldDueTime)))
		})),
	)
}

// DueSoonPredicate matches what the errand view calls due soon, in SQL.
func DueSoonPredicate(cal *calendar.Calendar, now time.Time) predicate.Errand {
	return errand.And(errand.StateIn(Running...), errand.DueTimeGTE(now), errand.DueTimeLTE(cal.Due(now, 1)))
}

// resumeDue moves the due time later by the working days spent waiting for
// materials, from pausedAt to now.
func resumeDue(cal *calendar.Calendar, due, pausedAt, now time.Time) time.Time {
	n := cal.WorkingDaysBetween(pausedAt, now)
	if n == 0 {
		return due
	}
	return cal.Due(due, n)
}
