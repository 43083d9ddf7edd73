package kv

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// A lock is a key holding its owner's token (Token): taken only when
// free, renewed and released only by the token that holds it, so an owner
// that outlived its TTL can't release the next owner's lock.

// Lock takes the lock at key for token, for ttl, if nobody holds it.
func (k *KV) Lock(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	return k.Client.SetNX(ctx, key, token, ttl).Result()
}

var renewScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) else return 0 end`)
var unlockScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`)

// Renew extends the lock at key by ttl if token holds it.
func (k *KV) Renew(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	n, err := renewScript.Run(ctx, k.Client, []string{key}, token, ttl.Milliseconds()).Int()
	return n == 1, err
}

// Unlock releases the lock at key if token holds it.
func (k *KV) Unlock(ctx context.Context, key, token string) error {
	return unlockScript.Run(ctx, k.Client, []string{key}, token).Err()
}
