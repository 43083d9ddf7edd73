// Package resident is the residents' WeChat mini-program API: WeChat
// login, binding the phone their errands were logged with, and their own
// errands in a resident-safe view (no staff personal data). Rating an
// errand is checked here (whose errand it is) and recorded by
// service/feedback.
package resident

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/ent/predicate"
	entresident "github.com/changzhi/redpoint/ent/resident"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/answers"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/audit"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/feedback"
	"github.com/changzhi/redpoint/service/idempotency"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/resname"
	"github.com/changzhi/redpoint/service/trackingcode"
	"github.com/changzhi/redpoint/service/wechat"
)

// WeChat is what this package needs of the WeChat client.
type WeChat interface {
	Code2Session(ctx context.Context, code string) (wechat.Session, error)
	PhoneNumber(ctx context.Context, code string) (string, error)
}

// Server implements ResidentService.
type Server struct {
	redpointv1.UnimplementedResidentServiceServer
	db     *ent.Client
	keys   *pii.Keyring
	wx     WeChat
	tokens *access.Tokens
	now    func() time.Time
	lookup *Lookup
	pages  *pagetoken.Signer
	// feedback records the residents' ratings.
	feedback *feedback.Service
	// answers keeps the answers of the residents' reads, which the errand
	// service's writes and the residents' own bump.
	answers *answers.Cache
	// consents previews, grants and revokes consents; idem makes their
	// retries safe.
	consents *errands.Consents
	idem     *idempotency.Keeper
	// reopener reopens their completed errands (the errand service).
	reopener Reopener
	// files lists their errands' receipts and results (the attachments).
	files Files
}

// Files is what this package needs of the attachments to show a resident
// the receipts and results of their own errand
// (attachments.Server.ForResident).
type Files interface {
	ForResident(ctx context.Context, residentID int, e *ent.Errand) ([]*redpointv1.Attachment, error)
}

// Reopener is what this package needs of the errand service to reopen a
// resident's completed errand (errands.Server.ReopenForResident).
type Reopener interface {
	ReopenForResident(ctx context.Context, residentID, errandID int, owned predicate.Errand, reason, requestID string, req proto.Message) (*redpointv1.Errand, error)
}

func (s *Server) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

var _ redpointv1.ResidentServiceServer = (*Server)(nil)

// New returns the residents' service; wx is nil when WeChat is not
// configured, pages signs the page tokens of its list, fb records their
// ratings, ans keeps the answers of their reads (nil: none kept), reopen
// reopens their completed errands, consents previews, grants and revokes
// their consents (委托授权; nil: those calls are UNAVAILABLE), files lists
// their errands' receipts and results, and now is the clock (whether an
// errand can still be rated).
func New(db *ent.Client, keys *pii.Keyring, wx WeChat, tokens *access.Tokens, lookup *Lookup, pages *pagetoken.Signer, fb *feedback.Service,
	ans *answers.Cache, reopen Reopener, consents *errands.Consents, files Files, now func() time.Time) *Server {
	return &Server{db: db, keys: keys, wx: wx, tokens: tokens, now: now, lookup: lookup, pages: pages, feedback: fb, answers: ans,
		reopener: reopen, consents: consents, files: files, idem: idempotency.New(db, keys)}
}

// ListMyErrandAttachments lists the receipts and results of one's own errand.
func (s *Server) ListMyErrandAttachments(ctx context.Context, req *redpointv1.ListMyErrandAttachmentsRequest) (*redpointv1.ListAttachmentsResponse, error) {
	id, err := me(ctx)
	if err != nil {
		return nil, err
	}
	n, ok := myErrandID(req.GetParent())
	if !ok {
		return nil, apierr.InvalidField("parent", myErrandFormat)
	}
	e, err := s.db.Errand.Query().Where(errand.ID(n), Owns(id)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrNotYours
	}
	if err != nil {
		return nil, fmt.Errorf("resident.ListMyErrandAttachments: %w", err)
	}
	files, err := s.files.ForResident(ctx, id, e)
	if err != nil {
		return nil, err
	}
	return &redpointv1.ListAttachmentsResponse{Attachments: files}, nil
}

// The residents' errors.
var (
	ErrNoWeChat    = apierr.ErrUnavailable.WithMessage("未配置微信小程序，暂不能登录")
	ErrNotResident = apierr.ErrPermissionDenied.WithMessage("请用微信登录")
	ErrNotYours    = apierr.ErrNotFound.WithMessage("未找到该事项")
	// ErrBindContended: the number was bound by others over and over while
	// this bind retried.
	ErrBindContended = apierr.New(codes.Aborted, "BIND_CONTENDED", "该手机号正在被绑定，请稍后重试")
)

// maxBindAttempts bounds a bind's retries when others bind the same
// number at the same moment.
const maxBindAttempts = 10

// wechatError turns a WeChat answer into what the mini-program should see.
func wechatError(field string, err error) error {
	switch wechat.Code(err) {
	case wechat.CodeInvalidCode:
		return apierr.InvalidField(field, "微信凭证无效或已使用，请重试")
	case wechat.CodeRateLimited:
		return apierr.ErrRateLimited
	}
	return fmt.Errorf("%w: %w", apierr.ErrUnavailable, err)
}

func me(ctx context.Context) (int, error) {
	p, err := access.Caller(ctx)
	if err != nil {
		return 0, err
	}
	if p.Role != access.RoleResident || p.ResidentID == 0 {
		return 0, ErrNotResident
	}
	return p.ResidentID, nil
}

// WechatLogin logs a resident in with a wx.login code, registering them on
// first sight.
func (s *Server) WechatLogin(ctx context.Context, req *redpointv1.WechatLoginRequest) (*redpointv1.ResidentSession, error) {
	if req.GetCode() == "" || len(req.GetCode()) > 128 {
		return nil, apierr.InvalidField("code", "缺少微信登录凭证")
	}
	if s.wx == nil {
		return nil, ErrNoWeChat
	}
	sess, err := s.wx.Code2Session(ctx, req.GetCode())
	if err != nil {
		return nil, wechatError("code", err)
	}
	err = s.db.Resident.Create().SetOpenid(sess.OpenID).OnConflictColumns(entresident.FieldOpenid).DoNothing().Exec(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("resident.WechatLogin: %w", err)
	}
	r, err := s.db.Resident.Query().Where(entresident.Openid(sess.OpenID)).Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("resident.WechatLogin: %w", err)
	}
	tok, exp, err := s.tokens.IssueResident(r.ID)
	if err != nil {
		return nil, err
	}
	view, err := s.residentProto(r)
	if err != nil {
		return nil, err
	}
	return &redpointv1.ResidentSession{AccessToken: tok, AccessTokenExpireTime: timestamppb.New(exp), Resident: view}, nil
}

func (s *Server) residentProto(r *ent.Resident) (*redpointv1.Resident, error) {
	out := &redpointv1.Resident{Name: "residents/me", Subscribed: r.Subscribed}
	if r.PhoneCipher != "" {
		phone, err := s.keys.Decrypt(r.PhoneCipher)
		if err != nil {
			return nil, err
		}
		out.Phone = pii.MaskMobile(phone)
	}
	return out, nil
}

// BindPhone gives the resident the phone WeChat confirms, and with it the
// errands logged with that phone: those errands, and no others (Owns). A
// phone belongs to one resident at a time, so binding takes it, and its
// errands, from whoever held it before (a recycled number), and the
// resident's previous phone's errands leave them. Each errand that changes
// hands gets a history entry and an audit line.
func (s *Server) BindPhone(ctx context.Context, req *redpointv1.BindPhoneRequest) (*redpointv1.Resident, error) {
	id, err := me(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetPhoneCode() == "" || len(req.GetPhoneCode()) > 128 {
		return nil, apierr.InvalidField("phone_code", "缺少手机号授权凭证")
	}
	if s.wx == nil {
		return nil, ErrNoWeChat
	}
	phone, err := s.wx.PhoneNumber(ctx, req.GetPhoneCode())
	if err != nil {
		return nil, wechatError("phone_code", err)
	}
	if !pii.ValidMobile(phone) {
		return nil, apierr.InvalidField("phone_code", "仅支持大陆手机号")
	}
	sealed, err := s.keys.Encrypt(phone)
	if err != nil {
		return nil, err
	}
	hash := s.keys.Hash(pii.KindPhone, phone)
	// Residents binding one number at once: the unique phone hash lets
	// one commit at a time; the others run again and take it in turn.
	for attempt := 1; ; attempt++ {
		r, err := s.bindPhone(ctx, id, sealed, hash)
		switch {
		case err == nil:
			// The errands change hands: the resident's, and those of whoever
			// held the number before.
			s.answers.Changed(ctx, answers.Resident(id), answers.Phone(hash))
			return s.residentProto(r)
		case !ent.IsConstraintError(err):
			return nil, err
		case attempt == maxBindAttempts:
			return nil, ErrBindContended
		}
	}
}

func (s *Server) bindPhone(ctx context.Context, id int, sealed, hash string) (*ent.Resident, error) {
	tx, err := s.db.Tx(ctx)
	if err != nil {
		return nil, fmt.Errorf("resident.BindPhone: %w", err)
	}
	r, err := bindPhoneTx(ctx, tx, id, sealed, hash, s.clock())
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("resident.BindPhone: %w", err)
	}
	return r, nil
}

func bindPhoneTx(ctx context.Context, tx *ent.Tx, id int, sealed, hash string, now time.Time) (*ent.Resident, error) {
	wrap := func(err error) error { return fmt.Errorf("resident.BindPhone: %w", err) }
	before, err := tx.Resident.Get(ctx, id)
	if err != nil {
		return nil, wrap(err)
	}
	if err := tx.Resident.Update().Where(entresident.PhoneHash(hash), entresident.IDNEQ(id)).
		ClearPhoneCipher().ClearPhoneHash().SetUpdateTime(now).Exec(ctx); err != nil {
		return nil, wrap(err)
	}
	r, err := tx.Resident.UpdateOneID(id).SetPhoneCipher(sealed).SetPhoneHash(hash).SetUpdateTime(now).Save(ctx)
	if err != nil {
		return nil, wrap(err)
	}
	if before.PhoneHash == hash {
		// The same number again: nothing changes hands.
		return r, audit.InTx(ctx, tx, resname.Name(resname.Residents, id), "")
	}
	// The errands change hands with the phone (Owns); the history and the
	// audit log say so.
	gained, err := tx.Errand.Query().Where(errand.ResidentPhoneHash(hash)).All(ctx)
	if err != nil {
		return nil, wrap(err)
	}
	var lost []*ent.Errand
	if before.PhoneHash != "" {
		if lost, err = tx.Errand.Query().Where(errand.ResidentPhoneHash(before.PhoneHash)).All(ctx); err != nil {
			return nil, wrap(err)
		}
	}
	for _, change := range []struct {
		errands []*ent.Errand
		note    string
	}{
		{gained, "群众在小程序绑定了该手机号，事项归其查看和评价"},
		{lost, "群众在小程序改绑了其他手机号，事项不再归其查看"},
	} {
		for _, e := range change.errands {
			if err := tx.ErrandEvent.Create().SetErrandID(e.ID).SetKind(errandevent.KindUPDATED).
				SetActorKind(errandevent.ActorKindRESIDENT).SetNote(change.note).SetCreateTime(now).Exec(ctx); err != nil {
				return nil, wrap(err)
			}
			if err := audit.InTx(ctx, tx, resname.Name(resname.Errands, e.ID), e.RegionID); err != nil {
				return nil, err
			}
		}
	}
	if len(gained)+len(lost) == 0 {
		// No errands yet: the bind itself is the audited resource.
		return r, audit.InTx(ctx, tx, resname.Name(resname.Residents, id), "")
	}
	return r, nil
}

// Owns selects the errands the resident owns: those logged with the phone
// the resident holds now. Ownership is that phone, read in the same
// statement, so a bind, a corrected phone or a new errand racing the read
// can't leave an errand with a stale owner.
func Owns(residentID int) predicate.Errand {
	return func(s *entsql.Selector) {
		r := entsql.Table(entresident.Table)
		s.Where(entsql.In(s.C(errand.FieldResidentPhoneHash),
			entsql.Select(r.C(entresident.FieldPhoneHash)).From(r).Where(entsql.EQ(r.C(entresident.FieldID), residentID))))
	}
}

// ListMyErrands lists the resident's errands, newest first.
func (s *Server) ListMyErrands(ctx context.Context, req *redpointv1.ListMyErrandsRequest) (*redpointv1.ListMyErrandsResponse, error) {
	id, err := me(ctx)
	if err != nil {
		return nil, err
	}
	size, err := pagetoken.SizeFrom(ctx)
	if err != nil {
		return nil, err
	}
	key := "mine|" + strconv.Itoa(id) + "|" + strconv.Itoa(size) + "|" + req.GetPageToken()
	return answers.Read(ctx, s.answers, key, func(w *answers.Watch) (*redpointv1.ListMyErrandsResponse, time.Time, error) {
		if err := s.watchHoldings(ctx, w, id, answers.Directory); err != nil {
			return nil, time.Time{}, err
		}
		return s.listMyErrands(ctx, id, req)
	})
}

// listMyErrands reads a page of the resident's errands, and the first
// instant at which time alone changes it (a rating window closing).
func (s *Server) listMyErrands(ctx context.Context, id int, req *redpointv1.ListMyErrandsRequest) (*redpointv1.ListMyErrandsResponse, time.Time, error) {
	rows, next, err := pagetoken.Page(ctx, s.pages, req.GetPageToken(), pagetoken.Query{"mine", strconv.Itoa(id)},
		func(w pagetoken.Window) ([]*ent.Errand, error) {
			return s.db.Errand.Query().Where(Owns(id), w.After).WithErrandType().WithServicePoint().WithRating().
				Order(w.Order).Limit(w.Limit).All(ctx)
		},
		pagetoken.Desc(errand.FieldAcceptTime, func(e *ent.Errand) time.Time { return e.AcceptTime }),
		pagetoken.Desc(errand.FieldID, func(e *ent.Errand) int { return e.ID }))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("resident.ListMyErrands: %w", err)
	}
	var changes time.Time
	resp := &redpointv1.ListMyErrandsResponse{NextPageToken: next, Errands: pagetoken.Map(rows, func(e *ent.Errand) *redpointv1.ResidentErrand {
		out := view(e)
		changes = earliest(changes, s.setRating(out, e))
		return out
	})}
	return resp, changes, nil
}

// GetMyErrand returns one of the resident's errands with its history.
func (s *Server) GetMyErrand(ctx context.Context, req *redpointv1.GetMyErrandRequest) (*redpointv1.ResidentErrand, error) {
	id, err := me(ctx)
	if err != nil {
		return nil, err
	}
	n, ok := myErrandID(req.GetName())
	if !ok {
		return nil, apierr.InvalidField("name", myErrandFormat)
	}
	key := "mine|" + strconv.Itoa(id) + "|" + strconv.Itoa(n)
	return answers.Read(ctx, s.answers, key, func(w *answers.Watch) (*redpointv1.ResidentErrand, time.Time, error) {
		if err := s.watchHoldings(ctx, w, id, answers.Errand(n), answers.Directory); err != nil {
			return nil, time.Time{}, err
		}
		return s.getMyErrand(ctx, id, n)
	})
}

// watchHoldings watches, with more, what the resident holds and then the
// errands of the phone they hold: a bind (theirs, or another's taking
// their number) after the first, or a change of the phone's errands after
// the second, makes the answer stale.
func (s *Server) watchHoldings(ctx context.Context, w *answers.Watch, id int, more ...string) error {
	w.Scopes(ctx, append([]string{answers.Resident(id)}, more...)...)
	r, err := s.db.Resident.Query().Where(entresident.ID(id)).Select(entresident.FieldPhoneHash).Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("resident: %w", err)
	}
	if r != nil && r.PhoneHash != "" {
		w.Scopes(ctx, answers.Phone(r.PhoneHash))
	}
	return nil
}

// getMyErrand reads one of the resident's errands with its history, and
// the first instant at which time alone changes it.
func (s *Server) getMyErrand(ctx context.Context, id, n int) (*redpointv1.ResidentErrand, time.Time, error) {
	// Only the resident's own collection is searched: absent and not
	// theirs look the same.
	e, err := s.db.Errand.Query().Where(errand.ID(n), Owns(id)).WithErrandType().WithServicePoint().WithRating().
		WithEvents(func(q *ent.ErrandEventQuery) { q.Order(ent.Asc(errandevent.FieldID)) }).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, time.Time{}, ErrNotYours
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("resident.GetMyErrand: %w", err)
	}
	out := view(e)
	changes := s.setRating(out, e)
	state := errand.StateACCEPTED
	for _, ev := range e.Edges.Events {
		text := ""
		switch ev.Kind {
		case errandevent.KindCREATED:
			text = "代办员已受理您的事项"
		case errandevent.KindTRANSITIONED:
			state = errand.State(ev.ToState)
			text = residentText[state]
		case errandevent.KindRATED:
			text = "您已评价"
		case errandevent.KindCONSENT_GRANTED:
			text = "您已委托代办员办理"
		case errandevent.KindCONSENT_REVOKED:
			text = "您已撤回委托授权"
		case errandevent.KindREOPENED:
			state = errand.State(ev.ToState)
			text = "事项已重新打开，代办员将重新为您办理"
			if ev.ActorKind == errandevent.ActorKindRESIDENT {
				text = "您已申请重新办理，代办员将重新为您办理"
			}
		default:
			continue // edits and follow-ups are the staff's business
		}
		out.History = append(out.History, &redpointv1.ResidentErrandStep{
			Time: timestamppb.New(ev.CreateTime), StateDisplayName: errands.StateName(state), Text: text,
		})
	}
	return out, changes, nil
}

// residentText says each state in words for a villager.
var residentText = map[errand.State]string{
	errand.StateIN_PROGRESS:     "代办员正在为您办理",
	errand.StateFORWARDED:       "已送交上级部门办理",
	errand.StateNEEDS_MATERIALS: "还缺少材料，请按提示补交",
	errand.StateCOMPLETED:       "已办结",
	errand.StateCANCELLED:       "已撤销",
}

// setRating tells the resident how they rated the errand, or whether they
// still can; e carries its rating edge. It returns when the window to rate
// closes, if it is open (zero otherwise).
func (s *Server) setRating(out *redpointv1.ResidentErrand, e *ent.Errand) time.Time {
	if r := e.Edges.Rating; r != nil {
		out.Rating = feedback.LevelProto(r.Level)
	}
	out.CanRate = feedback.CanRate(e.Edges.Rating != nil, e.State, e.CloseTime, s.clock())
	if out.CanRate {
		return e.CloseTime.Add(feedback.RatingWindow)
	}
	return time.Time{}
}

// earliest is the earlier of two instants, zero counting as none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// RateMyErrand records the resident's rating of one of their errands
// (feedback keeps ratings and their rules) and returns the errand.
func (s *Server) RateMyErrand(ctx context.Context, req *redpointv1.RateMyErrandRequest) (*redpointv1.ResidentErrand, error) {
	id, err := me(ctx)
	if err != nil {
		return nil, err
	}
	var v apierr.Violations
	n, ok := myErrandID(req.GetName())
	if !ok {
		v.Add("name", myErrandFormat)
	}
	level, comment := feedback.ValidateRating(&v, req.GetLevel(), req.GetComment())
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := s.feedback.Rate(ctx, id, n, Owns(id), level, comment); err != nil {
		return nil, err
	}
	// The resident's answers show the rating (the outbox bumps the rest).
	s.answers.Changed(ctx, answers.Resident(id), answers.Errand(n))
	out, err := s.GetMyErrand(ctx, &redpointv1.GetMyErrandRequest{Name: req.GetName()})
	if err != nil {
		return nil, err
	}
	// The public lookup shows the rating: drop its cached answer now (the
	// outbox does it again, for the other replicas' sake).
	s.lookup.Changed(ctx, out.GetTrackingCode())
	return out, nil
}

// ReopenMyErrand reopens one of the resident's completed errands that was
// not really done, within errands.ReopenDays of its completion (the
// errand service writes it), and returns the errand.
func (s *Server) ReopenMyErrand(ctx context.Context, req *redpointv1.ReopenMyErrandRequest) (*redpointv1.ResidentErrand, error) {
	id, err := me(ctx)
	if err != nil {
		return nil, err
	}
	var v apierr.Violations
	n, ok := myErrandID(req.GetName())
	if !ok {
		v.Add("name", myErrandFormat)
	}
	reason := errands.ValidateResidentReason(&v, req.GetReason())
	if err := v.Err(); err != nil {
		return nil, err
	}
	if _, err := s.reopener.ReopenForResident(ctx, id, n, Owns(id), reason, req.GetRequestId(), req); err != nil {
		return nil, err
	}
	s.answers.Changed(ctx, answers.Resident(id), answers.Errand(n))
	out, err := s.GetMyErrand(ctx, &redpointv1.GetMyErrandRequest{Name: req.GetName()})
	if err != nil {
		return nil, err
	}
	s.lookup.Changed(ctx, out.GetTrackingCode())
	return out, nil
}

// A resident's errand is named residents/me/errands/{id}.
const (
	myErrandsPrefix = "residents/me/errands/"
	myErrandFormat  = "格式应为 residents/me/errands/{编号}"
)

// myErrandID parses a resident's errand name.
func myErrandID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, myErrandsPrefix)
	n, err := strconv.Atoi(rest)
	return n, ok && err == nil && n > 0
}

func view(e *ent.Errand) *redpointv1.ResidentErrand {
	out := &redpointv1.ResidentErrand{
		Name:                    myErrandsPrefix + strconv.Itoa(e.ID),
		TrackingCode:            trackingcode.Format(e.TrackingCode),
		ErrandTypeDisplayName:   e.Edges.ErrandType.Name,
		ServicePointDisplayName: e.Edges.ServicePoint.Name,
		ServicePointPhone:       e.Edges.ServicePoint.Phone,
		State:                   errands.StateProto(e.State),
		StateDisplayName:        errands.StateName(e.State),
		AcceptTime:              timestamppb.New(e.AcceptTime),
		DueTime:                 timestamppb.New(e.DueTime),
		MissingMaterials:        e.MissingMaterials,
		Result:                  e.Result,
		Consent:                 errands.ConsentProto(e),
	}
	if e.CloseTime != nil {
		out.CloseTime = timestamppb.New(*e.CloseTime)
	}
	return out
}
