package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// IdempotencyKey remembers a client's request_id (AIP-155) with a hash of
// the request and the response, so a retry returns the first result.
type IdempotencyKey struct{ ent.Schema }

// Fields of the IdempotencyKey.
func (IdempotencyKey) Fields() []ent.Field {
	return []ent.Field{
		field.String("key").NotEmpty().MaxLen(200).Comment("caller, method and request_id"),
		field.String("request_hash").NotEmpty().MaxLen(64),
		field.Bytes("response").Comment("the first response, serialized"),
		field.Time("create_time").Default(now).Immutable(),
	}
}

// Indexes of the IdempotencyKey.
func (IdempotencyKey) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("key").Unique(),
		index.Fields("create_time"),
	}
}
