package testutil

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEventuallyWaitsForTheCondition(t *testing.T) {
	var n atomic.Int32
	Eventually(t, 10*time.Second, "the third look", func() bool { return n.Add(1) >= 3 })
	if got := n.Load(); got != 3 {
		t.Errorf("looked %d times, want 3", got)
	}
}

// recorder is a testing.TB that records a failure instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}
func (r *recorder) Errorf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestEventuallyFailsAtTheDeadline(t *testing.T) {
	r := &recorder{TB: t}
	Eventually(r, 50*time.Millisecond, "never", func() bool { return false })
	if r.failed != "never: not within 50ms" {
		t.Errorf("a condition that never holds failed with %q", r.failed)
	}
}

func TestEventuallyNoErrorShowsWhatIsLacking(t *testing.T) {
	var n atomic.Int32
	EventuallyNoError(t, 10*time.Second, "the third look", func() error {
		if n.Add(1) < 3 {
			return errors.New("not the third")
		}
		return nil
	})
	r := &recorder{TB: t}
	EventuallyNoError(r, 50*time.Millisecond, "all processed", func() error { return errors.New("processed 3 of 40") })
	if r.failed != "all processed: not within 50ms: processed 3 of 40" {
		t.Errorf("failed with %q, want the last error named", r.failed)
	}
}

func TestNeverFailsWhenItHappens(t *testing.T) {
	r := &recorder{TB: t}
	var n atomic.Int32
	start := time.Now()
	Never(r, "the third look", func() bool { return n.Add(1) >= 3 })
	if !strings.HasPrefix(r.failed, "the third look: happened") {
		t.Errorf("a condition that came to hold failed with %q", r.failed)
	}
	if time.Since(start) >= Quiet {
		t.Error("Never waited out the window after the condition held")
	}
}

func TestNeverWatchesForQuiet(t *testing.T) {
	SkipIfShort(t, "watches for Quiet")
	start := time.Now()
	var looks atomic.Int32
	Never(t, "impossible", func() bool { looks.Add(1); return false })
	if elapsed := time.Since(start); elapsed < Quiet {
		t.Errorf("watched %v, want %v", elapsed, Quiet)
	}
	if n := looks.Load(); n < 2 {
		t.Errorf("looked %d times in %v", n, Quiet)
	}
}

func TestClockStandsStillUntilMoved(t *testing.T) {
	start := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	c := NewClock(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("new clock at %v, want %v", got, start)
	}
	if got := c.Now(); !got.Equal(start) {
		t.Errorf("the clock moved by itself: %v", got)
	}
	if got := c.Advance(90 * time.Minute); !got.Equal(start.Add(90*time.Minute)) || !c.Now().Equal(got) {
		t.Errorf("advanced 90 min: returned %v, now %v", got, c.Now())
	}
	back := start.Add(-time.Hour)
	c.Set(back)
	if got := c.Now(); !got.Equal(back) {
		t.Errorf("set back to %v, now %v", back, got)
	}
	asAClock := func(now func() time.Time) time.Time { return now() } // what the service takes
	if !asAClock(c.Now).Equal(back) {
		t.Error("Now as a func() time.Time")
	}
}

// The server reads the clock while the test moves it: run with -race.
func TestClockIsSafeForConcurrentUse(t *testing.T) {
	start := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	c := NewClock(start)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				c.Advance(time.Second)
			}
		}()
		go func() {
			defer wg.Done()
			last := start
			for j := 0; j < 100; j++ {
				now := c.Now()
				if now.Before(last) {
					t.Errorf("the clock went back from %v to %v while only advanced", last, now)
					return
				}
				last = now
			}
		}()
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(400*time.Second); !got.Equal(want) {
		t.Errorf("400 advances of a second from %v: %v", start, got)
	}
}

func TestAtReadsShanghaiWallClock(t *testing.T) {
	got := At("2026-11-25 10:00")
	if want := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("At(2026-11-25 10:00) = %v, want %v", got.UTC(), want)
	}
	if got, want := At("2026-11-29 23:59:59"), time.Date(2026, 11, 29, 15, 59, 59, 0, time.UTC); !got.Equal(want) {
		t.Errorf("At(2026-11-29 23:59:59) = %v, want %v", got.UTC(), want)
	}
	defer func() {
		if recover() == nil {
			t.Error("a malformed time did not panic")
		}
	}()
	At("2026-11-25")
}

func TestID(t *testing.T) {
	for name, want := range map[string]int{"errands/123": 123, "residents/me/errands/7": 7} {
		if got := ID(t, name); got != want {
			t.Errorf("ID(%q) = %d, want %d", name, got, want)
		}
	}
	for _, bad := range []string{"", "123", "errands/", "errands/x", "errands/0", "errands/-1", "errands/12/events"} {
		r := &recorder{TB: t}
		ID(r, bad)
		if r.failed == "" {
			t.Errorf("ID(%q) did not fail", bad)
		}
	}
}

func TestSkipIfShort(t *testing.T) {
	var skipped bool
	t.Run("slow", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		SkipIfShort(t, "a test of SkipIfShort")
	})
	if skipped != testing.Short() {
		t.Errorf("skipped: %v, under -short: %v", skipped, testing.Short())
	}
}

// closer is an io.Closer whose Close returns err.
type closer struct{ err error }

func (c closer) Close() error { return c.err }

func TestCloseReportsAFailure(t *testing.T) {
	r := &recorder{TB: t}
	Close(r, closer{})
	if r.failed != "" {
		t.Errorf("a clean close failed the test: %q", r.failed)
	}
	Close(r, closer{errors.New("disk full")})
	if r.failed != "closing testutil.closer: disk full" {
		t.Errorf("a failed close reported %q", r.failed)
	}
}

// TestEmbeddedRunOnly: a run against any real service skips the test; the
// embedded run, with none named, runs it.
func TestEmbeddedRunOnly(t *testing.T) {
	for _, v := range []string{"", EnvDatabaseURL, EnvRedisURL, EnvS3URL} {
		for _, w := range []string{EnvDatabaseURL, EnvRedisURL, EnvS3URL} {
			t.Setenv(w, "")
		}
		if v != "" {
			t.Setenv(v, "set")
		}
		ran := false
		t.Run("with "+v, func(t *testing.T) {
			EmbeddedRunOnly(t)
			ran = true
		})
		if want := v == ""; ran != want {
			t.Errorf("with %q set: ran %v, want %v", v, ran, want)
		}
	}
}
