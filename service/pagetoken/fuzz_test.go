package pagetoken

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/pagetoken/pagetokentest"
)

// FuzzDecode feeds Decode any token for any query: it never panics and
// either reads a cursor or refuses with INVALID_ARGUMENT on page_token. The
// same bytes, signed as if the server had issued them, reach the cursor
// decoding behind the signature check and must be refused the same way.
// The committed corpus (testdata/fuzz/FuzzDecode) holds a truncated token,
// garbage base64, an old-scheme token and an oversized one.
func FuzzDecode(f *testing.F) {
	k := mustKey(f, authKey(1))
	real := mustEncode(f, k, testQuery, testCursor{T: 1764036000000000, ID: 42})
	for _, tok := range []string{"", real, real[:len(real)-1], strings.ToUpper(real), pagetokentest.OldScheme(testQuery, testCursor{T: 1, ID: 1})} {
		f.Add(tok, testQuery)
	}
	f.Fuzz(func(t *testing.T, token, query string) {
		var ints int
		var str string
		var cur testCursor
		for _, c := range []any{&ints, &str, &cur} {
			ok, err := decode(k, token, query, c)
			if err != nil {
				wantBadToken(t, err)
			} else if ok != (token != "") {
				t.Fatalf("decode(%q) = %v, nil", token, ok)
			}
			signed := base64.RawURLEncoding.EncodeToString(append([]byte(token), tag(k, query, []byte(token))...))
			if len(signed) > MaxTokenBytes {
				continue
			}
			if _, err := decode(k, signed, query, c); err != nil {
				wantBadToken(t, err)
			}
		}
	})
}

// FuzzRoundTrip: any cursor survives the round trip under its own query,
// and no other query or changed byte gets past the signature.
func FuzzRoundTrip(f *testing.F) {
	f.Add("errands?u=7&f=&o=", int64(1764036000000000), 42, uint(0))
	f.Add("", int64(-1), -1, uint(7))
	f.Add("lb?{Period:2026-11}", int64(0), 0, uint(1000))
	k := mustKey(f, authKey(1))
	f.Fuzz(func(t *testing.T, query string, ts int64, id int, at uint) {
		want := testCursor{T: ts, ID: id}
		tok := mustEncode(t, k, query, want)
		var got testCursor
		if ok, err := decode(k, tok, query, &got); !ok || err != nil || got != want {
			t.Fatalf("round trip of %+v under %q: %v, %v, %+v", want, query, ok, err, got)
		}
		if _, err := decode(k, tok, query+"&", &got); err == nil {
			t.Fatalf("token for %q accepted for %q", query, query+"&")
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			t.Fatal(err)
		}
		changed := bytes.Clone(raw)
		changed[at%uint(len(changed))] ^= 0x20
		_, err = decode(k, base64.RawURLEncoding.EncodeToString(changed), query, &got)
		if !errors.Is(err, apierr.ErrInvalidArgument) {
			t.Fatalf("token with byte %d changed: %v", at%uint(len(changed)), err)
		}
	})
}
