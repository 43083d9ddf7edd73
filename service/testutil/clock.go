package testutil

import (
	"sync"
	"time"
	_ "time/tzdata" // Asia/Shanghai on machines without zoneinfo
)

// Clock is a fake clock: it stands still until the test sets or advances
// it. Its Now method is what the service's code takes as a clock
// (func() time.Time), e.g. apptest.Options.Clock: clock.Now. Safe for
// concurrent use: the server reads it while the test moves it.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t, forward or back.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock d forward and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// Location is the service's time zone, Asia/Shanghai, where At reads wall
// clock times. It is calendar.Location, loaded here again so this package
// imports nothing of the service (calendar's tests check they agree).
var Location = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err) // embedded by time/tzdata; can't fail
	}
	return loc
}()

// AtLayout is the layout At reads; time.DateTime, the same with seconds,
// is read too.
const AtLayout = "2006-01-02 15:04"

// At is the instant a wall clock in Asia/Shanghai shows as s, written
// "2006-01-02 15:04" or "2006-01-02 15:04:05", for tests that set their
// clock or data in local time. s is a literal of the test: a malformed
// one panics.
func At(s string) time.Time {
	layout := AtLayout
	if len(s) == len(time.DateTime) {
		layout = time.DateTime
	}
	t, err := time.ParseInLocation(layout, s, Location)
	if err != nil {
		panic("testutil.At: " + err.Error())
	}
	return t
}
