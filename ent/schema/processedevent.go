package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// ProcessedEvent marks an outbox event as handled by one handler. It is
// written in the handler's own transaction, so a redelivered job finds it
// and does nothing: each event takes effect once per handler.
type ProcessedEvent struct{ ent.Schema }

// Fields of the ProcessedEvent.
func (ProcessedEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Int("event_id"),
		field.String("handler").NotEmpty().MaxLen(32),
		field.Time("create_time").Default(now).Immutable(),
	}
}

// Indexes of the ProcessedEvent.
func (ProcessedEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("event_id", "handler").Unique(),
		index.Fields("create_time"),
	}
}
