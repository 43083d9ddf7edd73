package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Consent is a resident's authorisation (委托授权) for the agent to act on
// their behalf on one errand: the proof the leaderboard trusts. One per
// errand (unique errand_id): a second grant of the same errand fails on the
// index. The errand row carries a summary (consent_*) for views, the
// leaderboard and workloads.
type Consent struct{ ent.Schema }

// Fields of the Consent.
func (Consent) Fields() []ent.Field {
	return []ent.Field{
		field.Int("errand_id"),
		field.Enum("method").Values("WECHAT", "PAPER"),
		field.Int("resident_id").Optional().Nillable().Comment("WECHAT: the resident who confirmed (their row holds the openid)"),
		field.String("openid").Default("").MaxLen(64).Comment("WECHAT: the resident's openid when they confirmed"),
		field.Int("code_id").Optional().Nillable().Comment("WECHAT: the consent code used"),
		field.Int("agent_id").Comment("the agent who issued the code or recorded the paper"),
		field.String("witness").Default("").MaxRuneLen(64).Comment("PAPER: who witnessed the signature"),
		field.String("region_id").MaxLen(12).Comment("copied from the errand for scope filters"),
		field.Time("grant_time"),
		field.Time("expire_time").Comment("until when it holds: grant_time + 90 days, or the errand's close"),
		field.Time("revoke_time").Optional().Nillable(),
		field.String("revoke_reason").Default("").MaxRuneLen(2000),
	}
}

// Indexes of the Consent.
func (Consent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("errand_id").Unique(),
		index.Fields("region_id", "grant_time"),
	}
}

// ConsentCode is a short-lived, single-use code an agent's app shows for
// the resident to confirm a consent in WeChat. Only a hash of the code is
// stored.
type ConsentCode struct{ ent.Schema }

// Fields of the ConsentCode.
func (ConsentCode) Fields() []ent.Field {
	return []ent.Field{
		field.String("code_hash").NotEmpty().MaxLen(64).Sensitive().Comment("hex SHA-256 of the code"),
		field.Int("errand_id"),
		field.Int("agent_id").Comment("who issued it"),
		field.Time("create_time").Default(now).Immutable(),
		field.Time("expire_time").Comment("10 minutes after issue; moved to the issue of a newer code of the errand"),
		field.Time("used_time").Optional().Nillable(),
		field.Int("resident_id").Optional().Nillable().Comment("who used it"),
	}
}

// Indexes of the ConsentCode.
func (ConsentCode) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("code_hash").Unique(),
		index.Fields("errand_id"),
	}
}
