// Package kvtest opens Redis for one test: an embedded server of its own,
// or, when REDPOINT_TEST_REDIS_URL is set, that server or Redis Cluster
// (kv.ParseURL's forms) under a key prefix of the test's own, deleted
// afterwards.
package kvtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/testutil"
)

// EnvRedisURL names the Redis server the tests use when set.
const EnvRedisURL = testutil.EnvRedisURL

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
			// A client the test has closed, to take Redis away, leaves the
			// keys to another test's run: they are its own prefix's.
			keys, err := scan(ctx, k, k.Prefix+"*")
			if err == nil {
				err = del(ctx, k, keys)
			}
			if err != nil && !errors.Is(err, redis.ErrClosed) {
				tb.Errorf("kvtest: deleting the test's keys: %v", err)
			}
		}
		Close(tb, k)
	})
	return k
}

// Keys are the keys matching pattern (SCAN's MATCH): on a Redis Cluster,
// of every master, as SCAN sees one node's keys only.
func Keys(tb testing.TB, k *kv.KV, pattern string) []string {
	tb.Helper()
	keys, err := scan(context.Background(), k, pattern)
	if err != nil {
		tb.Errorf("kvtest.Keys %s: %v", pattern, err)
	}
	return keys
}

func scan(ctx context.Context, k *kv.KV, pattern string) ([]string, error) {
	var mu sync.Mutex
	var keys []string
	one := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	if c, ok := k.Client.(*redis.ClusterClient); ok {
		err := c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return one(ctx, node) })
		return keys, err
	}
	return keys, one(ctx, k.Client)
}

// Del deletes keys, one DEL each in one pipeline: a Redis Cluster
// refuses one DEL of keys in two slots (CROSSSLOT), and splits a pipeline
// by slot.
func Del(tb testing.TB, k *kv.KV, keys ...string) {
	tb.Helper()
	if err := del(context.Background(), k, keys); err != nil {
		tb.Errorf("kvtest.Del: %v", err)
	}
}

func del(ctx context.Context, k *kv.KV, keys []string) error {
	pipe := k.Client.Pipeline()
	for _, key := range keys {
		pipe.Del(ctx, key)
	}
	_, err := pipe.Exec(ctx)
	return err
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
	if k.Embedded {
		r := &kv.KV{Client: redis.NewClient(&redis.Options{Addr: k.Addr(), Protocol: 2}), Prefix: k.Prefix, Embedded: true}
		tb.Cleanup(func() { testutil.Close(tb, r.Client) })
		return r
	}
	r, err := kv.Open(context.Background(), os.Getenv(EnvRedisURL))
	if err != nil {
		tb.Fatalf("kvtest.Replica: %v", err)
	}
	r.Prefix = k.Prefix
	tb.Cleanup(func() { testutil.Close(tb, r) })
	return r
}
