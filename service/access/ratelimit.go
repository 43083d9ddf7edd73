package access

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/ratelimit"
)

// LoginLimits bound failed logins in a window, per phone and per client
// address. Counters live in Redis, so every replica shares them.
type LoginLimits struct {
	PerPhone, PerIP int
	Window          time.Duration
}

// DefaultLoginLimits allow five wrong passwords per phone, thirty per
// address, in fifteen minutes.
var DefaultLoginLimits = LoginLimits{PerPhone: 5, PerIP: 30, Window: 15 * time.Minute}

type limiter struct {
	counts *ratelimit.Limiter
	limits LoginLimits
	// phoneKey keys the HMAC that names a phone's counter: every replica
	// has it (it derives from the token key), whoever reads Redis does not.
	phoneKey []byte
}

func newLimiter(k *kv.KV, limits LoginLimits, secret []byte) *limiter {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("redpoint login limit phone key v1"))
	return &limiter{counts: ratelimit.New(k, "login", limits.Window), limits: limits, phoneKey: m.Sum(nil)}
}

// keys: a phone is named by a keyed hash, as personal data that stays out
// of Redis (an unkeyed hash of an 11-digit number is undone by trying them
// all); an address counts by its ClientNetwork.
func (l *limiter) keys(phone, ip string) (string, string) {
	m := hmac.New(sha256.New, l.phoneKey)
	m.Write([]byte(phone))
	return "phone:" + hex.EncodeToString(m.Sum(nil)[:16]), "ip:" + ClientNetwork(ip)
}

// attempt counts a login attempt against the phone and the address
// before the password is checked, and reports whether either is over.
func (l *limiter) attempt(ctx context.Context, phone, ip string) (bool, error) {
	pk, ik := l.keys(phone, ip)
	hits := []ratelimit.Hit{{Key: pk, Limit: l.limits.PerPhone}}
	if ip != "" {
		hits = append(hits, ratelimit.Hit{Key: ik, Limit: l.limits.PerIP})
	}
	ok, err := l.counts.Allow(ctx, hits...)
	return !ok, err
}

// succeeded forgives a successful attempt: the phone starts afresh and
// the address gets its attempt back.
func (l *limiter) succeeded(ctx context.Context, phone, ip string) error {
	pk, ik := l.keys(phone, ip)
	err := l.counts.Reset(ctx, pk)
	if ip != "" {
		err = errors.Join(err, l.counts.Forgive(ctx, ik))
	}
	return err
}

// refunded takes back an attempt that checked no password.
func (l *limiter) refunded(ctx context.Context, phone, ip string) error {
	pk, ik := l.keys(phone, ip)
	err := l.counts.Forgive(ctx, pk)
	if ip != "" {
		err = errors.Join(err, l.counts.Forgive(ctx, ik))
	}
	return err
}
