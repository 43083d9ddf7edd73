package period

import (
	"errors"
	"testing"
	"time"

	"github.com/changzhi/redpoint/service/testutil"
)

func TestPeriodBoundariesInShanghai(t *testing.T) {
	t.Parallel()
	cases := []struct {
		at   string
		want []string // week, month, quarter, year
	}{
		{"2026-11-29 23:59:59", []string{"2026-W48", "2026-11", "2026-Q4", "2026"}}, // Sunday night
		{"2026-11-30 00:00:00", []string{"2026-W49", "2026-11", "2026-Q4", "2026"}}, // Monday
		{"2026-09-30 23:59:59", []string{"2026-W40", "2026-09", "2026-Q3", "2026"}},
		{"2026-10-01 00:00:00", []string{"2026-W40", "2026-10", "2026-Q4", "2026"}},
		{"2026-12-31 23:59:59", []string{"2026-W53", "2026-12", "2026-Q4", "2026"}},
		{"2027-01-01 00:00:00", []string{"2026-W53", "2027-01", "2027-Q1", "2027"}}, // ISO week of the old year
	}
	for _, tc := range cases {
		for i, p := range All(testutil.At(tc.at)) {
			if p.String() != tc.want[i] {
				t.Errorf("%s: %v = %s, want %s", tc.at, p.Kind, p, tc.want[i])
			}
		}
	}
	// 23:59 Sunday in Shanghai is 15:59 UTC: the UTC clock must not decide.
	if got := Of(Week, testutil.At("2026-11-29 23:59:59").UTC()).String(); got != "2026-W48" {
		t.Errorf("UTC input: %s", got)
	}
}

func TestParseRangePrevious(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"2026-W48", "2026-11", "2026-Q4", "2026", "2026-W01", "2026-01", "2026-Q1"} {
		p, err := Parse(s)
		if err != nil || p.String() != s {
			t.Fatalf("Parse(%s) = %v, %v", s, p, err)
		}
		start, end := p.Range()
		if Of(p.Kind, start) != p || Of(p.Kind, end.Add(-time.Second)) != p || Of(p.Kind, end) == p {
			t.Errorf("%s: range %v..%v is not the period's", s, start, end)
		}
		prev := p.Previous()
		_, prevEnd := prev.Range()
		if !prevEnd.Equal(start) {
			t.Errorf("%s: previous %s ends %v, not at %v", s, prev, prevEnd, start)
		}
	}
	for _, bad := range []string{"2026-13", "2026-W54", "2026-Q5", "26", "2026-11-01", "abcd", ""} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// TestParseBounds: a year has 52 or 53 ISO weeks, and years run 2000–2100.
func TestParseBounds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in string
		ok bool
	}{
		{"2026-W53", true}, // 2026 ends on a Thursday: it has 53 weeks
		{"2027-W52", true},
		{"2027-W53", false}, // 2027 has 52
		{"2026-W00", false},
		{"2026-00", false},
		{"2026-Q0", false},
		{"2000", true},
		{"2100", true},
		{"1999", false},
		{"2101", false},
	}
	for _, tc := range cases {
		_, err := Parse(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("Parse(%q): %v, want ok %v", tc.in, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q): %v, want ErrInvalid", tc.in, err)
		}
	}
}

func TestTitle(t *testing.T) {
	t.Parallel()
	cases := []struct{ period, want string }{
		{"2026-W48", "2026年第48周"},
		{"2026-W01", "2026年第1周"},
		{"2026-11", "2026年11月"},
		{"2027-01", "2027年1月"},
		{"2026-Q4", "2026年第4季度"},
		{"2026", "2026年"},
	}
	for _, tc := range cases {
		p, err := Parse(tc.period)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.period, err)
		}
		if got := p.Title(); got != tc.want {
			t.Errorf("%s: Title() = %q, want %q", tc.period, got, tc.want)
		}
	}
}
