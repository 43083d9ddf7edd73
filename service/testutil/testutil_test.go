package testutil

import (
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
	r.failed = format
}

func TestEventuallyFailsAtTheDeadline(t *testing.T) {
	r := &recorder{TB: t}
	Eventually(r, 50*time.Millisecond, "never", func() bool { return false })
	if r.failed == "" {
		t.Error("a condition that never holds did not fail the test")
	}
}
