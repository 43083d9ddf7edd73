package directory

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errandtype"
	"github.com/changzhi/redpoint/ent/region"
	"github.com/changzhi/redpoint/ent/servicepoint"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/answers"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/regioncode"
	"github.com/changzhi/redpoint/service/resname"
)

// The directory's write errors.
var (
	ErrPointOutOfScope = apierr.ErrPermissionDenied.WithMessage("无权管理该代办点")
	ErrTypeExists      = apierr.New(codes.AlreadyExists, "ERRAND_TYPE_EXISTS", "该事项编码已存在")
)

func checkText(v *apierr.Violations, field, value, what string, required bool, maxLen int) string {
	value = strings.TrimSpace(value)
	n := utf8.RuneCountInString(value)
	if (required && n == 0) || n > maxLen {
		v.Add(field, fmt.Sprintf("请填写%s（不超过 %d 个字）", what, maxLen))
	}
	return value
}

// CreateServicePoint opens a point in a village of the caller's scope.
func (s *Server) CreateServicePoint(ctx context.Context, req *redpointv1.CreateServicePointRequest) (*redpointv1.ServicePoint, error) {
	p, err := access.Caller(ctx)
	if err != nil {
		return nil, err
	}
	in := req.GetServicePoint()
	var v apierr.Violations
	name := checkText(&v, "service_point.display_name", in.GetDisplayName(), "代办点名称", true, 128)
	address := checkText(&v, "service_point.address", in.GetAddress(), "地址", false, 256)
	phone := checkText(&v, "service_point.phone", in.GetPhone(), "电话", false, 32)
	code, err := resname.Region("service_point.region", in.GetRegion())
	if err != nil {
		v.Add("service_point.region", "请指定所在行政村 regions/{12 位区划代码}")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if !p.Covers(code) {
		return nil, ErrPointOutOfScope
	}
	village, err := s.db.Region.Get(ctx, code.String())
	if ent.IsNotFound(err) || (err == nil && village.Level != region.LevelVILLAGE) {
		return nil, apierr.InvalidField("service_point.region", "代办点须设在已登记的行政村")
	}
	if err != nil {
		return nil, fmt.Errorf("directory.CreateServicePoint: %w", err)
	}
	sp, err := s.db.ServicePoint.Create().SetName(name).SetRegionID(code.String()).SetAddress(address).SetPhone(phone).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("directory.CreateServicePoint: %w", err)
	}
	sp.Edges.Region = village
	s.answers.Changed(ctx, answers.Directory)
	return servicePointProto(sp, 0), nil
}

// UpdateServicePoint changes a point in the caller's scope.
func (s *Server) UpdateServicePoint(ctx context.Context, req *redpointv1.UpdateServicePointRequest) (*redpointv1.ServicePoint, error) {
	p, err := access.Caller(ctx)
	if err != nil {
		return nil, err
	}
	in := req.GetServicePoint()
	var v apierr.Violations
	paths, err := resname.UpdatePaths(in, req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		v.Add("update_mask", "请指定要修改的字段：display_name、address、phone、active")
	}
	for _, path := range paths {
		switch path {
		case "display_name":
			checkText(&v, "service_point.display_name", in.GetDisplayName(), "代办点名称", true, 128)
		case "address":
			checkText(&v, "service_point.address", in.GetAddress(), "地址", false, 256)
		case "phone":
			checkText(&v, "service_point.phone", in.GetPhone(), "电话", false, 32)
		case "active":
		default:
			v.Add("update_mask", "不能修改字段 "+path)
		}
	}
	id, err := resname.IntID("service_point.name", in.GetName(), resname.ServicePoints)
	if err != nil {
		return nil, err
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	sp, err := s.db.ServicePoint.Get(ctx, id)
	if ent.IsNotFound(err) {
		if p.SeesEverything() {
			return nil, errServicePointNotFound
		}
		return nil, ErrPointOutOfScope
	}
	if err != nil {
		return nil, fmt.Errorf("directory.UpdateServicePoint: %w", err)
	}
	if !p.Covers(regioncode.Code(sp.RegionID)) {
		return nil, ErrPointOutOfScope
	}
	if err := resname.CheckEtag(in.GetEtag(), sp.Version); err != nil {
		return nil, apierr.ErrEtagMismatch
	}
	u := s.db.ServicePoint.UpdateOneID(id).Where(servicepoint.Version(sp.Version)).SetVersion(sp.Version + 1)
	for _, path := range paths {
		switch path {
		case "display_name":
			u.SetName(strings.TrimSpace(in.GetDisplayName()))
		case "address":
			u.SetAddress(strings.TrimSpace(in.GetAddress()))
		case "phone":
			u.SetPhone(strings.TrimSpace(in.GetPhone()))
		case "active":
			u.SetActive(in.GetActive())
		}
	}
	if _, err := u.Save(ctx); ent.IsNotFound(err) {
		return nil, apierr.ErrEtagMismatch
	} else if err != nil {
		return nil, fmt.Errorf("directory.UpdateServicePoint: %w", err)
	}
	s.answers.Changed(ctx, answers.Directory)
	return s.GetServicePoint(ctx, &redpointv1.GetServicePointRequest{Name: in.GetName()})
}

// checkAvailability maps a type's availability, which must be set.
func checkAvailability(v *apierr.Violations, a redpointv1.ErrandTypeAvailability) errandtype.Availability {
	for db, p := range availabilities {
		if p == a {
			return db
		}
	}
	v.Add("errand_type.availability", "适用范围应为 ERRAND_TYPE_AVAILABILITY_CITY_WIDE 或 ERRAND_TYPE_AVAILABILITY_ADMITTED_COUNTIES")
	return errandtype.AvailabilityCITY_WIDE
}

var typeCode = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{1,31}$`)

// CreateErrandType adds a catalog entry.
func (s *Server) CreateErrandType(ctx context.Context, req *redpointv1.CreateErrandTypeRequest) (*redpointv1.ErrandType, error) {
	in := req.GetErrandType()
	var v apierr.Violations
	if !typeCode.MatchString(req.GetErrandTypeId()) {
		v.Add("errand_type_id", "编码应为 2–32 位大写字母、数字或连字符")
	}
	t := checkNewType(&v, "errand_type", in)
	availability := errandtype.AvailabilityCITY_WIDE
	if a := in.GetAvailability(); a != redpointv1.ErrandTypeAvailability_ERRAND_TYPE_AVAILABILITY_UNSPECIFIED {
		availability = checkAvailability(&v, a)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	et, err := s.db.ErrandType.Create().SetID(req.GetErrandTypeId()).SetName(t.name).SetDepartment(t.department).
		SetDescription(t.description).SetTimeLimitDays(t.days).SetRequiredMaterials(t.materials).
		SetAvailability(availability).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, ErrTypeExists
	}
	if err != nil {
		return nil, fmt.Errorf("directory.CreateErrandType: %w", err)
	}
	s.answers.Changed(ctx, answers.Directory)
	return ErrandTypeProto(et), nil
}

// UpdateErrandType changes a catalog entry.
func (s *Server) UpdateErrandType(ctx context.Context, req *redpointv1.UpdateErrandTypeRequest) (*redpointv1.ErrandType, error) {
	in := req.GetErrandType()
	code, err := resname.StringID("errand_type.name", in.GetName(), resname.ErrandTypes, 32)
	if err != nil {
		return nil, err
	}
	var v apierr.Violations
	paths, err := resname.UpdatePaths(in, req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		v.Add("update_mask", "请指定要修改的字段")
	}
	var materials []string
	for _, path := range paths {
		switch path {
		case "display_name":
			checkText(&v, "errand_type.display_name", in.GetDisplayName(), "事项名称", true, 128)
		case "department":
			checkText(&v, "errand_type.department", in.GetDepartment(), "办理部门", true, 128)
		case "description":
			checkText(&v, "errand_type.description", in.GetDescription(), "说明", false, 1024)
		case "time_limit_days":
			if d := in.GetTimeLimitDays(); d < 1 || d > 365 {
				v.Add("errand_type.time_limit_days", "办结时限应为 1–365 个工作日")
			}
		case "required_materials":
			materials = errands.CheckMaterials(&v, "errand_type.required_materials", in.GetRequiredMaterials())
		case "availability":
			checkAvailability(&v, in.GetAvailability())
		case "active":
		default:
			v.Add("update_mask", "不能修改字段 "+path)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	et, err := s.db.ErrandType.Get(ctx, code)
	if ent.IsNotFound(err) {
		return nil, errErrandTypeNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("directory.UpdateErrandType: %w", err)
	}
	if err := resname.CheckEtag(in.GetEtag(), et.Version); err != nil {
		return nil, apierr.ErrEtagMismatch
	}
	u := s.db.ErrandType.UpdateOneID(code).Where(errandtype.Version(et.Version)).SetVersion(et.Version + 1)
	for _, path := range paths {
		switch path {
		case "display_name":
			u.SetName(strings.TrimSpace(in.GetDisplayName()))
		case "department":
			u.SetDepartment(strings.TrimSpace(in.GetDepartment()))
		case "description":
			u.SetDescription(strings.TrimSpace(in.GetDescription()))
		case "time_limit_days":
			u.SetTimeLimitDays(int(in.GetTimeLimitDays()))
		case "required_materials":
			u.SetRequiredMaterials(materials)
		case "active":
			u.SetActive(in.GetActive())
		case "availability":
			u.SetAvailability(checkAvailability(&apierr.Violations{}, in.GetAvailability()))
		}
	}
	updated, err := u.Save(ctx)
	if ent.IsNotFound(err) {
		return nil, apierr.ErrEtagMismatch
	}
	if err != nil {
		return nil, fmt.Errorf("directory.UpdateErrandType: %w", err)
	}
	s.answers.Changed(ctx, answers.Directory)
	return ErrandTypeProto(updated), nil
}
