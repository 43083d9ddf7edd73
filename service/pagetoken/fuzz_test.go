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
	s := mustSigner(f, authKey(1))
	real := mustEncode(f, s, Query{testQuery[2]}, testCursor{T: 1764036000000000, ID: 42})
	old := "errands?u=7&f=state = COMPLETED&o="
	for _, tok := range []string{"", real, real[:len(real)-1], strings.ToUpper(real), pagetokentest.OldScheme(old, testCursor{T: 1, ID: 1}), pagetokentest.V1(f, authKey(1), old, testCursor{T: 1, ID: 1})} {
		f.Add(tok, testQuery[2])
	}
	f.Fuzz(func(t *testing.T, token, query string) {
		q := Query{query}
		var ints int
		var str string
		var cur testCursor
		var key []any
		for _, c := range []any{&ints, &str, &cur, &key} {
			ok, err := s.Decode(token, q, c)
			if err != nil {
				wantBadToken(t, err)
			} else if ok != (token != "") {
				t.Fatalf("Decode(%q) = %v, nil", token, ok)
			}
			signed := base64.RawURLEncoding.EncodeToString(append([]byte(token), s.tag(q, []byte(token))...))
			if len(signed) > MaxTokenBytes {
				continue
			}
			if _, err := s.Decode(signed, q, c); err != nil {
				wantBadToken(t, err)
			}
		}
	})
}

// FuzzRoundTrip: any cursor survives the round trip under its own query,
// and no other query or changed byte gets past the signature.
func FuzzRoundTrip(f *testing.F) {
	f.Add("errands", "state = COMPLETED", int64(1764036000000000), 42, uint(0))
	f.Add("", "", int64(-1), -1, uint(7))
	f.Add("lb", "{Period:2026-11}", int64(0), 0, uint(1000))
	s := mustSigner(f, authKey(1))
	f.Fuzz(func(t *testing.T, list, part string, ts int64, id int, at uint) {
		q := Query{list, part}
		want := testCursor{T: ts, ID: id}
		tok := mustEncode(t, s, q, want)
		var got testCursor
		if ok, err := s.Decode(tok, q, &got); !ok || err != nil || got != want {
			t.Fatalf("round trip of %+v under %q: %v, %v, %+v", want, q, ok, err, got)
		}
		for _, other := range []Query{{list, part + "&"}, {list + part}, {list, part, ""}, {list}} {
			if _, err := s.Decode(tok, other, &got); err == nil {
				t.Fatalf("token for %q accepted for %q", q, other)
			}
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			t.Fatal(err)
		}
		changed := bytes.Clone(raw)
		changed[at%uint(len(changed))] ^= 0x20
		_, err = s.Decode(base64.RawURLEncoding.EncodeToString(changed), q, &got)
		if !errors.Is(err, apierr.ErrInvalidArgument) {
			t.Fatalf("token with byte %d changed: %v", at%uint(len(changed)), err)
		}
	})
}
