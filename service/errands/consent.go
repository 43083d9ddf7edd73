package errands

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/consent"
	"github.com/changzhi/redpoint/ent/consentcode"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/ent/notification"
	"github.com/changzhi/redpoint/ent/predicate"
	entresident "github.com/changzhi/redpoint/ent/resident"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/audit"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/resname"
	"github.com/changzhi/redpoint/service/store"
	"github.com/changzhi/redpoint/service/trackingcode"
)

// The consent rules (docs/architecture.md, "Consent").
const (
	// ConsentCodeTTL is how long a consent code works after it is issued.
	ConsentCodeTTL = 10 * time.Minute
	// ConsentValidity caps how long a consent holds: it ends with the
	// errand, and at the latest this long after it was given. A completion
	// after it is no longer "confirmed" for the leaderboard.
	ConsentValidity = 90 * 24 * time.Hour
	// ConsentQRPrefix starts the QR payload of a consent code.
	ConsentQRPrefix = "redpoint:consent:"
	// consentCodeLen is the length of a code: 20 base32 characters, 100 bits.
	consentCodeLen = 20
)

// The consent errors.
var (
	ErrAlreadyConsented   = apierr.New(codes.AlreadyExists, "ALREADY_CONSENTED", "该事项已有群众授权")
	ErrConsentCodeUnknown = apierr.New(codes.NotFound, "CONSENT_CODE_UNKNOWN", "授权码无效，请核对后重试，或请代办员重新生成")
	ErrConsentCodeExpired = apierr.New(codes.FailedPrecondition, "CONSENT_CODE_EXPIRED", "授权码已过期或已被新的授权码取代，请代办员重新生成")
	ErrConsentCodeUsed    = apierr.New(codes.FailedPrecondition, "CONSENT_CODE_USED", "授权码已使用过，每个授权码只能使用一次")
	ErrPhoneNotBound      = apierr.New(codes.FailedPrecondition, "PHONE_NOT_BOUND", "请先在小程序中绑定手机号，再确认授权")
	ErrConsentNotYours    = apierr.New(codes.FailedPrecondition, "CONSENT_NOT_YOURS", "该事项不是用您绑定的手机号登记的，不能由您授权；请核对手机号")
	ErrNoConsent          = apierr.New(codes.FailedPrecondition, "NO_CONSENT", "该事项没有有效的授权，无需撤回")
)

var codeEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// newConsentCode draws a 100-bit code.
func newConsentCode() (string, error) {
	b := make([]byte, consentCodeLen*5/8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return codeEncoding.EncodeToString(b), nil
}

// NormalizeConsentCode accepts a code as scanned or typed (with or
// without the QR prefix, any case, dashes and spaces) and returns its
// stored form, or an INVALID_ARGUMENT for field.
func NormalizeConsentCode(field, code string) (string, error) {
	code = strings.TrimSpace(code)
	if code == "" {
		return "", apierr.InvalidField(field, "请扫描代办员出示的授权码")
	}
	code = strings.TrimPrefix(code, ConsentQRPrefix)
	code = strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(code))
	if len(code) != consentCodeLen {
		return "", apierr.InvalidField(field, "授权码格式不对，请重新扫描")
	}
	if _, err := codeEncoding.DecodeString(code); err != nil {
		return "", apierr.InvalidField(field, "授权码格式不对，请重新扫描")
	}
	return code, nil
}

func hashConsentCode(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// ConsentProto is the errand's consent as the API shows it; nil without one.
func ConsentProto(e *ent.Errand) *redpointv1.ErrandConsent {
	if e.ConsentTime == nil || e.ConsentMethod == nil {
		return nil
	}
	out := &redpointv1.ErrandConsent{
		Method:    redpointv1.ConsentMethod_CONSENT_METHOD_WECHAT,
		GrantTime: timestamppb.New(*e.ConsentTime),
	}
	if *e.ConsentMethod == errand.ConsentMethodPAPER {
		out.Method = redpointv1.ConsentMethod_CONSENT_METHOD_PAPER
	}
	if e.ConsentExpireTime != nil {
		out.ExpireTime = timestamppb.New(*e.ConsentExpireTime)
	}
	if e.ConsentRevokeTime != nil {
		out.RevokeTime = timestamppb.New(*e.ConsentRevokeTime)
	}
	return out
}

// Confirmed reports whether e's resident authorised it and the
// authorisation held when it was completed at closed: given by then, not
// revoked by then, and not expired. The leaderboard trusts confirmed
// completions. Only facts fixed once they happen are read (a consent given
// or revoked later, say on a reopened errand, does not change what held at
// closed), so the leaderboard's judgement of a completion is the same
// whenever it is made.
func Confirmed(e *ent.Errand, closed time.Time) bool {
	if e.ConsentTime == nil || e.ConsentTime.After(closed) {
		return false
	}
	if e.ConsentRevokeTime != nil && !e.ConsentRevokeTime.After(closed) {
		return false
	}
	return e.ConsentExpireTime == nil || !closed.After(*e.ConsentExpireTime)
}

// consentable refuses a consent for a closed errand or one that has one.
func consentable(e *ent.Errand) error {
	if Final(e.State) {
		return ErrClosed
	}
	if e.ConsentTime != nil {
		return ErrAlreadyConsented
	}
	return nil
}

// CreateConsentCode issues a consent code for an open errand without a
// consent, at the calling agent's point; the errand's earlier unused codes
// stop working.
func (s *Server) CreateConsentCode(ctx context.Context, req *redpointv1.CreateConsentCodeRequest) (*redpointv1.ConsentCode, error) {
	p, err := agent(ctx)
	if err != nil {
		return nil, err
	}
	e, err := s.load(ctx, s.db, p, "name", req.GetName())
	if err != nil {
		return nil, err
	}
	if err := consentable(e); err != nil {
		return nil, err
	}
	code, err := newConsentCode()
	if err != nil {
		return nil, err
	}
	now := s.clock()
	expire := now.Add(ConsentCodeTTL)
	err = store.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		if err := tx.ConsentCode.Update().Where(consentcode.ErrandID(e.ID), consentcode.UsedTimeIsNil(), consentcode.ExpireTimeGT(now)).
			SetExpireTime(now).Exec(ctx); err != nil {
			return fmt.Errorf("errand.CreateConsentCode: %w", err)
		}
		if err := tx.ConsentCode.Create().SetCodeHash(hashConsentCode(code)).SetErrandID(e.ID).SetAgentID(p.UserID).
			SetCreateTime(now).SetExpireTime(expire).Exec(ctx); err != nil {
			return fmt.Errorf("errand.CreateConsentCode: %w", err)
		}
		return audit.InTx(ctx, tx, resname.Name(resname.Errands, e.ID), e.RegionID)
	})
	if err != nil {
		return nil, err
	}
	return &redpointv1.ConsentCode{
		Errand: resname.Name(resname.Errands, e.ID), Code: code, QrPayload: ConsentQRPrefix + code,
		ExpireTime: timestamppb.New(expire),
	}, nil
}

// RecordPaperConsent records a signed paper consent and its witness.
func (s *Server) RecordPaperConsent(ctx context.Context, req *redpointv1.RecordPaperConsentRequest) (*redpointv1.Errand, error) {
	witness, err := required("witness_name", req.GetWitnessName(), "见证人姓名", 64)
	if err != nil {
		return nil, err
	}
	p, err := agent(ctx)
	if err != nil {
		return nil, err
	}
	cal, err := s.calendar.Get(ctx)
	if err != nil {
		return nil, err
	}
	hashed := proto.Clone(req)
	clearRequestID(hashed)
	out := &redpointv1.Errand{}
	var after *ent.Errand
	_, err = s.idem.Do(ctx, "errand.recordPaperConsent", p.UserID, req.GetRequestId(), hashed, out, func(ctx context.Context, tx *ent.Tx) (proto.Message, error) {
		seq, err := nextSeq(ctx, tx, s.dialect)
		if err != nil {
			return nil, err
		}
		e, err := s.load(ctx, tx.Client(), p, "name", req.GetName())
		if err != nil {
			return nil, err
		}
		if err := resname.CheckEtag(req.GetEtag(), e.Version); err != nil {
			return nil, err
		}
		if err := consentable(e); err != nil {
			return nil, err
		}
		now := s.clock()
		expire := now.Add(ConsentValidity)
		err = tx.Consent.Create().SetErrandID(e.ID).SetMethod(consent.MethodPAPER).SetAgentID(p.UserID).SetWitness(witness).
			SetRegionID(e.RegionID).SetGrantTime(now).SetExpireTime(expire).Exec(ctx)
		if ent.IsConstraintError(err) {
			return nil, ErrAlreadyConsented
		}
		if err != nil {
			return nil, fmt.Errorf("errand.RecordPaperConsent: %w", err)
		}
		u := tx.Errand.UpdateOneID(e.ID).SetConsentMethod(errand.ConsentMethodPAPER).SetConsentTime(now).SetConsentExpireTime(expire)
		updated, _, err := commitChange(ctx, tx, e, u, now, errandChange{
			seq: seq, actor: errandevent.ActorKindSTAFF, staffID: &p.UserID, method: "errand.recordPaperConsent", kind: outbox.ErrandUpdated,
			history: []historyEntry{{kind: errandevent.KindCONSENT_GRANTED, note: "群众已签署纸质委托授权书，见证人：" + witness}},
		})
		if err != nil {
			return nil, err
		}
		after = updated
		return s.view(ctx, tx.Client(), updated, cal, now, false)
	})
	if err != nil {
		return nil, err
	}
	s.committed(ctx, out.TrackingCode, after)
	return out, nil
}

// Consents is the residents' side of consent: what a code asks, granting
// it and revoking it. service/resident serves it; the rules and the
// errand's writes are here, beside the errand's other writes.
type Consents struct {
	db      *ent.Client
	dialect string
	keys    *pii.Keyring
	now     func() time.Time
}

// NewConsents returns the residents' side of consent over db (of SQL
// dialect), with the PII keys (to mask) and the clock.
func NewConsents(db *ent.Client, dialect string, keys *pii.Keyring, now func() time.Time) *Consents {
	if now == nil {
		now = time.Now
	}
	return &Consents{db: db, dialect: dialect, keys: keys, now: now}
}

func (c *Consents) clock() time.Time { return c.now().UTC().Truncate(time.Microsecond) }

// usableCode finds the code's row and says why it can't be used at now.
func usableCode(ctx context.Context, db *ent.Client, code string, now time.Time) (*ent.ConsentCode, error) {
	row, err := db.ConsentCode.Query().Where(consentcode.CodeHash(hashConsentCode(code))).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrConsentCodeUnknown
	}
	if err != nil {
		return nil, fmt.Errorf("errand.consent: %w", err)
	}
	switch {
	case row.UsedTime != nil:
		return nil, ErrConsentCodeUsed
	case !now.Before(row.ExpireTime):
		return nil, ErrConsentCodeExpired
	}
	return row, nil
}

// Preview says what code asks resident residentID to authorise.
func (c *Consents) Preview(ctx context.Context, residentID int, owned predicate.Errand, code string) (*redpointv1.ConsentPreview, error) {
	now := c.clock()
	row, err := usableCode(ctx, c.db, code, now)
	if err != nil {
		return nil, err
	}
	e, err := c.db.Errand.Query().Where(errand.ID(row.ErrandID)).WithErrandType().WithServicePoint().WithAgent().Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("errand.PreviewConsent: %w", err)
	}
	if err := consentable(e); err != nil {
		return nil, err
	}
	phone, err := c.keys.Decrypt(e.ResidentPhoneCipher)
	if err != nil {
		return nil, fmt.Errorf("errand.PreviewConsent: %w", err)
	}
	yours, err := c.db.Errand.Query().Where(errand.ID(e.ID), owned).Exist(ctx)
	if err != nil {
		return nil, fmt.Errorf("errand.PreviewConsent: %w", err)
	}
	return &redpointv1.ConsentPreview{
		AgentDisplayName:        e.Edges.Agent.DisplayName,
		ServicePointDisplayName: e.Edges.ServicePoint.Name,
		ErrandTypeDisplayName:   e.Edges.ErrandType.Name,
		Materials:               e.Materials,
		ResidentName:            MaskName(e.ResidentName),
		ResidentPhone:           pii.MaskMobile(phone),
		ExpireTime:              timestamppb.New(row.ExpireTime),
		Yours:                   yours,
		ConsentExpireTime:       timestamppb.New(now.Add(ConsentValidity)),
	}, nil
}

// MaskName keeps a name's first and last characters: 申秀英 → 申*英, 王芳 → 王*.
func MaskName(name string) string {
	r := []rune(name)
	switch len(r) {
	case 0:
		return ""
	case 1, 2:
		return string(r[0]) + "*"
	}
	return string(r[0]) + strings.Repeat("*", len(r)-2) + string(r[len(r)-1])
}

// Grant records, inside tx, resident residentID's consent with code to the
// errand it was issued for, which the resident must own (owned:
// resident.Owns). The code is used up; two grants with one code: one
// wins, the other finds it used. It returns the errand as saved.
func (c *Consents) Grant(ctx context.Context, tx *ent.Tx, residentID int, owned predicate.Errand, code string) (*ent.Errand, error) {
	wrap := func(err error) error { return fmt.Errorf("errand.GrantConsent: %w", err) }
	// The change number first: it serializes the errands' writers.
	seq, err := nextSeq(ctx, tx, c.dialect)
	if err != nil {
		return nil, err
	}
	now := c.clock()
	row, err := usableCode(ctx, tx.Client(), code, now)
	if err != nil {
		return nil, err
	}
	r, err := tx.Resident.Query().Where(entresident.ID(residentID)).Only(ctx)
	if err != nil {
		return nil, wrap(err)
	}
	if r.PhoneHash == "" {
		return nil, ErrPhoneNotBound
	}
	e, err := tx.Errand.Query().Where(errand.ID(row.ErrandID), owned).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrConsentNotYours
	}
	if err != nil {
		return nil, wrap(err)
	}
	if err := consentable(e); err != nil {
		return nil, err
	}
	n, err := tx.ConsentCode.Update().Where(consentcode.ID(row.ID), consentcode.UsedTimeIsNil()).
		SetUsedTime(now).SetResidentID(residentID).Save(ctx)
	if err != nil {
		return nil, wrap(err)
	}
	if n == 0 {
		return nil, ErrConsentCodeUsed
	}
	expire := now.Add(ConsentValidity)
	err = tx.Consent.Create().SetErrandID(e.ID).SetMethod(consent.MethodWECHAT).SetResidentID(residentID).SetOpenid(r.Openid).
		SetCodeID(row.ID).SetAgentID(row.AgentID).SetRegionID(e.RegionID).SetGrantTime(now).SetExpireTime(expire).Exec(ctx)
	if ent.IsConstraintError(err) {
		return nil, ErrAlreadyConsented
	}
	if err != nil {
		return nil, wrap(err)
	}
	u := tx.Errand.UpdateOneID(e.ID).SetConsentMethod(errand.ConsentMethodWECHAT).SetConsentTime(now).SetConsentExpireTime(expire)
	updated, _, err := commitChange(ctx, tx, e, u, now, errandChange{
		seq: seq, actor: errandevent.ActorKindRESIDENT, method: "consent.grant", kind: outbox.ErrandUpdated,
		history: []historyEntry{{kind: errandevent.KindCONSENT_GRANTED, note: "群众在微信小程序确认了委托授权"}},
	})
	return updated, err
}

// maxResidentReason bounds a resident's reason (revoking a consent,
// reopening an errand); staff reasons take maxText.
const maxResidentReason = 500

// ConsentRevokeReason checks a revocation's reason.
func ConsentRevokeReason(v *apierr.Violations, reason string) string {
	return requiredText(v, "reason", reason, "撤回授权的原因", maxResidentReason)
}

// Revoke withdraws, inside tx, resident residentID's consent to errand
// errandID (which owned must select, else notYours): the errand is
// cancelled with the reason, the history says both, and its agent gets a
// notification. It returns the errand as saved.
func (c *Consents) Revoke(ctx context.Context, tx *ent.Tx, residentID, errandID int, owned predicate.Errand, reason string, notYours error) (*ent.Errand, error) {
	wrap := func(err error) error { return fmt.Errorf("errand.RevokeConsent: %w", err) }
	seq, err := nextSeq(ctx, tx, c.dialect)
	if err != nil {
		return nil, err
	}
	e, err := tx.Errand.Query().Where(errand.ID(errandID), owned).WithErrandType().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, notYours
	}
	if err != nil {
		return nil, wrap(err)
	}
	if Final(e.State) {
		return nil, ErrClosed
	}
	if e.ConsentTime == nil || e.ConsentRevokeTime != nil {
		return nil, ErrNoConsent
	}
	next, err := Next(e.State, Cancel)
	if err != nil {
		return nil, err
	}
	now := c.clock()
	if err := tx.Consent.Update().Where(consent.ErrandID(e.ID)).SetRevokeTime(now).SetRevokeReason(reason).Exec(ctx); err != nil {
		return nil, wrap(err)
	}
	cancelReason := "群众撤回委托授权：" + reason
	u := tx.Errand.UpdateOneID(e.ID).SetState(next).SetCancelReason(cancelReason).SetCloseTime(now).ClearPauseTime().SetConsentRevokeTime(now)
	updated, _, err := commitChange(ctx, tx, e, u, now, errandChange{
		seq: seq, actor: errandevent.ActorKindRESIDENT, method: "consent.revoke", kind: outbox.ErrandTransitioned,
		history: []historyEntry{
			{kind: errandevent.KindCONSENT_REVOKED, note: reason},
			{kind: errandevent.KindTRANSITIONED, from: e.State, to: next, note: "已撤销：" + cancelReason},
		},
	})
	if err != nil {
		return nil, err
	}
	code := trackingcode.Format(e.TrackingCode)
	err = tx.Notification.Create().SetUserID(e.AgentID).SetKind(notification.KindCONSENT_REVOKED).SetErrandID(e.ID).
		SetRegionID(e.RegionID).SetDedupKey(fmt.Sprintf("consent-revoked:%d", e.ID)).
		SetTitle("群众撤回了委托授权").
		SetBody(fmt.Sprintf("「%s」（%s）的群众撤回了委托授权，事项已撤销。原因：%s", e.Edges.ErrandType.Name, code, reason)).
		SetCreateTime(now).Exec(ctx)
	if err != nil {
		return nil, wrap(err)
	}
	return updated, nil
}

// ConsentCodeRetention is how long an unused code is kept after it
// expired; used ones stay with the consent they proved.
const ConsentCodeRetention = 24 * time.Hour

// PurgeConsentCodes deletes the codes that expired unused more than
// ConsentCodeRetention before now (the nightly purge).
func PurgeConsentCodes(ctx context.Context, db *ent.Client, now time.Time) (int, error) {
	n, err := db.ConsentCode.Delete().Where(consentcode.UsedTimeIsNil(), consentcode.ExpireTimeLT(now.UTC().Add(-ConsentCodeRetention))).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("errand.PurgeConsentCodes: %w", err)
	}
	return n, nil
}
