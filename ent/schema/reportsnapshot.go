package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// ReportSnapshot is a stored weekly dispatch (周调度), monthly report
// (月通报) or quarterly review (季观摩), so a past report reads the same later.
type ReportSnapshot struct{ ent.Schema }

// Fields of the ReportSnapshot.
func (ReportSnapshot) Fields() []ent.Field {
	return []ent.Field{
		field.String("region_id").MaxLen(12),
		field.Enum("kind").Values("WEEKLY_DISPATCH", "MONTHLY_REPORT", "QUARTERLY_REVIEW"),
		field.String("period").NotEmpty().MaxLen(16).Comment("2026-W48, 2026-11 or 2026-Q3"),
		field.String("file_name").NotEmpty().MaxRuneLen(256),
		field.Bytes("content").Comment("the .xlsx file"),
		field.Time("create_time").Default(now).Immutable(),
	}
}

// Indexes of the ReportSnapshot.
func (ReportSnapshot) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("region_id", "kind", "period").Unique(),
	}
}
