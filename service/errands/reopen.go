package errands

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/ent/followup"
	"github.com/changzhi/redpoint/ent/notification"
	"github.com/changzhi/redpoint/ent/predicate"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/resname"
	"github.com/changzhi/redpoint/service/trackingcode"
)

// ReopenDays is how many calendar days (Asia/Shanghai) after the day of
// its completion a resident may reopen an errand: completed on 11-01,
// reopenable until the end of 11-16.
const ReopenDays = 15

// ReopenDeadline is the last instant a resident may reopen an errand
// completed at closed: the end of the ReopenDays-th calendar day after.
func ReopenDeadline(closed time.Time) time.Time {
	t := closed.In(calendar.Location)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, calendar.Location)
	return day.AddDate(0, 0, ReopenDays+1).Add(-time.Microsecond).UTC()
}

// The reopening's errors.
var (
	// ErrReopenClosed: the resident's window has passed.
	ErrReopenClosed = apierr.New(codes.FailedPrecondition, "REOPEN_WINDOW_CLOSED",
		"已超过办结后 15 天，不能再申请重新办理；如有问题请联系代办点或乡镇")
	// ErrNotSecretary: only a township secretary reopens from a follow-up.
	ErrNotSecretary = apierr.ErrPermissionDenied.WithMessage("只有乡镇书记可以从回访重新打开事项")
	// errNotYours answers a resident's reopening of an errand they don't
	// own, as resident.ErrNotYours does: absent and not theirs look the same.
	errNotYours = apierr.ErrNotFound.WithMessage("未找到该事项")
)

const followUpsPrefix = "followUps/"

// ReopenErrand takes a completed errand of the secretary's township back
// to IN_PROGRESS, from the follow-up of its bad rating.
func (s *Server) ReopenErrand(ctx context.Context, req *redpointv1.ReopenErrandRequest) (*redpointv1.Errand, error) {
	p, err := access.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if p.Role != access.RoleTownshipSecretary {
		return nil, ErrNotSecretary
	}
	var v apierr.Violations
	reason := requiredText(&v, "reason", req.GetReason(), "重新办理的原因", maxText)
	fid := 0
	if rest, ok := strings.CutPrefix(req.GetFollowUp(), followUpsPrefix); req.GetFollowUp() == "" {
		v.Add("follow_up", "请指明据以重新办理的回访（followUps/{编号}）")
	} else if fid, err = strconv.Atoi(rest); !ok || err != nil || fid <= 0 {
		v.Add("follow_up", "格式应为 followUps/{编号}")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	note := reopenNote(reason, followUpsPrefix+strconv.Itoa(fid))
	return s.reopen(ctx, reopening{
		method: "errand.reopen", callerID: p.UserID, requestID: req.GetRequestId(), req: req, note: note, reason: reason,
		actor: errandevent.ActorKindSTAFF, actorUserID: &p.UserID, by: "乡镇回访",
		load: func(ctx context.Context, tx *ent.Tx) (*ent.Errand, error) {
			e, err := s.load(ctx, tx.Client(), p, "name", req.GetName())
			if err != nil {
				return nil, err
			}
			if err := resname.CheckEtag(req.GetEtag(), e.Version); err != nil {
				return nil, err
			}
			return e, nil
		},
		check: func(ctx context.Context, tx *ent.Tx, e *ent.Errand, _ time.Time) error {
			ok, err := tx.FollowUp.Query().Where(followup.ID(fid), followup.ErrandID(e.ID)).Exist(ctx)
			if err != nil {
				return fmt.Errorf("errand.ReopenErrand: %w", err)
			}
			if !ok {
				return apierr.InvalidField("follow_up", "该回访不是此事项的回访")
			}
			return nil
		},
	})
}

// ValidateResidentReason checks a resident's reason for reopening, adding
// what is wrong to v, and returns it trimmed.
func ValidateResidentReason(v *apierr.Violations, reason string) string {
	return requiredText(v, "reason", reason, "重新办理的原因", maxResidentReason)
}

// ReopenForResident is ResidentService.ReopenMyErrand's write: resident
// residentID reopens errand errandID, which owned must select (the
// ownership predicate, read in the same transaction), within ReopenDays
// of its completion. reason is ValidateResidentReason's; req (its
// request_id cleared here) tells a retry from a reuse.
func (s *Server) ReopenForResident(ctx context.Context, residentID, errandID int, owned predicate.Errand, reason, requestID string, req proto.Message) (*redpointv1.Errand, error) {
	return s.reopen(ctx, reopening{
		method: "resident.reopen", callerID: residentID, requestID: requestID, req: req,
		note: "群众申请重新办理：" + reason, reason: reason, actor: errandevent.ActorKindRESIDENT, by: "群众",
		load: func(ctx context.Context, tx *ent.Tx) (*ent.Errand, error) {
			e, err := tx.Errand.Query().Where(errand.ID(errandID), owned).Only(ctx)
			if ent.IsNotFound(err) {
				return nil, errNotYours
			}
			if err != nil {
				return nil, fmt.Errorf("errand.ReopenForResident: %w", err)
			}
			return e, nil
		},
		check: func(_ context.Context, _ *ent.Tx, e *ent.Errand, now time.Time) error {
			if e.State == errand.StateCOMPLETED && e.CloseTime != nil && now.After(ReopenDeadline(*e.CloseTime)) {
				return ErrReopenClosed.WithMetadata("deadline", ReopenDeadline(*e.CloseTime).Format(time.RFC3339))
			}
			return nil
		},
	})
}

// reopening is one caller's reopening of an errand.
type reopening struct {
	method      string // idempotency and the history's method
	callerID    int
	requestID   string
	req         proto.Message
	note        string // the history's note
	reason      string
	actor       errandevent.ActorKind
	actorUserID *int
	by          string // who reopened it, for the agent's notification
	// load reads the errand within the caller's scope (and checks the etag).
	load func(ctx context.Context, tx *ent.Tx) (*ent.Errand, error)
	// check refuses what the caller may not reopen beyond the state table.
	check func(ctx context.Context, tx *ent.Tx, e *ent.Errand, now time.Time) error
}

// reopen moves a completed errand back to IN_PROGRESS with a new due time
// (its type's limit from now), its result and close time cleared and its
// reopen count and time set; its history entry, the agent's notification,
// the outbox event and the audit line commit with it, once per request_id.
func (s *Server) reopen(ctx context.Context, r reopening) (*redpointv1.Errand, error) {
	cal, err := s.calendar.Get(ctx)
	if err != nil {
		return nil, err
	}
	hashed := proto.Clone(r.req)
	clearRequestID(hashed)
	out := &redpointv1.Errand{}
	var before, after *ent.Errand
	_, err = s.idem.Do(ctx, r.method, r.callerID, r.requestID, hashed, out, func(ctx context.Context, tx *ent.Tx) (proto.Message, error) {
		seq, err := nextSeq(ctx, tx, s.dialect)
		if err != nil {
			return nil, err
		}
		e, err := r.load(ctx, tx)
		if err != nil {
			return nil, err
		}
		next, err := Next(e.State, Reopen)
		if err != nil {
			return nil, err
		}
		now := s.clock()
		if err := r.check(ctx, tx, e, now); err != nil {
			return nil, err
		}
		typ, err := tx.ErrandType.Get(ctx, e.ErrandTypeID)
		if err != nil {
			return nil, fmt.Errorf("errand.reopen: %w", err)
		}
		u := tx.Errand.UpdateOneID(e.ID).SetState(next).
			SetDueTime(cal.Due(now, typ.TimeLimitDays)).SetResult("").ClearCloseTime().ClearWorkingDays().ClearPauseTime().
			SetReopenCount(e.ReopenCount + 1).SetLastReopenTime(now)
		if e.FirstCloseTime == nil && e.CloseTime != nil { // completed before first_close_time was kept
			u.SetFirstCloseTime(*e.CloseTime)
		}
		updated, saved, err := commitChange(ctx, tx, e, u, now, errandChange{
			seq: seq, actor: r.actor, staffID: r.actorUserID, method: r.method, kind: outbox.ErrandTransitioned, reopened: true,
			history: []historyEntry{{kind: errandevent.KindREOPENED, from: e.State, to: next, note: r.note}},
		})
		if err != nil {
			return nil, err
		}
		before, after = e, updated
		due := updated.DueTime.In(calendar.Location).Format("1月2日 15:04")
		err = tx.Notification.Create().SetUserID(e.AgentID).SetKind(notification.KindERRAND_REOPENED).SetErrandID(e.ID).
			SetRegionID(e.RegionID).SetDedupKey(fmt.Sprintf("reopen:%d:%d", e.ID, saved.ID)).SetTitle("事项被重新打开").
			SetBody(truncateRunes(fmt.Sprintf("「%s」（%s）经%s重新打开：%s。请于%s前重新办结。", typ.Name, trackingcode.Format(e.TrackingCode), r.by, r.reason, due), 500)).
			SetCreateTime(now).Exec(ctx)
		if err != nil {
			return nil, fmt.Errorf("errand.reopen: %w", err)
		}
		return s.view(ctx, tx.Client(), updated, cal, now, false)
	})
	if err != nil {
		return nil, err
	}
	s.committed(ctx, out.TrackingCode, before, after)
	return out, nil
}

// reopenNote is the history's note of a reopening from followUp: the
// reason, shortened if need be so that the note fits the history's
// maxText (the reason alone may take all of it).
func reopenNote(reason, followUp string) string {
	const prefix = "重新办理："
	suffix := "（回访 " + followUp + "）"
	room := maxText - utf8.RuneCountInString(prefix) - utf8.RuneCountInString(suffix)
	return prefix + truncateRunes(reason, room) + suffix
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
