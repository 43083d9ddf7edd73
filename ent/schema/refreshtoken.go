package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// RefreshToken is one opaque refresh token, stored only as a hash. Tokens
// rotate on use; the family links the chain so a reused token revokes it.
type RefreshToken struct{ ent.Schema }

// Fields of the RefreshToken.
func (RefreshToken) Fields() []ent.Field {
	return []ent.Field{
		field.String("token_hash").NotEmpty().MaxLen(64).Sensitive(),
		field.Int("user_id"),
		field.String("family").NotEmpty().MaxLen(36),
		field.Time("create_time").Default(now).Immutable(),
		field.Time("expire_time"),
		field.Time("use_time").Optional().Nillable().Comment("set when rotated; a second use is reuse"),
		field.Time("revoke_time").Optional().Nillable(),
	}
}

// Edges of the RefreshToken.
func (RefreshToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("refresh_tokens").Field("user_id").Unique().Required(),
	}
}

// Indexes of the RefreshToken.
func (RefreshToken) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("token_hash").Unique(),
		index.Fields("family"),
	}
}
