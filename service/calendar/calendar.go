// Package calendar does working-day arithmetic in Asia/Shanghai on a
// holiday calendar that is data: official holidays and make-up working
// days (调休) are rows, not code.
package calendar

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/csv"
	"fmt"
	"sync"
	"time"
	_ "time/tzdata" // Asia/Shanghai on machines without zoneinfo
)

// Location is Asia/Shanghai: every day, week, month and SLA is computed in it.
var Location = mustLoad("Asia/Shanghai")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // embedded by time/tzdata; can't fail
	}
	return loc
}

// Kind says what an exceptional day is.
type Kind string

// The exceptions to the Monday–Friday week.
const (
	Holiday Kind = "HOLIDAY" // no work, though maybe a weekday
	Workday Kind = "WORKDAY" // work, though a weekend (调休)
)

// Day is one exception, as stored.
type Day struct {
	Date string // YYYY-MM-DD
	Kind Kind
	Name string
}

// Calendar answers working-day questions. The zero value is a plain
// Monday–Friday week.
type Calendar struct {
	exceptions map[string]Kind
}

// New builds a calendar from its exceptions.
func New(days []Day) *Calendar {
	c := &Calendar{exceptions: make(map[string]Kind, len(days))}
	for _, d := range days {
		c.exceptions[d.Date] = d.Kind
	}
	return c
}

// IsWorkingDay reports whether t's date in Asia/Shanghai is a working day.
func (c *Calendar) IsWorkingDay(t time.Time) bool {
	t = t.In(Location)
	if k, ok := c.exceptions[t.Format(time.DateOnly)]; ok {
		return k == Workday
	}
	wd := t.Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// Due is the end (23:59:59) of the n-th working day after the day of start,
// Asia/Shanghai: "办结时限 n 个工作日", the day of acceptance not counted.
// It is returned in UTC, the zone every stored time is in.
func (c *Calendar) Due(start time.Time, n int) time.Time {
	d := startOfDay(start)
	for n > 0 {
		d = d.AddDate(0, 0, 1)
		if c.IsWorkingDay(d) {
			n--
		}
	}
	return d.Add(24*time.Hour - time.Second).UTC()
}

// Before is the end (23:59:59) of the n-th working day before t's date,
// in UTC: a reminder "one working day before" a due time fires then.
func (c *Calendar) Before(t time.Time, n int) time.Time {
	d := startOfDay(t)
	for n > 0 {
		d = d.AddDate(0, 0, -1)
		if c.IsWorkingDay(d) {
			n--
		}
	}
	return d.Add(24*time.Hour - time.Second).UTC()
}

// WorkingDaysBetween counts the working days after from's date up to and
// including to's date (0 when to is on or before from's date).
func (c *Calendar) WorkingDaysBetween(from, to time.Time) int {
	d, end := startOfDay(from), startOfDay(to)
	n := 0
	for d.Before(end) {
		d = d.AddDate(0, 0, 1)
		if c.IsWorkingDay(d) {
			n++
		}
	}
	return n
}

func startOfDay(t time.Time) time.Time {
	t = t.In(Location)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, Location)
}

//go:embed official.csv
var officialCSV []byte

// Official is the State Council's published holiday arrangement that ships
// with the binary (2025–2026). Admins load later years as data.
func Official() ([]Day, error) { return ParseCSV(officialCSV) }

// ParseCSV reads "date,kind,name" rows (a header row first).
func ParseCSV(b []byte) ([]Day, error) {
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("calendar.ParseCSV: %w", err)
	}
	var days []Day
	for i, r := range rows {
		if i == 0 {
			continue
		}
		if len(r) != 3 {
			return nil, fmt.Errorf("calendar.ParseCSV: line %d: want date,kind,name", i+1)
		}
		if _, err := time.ParseInLocation(time.DateOnly, r[0], Location); err != nil {
			return nil, fmt.Errorf("calendar.ParseCSV: line %d: %w", i+1, err)
		}
		k := Kind(r[1])
		if k != Holiday && k != Workday {
			return nil, fmt.Errorf("calendar.ParseCSV: line %d: kind must be HOLIDAY or WORKDAY", i+1)
		}
		days = append(days, Day{Date: r[0], Kind: k, Name: r[2]})
	}
	return days, nil
}

// Cache holds the calendar loaded from the database and reloads it after
// TTL, so a holiday year loaded by an admin reaches every replica.
type Cache struct {
	load func(context.Context) ([]Day, error)
	ttl  time.Duration

	mu         sync.Mutex
	cal        *Calendar
	expires    time.Time
	refreshing bool
}

// NewCache returns a cache over load.
func NewCache(load func(context.Context) ([]Day, error), ttl time.Duration) *Cache {
	return &Cache{load: load, ttl: ttl}
}

// Get returns the calendar. Only the very first call waits for the
// database; after that a stale calendar is served while one background
// refresh runs, so a caller inside a transaction never waits on the pool.
func (c *Cache) Get(ctx context.Context) (*Calendar, error) {
	c.mu.Lock()
	cal, fresh := c.cal, time.Now().Before(c.expires)
	if cal != nil && !fresh && !c.refreshing {
		c.refreshing = true
		go c.refresh()
	}
	c.mu.Unlock()
	if cal != nil {
		return cal, nil
	}
	days, err := c.load(ctx)
	if err != nil {
		return nil, fmt.Errorf("calendar.Cache: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cal == nil {
		c.cal, c.expires = New(days), time.Now().Add(c.ttl)
	}
	return c.cal, nil
}

func (c *Cache) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	days, err := c.load(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshing = false
	if err == nil {
		c.cal, c.expires = New(days), time.Now().Add(c.ttl)
	}
}

// Reload loads the calendar now and returns it (after an admin changed it).
func (c *Cache) Reload(ctx context.Context) (*Calendar, error) {
	days, err := c.load(ctx)
	if err != nil {
		return nil, fmt.Errorf("calendar.Cache: %w", err)
	}
	cal := New(days)
	c.mu.Lock()
	c.cal, c.expires = cal, time.Now().Add(c.ttl)
	c.mu.Unlock()
	return cal, nil
}
