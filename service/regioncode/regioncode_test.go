package regioncode

import (
	"errors"
	"testing"
)

func TestParseAndLevel(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		in     string
		level  Level
		prefix string
		err    bool
	}{
		{name: "city", in: "140400000000", level: City, prefix: "1404"},
		{name: "county", in: "140423000000", level: County, prefix: "140423"},
		{name: "township", in: "140423100000", level: Township, prefix: "140423100"},
		{name: "village", in: "140423100201", level: Village, prefix: "140423100201"},
		{name: "province", in: "140000000000", level: Province, prefix: "14"},
		{name: "too short", in: "1404", err: true},
		{name: "letters", in: "14040000000x", err: true},
		{name: "zero", in: "000000000000", err: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse(tc.in)
			if tc.err {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Parse(%q) error = %v, want ErrInvalid", tc.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if c.Level() != tc.level || c.Prefix() != tc.prefix {
				t.Errorf("Parse(%q) = level %d prefix %q, want %d %q", tc.in, c.Level(), c.Prefix(), tc.level, tc.prefix)
			}
		})
	}
}

func TestContainsAndRange(t *testing.T) {
	t.Parallel()
	parse := func(s string) Code {
		t.Helper()
		c, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	county, own, other := parse("140423000000"), parse("140423100201"), parse("140428100201")
	if !county.Contains(own) || county.Contains(other) || !county.Contains(county) {
		t.Errorf("Contains: own=%v other=%v self=%v", county.Contains(own), county.Contains(other), county.Contains(county))
	}
	lo, hi := county.Range()
	if lo != "140423000000" || hi != "140423999999" {
		t.Errorf("Range() = %s..%s", lo, hi)
	}
	if c, err := Pad("140423100"); err != nil || c != "140423100000" {
		t.Errorf("Pad = %q, %v", c, err)
	}
}
