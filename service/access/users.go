package access

import (
	"strconv"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/changzhi/redpoint/ent"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/resname"
)

var roleProto = map[string]redpointv1.Role{
	string(RoleAgent):             redpointv1.Role_ROLE_AGENT,
	string(RoleVillageSecretary):  redpointv1.Role_ROLE_VILLAGE_SECRETARY,
	string(RoleTownshipSecretary): redpointv1.Role_ROLE_TOWNSHIP_SECRETARY,
	string(RoleCountyAdmin):       redpointv1.Role_ROLE_COUNTY_ADMIN,
	string(RoleCityAdmin):         redpointv1.Role_ROLE_CITY_ADMIN,
	string(RoleResident):          redpointv1.Role_ROLE_RESIDENT,
}

// UserProto renders an account; the password hash never leaves.
func UserProto(u *ent.User) *redpointv1.User {
	p := &redpointv1.User{
		Name:        "users/" + strconv.Itoa(u.ID),
		Phone:       u.Phone,
		DisplayName: u.DisplayName,
		Role:        roleProto[string(u.Role)],
		Region:      "regions/" + u.RegionID,
		Active:      u.Active,
		CreateTime:  timestamppb.New(u.CreateTime),
		UpdateTime:  timestamppb.New(u.UpdateTime),
		Etag:        resname.Etag(u.Version),
	}
	if u.ServicePointID != nil {
		p.ServicePoint = "servicePoints/" + strconv.Itoa(*u.ServicePointID)
	}
	return p
}

// RoleProto converts a role.
func RoleProto(r Role) redpointv1.Role { return roleProto[string(r)] }
