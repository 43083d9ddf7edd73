package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Region is an administrative division keyed by its 12-digit statistical
// code: the city, its counties, townships and villages.
type Region struct{ ent.Schema }

// Fields of the Region.
func (Region) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").MaxLen(12).MinLen(12).Immutable().Comment("12-digit statistical division code"),
		field.String("name").NotEmpty().MaxRuneLen(64),
		field.Enum("level").Values("PROVINCE", "CITY", "COUNTY", "TOWNSHIP", "VILLAGE"),
		field.String("parent_id").Optional().MaxLen(12).Comment("empty for the top region"),
	}
}

// Edges of the Region.
func (Region) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("children", Region.Type).From("parent").Field("parent_id").Unique(),
		edge.To("service_points", ServicePoint.Type),
	}
}

// Indexes of the Region.
func (Region) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("parent_id", "id"),
	}
}
