package feedback

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/ent/followup"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/regioncode"
	"github.com/changzhi/redpoint/service/resname"
	"github.com/changzhi/redpoint/service/trackingcode"
)

// ListFollowUps lists a region's follow-ups: open first, oldest first.
func (s *Service) ListFollowUps(ctx context.Context, req *redpointv1.ListFollowUpsRequest) (*redpointv1.ListFollowUpsResponse, error) {
	_, code, err := access.InScope(ctx, "parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	lo, hi := code.Range()
	q := s.db.FollowUp.Query().Where(followup.RegionIDGTE(lo), followup.RegionIDLTE(hi))
	if req.GetOpenOnly() {
		q = q.Where(followup.StateEQ(followup.StateOPEN))
	}
	rows, next, err := pagetoken.Page(ctx, s.pages, req.GetPageToken(), pagetoken.Query{"followUps", code.String(), strconv.FormatBool(req.GetOpenOnly())},
		func(w pagetoken.Window) ([]*ent.FollowUp, error) {
			return q.WithRating(withRatedErrand).Where(w.After).Order(w.Order).Limit(w.Limit).All(ctx)
		},
		pagetoken.Desc(followup.FieldState, func(f *ent.FollowUp) string { return string(f.State) }),
		pagetoken.Asc(followup.FieldCreateTime, func(f *ent.FollowUp) time.Time { return f.CreateTime }),
		pagetoken.Asc(followup.FieldID, func(f *ent.FollowUp) int { return f.ID }))
	if err != nil {
		return nil, fmt.Errorf("feedback.ListFollowUps: %w", err)
	}
	cal, err := s.cal.Get(ctx)
	if err != nil {
		return nil, err
	}
	resp := &redpointv1.ListFollowUpsResponse{NextPageToken: next}
	now := s.now()
	for _, f := range rows {
		resp.FollowUps = append(resp.FollowUps, followUpProto(f, cal, now))
	}
	return resp, nil
}

// withRatedErrand loads what a follow-up shows of its rating: the rating,
// its errand and the errand's service point.
func withRatedErrand(r *ent.RatingQuery) {
	r.WithErrand(func(e *ent.ErrandQuery) { e.WithServicePoint() })
}

// followUpProto is f as the console shows it; f carries withRatedErrand's
// edges. An open follow-up's working days run to now.
func followUpProto(f *ent.FollowUp, cal *calendar.Calendar, now time.Time) *redpointv1.FollowUp {
	r := f.Edges.Rating
	e := r.Edges.Errand
	out := &redpointv1.FollowUp{
		Name: followUpsPrefix + strconv.Itoa(f.ID), Errand: resname.Name(resname.Errands, e.ID),
		TrackingCode: trackingcode.Format(e.TrackingCode), RatingDisplayName: RatingName(r.Level),
		Comment: r.Comment, ServicePointDisplayName: e.Edges.ServicePoint.Name, Open: f.State == followup.StateOPEN,
		CreateTime: timestamppb.New(f.CreateTime), Note: f.Note,
	}
	until := now
	if f.CloseTime != nil {
		out.CloseTime, until = timestamppb.New(*f.CloseTime), *f.CloseTime
	}
	out.OpenWorkingDays = int32(cal.WorkingDaysBetween(f.CreateTime, until))
	return out
}

// followUp reads one follow-up as the console shows it.
func (s *Service) followUp(ctx context.Context, id int) (*redpointv1.FollowUp, error) {
	f, err := s.db.FollowUp.Query().Where(followup.ID(id)).WithRating(withRatedErrand).Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("feedback.followUp: %w", err)
	}
	cal, err := s.cal.Get(ctx)
	if err != nil {
		return nil, err
	}
	return followUpProto(f, cal, s.now()), nil
}

// A follow-up is named followUps/{id}.
const followUpsPrefix = "followUps/"

var outcomes = map[string]followup.Outcome{"RESOLVED": followup.OutcomeRESOLVED, "EXPLAINED": followup.OutcomeEXPLAINED, "UNRESOLVED": followup.OutcomeUNRESOLVED}

// ErrFollowUpClosed refuses to close a follow-up twice.
var ErrFollowUpClosed = apierr.New(codes.FailedPrecondition, "FOLLOW_UP_CLOSED", "该回访已办结")

// validateClose checks a request to close a follow-up and returns the
// follow-up's id, the trimmed note and the outcome.
func validateClose(req *redpointv1.CloseFollowUpRequest) (int, string, followup.Outcome, error) {
	var v apierr.Violations
	id, convErr := strconv.Atoi(strings.TrimPrefix(req.GetName(), followUpsPrefix))
	if convErr != nil || id <= 0 || !strings.HasPrefix(req.GetName(), followUpsPrefix) {
		v.Add("name", "格式应为 followUps/{编号}")
	}
	note := strings.TrimSpace(req.GetNote())
	if n := utf8.RuneCountInString(note); n == 0 || n > 2000 {
		v.Add("note", "请填写回访情况（不超过 2000 字）")
	}
	outcome, ok := outcomes[req.GetOutcome()]
	if !ok {
		v.Add("outcome", "应为 RESOLVED、EXPLAINED 或 UNRESOLVED")
	}
	return id, note, outcome, v.Err()
}

// CloseFollowUp records the call-back: the follow-up, a history entry and
// an outbox event (the leaderboard gives credit back) in one transaction.
// It returns the closed follow-up as ListFollowUps shows it.
func (s *Service) CloseFollowUp(ctx context.Context, req *redpointv1.CloseFollowUpRequest) (*redpointv1.FollowUp, error) {
	p, err := access.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, note, outcome, err := validateClose(req)
	if err != nil {
		return nil, err
	}
	f, err := s.db.FollowUp.Get(ctx, id)
	if ent.IsNotFound(err) || (err == nil && !p.Covers(regioncode.Code(f.RegionID))) {
		if err == nil || !p.SeesEverything() {
			return nil, errOutOfScopeFollowUp
		}
		return nil, apierr.ErrNotFound.WithMessage("未找到该回访")
	}
	if err != nil {
		return nil, fmt.Errorf("feedback.CloseFollowUp: %w", err)
	}
	now := s.clock()
	tx, err := s.db.Tx(ctx)
	if err != nil {
		return nil, err
	}
	err = func() error {
		n, err := tx.FollowUp.Update().Where(followup.ID(id), followup.StateEQ(followup.StateOPEN)).SetState(followup.StateCLOSED).
			SetNote(note).SetOutcome(outcome).SetClosedByUserID(p.UserID).SetCloseTime(now).SetUpdateTime(now).AddVersion(1).Save(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrFollowUpClosed
		}
		if err := tx.ErrandEvent.Create().SetErrandID(f.ErrandID).SetKind(errandevent.KindFOLLOW_UP_CLOSED).SetActorKind(errandevent.ActorKindSTAFF).
			SetActorUserID(p.UserID).SetNote(note).SetCreateTime(now).Exec(ctx); err != nil {
			return err
		}
		return outbox.Publish(ctx, tx, now, outbox.NewFollowUpClosed(f))
	}()
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("feedback.CloseFollowUp: %w", err)
	}
	return s.followUp(ctx, id)
}

var errOutOfScopeFollowUp = apierr.ErrPermissionDenied.WithMessage("无权处理该回访")
