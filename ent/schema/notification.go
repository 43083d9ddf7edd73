package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Notification is a message to a staff user: an SLA reminder to an agent
// or an escalation to a township secretary, or a revoked consent to an
// agent.
type Notification struct{ ent.Schema }

// Fields of the Notification.
func (Notification) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id"),
		field.Enum("kind").Values("SLA_REMINDER", "ESCALATION", "ERRAND_REOPENED", "CONSENT_REVOKED"),
		field.Int("errand_id"),
		field.String("region_id").MaxLen(12),
		field.String("dedup_key").NotEmpty().MaxLen(128).Comment("makes a redelivered job a no-op"),
		field.String("title").NotEmpty().MaxRuneLen(256),
		field.String("body").Default("").MaxRuneLen(2000),
		field.Time("create_time").Default(now).Immutable(),
		field.Time("read_time").Optional().Nillable(),
	}
}

// Edges of the Notification.
func (Notification) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("notifications").Field("user_id").Unique().Required(),
	}
}

// Indexes of the Notification.
func (Notification) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("dedup_key").Unique(),
		index.Fields("user_id", "create_time"),
		index.Fields("region_id", "kind", "create_time"),
	}
}
