package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// FollowUp is the township's call-back after a bad rating (不满意, 非常不满意).
type FollowUp struct{ ent.Schema }

// Mixin of the FollowUp.
func (FollowUp) Mixin() []ent.Mixin {
	return []ent.Mixin{TimeMixin{}, VersionMixin{}}
}

// Fields of the FollowUp.
func (FollowUp) Fields() []ent.Field {
	return []ent.Field{
		field.Int("rating_id"),
		field.Int("errand_id"),
		field.String("region_id").MaxLen(12),
		field.Enum("state").Values("OPEN", "CLOSED").Default("OPEN"),
		field.String("note").Default("").MaxRuneLen(2000).Comment("the call-back note"),
		field.Enum("outcome").Values("RESOLVED", "EXPLAINED", "UNRESOLVED").Optional().Nillable(),
		field.Int("closed_by_user_id").Optional().Nillable(),
		field.Time("close_time").Optional().Nillable(),
	}
}

// Edges of the FollowUp.
func (FollowUp) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("rating", Rating.Type).Ref("follow_up").Field("rating_id").Unique().Required(),
	}
}

// Indexes of the FollowUp.
func (FollowUp) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("rating_id").Unique(),
		index.Fields("region_id", "state", "create_time"),
	}
}
