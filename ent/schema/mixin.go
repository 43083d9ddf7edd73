package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
)

// TimeMixin adds create_time and update_time. update_time is set by the
// application on every write (UpdateDefault), so it is also the cursor that
// list ordering and reports rely on.
type TimeMixin struct{ mixin.Schema }

// Fields of the TimeMixin.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("create_time").Default(now).Immutable(),
		field.Time("update_time").Default(now).UpdateDefault(now),
	}
}

// VersionMixin adds the optimistic-concurrency version that a resource's
// etag is derived from. Every update increments it.
type VersionMixin struct{ mixin.Schema }

// Fields of the VersionMixin.
func (VersionMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("version").Default(1).Comment("incremented on every update; the etag is derived from it"),
	}
}

// now is UTC truncated to microseconds: PostgreSQL keeps no more, and a
// value read back must equal the value written so cursors are stable.
// Every stored time is UTC: SQLite compares times as text, so one zone
// keeps its comparisons right.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
