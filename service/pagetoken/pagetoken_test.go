package pagetoken

import (
	"errors"
	"strings"
	"testing"

	"github.com/changzhi/redpoint/service/apierr"
)

func TestRoundTripAndBinding(t *testing.T) {
	t.Parallel()
	type cursor struct{ After string }
	tok, err := Encode("parent=regions/140400000000", cursor{After: "140423100201"})
	if err != nil {
		t.Fatal(err)
	}
	var got cursor
	ok, err := Decode(tok, "parent=regions/140400000000", &got)
	if err != nil || !ok || got.After != "140423100201" {
		t.Fatalf("Decode = %v, %v, %+v", ok, err, got)
	}
	for name, tc := range map[string]struct{ token, query string }{
		"other query": {tok, "parent=regions/140423000000"},
		"garbage":     {"not a token!", "parent=regions/140400000000"},
		"truncated":   {tok[:len(tok)-3], "parent=regions/140400000000"},
	} {
		if _, err := Decode(tc.token, tc.query, &got); !errors.Is(err, apierr.ErrInvalidArgument) {
			t.Errorf("%s: Decode error = %v, want INVALID_ARGUMENT", name, err)
		}
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
