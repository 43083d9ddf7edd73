package calendar

import (
	"testing"
	"time"

	"github.com/changzhi/redpoint/service/testutil"
)

// TestTestutilAtReadsThisZone: the tests' wall clock (testutil.At) reads the
// service's time zone.
func TestTestutilAtReadsThisZone(t *testing.T) {
	if testutil.Location.String() != Location.String() {
		t.Errorf("testutil.Location is %s, calendar.Location %s", testutil.Location, Location)
	}
	for _, s := range []string{"2026-11-25 10:00", "2026-07-01 00:30"} {
		want, err := time.ParseInLocation(testutil.AtLayout, s, Location)
		if err != nil {
			t.Fatal(err)
		}
		if got := testutil.At(s); !got.Equal(want) {
			t.Errorf("testutil.At(%s) = %v, want %v", s, got, want)
		}
	}
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
			got := cal.Due(testutil.At(tc.start), tc.n).In(Location)
			if got.Format("2006-01-02 15:04") != tc.want {
				t.Errorf("Due(%s, %d) = %s, want %s", tc.start, tc.n, got.Format("2006-01-02 15:04"), tc.want)
			}
		})
	}
}

func TestWorkingDaysBetween(t *testing.T) {
	t.Parallel()
	days, err := Official()
	if err != nil {
		t.Fatal(err)
	}
	cal := New(days)
	// After 09-30: 10-01..07 holiday, 10-08 Thu, 10-09 Fri, 10-10 Sat (调休), 10-12 Mon.
	if got := cal.WorkingDaysBetween(testutil.At("2026-09-30 10:00"), testutil.At("2026-10-12 10:00")); got != 4 {
		t.Errorf("WorkingDaysBetween across National Day = %d, want 4", got)
	}
	if got := cal.WorkingDaysBetween(testutil.At("2026-11-27 10:00"), testutil.At("2026-11-27 18:00")); got != 0 {
		t.Errorf("same day = %d, want 0", got)
	}
}

// TestBefore: the reminder time "one working day before" a due time.
func TestBefore(t *testing.T) {
	t.Parallel()
	days, err := Official()
	if err != nil {
		t.Fatal(err)
	}
	cal := New(days)
	cases := []struct {
		name string
		t    time.Time
		n    int
		want string
	}{
		{"plain week", testutil.At("2026-11-26 23:59"), 1, "2026-11-25 23:59"},
		{"Monday goes back to Friday", testutil.At("2026-11-30 23:59"), 1, "2026-11-27 23:59"},
		{"two days over a weekend", testutil.At("2026-11-30 23:59"), 2, "2026-11-26 23:59"},
		{"after National Day, back to 09-30", testutil.At("2026-10-08 23:59"), 1, "2026-09-30 23:59"},
		{"make-up Saturday counts", testutil.At("2026-10-12 23:59"), 1, "2026-10-10 23:59"},
		{"Mid-Autumn Friday skipped", testutil.At("2026-09-28 23:59"), 1, "2026-09-24 23:59"},
		{"zero is the end of the same day", testutil.At("2026-11-26 08:00"), 0, "2026-11-26 23:59"},
		{"a UTC evening is the next day in Shanghai", time.Date(2026, 11, 26, 16, 30, 0, 0, time.UTC), 1, "2026-11-26 23:59"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := cal.Before(tc.t, tc.n)
			if got.Location() != time.UTC {
				t.Errorf("Before returned %v, want UTC as stored", got.Location())
			}
			if s := got.In(Location).Format("2006-01-02 15:04:05"); s != tc.want+":59" {
				t.Errorf("Before(%s, %d) = %s, want %s:59", tc.t, tc.n, s, tc.want)
			}
		})
	}
}

// TestBeforeUndoesDue: over every working day of the shipped calendar,
// going n working days forward and back lands on the same day, so a
// reminder is never armed on the wrong side of a holiday.
func TestBeforeUndoesDue(t *testing.T) {
	t.Parallel()
	days, err := Official()
	if err != nil {
		t.Fatal(err)
	}
	cal := New(days)
	for d := testutil.At("2025-01-01 10:00"); d.Year() < 2027; d = d.AddDate(0, 0, 1) {
		if !cal.IsWorkingDay(d) {
			continue
		}
		for n := 1; n <= 5; n++ {
			due := cal.Due(d, n)
			if got, want := cal.Before(due, n), cal.Due(d, 0); !got.Equal(want) {
				t.Fatalf("Before(Due(%s, %d) = %s, %d) = %s, want %s", d.Format(time.DateOnly), n, due.In(Location), n, got.In(Location), want.In(Location))
			}
			if got := cal.WorkingDaysBetween(d, due); got != n {
				t.Fatalf("WorkingDaysBetween(%s, Due(%s, %d)) = %d", d.Format(time.DateOnly), d.Format(time.DateOnly), n, got)
			}
		}
	}
}

func TestIsWorkingDay(t *testing.T) {
	t.Parallel()
	days, err := Official()
	if err != nil {
		t.Fatal(err)
	}
	official := New(days)
	var plain Calendar // the zero value is a Monday–Friday week
	cases := []struct {
		name           string
		t              time.Time
		plain, holiday bool
	}{
		{"Monday", testutil.At("2026-11-23 10:00"), true, true},
		{"Saturday", testutil.At("2026-11-28 10:00"), false, false},
		{"Sunday", testutil.At("2026-11-29 10:00"), false, false},
		{"National Day Monday", testutil.At("2026-10-05 10:00"), true, false},
		{"make-up Saturday", testutil.At("2026-10-10 10:00"), false, true},
		{"Friday in UTC, Saturday in Shanghai", time.Date(2026, 11, 27, 16, 30, 0, 0, time.UTC), false, false},
		{"Sunday in UTC, Monday in Shanghai", time.Date(2026, 11, 29, 16, 30, 0, 0, time.UTC), true, true},
	}
	for _, tc := range cases {
		if got := plain.IsWorkingDay(tc.t); got != tc.plain {
			t.Errorf("%s: zero Calendar IsWorkingDay = %v, want %v", tc.name, got, tc.plain)
		}
		if got := official.IsWorkingDay(tc.t); got != tc.holiday {
			t.Errorf("%s: official IsWorkingDay = %v, want %v", tc.name, got, tc.holiday)
		}
	}
}

func TestParseCSV(t *testing.T) {
	t.Parallel()
	const header = "date,kind,name\n"
	got, err := ParseCSV([]byte(header + "2027-01-01,HOLIDAY,元旦\n2027-02-07,WORKDAY,春节调休\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Day{{"2027-01-01", Holiday, "元旦"}, {"2027-02-07", Workday, "春节调休"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ParseCSV = %v, want %v", got, want)
	}
	if got, err := ParseCSV([]byte(header)); err != nil || len(got) != 0 {
		t.Errorf("header only: %v, %v; want no days", got, err)
	}
	for _, bad := range []string{
		"2027-1-1,HOLIDAY,元旦\n",
		"2027-02-30,HOLIDAY,x\n",
		"2027-01-01,holiday,元旦\n",
		"2027-01-01,REST,元旦\n",
		"2027-01-01,HOLIDAY\n",
		"2027-01-01,HOLIDAY,元旦,extra\n",
		"\"2027-01-01,HOLIDAY,元旦\n",
	} {
		if days, err := ParseCSV([]byte(header + bad)); err == nil {
			t.Errorf("ParseCSV(%q) = %v, want an error", bad, days)
		}
	}
}
