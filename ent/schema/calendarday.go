package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
)

// CalendarDay is an exception to the Monday-to-Friday working week: an
// official holiday on a weekday, or a make-up working day (调休) on a weekend.
type CalendarDay struct{ ent.Schema }

// Fields of the CalendarDay.
func (CalendarDay) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").MinLen(10).MaxLen(10).Immutable().Comment("the date, YYYY-MM-DD in Asia/Shanghai"),
		field.Enum("kind").Values("HOLIDAY", "WORKDAY"),
		field.String("name").Default("").MaxRuneLen(64).Comment("e.g. 国庆节"),
	}
}
