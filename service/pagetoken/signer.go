package pagetoken

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/changzhi/redpoint/service/apierr"
)

// tagSize is the length of the truncated HMAC-SHA256 tag a token ends with:
// 128 bits, out of reach of guessing.
const tagSize = 16

// keyInfo separates the page-token key from the access-token key it is
// derived from; a new version of the token format changes it, which
// refuses every older token. v2 binds the query part by part (Query).
const keyInfo = "redpoint page tokens v2"

// Signer makes and checks the page tokens of one server. Every list server
// of a process is given the same Signer; two servers in one process (a
// test's replicas) each have their own, so nothing about tokens is
// process-wide.
type Signer struct {
	key []byte
	// syncV1 checks the sync tokens of the first format (DecodeSyncV1).
	syncV1 []byte
}

// NewSigner returns the signer whose key is derived (HKDF-SHA256) from
// authKey, the server's access-token key (at least 32 bytes): every replica
// that shares it accepts the others' tokens, and a client can't mint one.
func NewSigner(authKey []byte) (*Signer, error) {
	if len(authKey) < 32 {
		return nil, errors.New("pagetoken: key must be at least 32 bytes")
	}
	k, err := hkdf.Key(sha256.New, authKey, nil, keyInfo, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("pagetoken: derive key: %w", err)
	}
	v1, err := hkdf.Key(sha256.New, authKey, nil, keyInfoV1, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("pagetoken: derive key: %w", err)
	}
	return &Signer{key: k, syncV1: v1}, nil
}

// keyInfoV1 derived the key of the first token format, which bound the
// query as one string.
const keyInfoV1 = "redpoint page tokens v1"

// DecodeSyncV1 reads a sync token of the first format into cursor: the
// cursor's JSON and an HMAC under the v1 key of the query string's length,
// the string ("sync?u={user id}") and the cursor. An agent's offline app
// keeps its sync token for as long as it stays offline, so the tokens of
// servers before the v2 format are still honoured for sync (page tokens
// live for one walk through a list and are simply refused). Errors as
// Decode.
func (s *Signer) DecodeSyncV1(token, query string, cursor any) (bool, error) {
	return read(token, cursor, func(c []byte) []byte {
		m := hmac.New(sha256.New, s.syncV1)
		m.Write(binary.AppendUvarint(nil, uint64(len(query))))
		m.Write([]byte(query))
		m.Write(c)
		return m.Sum(nil)[:tagSize]
	})
}

// Query is what a token is bound to: the list's name, then every request
// field that decides which rows the list holds and in what order — the
// parent, filter, order_by and flags, and the caller where the list depends
// on who asks — always in the same order. A token is accepted only for the
// query it was issued for. Each part is bound with its length, so no two
// different queries bind alike however their parts split: filter "a|b"
// with order "c" is not filter "a" with order "b|c".
type Query []string

// Encode makes an opaque token for cursor, bound to q: the cursor's JSON
// and an HMAC of q and the cursor under the signer's key.
func (s *Signer) Encode(q Query, cursor any) (string, error) {
	c, err := json.Marshal(cursor)
	if err != nil {
		return "", fmt.Errorf("pagetoken.Encode: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(append(c, s.tag(q, c)...)), nil
}

// Decode reads token into cursor. An empty token leaves cursor untouched and
// returns false. A malformed token, one not signed with this signer's key
// (minted by a client, or from another deployment), one issued for another
// query or one whose cursor doesn't fit is INVALID_ARGUMENT on page_token.
func (s *Signer) Decode(token string, q Query, cursor any) (bool, error) {
	return read(token, cursor, func(c []byte) []byte { return s.tag(q, c) })
}

// read checks token's tag against tag(cursor bytes) and reads its cursor.
func read(token string, cursor any, tag func([]byte) []byte) (bool, error) {
	if token == "" {
		return false, nil
	}
	if len(token) > MaxTokenBytes {
		return false, badToken()
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < tagSize {
		return false, badToken()
	}
	c, got := raw[:len(raw)-tagSize], raw[len(raw)-tagSize:]
	if !hmac.Equal(got, tag(c)) {
		return false, badToken()
	}
	if err := json.Unmarshal(c, cursor); err != nil {
		// Signed by us but not this cursor's shape: a token from before a
		// change of cursor type. The client starts the list again.
		return false, badToken()
	}
	return true, nil
}

// badToken is the one answer to every token that can't be used.
func badToken() error {
	return apierr.InvalidField("page_token", "分页令牌无效或与查询条件不匹配")
}

// tag is the truncated HMAC-SHA256 of the query and the cursor. The number
// of parts and each part's length come first, so the query's encoding is
// self-delimiting and no (query, cursor) pair can pass for another.
func (s *Signer) tag(q Query, cursor []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(len(q)))
	for _, part := range q {
		b = binary.AppendUvarint(b, uint64(len(part)))
		b = append(b, part...)
	}
	m := hmac.New(sha256.New, s.syncV1)
	m.Write(b)
	m.Write(cursor)
	return m.Sum(nil)[:tagSize]
}
