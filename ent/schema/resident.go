package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Resident is a villager's WeChat identity. A resident owns the errands
// agents logged with the phone they hold: ownership is the phone, never a
// copy of it on the errand, so it can't disagree with the phone. A phone
// belongs to at most one resident at a time (the unique phone_hash): the
// newest binder takes it, with its errands, from the previous holder.
type Resident struct{ ent.Schema }

// Mixin of the Resident.
func (Resident) Mixin() []ent.Mixin {
	return []ent.Mixin{TimeMixin{}}
}

// Fields of the Resident.
func (Resident) Fields() []ent.Field {
	return []ent.Field{
		field.String("openid").NotEmpty().MaxLen(64).Comment("WeChat mini-program openid"),
		field.String("phone_cipher").Optional().Sensitive().Comment("AES-256-GCM, key id prefixed"),
		field.String("phone_hash").Optional().MaxLen(64).Comment("keyed HMAC for exact-match lookup"),
		field.Bool("subscribed").Default(false).Comment("accepted subscribe messages in the mini-program"),
	}
}

// Edges of the Resident.
func (Resident) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("ratings", Rating.Type),
	}
}

// Indexes of the Resident.
func (Resident) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("openid").Unique(),
		index.Fields("phone_hash").Unique(),
	}
}
