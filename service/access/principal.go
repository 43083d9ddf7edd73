package access

import (
	"context"

	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/regioncode"
	"github.com/changzhi/redpoint/service/resname"
)

// Role is a staff role.
type Role string

// The staff roles, from the village up.
const (
	RoleAgent Role = "AGENT"
	// RoleVillageSecretary oversees one village: its scope is the
	// village's 12-digit code, so every prefix check confines it there.
	RoleVillageSecretary  Role = "VILLAGE_SECRETARY"
	RoleTownshipSecretary Role = "TOWNSHIP_SECRETARY"
	RoleCountyAdmin       Role = "COUNTY_ADMIN"
	RoleCityAdmin         Role = "CITY_ADMIN"
	// RoleResident is a villager logged in through WeChat, not staff.
	RoleResident Role = "RESIDENT"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	UserID      int
	Role        Role
	DisplayName string
	// Region is the caller's scope: an agent's or a village secretary's
	// village, or the subtree a township secretary or admin oversees.
	Region regioncode.Code
	// ServicePointID is set for agents: they act for this point only.
	ServicePointID int
	// ResidentID is set for residents (RoleResident).
	ResidentID int
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller, if the request was authenticated.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Covers reports whether region lies in the caller's scope.
func (p Principal) Covers(region regioncode.Code) bool {
	if p.Region == "" {
		return false
	}
	return p.Region.Contains(region)
}

// SeesEverything reports whether the caller's scope is the whole
// deployment, so that telling "absent" from "not yours" leaks nothing.
func (p Principal) SeesEverything() bool {
	l := p.Region.Level()
	return p.Role == RoleCityAdmin && (l == regioncode.City || l == regioncode.Province)
}

// Caller returns the authenticated staff member, or UNAUTHENTICATED.
func Caller(ctx context.Context) (Principal, error) {
	p, ok := FromContext(ctx)
	if !ok {
		return p, apierr.ErrUnauthenticated
	}
	return p, nil
}

// ErrRegionOutOfScope denies a region outside the caller's scope.
var ErrRegionOutOfScope = apierr.ErrPermissionDenied.WithMessage("该地区超出您的管辖范围")

// InScope parses the region name in field and checks, before anything is
// read, that it lies in the caller's scope.
func InScope(ctx context.Context, field, name string) (Principal, regioncode.Code, error) {
	p, err := Caller(ctx)
	if err != nil {
		return p, "", err
	}
	code, err := resname.Region(field, name)
	if err != nil {
		return p, "", err
	}
	if !p.Covers(code) {
		return p, "", ErrRegionOutOfScope
	}
	return p, code, nil
}
