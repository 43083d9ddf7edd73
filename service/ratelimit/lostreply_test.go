package ratelimit

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// loseReplies makes the next n script calls run in Redis and then fail, as
// a reply lost to a timeout or a dropped connection does.
type loseReplies struct{ n atomic.Int32 }

func (h *loseReplies) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h *loseReplies) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if name := cmd.Name(); (name == "evalsha" || name == "eval") && h.n.Add(-1) >= 0 {
			cmd.SetErr(errors.New("i/o timeout (reply lost)"))
			return cmd.Err()
		}
		return err
	}
}

func (h *loseReplies) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestLostFlushReplyAdmitsNoMore: a replica whose report of a lease ran in
// Redis but whose reply was lost must not go on admitting from that lease,
// which Redis has already handed back to others.
func TestLostFlushReplyAdmitsNoMore(t *testing.T) {
	const limit = 40
	ls, _ := replicas(t, 2, time.Minute)
	a, b := ls[0], ls[1]
	hook := &loseReplies{}
	a.kv.Client.AddHook(hook)
	hit := Hit{Key: "k", Limit: limit}
	admitted := 0
	for range 2 { // two hits within a flush interval: a takes a lease
		if allow(t, a, hit) {
			admitted++
		}
	}
	hook.n.Store(1)
	a.flush(false) // the report runs in Redis; a never hears back
	hook.n.Store(0)
	for range 3 * limit {
		for _, l := range []*Limiter{a, b} {
			if allow(t, l, hit) {
				admitted++
			}
		}
	}
	if admitted > limit {
		t.Errorf("%d admitted after a lost reply, limit %d", admitted, limit)
	}
}
