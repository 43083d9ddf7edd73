package feedback

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/ent/predicate"
	"github.com/changzhi/redpoint/ent/rating"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/audit"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/resname"
)

// RatingWindow is how long after completion an errand can be rated.
const RatingWindow = 30 * 24 * time.Hour

// Rateable says why an errand can't be rated at now, or nil if it can: it
// must not be rated yet (rated), be completed (state, closed: its
// completion time) and be at most RatingWindow past completion.
func Rateable(rated bool, state errand.State, closed *time.Time, now time.Time) error {
	switch {
	case rated:
		return ErrAlreadyRated
	case state != errand.StateCOMPLETED || closed == nil:
		return ErrNotCompleted
	case now.After(closed.Add(RatingWindow)):
		return ErrTooLate
	}
	return nil
}

// CanRate says whether the mini-program offers to rate the errand: the
// rules of Rateable, except that the offer ends at the window's last
// instant, which Rateable still accepts.
func CanRate(rated bool, state errand.State, closed *time.Time, now time.Time) bool {
	return !rated && state == errand.StateCOMPLETED && closed != nil && now.Before(closed.Add(RatingWindow))
}

// The rating errors.
var (
	ErrAlreadyRated = apierr.New(codes.AlreadyExists, "ALREADY_RATED", "该事项已评价过")
	ErrNotCompleted = apierr.New(codes.FailedPrecondition, "NOT_COMPLETED", "事项办结后才能评价")
	ErrTooLate      = apierr.New(codes.FailedPrecondition, "RATING_CLOSED", "已超过评价期限（办结后 30 天）")
	// ErrNotYours answers a rating of an errand the resident does not own,
	// as resident.ErrNotYours does: absent and not theirs look the same.
	ErrNotYours = apierr.ErrNotFound.WithMessage("未找到该事项")
)

var levels = map[redpointv1.RatingLevel]rating.Level{
	redpointv1.RatingLevel_RATING_LEVEL_VERY_SATISFIED:      rating.LevelVERY_SATISFIED,
	redpointv1.RatingLevel_RATING_LEVEL_SATISFIED:           rating.LevelSATISFIED,
	redpointv1.RatingLevel_RATING_LEVEL_BASICALLY_SATISFIED: rating.LevelBASICALLY_SATISFIED,
	redpointv1.RatingLevel_RATING_LEVEL_DISSATISFIED:        rating.LevelDISSATISFIED,
	redpointv1.RatingLevel_RATING_LEVEL_VERY_DISSATISFIED:   rating.LevelVERY_DISSATISFIED,
}

// ValidateRating checks a rating's level and comment, adding what is wrong
// to v, and returns the level to store and the trimmed comment.
func ValidateRating(v *apierr.Violations, level redpointv1.RatingLevel, comment string) (rating.Level, string) {
	l, ok := levels[level]
	if !ok {
		v.Add("level", "请选择评价等级")
	}
	comment = strings.TrimSpace(comment)
	if utf8.RuneCountInString(comment) > 500 {
		v.Add("comment", "评价内容不能超过 500 个字")
	}
	return l, comment
}

// LevelProto is the API's value of a stored level.
func LevelProto(l rating.Level) redpointv1.RatingLevel {
	for p, stored := range levels {
		if stored == l {
			return p
		}
	}
	return redpointv1.RatingLevel_RATING_LEVEL_UNSPECIFIED
}

// Rate records resident residentID's rating of errand errandID, and for a
// bad one a follow-up, with the history and the outbox event (the
// leaderboard scores it) in one transaction. owned selects the errands the
// resident may rate (resident.Owns); it is read in the same transaction.
func (s *Service) Rate(ctx context.Context, residentID, errandID int, owned predicate.Errand, level rating.Level, comment string) error {
	tx, err := s.db.Tx(ctx)
	if err != nil {
		return err
	}
	if err := s.rate(ctx, tx, residentID, errandID, owned, level, comment); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		if ent.IsConstraintError(err) {
			return ErrAlreadyRated
		}
		return fmt.Errorf("feedback.Rate: %w", err)
	}
	return nil
}

func (s *Service) rate(ctx context.Context, tx *ent.Tx, residentID, errandID int, owned predicate.Errand, level rating.Level, comment string) error {
	e, err := tx.Errand.Query().Where(errand.ID(errandID), owned).WithRating().Only(ctx)
	if ent.IsNotFound(err) {
		return ErrNotYours
	}
	if err != nil {
		return fmt.Errorf("feedback.rate: %w", err)
	}
	now := s.clock()
	if err := Rateable(e.Edges.Rating != nil, e.State, e.CloseTime, now); err != nil {
		return err
	}
	r, err := tx.Rating.Create().SetErrandID(e.ID).SetResidentID(residentID).SetServicePointID(e.ServicePointID).
		SetRegionID(e.RegionID).SetLevel(level).SetComment(comment).SetCreateTime(now).Save(ctx)
	if ent.IsConstraintError(err) {
		return ErrAlreadyRated
	}
	if err != nil {
		return fmt.Errorf("feedback.rate: %w", err)
	}
	if err := tx.ErrandEvent.Create().SetErrandID(e.ID).SetKind(errandevent.KindRATED).SetActorKind(errandevent.ActorKindRESIDENT).
		SetNote(RatingName(level)).SetCreateTime(now).Exec(ctx); err != nil {
		return fmt.Errorf("feedback.rate: %w", err)
	}
	if BadRating(level) {
		if err := tx.FollowUp.Create().SetRatingID(r.ID).SetErrandID(e.ID).SetRegionID(e.RegionID).
			SetCreateTime(now).SetUpdateTime(now).Exec(ctx); err != nil {
			return fmt.Errorf("feedback.rate: %w", err)
		}
		if err := tx.ErrandEvent.Create().SetErrandID(e.ID).SetKind(errandevent.KindFOLLOW_UP_OPENED).SetActorKind(errandevent.ActorKindSYSTEM).
			SetNote(FollowUpOpenedNote).SetCreateTime(now).Exec(ctx); err != nil {
			return fmt.Errorf("feedback.rate: %w", err)
		}
	}
	if err := audit.InTx(ctx, tx, resname.Name(resname.Errands, e.ID), e.RegionID); err != nil {
		return err
	}
	return outbox.Publish(ctx, tx, now, outbox.NewRatingCreated(r))
}
