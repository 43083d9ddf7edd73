package pagetoken

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/pagetoken/pagetokentest"
)

type testCursor struct {
	T  int64 `json:"t"`
	ID int   `json:"i"`
}

const testQuery = "errands?u=7&f=state = COMPLETED&o="

// authKey returns a 32-byte access-token key filled with b.
func authKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func mustKey(tb testing.TB, authKey []byte) []byte {
	tb.Helper()
	k, err := deriveKey(authKey)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// wantBadToken fails unless err is INVALID_ARGUMENT with one violation, on
// page_token.
func wantBadToken(tb testing.TB, err error) {
	tb.Helper()
	var e *apierr.Error
	if !errors.As(err, &e) || !errors.Is(err, apierr.ErrInvalidArgument) || len(e.Violations) != 1 || e.Violations[0].Field != "page_token" {
		tb.Fatalf("error = %v, want INVALID_ARGUMENT on page_token", err)
	}
}

func TestRoundTripAndBinding(t *testing.T) {
	t.Parallel()
	k := mustKey(t, authKey(1))
	tok, err := encode(k, testQuery, testCursor{T: 1764036000000000, ID: 42})
	if err != nil {
		t.Fatal(err)
	}
	var got testCursor
	ok, err := decode(k, tok, testQuery, &got)
	if err != nil || !ok || got != (testCursor{T: 1764036000000000, ID: 42}) {
		t.Fatalf("decode = %v, %v, %+v", ok, err, got)
	}
	if ok, err := decode(k, "", testQuery, &got); ok || err != nil {
		t.Errorf("empty token: %v, %v; want no cursor and no error", ok, err)
	}
	if _, err := decode(k, tok, testQuery+"x", &got); err == nil {
		t.Error("a token was accepted for another query")
	}
}

// TestRefusesTokensNotSignedWithTheServerKey: a client can read a token
// but can't make one, whether in the old unsigned scheme, with a plain hash
// in place of the signature, or signed with another deployment's key.
func TestRefusesTokensNotSignedWithTheServerKey(t *testing.T) {
	t.Parallel()
	k := mustKey(t, authKey(1))
	cursor, err := json.Marshal(testCursor{T: 1, ID: 1})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append([]byte(testQuery), cursor...))
	real, err := encode(k, testQuery, testCursor{T: 1, ID: 1})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(real)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(raw)
	flipped[len(flipped)-1] ^= 1
	cases := []struct{ name, token string }{
		{"old unsigned scheme, hash recomputed", pagetokentest.OldScheme(testQuery, testCursor{T: 1, ID: 1})},
		{"plain SHA-256 for a tag", base64.RawURLEncoding.EncodeToString(append(cursor, sum[:tagSize]...))},
		{"signed with another key", mustEncode(t, mustKey(t, authKey(2)), testQuery, testCursor{T: 1, ID: 1})},
		{"signed with the access-token key itself", mustEncode(t, authKey(1), testQuery, testCursor{T: 1, ID: 1})},
		{"for another query", mustEncode(t, k, "errands?u=8&f=state = COMPLETED&o=", testCursor{T: 1, ID: 1})},
		{"cursor edited, tag kept", base64.RawURLEncoding.EncodeToString(append([]byte(`{"t":1,"i":2}`), raw[len(raw)-tagSize:]...))},
		{"tag flipped", base64.RawURLEncoding.EncodeToString(flipped)},
		{"truncated", real[:len(real)-3]},
		{"tag only", base64.RawURLEncoding.EncodeToString(raw[len(raw)-tagSize:])},
		{"garbage", "not a token!"},
		{"signed but too long", mustEncode(t, k, testQuery, strings.Repeat("A", MaxTokenBytes))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got any // takes any JSON: only the token checks refuse
			ok, err := decode(k, tc.token, testQuery, &got)
			if ok {
				t.Fatalf("accepted, cursor %+v", got)
			}
			wantBadToken(t, err)
		})
	}
}

// TestSignedCursorOfAnotherShape: a token we signed whose cursor no longer
// fits (the cursor type changed in a release) is the client's to restart,
// not an internal error.
func TestSignedCursorOfAnotherShape(t *testing.T) {
	t.Parallel()
	k := mustKey(t, authKey(1))
	tok := mustEncode(t, k, testQuery, "not a cursor struct")
	var got testCursor
	_, err := decode(k, tok, testQuery, &got)
	wantBadToken(t, err)
}

// TestReplicasSharingTheAuthKeyShareTokens: a page token issued by one
// replica is accepted by another that was started with the same
// REDPOINT_AUTH_KEY, and by no replica started with another. SetKey is
// process-wide, so this test doesn't run in parallel with the others.
func TestReplicasSharingTheAuthKeyShareTokens(t *testing.T) {
	if err := SetKey(authKey(1)); err != nil {
		t.Fatal(err)
	}
	tok, err := Encode(testQuery, testCursor{T: 5, ID: 6})
	if err != nil {
		t.Fatal(err)
	}
	// Another replica: the same key, read from the environment afresh.
	if err := SetKey(bytes.Clone(authKey(1))); err != nil {
		t.Fatal(err)
	}
	var got testCursor
	if ok, err := Decode(tok, testQuery, &got); !ok || err != nil || got != (testCursor{T: 5, ID: 6}) {
		t.Fatalf("replica with the same key: %v, %v, %+v", ok, err, got)
	}
	if err := SetKey(authKey(2)); err != nil {
		t.Fatal(err)
	}
	_, err = Decode(tok, testQuery, &got)
	wantBadToken(t, err)
	if err := SetKey(authKey(1)[:31]); err == nil {
		t.Error("SetKey accepted a 31-byte key")
	}
}

func TestSize(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   int32
		want int
		err  bool
	}{{0, 50, false}, {10, 10, false}, {501, 500, false}, {-1, 0, true}}
	for _, tc := range cases {
		got, err := Size(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("Size(%d) = %d, %v", tc.in, got, err)
		}
	}
}

func TestCheckFilterAndOrderBy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		check func(string) error
		value string
		field string // "" when accepted
	}{
		{"filter at the cap", CheckFilter, strings.Repeat("x", MaxFilterBytes), ""},
		{"filter over the cap", CheckFilter, strings.Repeat("x", MaxFilterBytes+1), "filter"},
		{"order_by at the cap", CheckOrderBy, strings.Repeat("x", MaxOrderByBytes), ""},
		{"order_by over the cap", CheckOrderBy, strings.Repeat("x", MaxOrderByBytes+1), "order_by"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check(tc.value)
			var e *apierr.Error
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.field != "" && (!errors.As(err, &e) || len(e.Violations) != 1 || e.Violations[0].Field != tc.field):
				t.Fatalf("error = %v, want a violation on %s", err, tc.field)
			}
		})
	}
}

func mustEncode(tb testing.TB, k []byte, query string, cursor any) string {
	tb.Helper()
	tok, err := encode(k, query, cursor)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}
