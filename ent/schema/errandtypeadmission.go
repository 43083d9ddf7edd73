package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// ErrandTypeAdmission is a county's admission of an errand type (动态准入):
// proposed by the county, admitted or rejected by the city. A proposal of
// a new type carries the type's content, which joins the catalog when it
// is admitted; until then the code is not in errand_types, so the code is
// a plain column rather than an edge.
type ErrandTypeAdmission struct{ ent.Schema }

// Mixin of the ErrandTypeAdmission.
func (ErrandTypeAdmission) Mixin() []ent.Mixin {
	return []ent.Mixin{TimeMixin{}, VersionMixin{}}
}

// Fields of the ErrandTypeAdmission.
func (ErrandTypeAdmission) Fields() []ent.Field {
	return []ent.Field{
		field.String("errand_type_id").NotEmpty().MaxLen(32).Immutable().Comment("the catalog code (of the new type, for a proposal of one)"),
		field.String("region_id").MinLen(12).MaxLen(12).Immutable().Comment("the county"),
		field.Enum("state").Values("PROPOSED", "ADMITTED", "REJECTED").Default("PROPOSED"),
		field.Bool("live").Optional().Nillable().
			Comment("true while PROPOSED or ADMITTED, NULL once rejected: unique with the type and county, so a county has one live admission per type"),
		field.Bool("new_type").Default(false).Immutable().Comment("the proposal adds a type to the catalog"),
		field.String("type_name").Default("").MaxRuneLen(128).Immutable().Comment("a new type's name"),
		field.String("type_department").Default("").MaxRuneLen(128).Immutable(),
		field.Int("type_time_limit_days").Default(0).Immutable(),
		field.JSON("type_required_materials", []string{}).Default([]string{}).Immutable(),
		field.String("type_description").Default("").MaxRuneLen(1024).Immutable(),
		field.String("reason").Default("").MaxRuneLen(500).Immutable().Comment("why the county asks for it"),
		field.Int("proposer_user_id").Immutable(),
		field.Int("decider_user_id").Optional().Nillable(),
		field.Time("decide_time").Optional().Nillable(),
		field.String("decision_note").Default("").MaxRuneLen(500),
	}
}

// Indexes of the ErrandTypeAdmission.
func (ErrandTypeAdmission) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("errand_type_id", "region_id", "live").Unique(),
		index.Fields("region_id", "state"),
		index.Fields("state"),
	}
}
