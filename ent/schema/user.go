package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// User is a staff account: an agent, a township secretary, or a county or
// city admin. It logs in with its phone number and is bound to a region scope.
type User struct{ ent.Schema }

// Mixin of the User.
func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{TimeMixin{}, VersionMixin{}}
}

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("phone").NotEmpty().MaxLen(20).Comment("login name; a staff work number, not a resident's personal data"),
		field.String("display_name").NotEmpty().MaxRuneLen(64),
		field.Enum("role").Values("AGENT", "VILLAGE_SECRETARY", "TOWNSHIP_SECRETARY", "COUNTY_ADMIN", "CITY_ADMIN"),
		field.String("region_id").MaxLen(12).Comment("scope: the user acts within this region's subtree"),
		field.Int("service_point_id").Optional().Nillable().Comment("set for agents only"),
		field.String("password_hash").Sensitive().Comment("argon2id, PHC string format"),
		field.Bool("active").Default(true),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("service_point", ServicePoint.Type).Ref("agents").Field("service_point_id").Unique(),
		edge.To("errands", Errand.Type),
		edge.To("refresh_tokens", RefreshToken.Type),
		edge.To("notifications", Notification.Type),
	}
}

// Indexes of the User.
func (User) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("phone").Unique(),
		index.Fields("region_id", "role"),
		index.Fields("service_point_id"),
	}
}
