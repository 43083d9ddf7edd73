package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// ErrandEvent is one entry of an errand's history: its creation, an edit,
// a state change, a rating or a follow-up.
type ErrandEvent struct{ ent.Schema }

// Fields of the ErrandEvent.
func (ErrandEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Int("errand_id"),
		field.Enum("kind").Values("CREATED", "UPDATED", "TRANSITIONED", "RATED", "FOLLOW_UP_OPENED", "FOLLOW_UP_CLOSED", "REOPENED", "CONSENT_GRANTED", "CONSENT_REVOKED"),
		field.String("from_state").Default("").MaxLen(20),
		field.String("to_state").Default("").MaxLen(20),
		field.Enum("actor_kind").Values("STAFF", "RESIDENT", "SYSTEM"),
		field.Int("actor_user_id").Optional().Nillable(),
		field.String("note").Default("").MaxRuneLen(2000),
		field.Time("create_time").Default(now).Immutable(),
	}
}

// Edges of the ErrandEvent.
func (ErrandEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("errand", Errand.Type).Ref("events").Field("errand_id").Unique().Required(),
	}
}

// Indexes of the ErrandEvent.
func (ErrandEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("errand_id", "id"),
		// The workloads count a period's reopenings (kind REOPENED, a few
		// in a thousand events) without probing every errand of the region.
		index.Fields("kind", "create_time"),
	}
}
