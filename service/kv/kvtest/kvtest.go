// Package kvtest opens Redis for one test: an embedded server of its own,
// or, when REDPOINT_TEST_REDIS_URL is set, that server under a key prefix
// of the test's own, deleted afterwards.
package kvtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/testutil"
)

// EnvRedisURL names the Redis server the tests use when set.
const EnvRedisURL = "REDPOINT_TEST_REDIS_URL"

// Open returns a Redis connection of tb's own.
func Open(tb testing.TB) *kv.KV {
	tb.Helper()
	ctx := context.Background()
	k, err := kv.Open(ctx, os.Getenv(EnvRedisURL))
	if err != nil {
		tb.Fatalf("kvtest.Open: %v", err)
	}
	if !k.Embedded {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		k.Prefix = "rptest:" + hex.EncodeToString(b) + ":"
	}
	tb.Cleanup(func() {
		if !k.Embedded {
			iter := k.Client.Scan(ctx, 0, k.Prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				k.Client.Del(ctx, iter.Val())
			}
		}
		Close(tb, k)
	})
	return k
}

// Close closes k, failing the test if that fails. A client the test has
// closed already, to take Redis away from the server, is no failure.
func Close(tb testing.TB, k *kv.KV) {
	tb.Helper()
	if err := k.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		tb.Errorf("kvtest: closing Redis: %v", err)
	}
}

// Replica returns another connection to k's server under k's prefix, as
// another replica of the deployment holds: its own client and connection
// pool, the same keys.
func Replica(tb testing.TB, k *kv.KV) *kv.KV {
	tb.Helper()
	opts := &redis.Options{Addr: k.Addr(), Protocol: 2}
	if url := os.Getenv(EnvRedisURL); !k.Embedded && url != "" {
		var err error
		if opts, err = kv.ParseURL(url); err != nil {
			tb.Fatalf("kvtest.Replica: %v", err)
		}
	}
	r := &kv.KV{Client: redis.NewClient(opts), Prefix: k.Prefix, Embedded: k.Embedded}
	tb.Cleanup(func() { testutil.Close(tb, r.Client) })
	return r
}
