package calendar

import (
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, Location)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDue(t *testing.T) {
	t.Parallel()
	days, err := Official()
	if err != nil {
		t.Fatal(err)
	}
	cal := New(days)
	cases := []struct {
		name  string
		start string
		n     int
		want  string
	}{
		{"plain week", "2026-11-23 10:00", 3, "2026-11-26 23:59"},
		{"across a weekend", "2026-11-26 10:00", 3, "2026-12-01 23:59"},
		{"accepted on Saturday", "2026-11-28 09:00", 1, "2026-11-30 23:59"},
		{"across National Day, make-up Saturday counts", "2026-09-30 10:00", 2, "2026-10-09 23:59"},
		{"make-up Saturday 10-10 is a working day", "2026-10-09 10:00", 1, "2026-10-10 23:59"},
		{"late night in Shanghai is the next day in UTC", "2026-11-23 23:30", 1, "2026-11-24 23:59"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := cal.Due(at(tc.start), tc.n).In(Location)
			if got.Format("2006-01-02 15:04") != tc.want {
				t.Errorf("Due(%s, %d) = %s, want %s", tc.start, tc.n, got.Format("2006-01-02 15:04"), tc.want)
			}
		})
	}
}

func TestWorkingDaysBetween(t *testing.T) {
	t.Parallel()
	days, _ := Official()
	cal := New(days)
	// After 09-30: 10-01..07 holiday, 10-08 Thu, 10-09 Fri, 10-10 Sat (调休), 10-12 Mon.
	if got := cal.WorkingDaysBetween(at("2026-09-30 10:00"), at("2026-10-12 10:00")); got != 4 {
		t.Errorf("WorkingDaysBetween across National Day = %d, want 4", got)
	}
	if got := cal.WorkingDaysBetween(at("2026-11-27 10:00"), at("2026-11-27 18:00")); got != 0 {
		t.Errorf("same day = %d, want 0", got)
	}
}
