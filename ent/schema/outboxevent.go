package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// OutboxEvent is a domain event written in the same transaction as the
// change it describes; a relay moves unsent rows into Redis jobs.
type OutboxEvent struct{ ent.Schema }

// Fields of the OutboxEvent.
func (OutboxEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("topic").NotEmpty().MaxLen(64).Comment("e.g. errand.transitioned"),
		field.String("aggregate").NotEmpty().MaxLen(64).Comment("resource name the event is about"),
		field.Bytes("payload").Comment("JSON"),
		field.Time("create_time").Default(now).Immutable(),
		field.Time("sent_time").Optional().Nillable().Comment("when the relay enqueued it"),
		field.Int("attempts").Default(0),
		field.String("last_error").Default("").MaxLen(1000),
	}
}

// Indexes of the OutboxEvent.
func (OutboxEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("sent_time", "id"),
	}
}
