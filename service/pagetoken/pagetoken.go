// Package pagetoken holds the rules every list RPC shares: opaque page
// tokens bound to the query they were issued for, the page size, and the
// bounds on filter and order_by.
package pagetoken

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/changzhi/redpoint/service/apierr"
)

// Page-size rules shared by every list RPC (AIP-158).
const (
	DefaultSize = 50
	MaxSize     = 500
)

// Bounds on the request strings of every list RPC, so that no request can
// make the server parse, build or send the database an unbounded
// expression (10,000 AND-ed terms once took 5 s and 1.7 GB, then failed in
// SQLite). The richest meaningful errand filter (every field once, both
// bounds of both time ranges, the longest values) has 12 terms and about
// 550 bytes; the caps leave room for spacing and spelling, not for
// repetition.
const (
	MaxFilterBytes  = 1000
	MaxFilterTerms  = 20
	MaxOrderByBytes = 64
)

// Size applies the default and the cap; a negative size is INVALID_ARGUMENT.
func Size(requested int32) (int, error) {
	switch {
	case requested < 0:
		return 0, apierr.InvalidField("page_size", "每页条数不能为负数")
	case requested == 0:
		return DefaultSize, nil
	case requested > MaxSize:
		return MaxSize, nil
	default:
		return int(requested), nil
	}
}

// CheckFilter refuses a filter longer than MaxFilterBytes, before anything
// parses it. Counting terms is the grammar's business (MaxFilterTerms).
func CheckFilter(filter string) error {
	return checkLen("filter", filter, MaxFilterBytes)
}

// CheckOrderBy refuses an order_by longer than MaxOrderByBytes.
func CheckOrderBy(orderBy string) error {
	return checkLen("order_by", orderBy, MaxOrderByBytes)
}

func checkLen(field, value string, max int) error {
	if len(value) > max {
		return apierr.InvalidField(field, fmt.Sprintf("%s 不能超过 %d 字节", field, max))
	}
	return nil
}

type envelope struct {
	Query  uint64          `json:"q"`
	Cursor json.RawMessage `json:"c"`
}

// Encode makes an opaque token for cursor, bound to query: a description of
// the request's filter and order, so that the token can't be replayed
// against a different query.
func Encode(query string, cursor any) (string, error) {
	c, err := json.Marshal(cursor)
	if err != nil {
		return "", fmt.Errorf("pagetoken.Encode: %w", err)
	}
	b, err := json.Marshal(envelope{Query: queryHash(query), Cursor: c})
	if err != nil {
		return "", fmt.Errorf("pagetoken.Encode: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Decode reads token into cursor. An empty token leaves cursor untouched and
// returns false. A malformed token, or one issued for another query, is
// INVALID_ARGUMENT on page_token.
func Decode(token, query string, cursor any) (bool, error) {
	if token == "" {
		return false, nil
	}
	bad := apierr.InvalidField("page_token", "分页令牌无效或与查询条件不匹配")
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return false, bad
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil || env.Query != queryHash(query) {
		return false, bad
	}
	if err := json.Unmarshal(env.Cursor, cursor); err != nil {
		return false, bad
	}
	return true, nil
}

func queryHash(q string) uint64 {
	sum := sha256.Sum256([]byte(q))
	return binary.BigEndian.Uint64(sum[:8])
}

// Page cuts rows, fetched with a limit of size+1, to size and returns the
// token for the next page (empty on the last page), made from the cursor
// of the last row kept.
func Page[T any](query string, rows []T, size int, cursor func(T) any) ([]T, string, error) {
	if len(rows) <= size {
		return rows, "", nil
	}
	rows = rows[:size]
	tok, err := Encode(query, cursor(rows[size-1]))
	return rows, tok, err
}
