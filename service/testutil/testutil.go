// Package testutil holds what many packages' tests share and nothing
// else: waiting on a condition with a deadline.
package testutil

import (
	"testing"
	"time"
)

// Poll is how often Eventually looks at its condition.
const Poll = 20 * time.Millisecond

// Eventually waits until cond holds, looking every Poll, and fails the
// test naming what did not happen once within has passed. A test waits on
// the condition it needs, never for a fixed time.
func Eventually(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	if cond() {
		return
	}
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(Poll)
	defer tick.Stop()
	for {
		select {
		case <-deadline.C:
			if cond() {
				return
			}
			tb.Fatalf("%s: not within %v", what, within)
			return
		case <-tick.C:
			if cond() {
				return
			}
		}
	}
}
