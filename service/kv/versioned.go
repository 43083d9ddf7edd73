package kv

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
)

// Versioned is a cached entry that carries the version of what it was
// read from. Its version key holds the current version: a random token
// that every change replaces (NewVersion), so an entry read before a
// change — even one written after it — is never current again.
type Versioned interface {
	proto.Message
	GetVersion() string
}

// ReadVersioned reads the entry at key into m and the current version at
// versionKey in one round trip. It reports the version ("" when there is
// none yet) and whether m holds an entry read at it; err means Redis did
// not answer. key and versionKey must share a hash tag (Tag): on a Redis
// Cluster they are read by one MGET.
func (k *KV) ReadVersioned(ctx context.Context, key, versionKey string, m Versioned) (version string, current bool, err error) {
	vals, err := k.Client.MGet(ctx, key, versionKey).Result()
	if err != nil {
		return "", false, err
	}
	version, _ = vals[1].(string)
	raw, ok := vals[0].(string)
	if !ok || proto.Unmarshal([]byte(raw), m) != nil {
		return version, false, nil
	}
	return version, m.GetVersion() == version, nil
}

// WriteVersioned caches m at key for ttl; m carries the version ReadVersioned
// reported before what it holds was read.
func (k *KV) WriteVersioned(ctx context.Context, key string, m Versioned, ttl time.Duration) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	return k.Client.Set(ctx, key, b, ttl).Err()
}

// NewVersion queues, on pipe, a fresh version at versionKey: every entry
// read before it is stale. ttl must outlive the entries by far.
func NewVersion(ctx context.Context, pipe redis.Pipeliner, versionKey string, ttl time.Duration) {
	pipe.Set(ctx, versionKey, Token(), ttl)
}
