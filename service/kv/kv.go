// Package kv opens Redis through go-redis: a real server in production, or
// an in-process Redis-protocol server in embedded mode, so both run the same
// client code.
package kv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// KV is an open Redis connection and the key prefix this process owns.
type KV struct {
	Client redis.UniversalClient
	// Prefix starts every key this process writes ("rp:" by default); tests
	// give each test its own, so they can share one server.
	Prefix   string
	Embedded bool
	embedded *miniredis.Miniredis
}

// DefaultPrefix starts every key in production.
const DefaultPrefix = "rp:"

// Open connects to the Redis at redisURL (redis:// or rediss://), or starts
// an embedded server on a loopback port when redisURL is empty.
func Open(ctx context.Context, redisURL string) (*KV, error) {
	if redisURL == "" {
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("kv.Open: embedded redis: %w", err)
		}
		client := redis.NewClient(&redis.Options{Addr: m.Addr(), Protocol: 2})
		return &KV{Client: client, Prefix: DefaultPrefix, Embedded: true, embedded: m}, nil
	}
	opts, err := ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("kv.Open: %w", err)
	}
	client := redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		_ = client.Close() // never connected; the ping's error is the one to report
		return nil, fmt.Errorf("kv.Open: redis unreachable: %w", err)
	}
	return &KV{Client: client, Prefix: DefaultPrefix}, nil
}

// ParseURL checks a redis:// URL.
func ParseURL(redisURL string) (*redis.Options, error) {
	if !strings.HasPrefix(redisURL, "redis://") && !strings.HasPrefix(redisURL, "rediss://") {
		return nil, fmt.Errorf("redis URL must start with redis:// or rediss://")
	}
	return redis.ParseURL(redisURL)
}

// Token is a fresh random value, for versions that must never repeat.
func Token() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Key joins parts under the prefix: Key("lb", "2026-11") is "rp:lb:2026-11".
func (k *KV) Key(parts ...string) string { return k.Prefix + strings.Join(parts, ":") }

// Addr is the server address, e.g. for asynq, which opens its own client.
func (k *KV) Addr() string {
	if o, ok := k.Client.(*redis.Client); ok {
		return o.Options().Addr
	}
	return ""
}

// Ping checks that Redis answers.
func (k *KV) Ping(ctx context.Context) error { return k.Client.Ping(ctx).Err() }

// Close closes the client and stops the embedded server, if any.
func (k *KV) Close() error {
	err := k.Client.Close()
	if k.embedded != nil {
		k.embedded.Close()
	}
	return err
}
