package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// AuditEntry records a write or an unmasked read of personal data: who,
// what, when and from where. It never holds the personal data itself.
type AuditEntry struct{ ent.Schema }

// Fields of the AuditEntry.
func (AuditEntry) Fields() []ent.Field {
	return []ent.Field{
		field.Int("actor_user_id").Optional().Nillable().Comment("the staff member who acted"),
		field.Int("actor_resident_id").Optional().Nillable().Comment("the resident who acted, in the mini-program"),
		field.String("actor_role").Default("").MaxLen(32),
		field.String("action").NotEmpty().MaxLen(128).Comment("the RPC's full method name"),
		field.String("resource").Default("").MaxLen(128),
		field.String("region_id").Default("").MaxLen(12).Comment("scope of the resource, for scoped listing"),
		field.String("client_ip").Default("").MaxLen(64),
		field.Bool("unmasked_read").Default(false),
		field.Time("create_time").Default(now).Immutable(),
	}
}

// Indexes of the AuditEntry.
func (AuditEntry) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("region_id", "create_time"),
		index.Fields("actor_user_id", "create_time"),
	}
}
