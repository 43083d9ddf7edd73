package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// ErrandType is an entry of the errand catalog (事项清单): what can be
// handled, by which department, in how many working days.
type ErrandType struct{ ent.Schema }

// Mixin of the ErrandType.
func (ErrandType) Mixin() []ent.Mixin {
	return []ent.Mixin{TimeMixin{}, VersionMixin{}}
}

// Fields of the ErrandType.
func (ErrandType) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().MaxLen(32).Immutable().Comment("catalog code, e.g. SI-PENSION-CERT"),
		field.String("name").NotEmpty().MaxRuneLen(128),
		field.String("department").NotEmpty().MaxRuneLen(128),
		field.Int("time_limit_days").Positive().Comment("time limit in working days"),
		field.JSON("required_materials", []string{}).Default([]string{}),
		field.String("description").Default("").MaxRuneLen(1024),
		field.Bool("active").Default(true),
		field.Enum("availability").Values("CITY_WIDE", "ADMITTED_COUNTIES").Default("CITY_WIDE").
			Comment("CITY_WIDE: every point may log it; ADMITTED_COUNTIES: only points of counties with an ADMITTED errand_type_admission"),
	}
}

// Edges of the ErrandType.
func (ErrandType) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("errands", Errand.Type),
	}
}
