package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// ServicePoint is a village red service point (红色代办点) staffed by agents.
type ServicePoint struct{ ent.Schema }

// Mixin of the ServicePoint.
func (ServicePoint) Mixin() []ent.Mixin {
	return []ent.Mixin{TimeMixin{}, VersionMixin{}}
}

// Fields of the ServicePoint.
func (ServicePoint) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxRuneLen(128),
		field.String("region_id").MaxLen(12).Comment("the village the point serves; scope checks match its prefix"),
		field.String("address").Default("").MaxRuneLen(256),
		field.String("phone").Default("").MaxLen(32).Comment("the point's public service phone, not personal data"),
		field.Bool("active").Default(true),
	}
}

// Edges of the ServicePoint.
func (ServicePoint) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("region", Region.Type).Ref("service_points").Field("region_id").Unique().Required(),
		edge.To("agents", User.Type),
		edge.To("errands", Errand.Type),
	}
}

// Indexes of the ServicePoint.
func (ServicePoint) Indexes() []ent.Index {
	return []ent.Index{
		// Subtree listing is a range scan on the region code.
		index.Fields("region_id", "id"),
	}
}
