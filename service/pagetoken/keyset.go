package pagetoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"entgo.io/ent/dialect/sql"
)

// Value is the type of a sort-key column: an integer id, a string (a code,
// an enum) or a time. A cursor holds the value exactly as the row had it
// (a time to the nanosecond, with its offset), so that the keyset predicate
// compares it with the stored value exactly.
type Value interface {
	int | string | time.Time
}

// Key is one column of a list's sort key, with how to read it from a row.
type Key[R any] struct {
	column string
	desc   bool
	value  func(R) any
	parse  func(json.RawMessage) (any, error)
}

// Asc is column sorted ascending; of reads its value from a row.
func Asc[R any, V Value](column string, of func(R) V) Key[R] { return key(column, false, of) }

// Desc is column sorted descending; of reads its value from a row.
func Desc[R any, V Value](column string, of func(R) V) Key[R] { return key(column, true, of) }

func key[R any, V Value](column string, desc bool, of func(R) V) Key[R] {
	return Key[R]{
		column: column,
		desc:   desc,
		value:  func(r R) any { return of(r) },
		parse: func(raw json.RawMessage) (any, error) {
			var v V
			if string(raw) == "null" {
				return v, errors.New("pagetoken: null in a cursor")
			}
			err := json.Unmarshal(raw, &v)
			return v, err
		},
	}
}

// Window is what the query of one page must apply, in ent terms:
//
//	q.Where(w.After).Order(w.Order).Limit(w.Limit)
//
// Both funcs are assignable to any entity's predicate and order option.
type Window struct {
	// After keeps the rows past the cursor in the sort order; on the
	// first page it keeps every row.
	After func(*sql.Selector)
	// Order sorts by the sort key, every column in its direction.
	Order func(*sql.Selector)
	// Limit is the page size and one more row, which tells whether a
	// next page exists.
	Limit int
}

// Page reads the page of a list that token points to (the first page when
// token is empty) and returns its rows and the token of the next page, ""
// on the last. keys is the list's sort key, most significant column first;
// the last must be unique (the id), so that no two rows tie and the cursor —
// the sort key of the last row of a page — names one position. fetch runs
// the list's query with the Window applied. The page size is the one the
// server validated (SizeFrom); the token is bound to q. A token that isn't
// ours, is for another query or doesn't fit keys is INVALID_ARGUMENT on
// page_token.
func Page[R any](ctx context.Context, s *Signer, token string, q Query, fetch func(Window) ([]R, error), keys ...Key[R]) ([]R, string, error) {
	if len(keys) == 0 {
		return nil, "", errors.New("pagetoken.Page: a list needs a sort key")
	}
	size, err := SizeFrom(ctx)
	if err != nil {
		return nil, "", err
	}
	w := Window{After: func(*sql.Selector) {}, Order: func(sel *sql.Selector) { order(sel, keys) }, Limit: size + 1}
	var cursor []json.RawMessage
	has, err := s.Decode(token, q, &cursor)
	if err != nil {
		return nil, "", err
	}
	if has {
		values, err := parse(keys, cursor)
		if err != nil {
			return nil, "", err
		}
		w.After = func(sel *sql.Selector) { sel.Where(after(sel, keys, values)) }
	}
	rows, err := fetch(w)
	if err != nil {
		return nil, "", err
	}
	if len(rows) <= size {
		return rows, "", nil
	}
	rows = rows[:size]
	last := make([]any, len(keys))
	for i, k := range keys {
		last[i] = k.value(rows[size-1])
	}
	next, err := s.Encode(q, last)
	if err != nil {
		return nil, "", fmt.Errorf("pagetoken.Page: %w", err)
	}
	return rows, next, nil
}

// parse reads a cursor's values, one per key, each of its key's type.
func parse[R any](keys []Key[R], cursor []json.RawMessage) ([]any, error) {
	if len(cursor) != len(keys) {
		return nil, badToken()
	}
	values := make([]any, len(keys))
	for i, k := range keys {
		v, err := k.parse(cursor[i])
		if err != nil {
			return nil, badToken()
		}
		values[i] = v
	}
	return values, nil
}

func order[R any](sel *sql.Selector, keys []Key[R]) {
	for _, k := range keys {
		if k.desc {
			sel.OrderBy(sql.Desc(sel.C(k.column)))
		} else {
			sel.OrderBy(sql.Asc(sel.C(k.column)))
		}
	}
}

// after is the keyset predicate: the rows that sort after values. For keys
// (a, b, id) it is a > va OR (a = va AND b > vb) OR (a = va AND b = vb AND
// id > vid), with < for a descending column.
func after[R any](sel *sql.Selector, keys []Key[R], values []any) *sql.Predicate {
	or := make([]*sql.Predicate, len(keys))
	for i, k := range keys {
		and := make([]*sql.Predicate, 0, i+1)
		for j := range i {
			and = append(and, sql.EQ(sel.C(keys[j].column), values[j]))
		}
		if k.desc {
			and = append(and, sql.LT(sel.C(k.column), values[i]))
		} else {
			and = append(and, sql.GT(sel.C(k.column), values[i]))
		}
		or[i] = sql.And(and...)
	}
	return sql.Or(or...)
}

// Map converts a page's rows into the messages of the response, in order.
func Map[R, P any](rows []R, f func(R) P) []P {
	if len(rows) == 0 {
		return nil
	}
	out := make([]P, len(rows))
	for i, r := range rows {
		out[i] = f(r)
	}
	return out
}
