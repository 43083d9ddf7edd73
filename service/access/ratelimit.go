package access

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/changzhi/redpoint/service/kv"
)

// LoginLimits bound failed logins in a window, per phone and per client
// address. Counters live in Redis, so every replica shares them.
type LoginLimits struct {
	PerPhone, PerIP int
	Window          time.Duration
}

// DefaultLoginLimits: five wrong passwords per phone, thirty per address,
// in fifteen minutes.
var DefaultLoginLimits = LoginLimits{PerPhone: 5, PerIP: 30, Window: 15 * time.Minute}

type limiter struct {
	kv     *kv.KV
	limits LoginLimits
}

// keys are hashed: a phone number is personal data and stays out of Redis.
func (l *limiter) keys(phone, ip string) (string, string) {
	h := sha256.Sum256([]byte("login-phone\x00" + phone))
	return l.kv.Key("rl", "login", "phone", hex.EncodeToString(h[:12])), l.kv.Key("rl", "login", "ip", ip)
}

// attempt counts a login attempt against the phone and the address
// before the password is checked — atomically, so concurrent guesses
// can't all slip under the limit — and reports whether either is over.
func (l *limiter) attempt(ctx context.Context, phone, ip string) (bool, error) {
	pk, ik := l.keys(phone, ip)
	pipe := l.kv.Client.TxPipeline()
	pn := pipe.Incr(ctx, pk)
	pipe.ExpireNX(ctx, pk, l.limits.Window)
	var in *redis.IntCmd
	if ip != "" {
		in = pipe.Incr(ctx, ik)
		pipe.ExpireNX(ctx, ik, l.limits.Window)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("access.limiter: %w", err)
	}
	return pn.Val() > int64(l.limits.PerPhone) || (in != nil && in.Val() > int64(l.limits.PerIP)), nil
}

// succeeded forgives a successful attempt: the phone starts afresh and
// the address gets its attempt back.
func (l *limiter) succeeded(ctx context.Context, phone, ip string) error {
	pk, ik := l.keys(phone, ip)
	pipe := l.kv.Client.TxPipeline()
	pipe.Del(ctx, pk)
	if ip != "" {
		pipe.Decr(ctx, ik)
	}
	_, err := pipe.Exec(ctx)
	return err
}
