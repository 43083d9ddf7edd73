package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Rating is a resident's 好差评 of a completed errand: one per errand.
type Rating struct{ ent.Schema }

// Fields of the Rating.
func (Rating) Fields() []ent.Field {
	return []ent.Field{
		field.Int("errand_id"),
		field.Int("resident_id").Optional().Nillable(),
		field.Int("service_point_id").Comment("copied from the errand for reports"),
		field.String("region_id").MaxLen(12).Comment("copied from the errand for scope filters"),
		field.Enum("level").Values("VERY_SATISFIED", "SATISFIED", "BASICALLY_SATISFIED", "DISSATISFIED", "VERY_DISSATISFIED"),
		field.String("comment").Default("").MaxRuneLen(1000),
		field.Time("create_time").Default(now).Immutable(),
	}
}

// Edges of the Rating.
func (Rating) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("errand", Errand.Type).Ref("rating").Field("errand_id").Unique().Required(),
		edge.From("resident", Resident.Type).Ref("ratings").Field("resident_id").Unique(),
		edge.To("follow_up", FollowUp.Type).Unique(),
	}
}

// Indexes of the Rating.
func (Rating) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("errand_id").Unique(),
		index.Fields("region_id", "create_time"),
	}
}
