// Package pagetoken holds the rules every list RPC shares: signed, opaque
// page tokens bound to the query they were issued for, the page size, and
// the bounds on filter and order_by.
package pagetoken

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

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
	// MaxTokenBytes is far above any token this server issues (under 100
	// bytes); anything longer is refused before it is decoded.
	MaxTokenBytes = 512
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

// tagSize is the length of the truncated HMAC-SHA256 tag a token ends with:
// 128 bits, out of reach of guessing.
const tagSize = 16

// keyInfo separates the page-token key from the access-token key it is
// derived from; a new version of the token format changes it, which
// refuses every older token.
const keyInfo = "redpoint page tokens v1"

// key signs and checks tokens. Until SetKey runs it is random, so a
// process that never calls SetKey (a test) still issues tokens nobody else
// can mint, valid only in that process.
var key atomic.Pointer[[]byte]

func init() {
	k := make([]byte, sha256.Size)
	_, _ = rand.Read(k) // never fails (crypto/rand)
	key.Store(&k)
}

// SetKey makes every token from now on signed with a key derived (HKDF-SHA256)
// from authKey, the server's access-token key, so that every replica that
// shares it accepts the others' tokens and a client can't mint one. The
// server calls it once at start. Tokens are signed under a package-level key
// rather than by a value handed to each list server so that the ~15 list
// handlers keep their package-function calls; the last call wins.
func SetKey(authKey []byte) error {
	if len(authKey) < 32 {
		return errors.New("pagetoken: key must be at least 32 bytes")
	}
	k, err := deriveKey(authKey)
	if err != nil {
		return err
	}
	key.Store(&k)
	return nil
}

func deriveKey(authKey []byte) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, authKey, nil, keyInfo, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("pagetoken: derive key: %w", err)
	}
	return k, nil
}

// Encode makes an opaque token for cursor, bound to query: a description of
// the request's filter and order, so that the token can't be replayed
// against a different query. The token is the cursor's JSON and an HMAC of
// query and cursor under the server key.
func Encode(query string, cursor any) (string, error) {
	return encode(*key.Load(), query, cursor)
}

// Decode reads token into cursor. An empty token leaves cursor untouched and
// returns false. A malformed token, one not signed with the server key
// (minted by a client, or from another deployment) or one issued for
// another query is INVALID_ARGUMENT on page_token.
func Decode(token, query string, cursor any) (bool, error) {
	return decode(*key.Load(), token, query, cursor)
}

func encode(k []byte, query string, cursor any) (string, error) {
	c, err := json.Marshal(cursor)
	if err != nil {
		return "", fmt.Errorf("pagetoken.Encode: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(append(c, tag(k, query, c)...)), nil
}

func decode(k []byte, token, query string, cursor any) (bool, error) {
	if token == "" {
		return false, nil
	}
	bad := apierr.InvalidField("page_token", "分页令牌无效或与查询条件不匹配")
	if len(token) > MaxTokenBytes {
		return false, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < tagSize {
		return false, bad
	}
	c, got := raw[:len(raw)-tagSize], raw[len(raw)-tagSize:]
	if !hmac.Equal(got, tag(k, query, c)) {
		return false, bad
	}
	if err := json.Unmarshal(c, cursor); err != nil {
		// Signed by us but not this cursor's shape: a token from before a
		// change of cursor type. The client starts the list again.
		return false, bad
	}
	return true, nil
}

// tag is the truncated HMAC-SHA256 of query and cursor; the query's length
// comes first so that no (query, cursor) pair can pass for another.
func tag(k []byte, query string, cursor []byte) []byte {
	m := hmac.New(sha256.New, k)
	m.Write(binary.AppendUvarint(nil, uint64(len(query))))
	m.Write([]byte(query))
	m.Write(cursor)
	return m.Sum(nil)[:tagSize]
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
