// Package directory serves the read side of the directory: regions, service
// points and the errand catalog.
package directory

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errandtype"
	"github.com/changzhi/redpoint/ent/errandtypeadmission"
	"github.com/changzhi/redpoint/ent/predicate"
	"github.com/changzhi/redpoint/ent/region"
	"github.com/changzhi/redpoint/ent/servicepoint"
	"github.com/changzhi/redpoint/ent/user"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/answers"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/resname"
)

// Server implements RegionService, ServicePointService and ErrandTypeService.
type Server struct {
	redpointv1.UnimplementedRegionServiceServer
	redpointv1.UnimplementedServicePointServiceServer
	redpointv1.UnimplementedErrandTypeServiceServer
	db      *ent.Client
	pages   *pagetoken.Signer
	answers *answers.Cache
	now     func() time.Time
}

var (
	_ redpointv1.RegionServiceServer       = (*Server)(nil)
	_ redpointv1.ServicePointServiceServer = (*Server)(nil)
	_ redpointv1.ErrandTypeServiceServer   = (*Server)(nil)
)

// New returns a directory server reading from db; pages signs the page
// tokens of its lists; ans keeps its answers, which its writes (and the
// users', which it counts) bump (nil: every read reads the database); now
// is the clock admissions are proposed and decided by (nil: time.Now).
func New(db *ent.Client, pages *pagetoken.Signer, ans *answers.Cache, now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	return &Server{db: db, pages: pages, answers: ans, now: now}
}

// clock is the current time as stored: UTC, in microseconds.
func (s *Server) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// cached answers a public read from memory while the directory stands:
// the key is the method, the page size and the request, whoever asks.
func cached[M proto.Message](ctx context.Context, s *Server, method string, req proto.Message, read func() (M, error)) (M, error) {
	req = proto.Clone(req)
	req.ProtoReflect().SetUnknown(nil) // fields the server doesn't know make no key of their own
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		var zero M
		return zero, fmt.Errorf("directory.%s: %w", method, err)
	}
	size, _ := pagetoken.SizeFrom(ctx) // 0 for a Get
	key := "directory|" + method + "|" + strconv.Itoa(size) + "|" + string(b)
	return answers.Read(ctx, s.answers, key, func(w *answers.Watch) (M, time.Time, error) {
		w.Scopes(ctx, answers.Directory)
		m, err := read()
		return m, time.Time{}, err
	})
}

var errRegionNotFound = apierr.ErrNotFound.WithMessage("未找到该行政区划")

// GetRegion returns one region.
func (s *Server) GetRegion(ctx context.Context, req *redpointv1.GetRegionRequest) (*redpointv1.Region, error) {
	return cached(ctx, s, "GetRegion", req, func() (*redpointv1.Region, error) { return s.getRegion(ctx, req) })
}

func (s *Server) getRegion(ctx context.Context, req *redpointv1.GetRegionRequest) (*redpointv1.Region, error) {
	code, err := resname.Region("name", req.GetName())
	if err != nil {
		return nil, err
	}
	r, err := s.db.Region.Get(ctx, code.String())
	if ent.IsNotFound(err) {
		return nil, errRegionNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("directory.GetRegion: %w", err)
	}
	return regionProto(r), nil
}

// ListRegions lists a region's children by code.
func (s *Server) ListRegions(ctx context.Context, req *redpointv1.ListRegionsRequest) (*redpointv1.ListRegionsResponse, error) {
	return cached(ctx, s, "ListRegions", req, func() (*redpointv1.ListRegionsResponse, error) { return s.listRegions(ctx, req) })
}

func (s *Server) listRegions(ctx context.Context, req *redpointv1.ListRegionsRequest) (*redpointv1.ListRegionsResponse, error) {
	parent, err := resname.Region("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	exists, err := s.db.Region.Query().Where(region.ID(parent.String())).Exist(ctx)
	if err != nil {
		return nil, fmt.Errorf("directory.ListRegions: %w", err)
	}
	if !exists {
		return nil, errRegionNotFound
	}
	rows, next, err := pagetoken.Page(ctx, s.pages, req.GetPageToken(), pagetoken.Query{"regions", parent.String()},
		func(w pagetoken.Window) ([]*ent.Region, error) {
			return s.db.Region.Query().Where(region.ParentID(parent.String()), w.After).Order(w.Order).Limit(w.Limit).All(ctx)
		},
		pagetoken.Asc(region.FieldID, func(r *ent.Region) string { return r.ID }))
	if err != nil {
		return nil, fmt.Errorf("directory.ListRegions: %w", err)
	}
	return &redpointv1.ListRegionsResponse{Regions: pagetoken.Map(rows, regionProto), NextPageToken: next}, nil
}

func regionProto(r *ent.Region) *redpointv1.Region {
	p := &redpointv1.Region{
		Name:        resname.Name(resname.Regions, r.ID),
		Code:        r.ID,
		DisplayName: r.Name,
		Level:       regionLevels[r.Level],
	}
	if r.ParentID != "" {
		p.Parent = resname.Name(resname.Regions, r.ParentID)
	}
	return p
}

var regionLevels = map[region.Level]redpointv1.RegionLevel{
	region.LevelPROVINCE: redpointv1.RegionLevel_REGION_LEVEL_PROVINCE,
	region.LevelCITY:     redpointv1.RegionLevel_REGION_LEVEL_CITY,
	region.LevelCOUNTY:   redpointv1.RegionLevel_REGION_LEVEL_COUNTY,
	region.LevelTOWNSHIP: redpointv1.RegionLevel_REGION_LEVEL_TOWNSHIP,
	region.LevelVILLAGE:  redpointv1.RegionLevel_REGION_LEVEL_VILLAGE,
}

var errServicePointNotFound = apierr.ErrNotFound.WithMessage("未找到该代办点")

// GetServicePoint returns one service point.
func (s *Server) GetServicePoint(ctx context.Context, req *redpointv1.GetServicePointRequest) (*redpointv1.ServicePoint, error) {
	return cached(ctx, s, "GetServicePoint", req, func() (*redpointv1.ServicePoint, error) { return s.getServicePoint(ctx, req) })
}

func (s *Server) getServicePoint(ctx context.Context, req *redpointv1.GetServicePointRequest) (*redpointv1.ServicePoint, error) {
	id, err := resname.IntID("name", req.GetName(), resname.ServicePoints)
	if err != nil {
		return nil, err
	}
	sp, err := s.db.ServicePoint.Query().Where(servicepoint.ID(id)).WithRegion().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, errServicePointNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("directory.GetServicePoint: %w", err)
	}
	counts, err := s.agentCounts(ctx, []int{sp.ID})
	if err != nil {
		return nil, err
	}
	return servicePointProto(sp, counts[sp.ID]), nil
}

// ListServicePoints lists every point in a region's subtree.
func (s *Server) ListServicePoints(ctx context.Context, req *redpointv1.ListServicePointsRequest) (*redpointv1.ListServicePointsResponse, error) {
	return cached(ctx, s, "ListServicePoints", req, func() (*redpointv1.ListServicePointsResponse, error) { return s.listServicePoints(ctx, req) })
}

func (s *Server) listServicePoints(ctx context.Context, req *redpointv1.ListServicePointsRequest) (*redpointv1.ListServicePointsResponse, error) {
	parent, err := resname.Region("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	exists, err := s.db.Region.Query().Where(region.ID(parent.String())).Exist(ctx)
	if err != nil {
		return nil, fmt.Errorf("directory.ListServicePoints: %w", err)
	}
	if !exists {
		return nil, errRegionNotFound
	}
	lo, hi := parent.Range()
	base := s.db.ServicePoint.Query().Where(servicepoint.RegionIDGTE(lo), servicepoint.RegionIDLTE(hi))
	if !req.GetShowInactive() {
		base = base.Where(servicepoint.Active(true))
	}
	total, err := base.Clone().Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("directory.ListServicePoints: %w", err)
	}
	query := pagetoken.Query{"servicePoints", parent.String(), strconv.FormatBool(req.GetShowInactive())}
	rows, next, err := pagetoken.Page(ctx, s.pages, req.GetPageToken(), query,
		func(w pagetoken.Window) ([]*ent.ServicePoint, error) {
			return base.WithRegion().Where(w.After).Order(w.Order).Limit(w.Limit).All(ctx)
		},
		pagetoken.Asc(servicepoint.FieldRegionID, func(sp *ent.ServicePoint) string { return sp.RegionID }),
		pagetoken.Asc(servicepoint.FieldID, func(sp *ent.ServicePoint) int { return sp.ID }))
	if err != nil {
		return nil, fmt.Errorf("directory.ListServicePoints: %w", err)
	}
	ids := make([]int, len(rows))
	for i, sp := range rows {
		ids[i] = sp.ID
	}
	counts, err := s.agentCounts(ctx, ids)
	if err != nil {
		return nil, err
	}
	return &redpointv1.ListServicePointsResponse{TotalSize: int32(total), NextPageToken: next,
		ServicePoints: pagetoken.Map(rows, func(sp *ent.ServicePoint) *redpointv1.ServicePoint {
			return servicePointProto(sp, counts[sp.ID])
		})}, nil
}

// agentCounts counts the active agents of each point in one query.
func (s *Server) agentCounts(ctx context.Context, ids []int) (map[int]int, error) {
	var rows []struct {
		ServicePointID int `json:"service_point_id"`
		Count          int `json:"count"`
	}
	err := s.db.User.Query().
		Where(user.ServicePointIDIn(ids...), user.Active(true), user.RoleEQ(user.RoleAGENT)).
		GroupBy(user.FieldServicePointID).
		Aggregate(ent.Count()).
		Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("directory.agentCounts: %w", err)
	}
	out := make(map[int]int, len(rows))
	for _, r := range rows {
		out[r.ServicePointID] = r.Count
	}
	return out, nil
}

func servicePointProto(sp *ent.ServicePoint, agents int) *redpointv1.ServicePoint {
	p := &redpointv1.ServicePoint{
		Name:        resname.Name(resname.ServicePoints, sp.ID),
		DisplayName: sp.Name,
		Region:      resname.Name(resname.Regions, sp.RegionID),
		Address:     sp.Address,
		Phone:       sp.Phone,
		Active:      sp.Active,
		AgentCount:  int32(agents),
		CreateTime:  timestamppb.New(sp.CreateTime),
		UpdateTime:  timestamppb.New(sp.UpdateTime),
		Etag:        resname.Etag(sp.Version),
	}
	if sp.Edges.Region != nil {
		p.RegionDisplayName = sp.Edges.Region.Name
	}
	return p
}

var errErrandTypeNotFound = apierr.ErrNotFound.WithMessage("未找到该事项")

// GetErrandType returns one catalog entry.
func (s *Server) GetErrandType(ctx context.Context, req *redpointv1.GetErrandTypeRequest) (*redpointv1.ErrandType, error) {
	return cached(ctx, s, "GetErrandType", req, func() (*redpointv1.ErrandType, error) { return s.getErrandType(ctx, req) })
}

func (s *Server) getErrandType(ctx context.Context, req *redpointv1.GetErrandTypeRequest) (*redpointv1.ErrandType, error) {
	code, err := resname.StringID("name", req.GetName(), resname.ErrandTypes, 32)
	if err != nil {
		return nil, err
	}
	et, err := s.db.ErrandType.Get(ctx, code)
	if ent.IsNotFound(err) {
		return nil, errErrandTypeNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("directory.GetErrandType: %w", err)
	}
	return ErrandTypeProto(et), nil
}

// ListErrandTypes lists the catalog by code.
func (s *Server) ListErrandTypes(ctx context.Context, req *redpointv1.ListErrandTypesRequest) (*redpointv1.ListErrandTypesResponse, error) {
	return cached(ctx, s, "ListErrandTypes", req, func() (*redpointv1.ListErrandTypesResponse, error) { return s.listErrandTypes(ctx, req) })
}

func (s *Server) listErrandTypes(ctx context.Context, req *redpointv1.ListErrandTypesRequest) (*redpointv1.ListErrandTypesResponse, error) {
	q := s.db.ErrandType.Query()
	if !req.GetShowInactive() {
		q = q.Where(errandtype.Active(true))
	}
	if req.GetRegion() != "" {
		usable, err := s.usableIn(ctx, req.GetRegion())
		if err != nil {
			return nil, err
		}
		q = q.Where(usable)
	}
	rows, next, err := pagetoken.Page(ctx, s.pages, req.GetPageToken(),
		pagetoken.Query{"errandTypes", strconv.FormatBool(req.GetShowInactive()), req.GetRegion()},
		func(w pagetoken.Window) ([]*ent.ErrandType, error) {
			return q.Where(w.After).Order(w.Order).Limit(w.Limit).All(ctx)
		},
		pagetoken.Asc(errandtype.FieldID, func(et *ent.ErrandType) string { return et.ID }))
	if err != nil {
		return nil, fmt.Errorf("directory.ListErrandTypes: %w", err)
	}
	return &redpointv1.ListErrandTypesResponse{ErrandTypes: pagetoken.Map(rows, ErrandTypeProto), NextPageToken: next}, nil
}

// usableIn is the catalog entries a point in the region named may log:
// the city-wide ones and those admitted for its county.
func (s *Server) usableIn(ctx context.Context, name string) (predicate.ErrandType, error) {
	code, err := resname.Region("region", name)
	if err != nil {
		return nil, err
	}
	exists, err := s.db.Region.Query().Where(region.ID(code.String())).Exist(ctx)
	if err != nil {
		return nil, fmt.Errorf("directory.usableIn: %w", err)
	}
	if !exists {
		return nil, errRegionNotFound
	}
	cityWide := errandtype.AvailabilityEQ(errandtype.AvailabilityCITY_WIDE)
	county, ok := CountyOf(code)
	if !ok {
		return cityWide, nil
	}
	admitted, err := s.db.ErrandTypeAdmission.Query().
		Where(errandtypeadmission.RegionID(county.String()), errandtypeadmission.StateEQ(errandtypeadmission.StateADMITTED)).
		Select(errandtypeadmission.FieldErrandTypeID).Strings(ctx)
	if err != nil {
		return nil, fmt.Errorf("directory.usableIn: %w", err)
	}
	return errandtype.Or(cityWide, errandtype.IDIn(admitted...)), nil
}

var availabilities = map[errandtype.Availability]redpointv1.ErrandTypeAvailability{
	errandtype.AvailabilityCITY_WIDE:         redpointv1.ErrandTypeAvailability_ERRAND_TYPE_AVAILABILITY_CITY_WIDE,
	errandtype.AvailabilityADMITTED_COUNTIES: redpointv1.ErrandTypeAvailability_ERRAND_TYPE_AVAILABILITY_ADMITTED_COUNTIES,
}

// ErrandTypeProto converts a catalog row.
func ErrandTypeProto(et *ent.ErrandType) *redpointv1.ErrandType {
	return &redpointv1.ErrandType{
		Name:              resname.Name(resname.ErrandTypes, et.ID),
		Code:              et.ID,
		DisplayName:       et.Name,
		Department:        et.Department,
		TimeLimitDays:     int32(et.TimeLimitDays),
		RequiredMaterials: et.RequiredMaterials,
		Description:       et.Description,
		Active:            et.Active,
		CreateTime:        timestamppb.New(et.CreateTime),
		UpdateTime:        timestamppb.New(et.UpdateTime),
		Etag:              resname.Etag(et.Version),
		Availability:      availabilities[et.Availability],
	}
}
