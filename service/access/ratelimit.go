package access

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

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

// blocked reports whether either counter is at its limit.
func (l *limiter) blocked(ctx context.Context, phone, ip string) (bool, error) {
	pk, ik := l.keys(phone, ip)
	vals, err := l.kv.Client.MGet(ctx, pk, ik).Result()
	if err != nil {
		return false, fmt.Errorf("access.limiter: %w", err)
	}
	return count(vals[0]) >= l.limits.PerPhone || (ip != "" && count(vals[1]) >= l.limits.PerIP), nil
}

// fail counts one failed attempt against both keys, in one round trip.
func (l *limiter) fail(ctx context.Context, phone, ip string) error {
	pk, ik := l.keys(phone, ip)
	pipe := l.kv.Client.TxPipeline()
	pipe.Incr(ctx, pk)
	pipe.ExpireNX(ctx, pk, l.limits.Window)
	if ip != "" {
		pipe.Incr(ctx, ik)
		pipe.ExpireNX(ctx, ik, l.limits.Window)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("access.limiter: %w", err)
	}
	return nil
}

// reset clears the phone's counter after a successful login.
func (l *limiter) reset(ctx context.Context, phone string) error {
	pk, _ := l.keys(phone, "")
	return l.kv.Client.Del(ctx, pk).Err()
}

func count(v any) int {
	s, ok := v.(string)
	if !ok {
		return 0
	}
	n := 0
	fmt.Sscanf(s, "%d", &n)
	return n
}
