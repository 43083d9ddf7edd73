package leaderboard

import (
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
		p, err := ParsePeriod(s)
		if err != nil || p.String() != s {
			t.Fatalf("ParsePeriod(%s) = %v, %v", s, p, err)
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
		if _, err := ParsePeriod(bad); err == nil {
			t.Errorf("ParsePeriod(%q) accepted", bad)
		}
	}
}
