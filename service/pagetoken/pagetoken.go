// Package pagetoken encodes list cursors as opaque page tokens bound to the
// query they were issued for, and applies the API's page-size rules.
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
