package ratelimit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/changzhi/redpoint/service/kv/kvtest"
)

// BenchmarkAllow is a lookup's hits on keys far from their limits: an
// address and a code. busy: the same keys every time, admitted from
// leases; spread: a new code every time, as lookups of many codes are,
// each a script call in Redis (miniredis runs a script far slower than
// Redis: it builds a Lua state for every call).
func BenchmarkAllow(b *testing.B) {
	k := kvtest.Open(b)
	ctx := context.Background()
	const limit = 1 << 30
	b.Run("busy", func(b *testing.B) {
		l := New(k, "bench-busy", time.Minute)
		defer l.Close()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if ok, err := l.Allow(ctx, Hit{Key: "ip:203.0.113.7", Limit: limit}, Hit{Key: "code:K7Q2M9", Limit: limit}); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	})
	b.Run("spread", func(b *testing.B) {
		l := New(k, "bench-spread", time.Minute)
		defer l.Close()
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				code := "code:" + strconv.FormatInt(n.Add(1), 36)
				if ok, err := l.Allow(ctx, Hit{Key: "ip:203.0.113.7", Limit: limit}, Hit{Key: code, Limit: limit}); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	})
}
