package directory

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errandtype"
	"github.com/changzhi/redpoint/ent/errandtypeadmission"
	"github.com/changzhi/redpoint/ent/region"
	"github.com/changzhi/redpoint/ent/user"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/answers"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/audit"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/regioncode"
	"github.com/changzhi/redpoint/service/resname"
	"github.com/changzhi/redpoint/service/store"
)

// The admissions' errors.
var (
	ErrAdmissionExists = apierr.New(codes.AlreadyExists, "ERRAND_TYPE_ADMISSION_EXISTS",
		"该事项已在本县申请准入或已准入")
	ErrAdmissionDecided = apierr.New(codes.FailedPrecondition, "ERRAND_TYPE_ADMISSION_DECIDED",
		"该准入申请已审核，不能再次审核")
	errAdmissionNotFound = apierr.ErrNotFound.WithMessage("未找到该准入申请")
)

// admissionsCollection is the admissions' segment under their county.
const admissionsCollection = "errandTypeAdmissions"

const maxNote = 500

// admissionName formats regions/{county}/errandTypeAdmissions/{id}.
func admissionName(county string, id int) string {
	return resname.Name(resname.Regions, county) + "/" + resname.Name(admissionsCollection, id)
}

// parseAdmissionName parses regions/{county}/errandTypeAdmissions/{id}.
func parseAdmissionName(field, name string) (regioncode.Code, int, error) {
	parts := strings.Split(name, "/")
	bad := apierr.InvalidField(field, "格式应为 regions/{县级区划代码}/errandTypeAdmissions/{编号}")
	if len(parts) != 4 || parts[0] != resname.Regions || parts[2] != admissionsCollection {
		return "", 0, bad
	}
	code, err := regioncode.Parse(parts[1])
	if err != nil || code.Level() != regioncode.County {
		return "", 0, bad
	}
	id, err := strconv.Atoi(parts[3])
	if err != nil || id <= 0 {
		return "", 0, bad
	}
	return code, id, nil
}

// CountyOf is the county a region lies in (the region itself at the
// county level); ok is false above the county level.
func CountyOf(c regioncode.Code) (regioncode.Code, bool) {
	if c.Level() < regioncode.County {
		return "", false
	}
	return regioncode.Code(string(c)[:6] + "000000"), true
}

// newType is a validated proposal of a new catalog entry.
type newType struct {
	name, department, description string
	days                          int
	materials                     []string
}

// checkNewType validates a catalog entry's content: CreateErrandType's,
// and a county's proposal of a new type.
func checkNewType(v *apierr.Violations, prefix string, in *redpointv1.ErrandType) newType {
	t := newType{
		name:        checkText(v, prefix+".display_name", in.GetDisplayName(), "事项名称", true, 128),
		department:  checkText(v, prefix+".department", in.GetDepartment(), "办理部门", true, 128),
		description: checkText(v, prefix+".description", in.GetDescription(), "说明", false, 1024),
		days:        int(in.GetTimeLimitDays()),
	}
	if d := in.GetTimeLimitDays(); d < 1 || d > 365 {
		v.Add(prefix+".time_limit_days", "办结时限应为 1–365 个工作日")
	}
	t.materials = errands.CheckMaterials(v, prefix+".required_materials", in.GetRequiredMaterials())
	return t
}

// CreateErrandTypeAdmission proposes a type for a county of the caller's
// scope: a new entry, or an existing one that counties opt into.
func (s *Server) CreateErrandTypeAdmission(ctx context.Context, req *redpointv1.CreateErrandTypeAdmissionRequest) (*redpointv1.ErrandTypeAdmission, error) {
	p, county, err := access.InScope(ctx, "parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	const pfx = "errand_type_admission"
	in := req.GetErrandTypeAdmission()
	var v apierr.Violations
	if county.Level() != regioncode.County {
		v.Add("parent", "请指定县级区划 regions/{县级区划代码}")
	}
	code, codeErr := resname.StringID(pfx+".errand_type", in.GetErrandType(), resname.ErrandTypes, 32)
	if codeErr != nil || !typeCode.MatchString(code) {
		v.Add(pfx+".errand_type", "请指定事项 errandTypes/{编码}，编码为 2–32 位大写字母、数字或连字符")
	}
	var nt newType
	isNew := in.GetNewErrandType() != nil
	if isNew {
		nt = checkNewType(&v, pfx+".new_errand_type", in.GetNewErrandType())
	}
	reason := checkText(&v, pfx+".reason", in.GetReason(), "申请理由", false, maxNote)
	if err := v.Err(); err != nil {
		return nil, err
	}
	now := s.clock()
	var created *ent.ErrandTypeAdmission
	err = store.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		exists, err := tx.Region.Query().Where(region.ID(county.String())).Exist(ctx)
		if err != nil {
			return fmt.Errorf("directory.CreateErrandTypeAdmission: %w", err)
		}
		if !exists {
			return errRegionNotFound
		}
		et, err := tx.ErrandType.Get(ctx, code)
		switch {
		case err != nil && !ent.IsNotFound(err):
			return fmt.Errorf("directory.CreateErrandTypeAdmission: %w", err)
		case isNew && err == nil:
			return ErrTypeExists.WithMessage("该事项编码已在事项清单中；如需在本县启用，请不填 new_errand_type 申请准入")
		case !isNew && err != nil:
			return apierr.InvalidField(pfx+".errand_type", "事项清单中没有该事项；申请新增事项请填写 new_errand_type")
		case !isNew && !et.Active:
			return apierr.InvalidField(pfx+".errand_type", "该事项已停用")
		case !isNew && et.Availability == errandtype.AvailabilityCITY_WIDE:
			return apierr.InvalidField(pfx+".errand_type", "该事项全市通用，无需申请准入")
		}
		c := tx.ErrandTypeAdmission.Create().SetErrandTypeID(code).SetRegionID(county.String()).
			SetState(errandtypeadmission.StatePROPOSED).SetLive(true).SetNewType(isNew).SetReason(reason).
			SetProposerUserID(p.UserID).SetCreateTime(now).SetUpdateTime(now)
		if isNew {
			c.SetTypeName(nt.name).SetTypeDepartment(nt.department).SetTypeDescription(nt.description).
				SetTypeTimeLimitDays(nt.days).SetTypeRequiredMaterials(nt.materials)
		}
		created, err = c.Save(ctx)
		if ent.IsConstraintError(err) {
			return ErrAdmissionExists
		}
		if err != nil {
			return fmt.Errorf("directory.CreateErrandTypeAdmission: %w", err)
		}
		return audit.InTx(ctx, tx, admissionName(created.RegionID, created.ID), created.RegionID)
	})
	if err != nil {
		return nil, err
	}
	s.answers.Changed(ctx, answers.Directory)
	return s.admissionProto(ctx, created)
}

// AdmitErrandTypeAdmission admits a proposal: a new type joins the
// catalog, available in the admitting counties only.
func (s *Server) AdmitErrandTypeAdmission(ctx context.Context, req *redpointv1.AdmitErrandTypeAdmissionRequest) (*redpointv1.ErrandTypeAdmission, error) {
	return s.decide(ctx, req.GetName(), req.GetNote(), req.GetEtag(), true)
}

// RejectErrandTypeAdmission rejects a proposal with the reason.
func (s *Server) RejectErrandTypeAdmission(ctx context.Context, req *redpointv1.RejectErrandTypeAdmissionRequest) (*redpointv1.ErrandTypeAdmission, error) {
	return s.decide(ctx, req.GetName(), req.GetNote(), req.GetEtag(), false)
}

// decide admits or rejects the proposal name once: a second decision is
// ErrAdmissionDecided, also when two deciders race.
func (s *Server) decide(ctx context.Context, name, note, etag string, admit bool) (*redpointv1.ErrandTypeAdmission, error) {
	p, err := access.Caller(ctx)
	if err != nil {
		return nil, err
	}
	county, id, err := parseAdmissionName("name", name)
	if err != nil {
		return nil, err
	}
	if !p.Covers(county) {
		return nil, access.ErrRegionOutOfScope
	}
	var v apierr.Violations
	note = checkText(&v, "note", note, "审核意见", !admit, maxNote)
	if err := v.Err(); err != nil {
		return nil, err
	}
	a, err := s.db.ErrandTypeAdmission.Query().
		Where(errandtypeadmission.ID(id), errandtypeadmission.RegionID(county.String())).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, errAdmissionNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("directory.decide: %w", err)
	}
	if a.State != errandtypeadmission.StatePROPOSED {
		return nil, ErrAdmissionDecided
	}
	if err := resname.CheckEtag(etag, a.Version); err != nil {
		return nil, apierr.ErrEtagMismatch
	}
	now := s.clock()
	var decided *ent.ErrandTypeAdmission
	err = store.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		u := tx.ErrandTypeAdmission.Update().
			Where(errandtypeadmission.ID(id), errandtypeadmission.StateEQ(errandtypeadmission.StatePROPOSED),
				errandtypeadmission.Version(a.Version)).
			SetDeciderUserID(p.UserID).SetDecideTime(now).SetDecisionNote(note).SetUpdateTime(now).AddVersion(1)
		if admit {
			u.SetState(errandtypeadmission.StateADMITTED)
		} else {
			u.SetState(errandtypeadmission.StateREJECTED).ClearLive()
		}
		n, err := u.Save(ctx)
		if err != nil {
			return fmt.Errorf("directory.decide: %w", err)
		}
		if n == 0 { // another decision, or another change, came first
			return ErrAdmissionDecided
		}
		if admit && a.NewType {
			err := tx.ErrandType.Create().SetID(a.ErrandTypeID).SetName(a.TypeName).SetDepartment(a.TypeDepartment).
				SetDescription(a.TypeDescription).SetTimeLimitDays(a.TypeTimeLimitDays).SetRequiredMaterials(a.TypeRequiredMaterials).
				SetAvailability(errandtype.AvailabilityADMITTED_COUNTIES).SetCreateTime(now).SetUpdateTime(now).Exec(ctx)
			if ent.IsConstraintError(err) {
				return ErrTypeExists.WithMessage("该事项编码已在事项清单中，请驳回后由县里申请启用该事项")
			}
			if err != nil {
				return fmt.Errorf("directory.decide: %w", err)
			}
		}
		if decided, err = tx.ErrandTypeAdmission.Get(ctx, id); err != nil {
			return fmt.Errorf("directory.decide: %w", err)
		}
		return audit.InTx(ctx, tx, admissionName(a.RegionID, a.ID), a.RegionID)
	})
	if err != nil {
		return nil, err
	}
	s.answers.Changed(ctx, answers.Directory)
	return s.admissionProto(ctx, decided)
}

// ListErrandTypeAdmissions lists the admissions of a county, or of every
// county under a city, newest first.
func (s *Server) ListErrandTypeAdmissions(ctx context.Context, req *redpointv1.ListErrandTypeAdmissionsRequest) (*redpointv1.ListErrandTypeAdmissionsResponse, error) {
	_, parent, err := access.InScope(ctx, "parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	var v apierr.Violations
	if parent.Level() > regioncode.County {
		v.Add("parent", "请指定县级或市级区划")
	}
	st := req.GetState()
	state, ok := admissionStates[st]
	if !ok && st != redpointv1.ErrandTypeAdmissionState_ERRAND_TYPE_ADMISSION_STATE_UNSPECIFIED {
		v.Add("state", "状态应为 PROPOSED、ADMITTED 或 REJECTED")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	lo, hi := parent.Range()
	q := s.db.ErrandTypeAdmission.Query().Where(errandtypeadmission.RegionIDGTE(lo), errandtypeadmission.RegionIDLTE(hi))
	if ok {
		q = q.Where(errandtypeadmission.StateEQ(state))
	}
	rows, next, err := pagetoken.Page(ctx, s.pages, req.GetPageToken(), pagetoken.Query{"errandTypeAdmissions", parent.String(), st.String()},
		func(w pagetoken.Window) ([]*ent.ErrandTypeAdmission, error) {
			return q.Where(w.After).Order(w.Order).Limit(w.Limit).All(ctx)
		},
		pagetoken.Desc(errandtypeadmission.FieldID, func(a *ent.ErrandTypeAdmission) int { return a.ID }))
	if err != nil {
		return nil, fmt.Errorf("directory.ListErrandTypeAdmissions: %w", err)
	}
	out, err := s.admissionProtos(ctx, rows)
	if err != nil {
		return nil, err
	}
	return &redpointv1.ListErrandTypeAdmissionsResponse{ErrandTypeAdmissions: out, NextPageToken: next}, nil
}

var admissionStates = map[redpointv1.ErrandTypeAdmissionState]errandtypeadmission.State{
	redpointv1.ErrandTypeAdmissionState_ERRAND_TYPE_ADMISSION_STATE_PROPOSED: errandtypeadmission.StatePROPOSED,
	redpointv1.ErrandTypeAdmissionState_ERRAND_TYPE_ADMISSION_STATE_ADMITTED: errandtypeadmission.StateADMITTED,
	redpointv1.ErrandTypeAdmissionState_ERRAND_TYPE_ADMISSION_STATE_REJECTED: errandtypeadmission.StateREJECTED,
}

var admissionStateProtos = map[errandtypeadmission.State]struct {
	state redpointv1.ErrandTypeAdmissionState
	zh    string
}{
	errandtypeadmission.StatePROPOSED: {redpointv1.ErrandTypeAdmissionState_ERRAND_TYPE_ADMISSION_STATE_PROPOSED, "待审核"},
	errandtypeadmission.StateADMITTED: {redpointv1.ErrandTypeAdmissionState_ERRAND_TYPE_ADMISSION_STATE_ADMITTED, "已准入"},
	errandtypeadmission.StateREJECTED: {redpointv1.ErrandTypeAdmissionState_ERRAND_TYPE_ADMISSION_STATE_REJECTED, "已驳回"},
}

func (s *Server) admissionProto(ctx context.Context, a *ent.ErrandTypeAdmission) (*redpointv1.ErrandTypeAdmission, error) {
	out, err := s.admissionProtos(ctx, []*ent.ErrandTypeAdmission{a})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// admissionProtos converts rows, with the names of their types, counties
// and people read in one query each.
func (s *Server) admissionProtos(ctx context.Context, rows []*ent.ErrandTypeAdmission) ([]*redpointv1.ErrandTypeAdmission, error) {
	var codes, counties []string
	var people []int
	for _, a := range rows {
		codes, counties, people = append(codes, a.ErrandTypeID), append(counties, a.RegionID), append(people, a.ProposerUserID)
		if a.DeciderUserID != nil {
			people = append(people, *a.DeciderUserID)
		}
	}
	typeNames := map[string]string{}
	types, err := s.db.ErrandType.Query().Where(errandtype.IDIn(codes...)).Select(errandtype.FieldID, errandtype.FieldName).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("directory.admissionProtos: %w", err)
	}
	for _, t := range types {
		typeNames[t.ID] = t.Name
	}
	countyNames := map[string]string{}
	regions, err := s.db.Region.Query().Where(region.IDIn(counties...)).Select(region.FieldID, region.FieldName).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("directory.admissionProtos: %w", err)
	}
	for _, r := range regions {
		countyNames[r.ID] = r.Name
	}
	userNames := map[int]string{}
	users, err := s.db.User.Query().Where(user.IDIn(people...)).Select(user.FieldID, user.FieldDisplayName).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("directory.admissionProtos: %w", err)
	}
	for _, u := range users {
		userNames[u.ID] = u.DisplayName
	}
	out := make([]*redpointv1.ErrandTypeAdmission, len(rows))
	for i, a := range rows {
		st := admissionStateProtos[a.State]
		m := &redpointv1.ErrandTypeAdmission{
			Name:                  admissionName(a.RegionID, a.ID),
			ErrandType:            resname.Name(resname.ErrandTypes, a.ErrandTypeID),
			ErrandTypeDisplayName: typeNames[a.ErrandTypeID],
			County:                resname.Name(resname.Regions, a.RegionID),
			CountyDisplayName:     countyNames[a.RegionID],
			State:                 st.state,
			StateDisplayName:      st.zh,
			Reason:                a.Reason,
			Proposer:              resname.Name(resname.Users, a.ProposerUserID),
			ProposerDisplayName:   userNames[a.ProposerUserID],
			ProposeTime:           timestamppb.New(a.CreateTime),
			DecisionNote:          a.DecisionNote,
			Etag:                  resname.Etag(a.Version),
		}
		if a.NewType {
			m.NewErrandType = &redpointv1.ErrandType{DisplayName: a.TypeName, Department: a.TypeDepartment,
				TimeLimitDays: int32(a.TypeTimeLimitDays), RequiredMaterials: a.TypeRequiredMaterials, Description: a.TypeDescription}
			if m.ErrandTypeDisplayName == "" {
				m.ErrandTypeDisplayName = a.TypeName
			}
		}
		if a.DeciderUserID != nil {
			m.Decider = resname.Name(resname.Users, *a.DeciderUserID)
			m.DeciderDisplayName = userNames[*a.DeciderUserID]
		}
		if a.DecideTime != nil {
			m.DecideTime = timestamppb.New(*a.DecideTime)
		}
		out[i] = m
	}
	return out, nil
}
