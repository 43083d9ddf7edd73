package resident

import (
	"context"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/changzhi/redpoint/ent"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/answers"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/trackingcode"
)

var errNoConsents = apierr.ErrUnavailable.WithMessage("暂不能办理委托授权")

// PreviewConsent shows what a consent code asks the resident to authorise.
func (s *Server) PreviewConsent(ctx context.Context, req *redpointv1.PreviewConsentRequest) (*redpointv1.ConsentPreview, error) {
	id, err := me(ctx)
	if err != nil {
		return nil, err
	}
	code, err := errands.NormalizeConsentCode("code", req.GetCode())
	if err != nil {
		return nil, err
	}
	if s.consents == nil {
		return nil, errNoConsents
	}
	return s.consents.Preview(ctx, id, Owns(id), code)
}

// GrantConsent records the resident's consent with a code, once, and
// returns the errand as the resident sees it.
func (s *Server) GrantConsent(ctx context.Context, req *redpointv1.GrantConsentRequest) (*redpointv1.ResidentErrand, error) {
	id, err := me(ctx)
	if err != nil {
		return nil, err
	}
	code, err := errands.NormalizeConsentCode("code", req.GetCode())
	if err != nil {
		return nil, err
	}
	if s.consents == nil {
		return nil, errNoConsents
	}
	hashed := &redpointv1.GrantConsentRequest{Code: code}
	// A retry gets the first answer's errand, as it stands now.
	first := &redpointv1.ResidentErrand{}
	var saved *ent.Errand
	if _, err := s.idem.Do(ctx, "consent.grant", id, req.GetRequestId(), hashed, first, func(ctx context.Context, tx *ent.Tx) (proto.Message, error) {
		e, err := s.consents.Grant(ctx, tx, id, Owns(id), code)
		if err != nil {
			return nil, err
		}
		saved = e
		return &redpointv1.ResidentErrand{Name: myErrandsPrefix + strconv.Itoa(e.ID)}, nil
	}); err != nil {
		return nil, err
	}
	return s.afterConsent(ctx, id, first.GetName(), saved)
}

// RevokeConsent withdraws the resident's consent: the errand is cancelled
// and its agent notified.
func (s *Server) RevokeConsent(ctx context.Context, req *redpointv1.RevokeConsentRequest) (*redpointv1.ResidentErrand, error) {
	id, err := me(ctx)
	if err != nil {
		return nil, err
	}
	var v apierr.Violations
	n, ok := myErrandID(req.GetName())
	if !ok {
		v.Add("name", myErrandFormat)
	}
	reason := errands.ConsentRevokeReason(&v, req.GetReason())
	if err := v.Err(); err != nil {
		return nil, err
	}
	if s.consents == nil {
		return nil, errNoConsents
	}
	hashed := &redpointv1.RevokeConsentRequest{Name: req.GetName(), Reason: reason}
	first := &redpointv1.ResidentErrand{}
	var saved *ent.Errand
	if _, err := s.idem.Do(ctx, "consent.revoke", id, req.GetRequestId(), hashed, first, func(ctx context.Context, tx *ent.Tx) (proto.Message, error) {
		e, err := s.consents.Revoke(ctx, tx, id, n, Owns(id), reason, ErrNotYours)
		if err != nil {
			return nil, err
		}
		saved = e
		return &redpointv1.ResidentErrand{Name: myErrandsPrefix + strconv.Itoa(e.ID)}, nil
	}); err != nil {
		return nil, err
	}
	return s.afterConsent(ctx, id, first.GetName(), saved)
}

// afterConsent drops the cached answers a consent change made stale (the
// outbox does it again, for the other replicas' sake) and returns the
// errand as the resident sees it; saved is nil for a replayed request.
func (s *Server) afterConsent(ctx context.Context, id int, name string, saved *ent.Errand) (*redpointv1.ResidentErrand, error) {
	if saved != nil {
		s.answers.Changed(ctx, append(errands.Scopes(saved), answers.Resident(id))...)
		s.lookup.Changed(ctx, trackingcode.Format(saved.TrackingCode))
	}
	return s.GetMyErrand(ctx, &redpointv1.GetMyErrandRequest{Name: name})
}
