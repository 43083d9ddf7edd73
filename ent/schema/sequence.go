package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
)

// Sequence is a named counter incremented inside write transactions. Its
// row lock makes values follow commit order, which is what lets a delta
// sync cursor never skip a change.
type Sequence struct{ ent.Schema }

// Fields of the Sequence.
func (Sequence) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().MaxLen(32).Immutable(),
		field.Int64("value").Default(0),
	}
}
