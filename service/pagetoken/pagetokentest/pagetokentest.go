// Package pagetokentest makes page tokens the way the server made them
// before they were signed, for tests that prove they are refused.
package pagetokentest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
)

// OldScheme is a page token of the unsigned scheme: the first 8 bytes of
// the query's SHA-256 and the cursor — anyone could compute one.
func OldScheme(query string, cursor any) string {
	c, _ := json.Marshal(cursor)
	sum := sha256.Sum256([]byte(query))
	b, _ := json.Marshal(struct {
		Q uint64          `json:"q"`
		C json.RawMessage `json:"c"`
	}{binary.BigEndian.Uint64(sum[:8]), c})
	return base64.RawURLEncoding.EncodeToString(b)
}
