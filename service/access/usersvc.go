package access

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/region"
	"github.com/changzhi/redpoint/ent/user"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/answers"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/regioncode"
	"github.com/changzhi/redpoint/service/resname"
)

// UserServer implements UserService: staff accounts, managed within scope.
type UserServer struct {
	redpointv1.UnimplementedUserServiceServer
	db     *ent.Client
	tokens *Tokens
	pages  *pagetoken.Signer
	// answers: a service point's answer counts its agents.
	answers *answers.Cache
}

var _ redpointv1.UserServiceServer = (*UserServer)(nil)

// NewUserServer returns the account service; pages signs its page tokens;
// ans keeps the directory's answers, which count agents (nil: none kept).
func NewUserServer(db *ent.Client, tokens *Tokens, pages *pagetoken.Signer, ans *answers.Cache) *UserServer {
	return &UserServer{db: db, tokens: tokens, pages: pages, answers: ans}
}

// rank orders roles; a manager acts only on lower ranks (a city admin also
// on city admins, so the city can have more than one).
// A village secretary ranks above the agents but manages none: Manages
// needs a role in userManagers too.
var rank = map[Role]int{RoleAgent: 1, RoleVillageSecretary: 2, RoleTownshipSecretary: 3, RoleCountyAdmin: 4, RoleCityAdmin: 5}

// roleLevels are the region levels each role's scope may be: a
// CITY_ADMIN's is its city, or the province of a deployment with several
// cities.
var roleLevels = map[Role][]regioncode.Level{
	RoleAgent: {regioncode.Village}, RoleVillageSecretary: {regioncode.Village}, RoleTownshipSecretary: {regioncode.Township},
	RoleCountyAdmin: {regioncode.County}, RoleCityAdmin: {regioncode.City, regioncode.Province},
}

// Manages reports whether p may manage an account of role in region.
func (p Principal) Manages(role Role, regionCode regioncode.Code) bool {
	below := rank[role] < rank[p.Role] || (p.Role == RoleCityAdmin && role == RoleCityAdmin)
	return below && slices.Contains(userManager, p.Role) && p.Covers(regionCode)
}

// The account errors.
var (
	ErrUserOutOfScope = apierr.ErrPermissionDenied.WithMessage("无权管理该账号")
	ErrUserNotFound   = apierr.ErrNotFound.WithMessage("未找到该账号")
	ErrPhoneTaken     = apierr.New(codes.AlreadyExists, "PHONE_TAKEN", "该手机号已有账号")
)

// MinPasswordLen is the shortest password accepted.
const MinPasswordLen = 8

// loadUser reads users/{id} (or users/me) for p, permission before
// existence: p sees itself and the accounts it manages.
func (s *UserServer) loadUser(ctx context.Context, p Principal, field, name string, manage bool) (*ent.User, error) {
	if name == "users/me" && !manage {
		u, err := s.db.User.Get(ctx, p.UserID)
		if err != nil {
			return nil, fmt.Errorf("access.loadUser: %w", err)
		}
		return u, nil
	}
	id, err := resname.IntID(field, name, resname.Users)
	if err != nil {
		return nil, err
	}
	u, err := s.db.User.Get(ctx, id)
	if ent.IsNotFound(err) {
		if p.SeesEverything() {
			return nil, ErrUserNotFound
		}
		return nil, ErrUserOutOfScope
	}
	if err != nil {
		return nil, fmt.Errorf("access.loadUser: %w", err)
	}
	if u.ID == p.UserID && !manage {
		return u, nil
	}
	if !p.Manages(Role(u.Role), regioncode.Code(u.RegionID)) {
		return nil, ErrUserOutOfScope
	}
	return u, nil
}

// GetUser returns the caller (users/me) or an account the caller manages.
func (s *UserServer) GetUser(ctx context.Context, req *redpointv1.GetUserRequest) (*redpointv1.User, error) {
	p, err := Caller(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.loadUser(ctx, p, "name", req.GetName(), false)
	if err != nil {
		return nil, err
	}
	return UserProto(u), nil
}

// ListUsers lists the accounts scoped in a region's subtree.
func (s *UserServer) ListUsers(ctx context.Context, req *redpointv1.ListUsersRequest) (*redpointv1.ListUsersResponse, error) {
	_, parent, err := InScope(ctx, "parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	lo, hi := parent.Range()
	rows, next, err := pagetoken.Page(ctx, s.pages, req.GetPageToken(), pagetoken.Query{"users", parent.String()},
		func(w pagetoken.Window) ([]*ent.User, error) {
			return s.db.User.Query().Where(user.RegionIDGTE(lo), user.RegionIDLTE(hi), w.After).Order(w.Order).Limit(w.Limit).All(ctx)
		},
		pagetoken.Asc(user.FieldID, func(u *ent.User) int { return u.ID }))
	if err != nil {
		return nil, fmt.Errorf("access.ListUsers: %w", err)
	}
	return &redpointv1.ListUsersResponse{Users: pagetoken.Map(rows, UserProto), NextPageToken: next}, nil
}

var roleFromProto = map[redpointv1.Role]Role{
	redpointv1.Role_ROLE_AGENT:              RoleAgent,
	redpointv1.Role_ROLE_VILLAGE_SECRETARY:  RoleVillageSecretary,
	redpointv1.Role_ROLE_TOWNSHIP_SECRETARY: RoleTownshipSecretary,
	redpointv1.Role_ROLE_COUNTY_ADMIN:       RoleCountyAdmin,
	redpointv1.Role_ROLE_CITY_ADMIN:         RoleCityAdmin,
}

// NewAccount is a validated account to create; the CLI's bootstrap uses it too.
type NewAccount struct {
	Phone, DisplayName, Password string
	Role                         Role
	Region                       regioncode.Code
	ServicePointID               int
}

// CreateUser creates an account below the caller's role, in its scope.
func (s *UserServer) CreateUser(ctx context.Context, req *redpointv1.CreateUserRequest) (*redpointv1.User, error) {
	p, err := Caller(ctx)
	if err != nil {
		return nil, err
	}
	in := req.GetUser()
	var v apierr.Violations
	acct := NewAccount{
		Phone:       strings.TrimSpace(in.GetPhone()),
		DisplayName: strings.TrimSpace(in.GetDisplayName()),
		Password:    req.GetPassword(),
		Role:        roleFromProto[in.GetRole()],
	}
	if acct.Role == "" {
		v.Add("user.role", "请选择角色")
	}
	if in.GetServicePoint() != "" {
		id, err := resname.IntID("user.service_point", in.GetServicePoint(), resname.ServicePoints)
		if err != nil {
			v.Add("user.service_point", "格式应为 servicePoints/{编号}")
		}
		acct.ServicePointID = id
	}
	if in.GetRegion() != "" {
		code, err := resname.Region("user.region", in.GetRegion())
		if err != nil {
			v.Add("user.region", "格式应为 regions/{12 位区划代码}")
		}
		acct.Region = code
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	u, err := CreateAccount(ctx, s.db, acct, func(role Role, code regioncode.Code) bool { return p.Manages(role, code) })
	if err != nil {
		return nil, err
	}
	s.answers.Changed(ctx, answers.Directory)
	return UserProto(u), nil
}

// CreateAccount validates and writes an account. allowed decides whether
// the creator may make this role in this region (the CLI allows all).
func CreateAccount(ctx context.Context, db *ent.Client, a NewAccount, allowed func(Role, regioncode.Code) bool) (*ent.User, error) {
	var v apierr.Violations
	if !pii.ValidMobile(a.Phone) {
		v.Add("user.phone", "手机号应为 11 位大陆手机号")
	}
	if n := utf8.RuneCountInString(a.DisplayName); n == 0 || n > 64 {
		v.Add("user.display_name", "请填写姓名（不超过 64 个字）")
	}
	if utf8.RuneCountInString(a.Password) < MinPasswordLen {
		v.Add("password", fmt.Sprintf("密码至少 %d 位", MinPasswordLen))
	}
	if _, ok := rank[a.Role]; !ok {
		v.Add("user.role", "角色无效")
	}
	if a.Role == RoleAgent {
		if a.ServicePointID == 0 {
			v.Add("user.service_point", "代办员须指定代办点")
		}
	} else if a.Region == "" {
		v.Add("user.region", "请指定管辖区域")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if a.Role == RoleAgent {
		sp, err := db.ServicePoint.Get(ctx, a.ServicePointID)
		if err != nil && !ent.IsNotFound(err) {
			return nil, fmt.Errorf("access.CreateAccount: %w", err)
		}
		if sp == nil || !allowed(a.Role, regioncode.Code(sp.RegionID)) {
			return nil, ErrUserOutOfScope
		}
		if !sp.Active {
			return nil, apierr.InvalidField("user.service_point", "代办点已停用")
		}
		a.Region = regioncode.Code(sp.RegionID)
	} else {
		if !allowed(a.Role, a.Region) {
			return nil, ErrUserOutOfScope
		}
		if !slices.Contains(roleLevels[a.Role], a.Region.Level()) {
			return nil, apierr.InvalidField("user.region", "管辖区域的级别与角色不符")
		}
		exists, err := db.Region.Query().Where(region.ID(a.Region.String())).Exist(ctx)
		if err != nil {
			return nil, fmt.Errorf("access.CreateAccount: %w", err)
		}
		if !exists {
			return nil, apierr.InvalidField("user.region", "区域不存在")
		}
	}
	hash, err := newPasswordHash(ctx, a.Password)
	if err != nil {
		return nil, err
	}
	c := db.User.Create().SetPhone(a.Phone).SetDisplayName(a.DisplayName).SetRole(user.Role(a.Role)).
		SetRegionID(a.Region.String()).SetPasswordHash(hash)
	if a.Role == RoleAgent {
		c.SetServicePointID(a.ServicePointID)
	}
	u, err := c.Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, ErrPhoneTaken
	}
	if err != nil {
		return nil, fmt.Errorf("access.CreateAccount: %w", err)
	}
	return u, nil
}

// UpdateUser changes display_name, active or (agents) service_point.
// Deactivating an account ends its sessions.
func (s *UserServer) UpdateUser(ctx context.Context, req *redpointv1.UpdateUserRequest) (*redpointv1.User, error) {
	p, err := Caller(ctx)
	if err != nil {
		return nil, err
	}
	in := req.GetUser()
	paths, err := resname.UpdatePaths(req.GetUser(), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	var v apierr.Violations
	if len(paths) == 0 {
		v.Add("update_mask", "请指定要修改的字段：display_name、active、service_point")
	}
	for _, path := range paths {
		switch path {
		case "display_name":
			if n := utf8.RuneCountInString(strings.TrimSpace(in.GetDisplayName())); n == 0 || n > 64 {
				v.Add("user.display_name", "请填写姓名（不超过 64 个字）")
			}
		case "active", "service_point":
		default:
			v.Add("update_mask", "不能修改字段 "+path)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	u, err := s.loadUser(ctx, p, "user.name", in.GetName(), true)
	if err != nil {
		return nil, err
	}
	if err := resname.CheckEtag(in.GetEtag(), u.Version); err != nil {
		return nil, apierr.ErrEtagMismatch
	}
	upd := s.db.User.UpdateOneID(u.ID).Where(user.Version(u.Version)).SetVersion(u.Version + 1)
	for _, path := range paths {
		switch path {
		case "display_name":
			upd.SetDisplayName(strings.TrimSpace(in.GetDisplayName()))
		case "active":
			upd.SetActive(in.GetActive())
		case "service_point":
			if u.Role != user.RoleAGENT {
				if in.GetServicePoint() == "" {
					continue // a fetched account sent back whole: no point, no change
				}
				return nil, apierr.InvalidField("user.service_point", "只有代办员属于代办点")
			}
			id, err := resname.IntID("user.service_point", in.GetServicePoint(), resname.ServicePoints)
			if err != nil {
				return nil, err
			}
			sp, err := s.db.ServicePoint.Get(ctx, id)
			if ent.IsNotFound(err) || (err == nil && !p.Manages(RoleAgent, regioncode.Code(sp.RegionID))) {
				return nil, ErrUserOutOfScope
			}
			if err != nil {
				return nil, fmt.Errorf("access.UpdateUser: %w", err)
			}
			upd.SetServicePointID(sp.ID).SetRegionID(sp.RegionID)
		}
	}
	updated, err := upd.Save(ctx)
	if ent.IsNotFound(err) {
		return nil, apierr.ErrEtagMismatch
	}
	if err != nil {
		return nil, fmt.Errorf("access.UpdateUser: %w", err)
	}
	s.answers.Changed(ctx, answers.Directory)
	if !updated.Active {
		if err := s.tokens.RevokeUser(ctx, u.ID); err != nil {
			return nil, err
		}
	}
	return UserProto(updated), nil
}

// ResetUserPassword sets a new password and ends the account's sessions.
func (s *UserServer) ResetUserPassword(ctx context.Context, req *redpointv1.ResetUserPasswordRequest) (*redpointv1.User, error) {
	p, err := Caller(ctx)
	if err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(req.GetPassword()) < MinPasswordLen {
		return nil, apierr.InvalidField("password", fmt.Sprintf("密码至少 %d 位", MinPasswordLen))
	}
	u, err := s.loadUser(ctx, p, "name", req.GetName(), true)
	if err != nil {
		return nil, err
	}
	hash, err := newPasswordHash(ctx, req.GetPassword())
	if err != nil {
		return nil, err
	}
	updated, err := s.db.User.UpdateOneID(u.ID).SetPasswordHash(hash).SetVersion(u.Version + 1).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("access.ResetUserPassword: %w", err)
	}
	if err := s.tokens.RevokeUser(ctx, u.ID); err != nil {
		return nil, err
	}
	return UserProto(updated), nil
}
