package errands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/ent/errandtype"
	"github.com/changzhi/redpoint/ent/errandtypeadmission"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/audit"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/resname"
	"github.com/changzhi/redpoint/service/trackingcode"
)

// MaxBatch is the most creates one BatchCreateErrands takes.
const MaxBatch = 100

// Limits on free text, in characters.
const (
	maxName        = 64
	maxText        = 2000
	maxMaterial    = 100
	maxMaterials   = 50
	methodCreate   = "CreateErrand"
	fieldErrandPfx = "errand."
)

// CreateErrand logs an errand for the calling agent's service point.
func (s *Server) CreateErrand(ctx context.Context, req *redpointv1.CreateErrandRequest) (*redpointv1.Errand, error) {
	out, _, err := s.create(ctx, req)
	return out, err
}

func (s *Server) create(ctx context.Context, req *redpointv1.CreateErrandRequest) (*redpointv1.Errand, bool, error) {
	p, err := agent(ctx)
	if err != nil {
		return nil, false, err
	}
	hashed := proto.Clone(req).(*redpointv1.CreateErrandRequest)
	hashed.RequestId = ""
	out := &redpointv1.Errand{}
	if found, err := s.idem.Replay(ctx, methodCreate, p.UserID, req.GetRequestId(), hashed, out); found || err != nil {
		return out, found, err
	}
	in, err := s.validateCreate(ctx, req.GetErrand())
	if err != nil {
		return nil, false, err
	}
	cal, err := s.calendar.Get(ctx)
	if err != nil {
		return nil, false, err
	}
	var created *ent.Errand
	replayed, err := s.idem.DoAfterReplay(ctx, methodCreate, p.UserID, req.GetRequestId(), hashed, out,
		func(ctx context.Context, tx *ent.Tx) (proto.Message, error) {
			return s.insert(ctx, tx, p, in, cal, &created)
		})
	if err != nil {
		return nil, false, err
	}
	s.committed(ctx, "", created)
	return out, replayed, nil
}

// newErrand is a validated create request.
type newErrand struct {
	typ       *ent.ErrandType
	name      string
	phone     string
	idNumber  string
	desc      string
	materials []string
	channel   errand.Channel
}

func (s *Server) validateCreate(ctx context.Context, e *redpointv1.Errand) (*newErrand, error) {
	var v apierr.Violations
	if e == nil {
		v.Add("errand", "缺少事项内容")
		return nil, v.Err()
	}
	in := &newErrand{
		name:  strings.TrimSpace(e.GetResidentName()),
		phone: strings.TrimSpace(e.GetResidentPhone()),
		desc:  strings.TrimSpace(e.GetDescription()),
	}
	typeCode, typeErr := resname.StringID(fieldErrandPfx+"errand_type", e.GetErrandType(), resname.ErrandTypes, 32)
	if typeErr != nil {
		v.Add(fieldErrandPfx+"errand_type", "请选择事项，格式为 errandTypes/{编码}")
	}
	checkName(&v, fieldErrandPfx+"resident_name", in.name)
	checkPhone(&v, fieldErrandPfx+"resident_phone", in.phone)
	if raw := e.GetResidentIdNumber(); raw != "" {
		in.idNumber = pii.NormalizeIDNumber(raw)
		if !pii.ValidIDNumber(in.idNumber) {
			v.Add(fieldErrandPfx+"resident_id_number", "身份证号码无效（应为 18 位且校验位正确）")
		}
	}
	if utf8.RuneCountInString(in.desc) > maxText {
		v.Add(fieldErrandPfx+"description", fmt.Sprintf("不能超过 %d 个字", maxText))
	}
	in.materials = CheckMaterials(&v, fieldErrandPfx+"materials", e.GetMaterials())
	ch, ok := channelFromProto(e.GetChannel())
	if !ok {
		v.Add(fieldErrandPfx+"channel", "受理渠道无效")
	}
	in.channel = ch
	if typeErr == nil {
		t, err := s.db.ErrandType.Get(ctx, typeCode)
		switch {
		case ent.IsNotFound(err) || (err == nil && !t.Active):
			v.Add(fieldErrandPfx+"errand_type", "事项不存在或已停用")
		case err != nil:
			return nil, fmt.Errorf("errand.validateCreate: %w", err)
		default:
			in.typ = t
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return in, nil
}

func checkName(v *apierr.Violations, field, name string) {
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		v.Add(field, "请填写群众姓名")
	case n > maxName:
		v.Add(field, fmt.Sprintf("姓名不能超过 %d 个字", maxName))
	}
}

func checkPhone(v *apierr.Violations, field, phone string) {
	switch {
	case phone == "":
		v.Add(field, "请填写群众手机号码")
	case !pii.ValidMobile(phone):
		v.Add(field, "手机号码应为 11 位大陆手机号")
	}
}

// CheckMaterials trims a list of materials (an errand's, or the catalog's
// required ones) and checks it: at most 50, each 1–100 characters.
func CheckMaterials(v *apierr.Violations, field string, in []string) []string {
	if len(in) > maxMaterials {
		v.Add(field, fmt.Sprintf("材料不能超过 %d 项", maxMaterials))
		return nil
	}
	out := make([]string, 0, len(in))
	for _, m := range in {
		m = strings.TrimSpace(m)
		if m == "" || utf8.RuneCountInString(m) > maxMaterial {
			v.Add(field, fmt.Sprintf("每项材料应为 1–%d 个字", maxMaterial))
			return nil
		}
		out = append(out, m)
	}
	return out
}

// insert writes the errand, its CREATED event and its outbox event in tx,
// and leaves its row in created.
func (s *Server) insert(ctx context.Context, tx *ent.Tx, p access.Principal, in *newErrand, cal *calendar.Calendar, created **ent.Errand) (proto.Message, error) {
	point, err := tx.ServicePoint.Get(ctx, p.ServicePointID)
	if err != nil {
		return nil, fmt.Errorf("errand.insert: %w", err)
	}
	if !point.Active {
		return nil, ErrPointInactive
	}
	if err := admitted(ctx, tx, in.typ, point.RegionID); err != nil {
		return nil, err
	}
	now := s.clock()
	seq, err := nextSeq(ctx, tx, s.dialect)
	if err != nil {
		return nil, err
	}
	code, err := trackingcode.New(nil)
	if err != nil {
		return nil, fmt.Errorf("errand.insert: %w", err)
	}
	phoneC, err := s.keys.Encrypt(in.phone)
	if err != nil {
		return nil, err
	}
	c := tx.Errand.Create().
		SetTrackingCode(code).
		SetErrandTypeID(in.typ.ID).
		SetServicePointID(point.ID).
		SetAgentID(p.UserID).
		SetRegionID(point.RegionID).
		SetResidentName(in.name).
		SetResidentPhoneCipher(phoneC).
		SetResidentPhoneHash(s.keys.Hash(pii.KindPhone, in.phone)).
		SetResidentPhoneLast4(in.phone[7:]).
		SetState(errand.StateACCEPTED).
		SetChannel(in.channel).
		SetDescription(in.desc).
		SetMaterials(in.materials).
		SetAcceptTime(now).
		SetDueTime(cal.Due(now, in.typ.TimeLimitDays)).
		SetCreateTime(now).
		SetUpdateTime(now).
		SetChangeSeq(seq)
	if in.idNumber != "" {
		idC, err := s.keys.Encrypt(in.idNumber)
		if err != nil {
			return nil, err
		}
		c.SetResidentIDNumberCipher(idC).SetResidentIDNumberHash(s.keys.Hash(pii.KindIDNumber, in.idNumber))
	}
	e, err := c.Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("errand.insert: %w", err)
	}
	*created = e
	ev, err := tx.ErrandEvent.Create().SetErrandID(e.ID).SetKind(errandevent.KindCREATED).
		SetToState(string(errand.StateACCEPTED)).SetActorKind(errandevent.ActorKindSTAFF).
		SetActorUserID(p.UserID).SetNote("受理：" + in.typ.Name).SetCreateTime(now).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("errand.insert: %w", err)
	}
	if err := outbox.Publish(ctx, tx, now, outbox.NewErrandChange(outbox.ErrandCreated, e, ev.ID, "", "", "")); err != nil {
		return nil, err
	}
	if err := audit.InTx(ctx, tx, resname.Name(resname.Errands, e.ID), e.RegionID); err != nil {
		return nil, err
	}
	return s.view(ctx, tx.Client(), e, cal, now, false)
}

// ErrTypeNotAdmitted refuses a type that is offered only in the counties
// that admitted it, at a point of another county.
var ErrTypeNotAdmitted = apierr.New(codes.FailedPrecondition, "ERRAND_TYPE_NOT_ADMITTED", "该事项未在本县准入，不能登记")

// admitted checks, in the transaction of the create, that a point in
// village may log typ: a city-wide type, or one admitted for its county.
func admitted(ctx context.Context, tx *ent.Tx, typ *ent.ErrandType, village string) error {
	if typ.Availability == errandtype.AvailabilityCITY_WIDE {
		return nil
	}
	if len(village) != 12 {
		return fmt.Errorf("errand.admitted: region %q", village)
	}
	ok, err := tx.ErrandTypeAdmission.Query().Where(errandtypeadmission.ErrandTypeID(typ.ID),
		errandtypeadmission.RegionID(village[:6]+"000000"), errandtypeadmission.StateEQ(errandtypeadmission.StateADMITTED)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("errand.admitted: %w", err)
	}
	if !ok {
		return ErrTypeNotAdmitted
	}
	return nil
}

// BatchCreateErrands creates each item on its own: one bad item fails alone.
func (s *Server) BatchCreateErrands(ctx context.Context, req *redpointv1.BatchCreateErrandsRequest) (*redpointv1.BatchCreateErrandsResponse, error) {
	if _, err := agent(ctx); err != nil {
		return nil, err
	}
	if n := len(req.GetRequests()); n == 0 || n > MaxBatch {
		return nil, apierr.InvalidField("requests", fmt.Sprintf("每批应为 1–%d 条", MaxBatch))
	}
	resp := &redpointv1.BatchCreateErrandsResponse{}
	for _, item := range req.GetRequests() {
		r := &redpointv1.BatchCreateErrandResult{RequestId: item.GetRequestId()}
		out, replayed, err := s.create(ctx, item)
		switch {
		case err == nil && replayed:
			r.Outcome, r.Errand = redpointv1.BatchItemOutcome_BATCH_ITEM_OUTCOME_REPLAYED, out
		case err == nil:
			r.Outcome, r.Errand = redpointv1.BatchItemOutcome_BATCH_ITEM_OUTCOME_CREATED, out
		default:
			var ae *apierr.Error
			if !errors.As(err, &ae) {
				return nil, err // not the item's fault: fail the call, the app retries it
			}
			r.Outcome = redpointv1.BatchItemOutcome_BATCH_ITEM_OUTCOME_FAILED
			r.ErrorCode, r.ErrorReason, r.ErrorMessage = int32(ae.Code), ae.Reason, ae.Message
			for _, fv := range ae.Violations {
				r.FieldErrors = append(r.FieldErrors, &redpointv1.FieldError{Field: fv.Field, Description: fv.Description})
			}
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}
