package errands

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/predicate"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/answers"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/regioncode"
)

// Scopes are the answers (package answers) a change of the errand e
// touches, as it stands before or after the change: the errand, the
// lists of its service point and of every region above it, and its
// resident's (by phone).
func Scopes(e *ent.Errand) []string {
	out := []string{answers.Errand(e.ID), answers.Point(e.ServicePointID), answers.Phone(e.ResidentPhoneHash)}
	if code, err := regioncode.Parse(e.RegionID); err == nil {
		out = append(out, answers.RegionTree(code)...)
	}
	return out
}

// committed tells the caches an errand changed, once the change has
// committed: the answers the rows touch (before and after the change), and
// the public lookup of its tracking code (none for a new errand). The
// outbox runs the same invalidation again in case this call was lost.
func (s *Server) committed(ctx context.Context, trackingCode string, rows ...*ent.Errand) {
	var scopes []string
	for _, e := range rows {
		if e != nil {
			scopes = append(scopes, Scopes(e)...)
		}
	}
	s.answers.Changed(ctx, scopes...)
	if trackingCode != "" && s.changed != nil {
		s.changed(ctx, trackingCode)
	}
}

// listScope is the scope of the errands p may list.
func listScope(p access.Principal) string {
	if p.Role == access.RoleAgent {
		return answers.Point(p.ServicePointID)
	}
	return answers.Region(p.Region)
}

// slaChanges is the first instant after now at which e's SLA flags change
// by time alone (zero: they don't): it becomes overdue just after its due
// time, and due soon as the working days roll over, at a midnight.
func slaChanges(e *ent.Errand, now time.Time) time.Time {
	if Final(e.State) || e.PauseTime != nil || now.After(e.DueTime) {
		return time.Time{}
	}
	return earliest(e.DueTime.Add(time.Microsecond), nextMidnight(now))
}

// nextMidnight is the start of the day after now's, in Asia/Shanghai.
func nextMidnight(now time.Time) time.Time {
	y, m, d := now.In(calendar.Location).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, calendar.Location)
}

// earliest is the earliest non-zero instant of ts (zero if none).
func earliest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if !t.IsZero() && (out.IsZero() || t.Before(out)) {
			out = t
		}
	}
	return out
}

// usesNow reports whether a filter's matches depend on the time (overdue,
// due_soon); a quoted value that merely contains the words only makes the
// answer shorter-lived.
func usesNow(filter string) bool {
	return strings.Contains(filter, "overdue") || strings.Contains(filter, "due_soon")
}

// membershipChanges is, for a filter on the time, the first instant after
// now at which an errand in scope crosses its due time, or the next
// midnight, when the due-soon window moves.
func (s *Server) membershipChanges(ctx context.Context, scope []predicate.Errand, now time.Time) (time.Time, error) {
	next, err := s.db.Errand.Query().Where(scope...).Where(errand.StateIn(Running...), errand.DueTimeGTE(now)).
		Order(ent.Asc(errand.FieldDueTime)).Select(errand.FieldDueTime).First(ctx)
	if ent.IsNotFound(err) {
		return nextMidnight(now), nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return earliest(next.DueTime.Add(time.Microsecond), nextMidnight(now)), nil
}

// listKey names a list answer: its caller (page tokens are theirs) and
// the scope their token gives them, the query and the page, each part
// quoted so that no two requests share a key.
func listKey(p access.Principal, size int, parts ...string) string {
	key := "errands|" + strconv.Itoa(p.UserID) + "|" + listScope(p) + "|" + strconv.Itoa(size)
	for _, part := range parts {
		key += "|" + strconv.Quote(part)
	}
	return key
}

// AnswersInvalidator bumps the answers every errand change and rating
// touches, from the outbox: the guaranteed path behind the errand
// service's own bump after commit, retried until Redis takes it.
func AnswersInvalidator(k *kv.KV) events.Handler {
	return events.Handler{
		Name:   "answers-invalidate",
		Topics: []string{outbox.TopicErrandCreated, outbox.TopicErrandUpdated, outbox.TopicErrandTransitioned, outbox.TopicRatingCreated},
		Handle: func(ctx context.Context, tx *ent.Tx, ev events.Event) error {
			var id int
			switch p := ev.Payload.(type) {
			case outbox.ErrandChange:
				id = p.ErrandID
			case outbox.RatingCreated:
				id = p.ErrandID
			default:
				return ev.Unexpected()
			}
			e, err := tx.Errand.Query().Where(errand.ID(id)).
				Select(errand.FieldServicePointID, errand.FieldRegionID, errand.FieldResidentPhoneHash).Only(ctx)
			if err != nil {
				return err
			}
			return answers.Invalidate(ctx, k, Scopes(e)...)
		},
	}
}
