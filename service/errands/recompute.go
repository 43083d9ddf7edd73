package errands

import (
	"context"
	"fmt"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/service/answers"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/store"
)

// dueFromHistory replays an errand's history on cal: acceptance plus the
// type's limit, moved later by every finished NEEDS_MATERIALS pause.
func dueFromHistory(cal *calendar.Calendar, e *ent.Errand, limit int, events []*ent.ErrandEvent) time.Time {
	due := cal.Due(e.AcceptTime, limit)
	var pausedAt *time.Time
	for _, ev := range events {
		if ev.Kind == errandevent.KindREOPENED {
			// A reopened errand's limit counts again from the reopening.
			due, pausedAt = cal.Due(ev.CreateTime, limit), nil
			continue
		}
		if ev.Kind != errandevent.KindTRANSITIONED {
			continue
		}
		switch {
		case ev.ToState == string(errand.StateNEEDS_MATERIALS):
			t := ev.CreateTime
			pausedAt = &t
		case ev.FromState == string(errand.StateNEEDS_MATERIALS) && pausedAt != nil:
			due = resumeDue(cal, due, *pausedAt, ev.CreateTime)
			pausedAt = nil
		}
	}
	return due
}

// RecomputeDue recomputes, on cal (the calendar just loaded), the due time
// of every open errand due on or after from — after an admin loaded a new
// year's holidays. A changed errand gets a new version and change number,
// a history entry and an errand.updated outbox event, so its SLA timers
// re-arm and phones re-sync. It returns how many changed.
func (s *Server) RecomputeDue(ctx context.Context, cal *calendar.Calendar, from time.Time) (int, error) {
	// Every SLA flag may read differently on the new calendar.
	s.answers.Changed(ctx, answers.Calendar)
	open, err := s.db.Errand.Query().Where(errand.StateNotIn(errand.StateCOMPLETED, errand.StateCANCELLED), errand.DueTimeGTE(from.UTC())).
		WithErrandType().WithEvents(func(q *ent.ErrandEventQuery) { q.Order(ent.Asc(errandevent.FieldID)) }).All(ctx)
	if err != nil {
		return 0, fmt.Errorf("errand.RecomputeDue: %w", err)
	}
	changed := 0
	for _, e := range open {
		due := dueFromHistory(cal, e, e.Edges.ErrandType.TimeLimitDays, e.Edges.Events)
		if due.Equal(e.DueTime) {
			continue
		}
		err := store.WithTx(ctx, s.db, func(tx *ent.Tx) error {
			seq, err := nextSeq(ctx, tx, s.dialect)
			if err != nil {
				return err
			}
			now := s.clock()
			updated, err := tx.Errand.UpdateOneID(e.ID).Where(errand.Version(e.Version)).
				SetDueTime(due).SetVersion(e.Version + 1).SetUpdateTime(now).SetChangeSeq(seq).Save(ctx)
			if ent.IsNotFound(err) {
				return nil // changed meanwhile: that change used the new calendar already
			}
			if err != nil {
				return err
			}
			e = updated
			ev, err := tx.ErrandEvent.Create().SetErrandID(e.ID).SetKind(errandevent.KindUPDATED).SetActorKind(errandevent.ActorKindSYSTEM).
				SetNote("节假日安排调整，办结时限重新计算").SetCreateTime(now).Save(ctx)
			if err != nil {
				return err
			}
			return outbox.Publish(ctx, tx, now, outbox.NewErrandChange(outbox.ErrandUpdated, updated, ev.ID, e.State, "calendar", ""))
		})
		if err != nil {
			return changed, fmt.Errorf("errand.RecomputeDue: %w", err)
		}
		s.committed(ctx, e.TrackingCode, e)
		changed++
	}
	return changed, nil
}
