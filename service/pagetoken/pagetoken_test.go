package pagetoken

import (
	"bytes"
	"context"
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

// testQuery is a query as ListErrands binds it: user, filter, order_by.
var testQuery = Query{"errands", "7", "state = COMPLETED", ""}

// authKey returns a 32-byte access-token key filled with b.
func authKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func mustSigner(tb testing.TB, authKey []byte) *Signer {
	tb.Helper()
	s, err := NewSigner(authKey)
	if err != nil {
		tb.Fatal(err)
	}
	return s
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
	s := mustSigner(t, authKey(1))
	tok := mustEncode(t, s, testQuery, testCursor{T: 1764036000000000, ID: 42})
	var got testCursor
	ok, err := s.Decode(tok, testQuery, &got)
	if err != nil || !ok || got != (testCursor{T: 1764036000000000, ID: 42}) {
		t.Fatalf("decode = %v, %v, %+v", ok, err, got)
	}
	if ok, err := s.Decode("", testQuery, &got); ok || err != nil {
		t.Errorf("empty token: %v, %v; want no cursor and no error", ok, err)
	}
	for _, other := range []Query{
		{"errands", "7", "state = COMPLETED", "x"},
		{"errands", "8", "state = COMPLETED", ""},
		{"errands", "7", "state = COMPLETED"},
		{"errands", "7", "state = COMPLETED", "", ""},
		{"users", "7", "state = COMPLETED", ""},
	} {
		_, err := s.Decode(tok, other, &got)
		wantBadToken(t, err)
	}
}

// TestQueryPartsAreBoundUnambiguously: queries whose parts, run together,
// read the same are different queries, and a token of one is refused for
// the other. Before the parts were bound one by one, a list that joined
// filter and order_by as "f=%s&o=%s" took a token issued for filter
// "a&o=b" (no order) for filter "a" ordered by "b&o=".
func TestQueryPartsAreBoundUnambiguously(t *testing.T) {
	t.Parallel()
	s := mustSigner(t, authKey(1))
	pairs := [][2]Query{
		{{"errands", "7", "a&o=b", ""}, {"errands", "7", "a", "b&o="}},
		{{"x", "a|b", "c"}, {"x", "a", "b|c"}},
		{{"ab"}, {"a", "b"}},
		{{"a", ""}, {"a"}},
		{{}, {""}},
	}
	for _, p := range pairs {
		for i := range 2 {
			issued, asked := p[i], p[1-i]
			tok := mustEncode(t, s, issued, testCursor{T: 1, ID: 1})
			var got testCursor
			if _, err := s.Decode(tok, issued, &got); err != nil {
				t.Fatalf("%q refused for itself: %v", issued, err)
			}
			if ok, err := s.Decode(tok, asked, &got); ok || err == nil {
				t.Errorf("token for %q accepted for %q", issued, asked)
			}
		}
	}
}

// TestRefusesTokensNotSignedWithTheServerKey: a client can read a token
// but can't make one, whether in the old unsigned scheme, with a plain hash
// in place of the signature, or signed with another deployment's key; and a
// token of the previous (v1) signing scheme is refused, so the client
// starts its list again.
func TestRefusesTokensNotSignedWithTheServerKey(t *testing.T) {
	t.Parallel()
	s := mustSigner(t, authKey(1))
	const joined = "errands?u=7&f=state = COMPLETED&o=" // testQuery as v1 bound it
	cursor, err := json.Marshal(testCursor{T: 1, ID: 1})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append([]byte(joined), cursor...))
	real := mustEncode(t, s, testQuery, testCursor{T: 1, ID: 1})
	raw, err := base64.RawURLEncoding.DecodeString(real)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(raw)
	flipped[len(flipped)-1] ^= 1
	cases := []struct{ name, token string }{
		{"old unsigned scheme, hash recomputed", pagetokentest.OldScheme(joined, testCursor{T: 1, ID: 1})},
		{"plain SHA-256 for a tag", base64.RawURLEncoding.EncodeToString(append(cursor, sum[:tagSize]...))},
		{"signed with another key", mustEncode(t, mustSigner(t, authKey(2)), testQuery, testCursor{T: 1, ID: 1})},
		{"signed with the access-token key itself", mustEncode(t, &Signer{key: authKey(1)}, testQuery, testCursor{T: 1, ID: 1})},
		{"issued by v1", pagetokentest.V1(t, authKey(1), joined, testCursor{T: 1, ID: 1})},
		{"v1 binding under the v2 key", pagetokentest.Joined(t, s.key, joined, testCursor{T: 1, ID: 1})},
		{"for another query", mustEncode(t, s, Query{"errands", "8", "state = COMPLETED", ""}, testCursor{T: 1, ID: 1})},
		{"cursor edited, tag kept", base64.RawURLEncoding.EncodeToString(append([]byte(`{"t":1,"i":2}`), raw[len(raw)-tagSize:]...))},
		{"tag flipped", base64.RawURLEncoding.EncodeToString(flipped)},
		{"truncated", real[:len(real)-3]},
		{"tag only", base64.RawURLEncoding.EncodeToString(raw[len(raw)-tagSize:])},
		{"garbage", "not a token!"},
		{"signed but too long", mustEncode(t, s, testQuery, strings.Repeat("A", MaxTokenBytes))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got any // takes any JSON: only the token checks refuse
			ok, err := s.Decode(tc.token, testQuery, &got)
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
	s := mustSigner(t, authKey(1))
	tok := mustEncode(t, s, testQuery, "not a cursor struct")
	var got testCursor
	_, err := s.Decode(tok, testQuery, &got)
	wantBadToken(t, err)
}

// TestReplicasSharingTheAuthKeyShareTokens: a page token issued by one
// replica is accepted by another that was started with the same
// REDPOINT_AUTH_KEY, and by no replica started with another. Each replica
// has a Signer of its own: nothing is shared through the process.
func TestReplicasSharingTheAuthKeyShareTokens(t *testing.T) {
	t.Parallel()
	tok := mustEncode(t, mustSigner(t, authKey(1)), testQuery, testCursor{T: 5, ID: 6})
	// Another replica: the same key, read from the environment afresh.
	var got testCursor
	if ok, err := mustSigner(t, bytes.Clone(authKey(1))).Decode(tok, testQuery, &got); !ok || err != nil || got != (testCursor{T: 5, ID: 6}) {
		t.Fatalf("replica with the same key: %v, %v, %+v", ok, err, got)
	}
	_, err := mustSigner(t, authKey(2)).Decode(tok, testQuery, &got)
	wantBadToken(t, err)
	if _, err := NewSigner(authKey(1)[:31]); err == nil {
		t.Error("NewSigner accepted a 31-byte key")
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

// TestSizeFrom: a handler reads the size the interceptor validated; a
// context without one (a handler called around the chain) is an error,
// not a silent default.
func TestSizeFrom(t *testing.T) {
	t.Parallel()
	if n, err := SizeFrom(WithSize(context.Background(), 7)); n != 7 || err != nil {
		t.Errorf("SizeFrom(WithSize(7)) = %d, %v", n, err)
	}
	if n, err := SizeFrom(context.Background()); err == nil {
		t.Errorf("SizeFrom without a size = %d, nil; want an error", n)
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

func mustEncode(tb testing.TB, s *Signer, q Query, cursor any) string {
	tb.Helper()
	tok, err := s.Encode(q, cursor)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// TestSyncTokensOfTheFirstFormatAreHonoured: an offline app's sync token
// from before the v2 format still reads, for its own user only and only
// under the deployment's key; a v2 token is not read as a v1 one.
func TestSyncTokensOfTheFirstFormatAreHonoured(t *testing.T) {
	s := mustSigner(t, authKey(1))
	old := pagetokentest.V1(t, authKey(1), "sync?u=7", int64(4242))
	var since int64
	if ok, err := s.DecodeSyncV1(old, "sync?u=7", &since); !ok || err != nil || since != 4242 {
		t.Fatalf("v1 sync token of user 7: %v %v %d, want true nil 4242", ok, err, since)
	}
	refused := map[string]string{
		"another user's":           pagetokentest.V1(t, authKey(1), "sync?u=8", int64(4242)),
		"another deployment's":     pagetokentest.V1(t, authKey(2), "sync?u=7", int64(4242)),
		"a v2 token":               mustEncode(t, s, Query{"sync", "7"}, int64(4242)),
		"a v1 token, one byte off": old[:len(old)-1] + string(old[len(old)-1]^1),
	}
	for name, tok := range refused {
		if _, err := s.DecodeSyncV1(tok, "sync?u=7", &since); err == nil {
			t.Errorf("%s was accepted", name)
		}
	}
	if _, err := s.Decode(old, Query{"sync", "7"}, &since); err == nil {
		t.Error("Decode (v2) accepted a v1 token")
	}
}
