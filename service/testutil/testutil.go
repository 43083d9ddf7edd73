// Package testutil holds what many packages' tests share and nothing
// else: waiting on a condition with a deadline (Eventually,
// EventuallyNoError), watching that something does not happen (Never, in
// the one window Quiet), a fake clock (Clock, At), reading ids out of
// resource names (ID), stepping a slow test aside under -short
// (SkipIfShort) or in the run against real services (EmbeddedRunOnly),
// the variables that name those services (Env*URL) and closing what a
// test opened, reporting a failure (Close). It imports no package of the service, so every
// package's tests can use it.
package testutil

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// The variables that point a test run at real services instead of the
// embedded ones (make test-real sets them; storetest, kvtest and
// objectstest read them).
const (
	EnvDatabaseURL = "REDPOINT_TEST_DATABASE_URL"
	EnvRedisURL    = "REDPOINT_TEST_REDIS_URL"
	EnvS3URL       = "REDPOINT_TEST_S3_URL"
)

// Poll is how often Eventually looks at its condition.
const Poll = 20 * time.Millisecond

// Quiet is how long Never watches for something that must not happen. A
// test waits for a positive signal where the code gives one (a later
// event handled, a ledger entry); a negative check without one needs a
// window, and this is the one window. It spans a few periods of the
// fastest background loop the tests configure (a 2 s scheduler lock,
// campaigned for every 2/3 s): long enough for a wrong outcome to show,
// short enough to keep the suite quick.
const Quiet = 3 * time.Second

// Eventually waits until cond holds, looking every Poll, and fails the
// test naming what did not happen once within has passed. A test waits on
// the condition it needs, never for a fixed time.
func Eventually(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	EventuallyNoError(tb, within, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

// EventuallyNoError is Eventually for a condition that says what it still
// lacks: cond returns nil once it holds, or an error ("processed 3 of 40
// events", a failed query), the last of which the failure shows.
func EventuallyNoError(tb testing.TB, within time.Duration, what string, cond func() error) {
	tb.Helper()
	last := cond()
	if last == nil {
		return
	}
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(Poll)
	defer tick.Stop()
	for {
		select {
		case <-deadline.C:
			if last = cond(); last == nil {
				return
			}
			if errors.Is(last, errNotYet) {
				tb.Fatalf("%s: not within %v", what, within)
			} else {
				tb.Fatalf("%s: not within %v: %v", what, within, last)
			}
			return
		case <-tick.C:
			if last = cond(); last == nil {
				return
			}
		}
	}
}

// Never watches cond for Quiet, looking every Poll, and fails the test
// naming what happened if it ever holds.
func Never(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.NewTimer(Quiet)
	defer deadline.Stop()
	tick := time.NewTicker(Poll)
	defer tick.Stop()
	for {
		if cond() {
			tb.Fatalf("%s: happened within %v", what, Quiet)
			return
		}
		select {
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// errNotYet is Eventually's condition not holding: it has nothing to add
// to the failure.
var errNotYet = notYet{}

type notYet struct{}

func (notYet) Error() string { return "not yet" }

// SkipIfShort skips a slow test under -short, saying why it is slow: the
// fault tests (a process killed, Redis or PostgreSQL restarted under
// load) and anything else that takes more than a few seconds. CI runs
// without -short, so every test still runs there.
func SkipIfShort(tb testing.TB, why string) {
	tb.Helper()
	if testing.Short() {
		tb.Skipf("slow (%s); not in -short", why)
	}
}

// EmbeddedRunOnly skips tb in a run against real services (any of the
// Env*URL variables set), for a test that uses none of them: it starts
// its own Redis or PostgreSQL processes and keeps its data in SQLite and
// the embedded S3, so the embedded run has run it exactly as this one
// would. make test-real runs again the packages whose tests use the
// services; such a test there only costs CI time.
func EmbeddedRunOnly(tb testing.TB) {
	tb.Helper()
	for _, v := range []string{EnvDatabaseURL, EnvRedisURL, EnvS3URL} {
		if os.Getenv(v) != "" {
			tb.Skipf("uses no service %s names: the embedded run ran it the same", v)
		}
	}
}

// Close closes c now and fails the test (without stopping it) if that
// fails: a store, a client or a server that does not close cleanly can
// mean lost writes or a leak. Defer it, or call it from a cleanup:
//
//	defer testutil.Close(t, k)
//	t.Cleanup(func() { testutil.Close(t, st) })
//
// A response body needs no report: ignore its Close explicitly.
func Close(tb testing.TB, c io.Closer) {
	tb.Helper()
	if err := c.Close(); err != nil {
		tb.Errorf("closing %T: %v", c, err)
	}
}
