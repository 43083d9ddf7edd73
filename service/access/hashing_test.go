package access

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/store/storetest"
	"github.com/changzhi/redpoint/service/testutil"
)

// holdGate fills g's slots and queue with callers that wait for the
// returned release, and returns once every one is in.
func holdGate(t *testing.T, g *hashGate) (release func()) {
	t.Helper()
	held := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < cap(g.entered); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.do(context.Background(), func() { <-held }); err != nil {
				t.Error(err)
			}
		}()
	}
	testutil.Eventually(t, 20*time.Second, "the slots and the queue to fill", func() bool { return len(g.entered) == cap(g.entered) })
	var once sync.Once
	release = func() {
		once.Do(func() { close(held); wg.Wait() })
	}
	t.Cleanup(release)
	return release
}

// However many callers come at once, no more than the slots hash at a
// time, the queue waits, and the rest are refused at once.
func TestHashGateBoundsConcurrentHashes(t *testing.T) {
	t.Parallel()
	const slots, queue, callers = 2, 3, 12
	g := newHashGate(slots, queue, time.Hour)
	var running, most, busy, done atomic.Int64
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := g.do(context.Background(), func() {
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				<-release
				running.Add(-1)
				done.Add(1)
			})
			if errors.Is(err, ErrHashingBusy) {
				busy.Add(1)
			} else if err != nil {
				t.Error(err)
			}
		}()
	}
	// Everyone is in a slot, waiting or refused.
	testutil.Eventually(t, 20*time.Second, "every caller to be placed", func() bool { return running.Load()+busy.Load() == callers-queue && len(g.entered) == slots+queue })
	if n := busy.Load(); n != callers-slots-queue {
		t.Errorf("%d callers refused, want %d", n, callers-slots-queue)
	}
	close(release)
	wg.Wait()
	if n := most.Load(); n > slots {
		t.Errorf("%d hashes ran at once, with %d slots", n, slots)
	}
	if n := done.Load(); n != slots+queue {
		t.Errorf("%d callers hashed, want the %d in slots and queue", n, slots+queue)
	}
}

// A caller that finds every slot taken waits for one, but not for ever.
func TestHashGateWaitIsBounded(t *testing.T) {
	t.Parallel()
	g := newHashGate(1, 1, time.Millisecond)
	held := make(chan struct{})
	holder := make(chan error, 1)
	go func() { holder <- g.do(context.Background(), func() { <-held }) }()
	defer func() {
		close(held)
		if err := <-holder; err != nil {
			t.Errorf("the caller holding the slot: %v", err)
		}
	}()
	testutil.Eventually(t, 20*time.Second, "the slot to be taken", func() bool { return len(g.running) == 1 })
	if err := g.do(context.Background(), func() { t.Error("ran with its slot taken") }); !errors.Is(err, ErrHashingBusy) {
		t.Errorf("with the slot held: %v, want %v", err, ErrHashingBusy)
	}
}

// While the process's hashing is saturated a login is refused as
// UNAVAILABLE, with ErrorInfo, and the attempt does not count against the
// phone's limit.
func TestLoginWhileHashingIsBusy(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t)
	tokens, err := NewTokens([]byte("0123456789abcdef0123456789abcdef"), st.Client)
	if err != nil {
		t.Fatal(err)
	}
	// A day-long window: fixed windows start on the clock (the minute, the day), and a test that straddled a minute would see its count start again.
	s, err := NewServer(st.Client, tokens, kvtest.Open(t), LoginLimits{PerPhone: 1, PerIP: 100, Window: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	login := func() error {
		_, err := s.Login(ctx, &redpointv1.LoginRequest{Phone: "13800000000", Password: "wrong"})
		return err
	}

	release := holdGate(t, hashing)
	err = login()
	st2 := apierr.Status(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), "Login", err)
	var reason string
	for _, d := range st2.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			reason = info.Reason
		}
	}
	if st2.Code() != codes.Unavailable || reason != "UNAVAILABLE" {
		t.Fatalf("login while hashing is saturated: %v (reason %q), want UNAVAILABLE with its ErrorInfo", err, reason)
	}
	// Accounts made and passwords reset hash within the same bound.
	if _, err := newPasswordHash(ctx, "new-password"); !errors.Is(err, ErrHashingBusy) {
		t.Errorf("a new password hashed while hashing is saturated: %v, want %v", err, ErrHashingBusy)
	}
	release()

	if err := login(); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("the one attempt the limit allows, after the refused one: %v, want %v", err, ErrBadCredentials)
	}
	if err := login(); !errors.Is(err, ErrTooManyLogins) {
		t.Errorf("the next: %v, want %v", err, ErrTooManyLogins)
	}
}
