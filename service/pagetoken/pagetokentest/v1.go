package pagetokentest

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"
)

// V1 is a token of the first signed format, as servers before the v2
// format issued it: the cursor's JSON and an HMAC, under a key derived from
// authKey with the v1 label, of query's length, query and the cursor.
// Sync tokens of this format are still honoured (query "sync?u={user id}").
func V1(tb testing.TB, authKey []byte, query string, cursor any) string {
	tb.Helper()
	k, err := hkdf.Key(sha256.New, authKey, nil, "redpoint page tokens v1", sha256.Size)
	if err != nil {
		tb.Fatal(err)
	}
	return Joined(tb, k, query, cursor)
}

// Joined signs cursor under key k (already derived), binding query the v1
// way: its length, then the query as one string.
func Joined(tb testing.TB, k []byte, query string, cursor any) string {
	tb.Helper()
	c, err := json.Marshal(cursor)
	if err != nil {
		tb.Fatal(err)
	}
	m := hmac.New(sha256.New, k)
	m.Write(binary.AppendUvarint(nil, uint64(len(query))))
	m.Write([]byte(query))
	m.Write(c)
	return base64.RawURLEncoding.EncodeToString(append(c, m.Sum(nil)[:16]...))
}
