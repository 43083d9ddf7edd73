package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Errand is one piece of paperwork an agent handles for a resident, from
// acceptance to completion or cancellation.
type Errand struct{ ent.Schema }

// Mixin of the Errand.
func (Errand) Mixin() []ent.Mixin {
	return []ent.Mixin{TimeMixin{}, VersionMixin{}}
}

// Fields of the Errand.
func (Errand) Fields() []ent.Field {
	return []ent.Field{
		field.String("tracking_code").NotEmpty().MaxLen(16).Immutable().Comment("resident-facing code, Crockford base32 with check character"),
		field.String("errand_type_id").MaxLen(32),
		field.Int("service_point_id"),
		field.Int("agent_id").Comment("the agent who accepted the errand"),
		field.String("region_id").MaxLen(12).Comment("the service point's village, copied so scope filters are one range scan"),
		field.String("resident_name").NotEmpty().MaxRuneLen(64),
		field.String("resident_phone_cipher").Sensitive(),
		field.String("resident_phone_hash").MaxLen(64).Comment("keyed HMAC; the resident who holds this phone owns the errand"),
		field.String("resident_phone_last4").MaxLen(4).Comment("for the public lookup and masking; not identifying on its own"),
		field.String("resident_id_number_cipher").Optional().Sensitive(),
		field.String("resident_id_number_hash").Optional().MaxLen(64),
		field.Enum("state").Values("ACCEPTED", "IN_PROGRESS", "FORWARDED", "NEEDS_MATERIALS", "COMPLETED", "CANCELLED"),
		field.Enum("channel").Values("WALK_IN", "PHONE", "HOME_VISIT").Default("WALK_IN"),
		field.String("description").Default("").MaxRuneLen(2000),
		field.JSON("materials", []string{}).Default([]string{}).Comment("materials received from the resident"),
		field.String("forwarded_to").Default("").MaxRuneLen(128).Comment("the office it was carried to"),
		field.JSON("missing_materials", []string{}).Default([]string{}),
		field.String("result").Default("").MaxRuneLen(2000),
		field.String("cancel_reason").Default("").MaxRuneLen(2000),
		field.Time("accept_time"),
		field.Time("due_time").Comment("moves later while the SLA clock is paused"),
		field.Time("pause_time").Optional().Nillable().Comment("when NEEDS_MATERIALS started the current pause"),
		field.Time("close_time").Optional().Nillable().Comment("completion or cancellation"),
		field.Int64("change_seq").Default(0).Comment("delta-sync cursor, assigned on every change"),
		field.Int("working_days").Optional().Nillable().Comment("handling time in working days, acceptance to completion; set on completion"),
		field.Enum("consent_method").Values("WECHAT", "PAPER").Optional().Nillable().Comment("summary of the Consent row: how the resident authorised the agent"),
		field.Time("consent_time").Optional().Nillable().Comment("when the resident authorised the agent"),
		field.Time("consent_expire_time").Optional().Nillable().Comment("until when the authorisation holds"),
		field.Time("consent_revoke_time").Optional().Nillable().Comment("when the resident revoked it (the errand was cancelled)"),
		field.Int("reopen_count").Default(0).NonNegative().Comment("times reopened after completion (:reopen)"),
		field.Time("last_reopen_time").Optional().Nillable().Comment("when it was last reopened"),
		field.Time("first_close_time").Optional().Nillable().Comment("its first completion, kept through reopens: the leaderboard's one-per-group rule and quick-completion rule read it"),
	}
}

// Edges of the Errand.
func (Errand) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("errand_type", ErrandType.Type).Ref("errands").Field("errand_type_id").Unique().Required(),
		edge.From("service_point", ServicePoint.Type).Ref("errands").Field("service_point_id").Unique().Required(),
		edge.From("agent", User.Type).Ref("errands").Field("agent_id").Unique().Required(),
		edge.To("events", ErrandEvent.Type),
		edge.To("rating", Rating.Type).Unique(),
	}
}

// Indexes of the Errand.
func (Errand) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("tracking_code").Unique(),
		index.Fields("region_id", "update_time"),
		index.Fields("region_id", "accept_time"),
		index.Fields("service_point_id", "state"),
		index.Fields("agent_id", "state"),
		index.Fields("state", "due_time"),
		index.Fields("errand_type_id"),
		index.Fields("resident_phone_hash"),
		index.Fields("update_time", "id"),
		index.Fields("change_seq"),
		// The workloads read a region's errands through this index alone
		// (PostgreSQL's index-only scan): at national scale a township's
		// few hundred errands lie on as many heap pages among millions,
		// and visiting them cost a computed workload 6× the city's.
		// SQLite has no INCLUDE and keeps the plain index.
		index.Fields("region_id", "close_time").Annotations(entsql.IncludeColumns(
			"state", "accept_time", "due_time", "pause_time", "consent_time", "consent_revoke_time",
			"working_days", "agent_id", "service_point_id", "errand_type_id")),
	}
}
