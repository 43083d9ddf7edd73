// Package period names the spans the leaderboard and the reports count
// over: ISO weeks, months, quarters and years in Asia/Shanghai. It parses
// and prints them (2026-W48, 2026-11, 2026-Q4, 2026), gives their bounds
// and their Chinese names.
package period

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/changzhi/redpoint/service/calendar"
)

// Kind is the length of a period.
type Kind int

// The periods boards are kept for.
const (
	Week Kind = iota + 1
	Month
	Quarter
	Year
)

// Kinds lists them, shortest first.
var Kinds = []Kind{Week, Month, Quarter, Year}

// Period is one ISO week, month, quarter or year in Asia/Shanghai.
type Period struct {
	Kind Kind
	Year int
	N    int // week 1–53, month 1–12, quarter 1–4; 0 for a year
}

// ErrInvalid reports a period string that is not 2026-W48, 2026-11,
// 2026-Q4 or 2026.
var ErrInvalid = errors.New("period must look like 2026-W48, 2026-11, 2026-Q4 or 2026")

// FormatHint is what a caller who sent a bad period is told (zh-CN).
const FormatHint = "周期应为 2026-W48、2026-11、2026-Q4 或 2026"

// Parse reads 2026-W48, 2026-11, 2026-Q4 or 2026.
func Parse(s string) (Period, error) {
	var y, n int
	switch {
	case len(s) == 4:
		y, err := strconv.Atoi(s)
		if err != nil || y < 2000 || y > 2100 {
			return Period{}, ErrInvalid
		}
		return Period{Kind: Year, Year: y}, nil
	case len(s) == 8 && s[4:6] == "-W":
		if _, err := fmt.Sscanf(s, "%4d-W%2d", &y, &n); err != nil || n < 1 || n > isoWeeks(y) {
			return Period{}, ErrInvalid
		}
		return Period{Kind: Week, Year: y, N: n}, nil
	case len(s) == 7 && s[4:6] == "-Q":
		if _, err := fmt.Sscanf(s, "%4d-Q%1d", &y, &n); err != nil || n < 1 || n > 4 {
			return Period{}, ErrInvalid
		}
		return Period{Kind: Quarter, Year: y, N: n}, nil
	case len(s) == 7 && s[4] == '-':
		if _, err := fmt.Sscanf(s, "%4d-%2d", &y, &n); err != nil || n < 1 || n > 12 {
			return Period{}, ErrInvalid
		}
		return Period{Kind: Month, Year: y, N: n}, nil
	}
	return Period{}, ErrInvalid
}

func isoWeeks(year int) int {
	_, w := time.Date(year, 12, 28, 0, 0, 0, 0, calendar.Location).ISOWeek()
	return w
}

// Of is the period of kind k that holds t (Asia/Shanghai).
func Of(k Kind, t time.Time) Period {
	t = t.In(calendar.Location)
	switch k {
	case Week:
		y, w := t.ISOWeek()
		return Period{Kind: Week, Year: y, N: w}
	case Month:
		return Period{Kind: Month, Year: t.Year(), N: int(t.Month())}
	case Quarter:
		return Period{Kind: Quarter, Year: t.Year(), N: (int(t.Month())-1)/3 + 1}
	default:
		return Period{Kind: Year, Year: t.Year()}
	}
}

// All are the four periods that hold t.
func All(t time.Time) []Period {
	out := make([]Period, len(Kinds))
	for i, k := range Kinds {
		out[i] = Of(k, t)
	}
	return out
}

// Range is [start, end) of the period.
func (p Period) Range() (time.Time, time.Time) {
	loc := calendar.Location
	switch p.Kind {
	case Week:
		// ISO week 1 holds January 4th; weeks start on Monday.
		jan4 := time.Date(p.Year, 1, 4, 0, 0, 0, 0, loc)
		monday := jan4.AddDate(0, 0, -((int(jan4.Weekday()) + 6) % 7))
		start := monday.AddDate(0, 0, 7*(p.N-1))
		return start, start.AddDate(0, 0, 7)
	case Month:
		start := time.Date(p.Year, time.Month(p.N), 1, 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 1, 0)
	case Quarter:
		start := time.Date(p.Year, time.Month(3*(p.N-1)+1), 1, 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 3, 0)
	default:
		start := time.Date(p.Year, 1, 1, 0, 0, 0, 0, loc)
		return start, start.AddDate(1, 0, 0)
	}
}

// Previous is the period before p, of the same kind.
func (p Period) Previous() Period {
	start, _ := p.Range()
	return Of(p.Kind, start.Add(-time.Hour))
}

// String is the form Parse reads.
func (p Period) String() string {
	switch p.Kind {
	case Week:
		return fmt.Sprintf("%04d-W%02d", p.Year, p.N)
	case Month:
		return fmt.Sprintf("%04d-%02d", p.Year, p.N)
	case Quarter:
		return fmt.Sprintf("%04d-Q%d", p.Year, p.N)
	default:
		return fmt.Sprintf("%04d", p.Year)
	}
}

// Title is the period's Chinese name, for titles and file names:
// 2026年第48周, 2026年11月, 2026年第4季度, 2026年.
func (p Period) Title() string {
	switch p.Kind {
	case Week:
		return fmt.Sprintf("%d年第%d周", p.Year, p.N)
	case Month:
		return fmt.Sprintf("%d年%d月", p.Year, p.N)
	case Quarter:
		return fmt.Sprintf("%d年第%d季度", p.Year, p.N)
	default:
		return fmt.Sprintf("%d年", p.Year)
	}
}
