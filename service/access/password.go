// Package access authenticates callers and decides what they may do. This
// file: password hashing with argon2id.
package access

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/changzhi/redpoint/service/apierr"
)

// Argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes).
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
)

var errMalformedHash = errors.New("access: malformed password hash")

// HashPassword returns an argon2id hash in the PHC string format.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("access.HashPassword: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemoryKiB, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches hash, in constant time.
func VerifyPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errMalformedHash
	}
	var version int
	var mem, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errMalformedHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil {
		return false, errMalformedHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errMalformedHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return false, errMalformedHash
	}
	got := argon2.IDKey([]byte(password), salt, t, mem, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// A hash takes 19 MiB and a core for tens of milliseconds, so hashes
// beyond the cores only add memory: 90 wrong passwords at once once took
// 1.6 GB. The requests that hash — logins, new accounts, password resets
// — share one bound: as many hashes run at once as the process has cores,
// hashQueuePerSlot callers a core wait for a slot, up to hashWait, and the
// rest are told to come back (ErrHashingBusy).
const (
	hashQueuePerSlot = 4
	hashWait         = time.Second
)

// ErrHashingBusy refuses a password check or change while every hashing
// slot is taken and the queue for them is full.
var ErrHashingBusy = apierr.ErrUnavailable.WithMessage("服务繁忙，请稍后再试")

// hashing bounds the hashes requests run, process-wide.
var hashing = newHashGate(runtime.GOMAXPROCS(0), hashQueuePerSlot*runtime.GOMAXPROCS(0), hashWait)

// hashGate lets slots callers run at once and queue more wait for them.
type hashGate struct {
	running chan struct{} // a token per caller running
	entered chan struct{} // a token per caller running or waiting
	wait    time.Duration
}

func newHashGate(slots, queue int, wait time.Duration) *hashGate {
	return &hashGate{running: make(chan struct{}, slots), entered: make(chan struct{}, slots+queue), wait: wait}
}

// do runs f in a slot, or returns ErrHashingBusy when the queue is full or
// no slot came free in time.
func (g *hashGate) do(ctx context.Context, f func()) error {
	select {
	case g.entered <- struct{}{}:
	default:
		return ErrHashingBusy
	}
	defer func() { <-g.entered }()
	select {
	case g.running <- struct{}{}:
	default:
		t := time.NewTimer(g.wait)
		defer t.Stop()
		select {
		case g.running <- struct{}{}:
		case <-t.C:
			return ErrHashingBusy
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() { <-g.running }()
	f()
	return nil
}

// checkPassword is VerifyPassword within the hashing bound.
func checkPassword(ctx context.Context, hash, password string) (bool, error) {
	var ok bool
	var err error
	if gateErr := hashing.do(ctx, func() { ok, err = VerifyPassword(hash, password) }); gateErr != nil {
		return false, gateErr
	}
	return ok, err
}

// newPasswordHash is HashPassword within the hashing bound.
func newPasswordHash(ctx context.Context, password string) (string, error) {
	var h string
	var err error
	if gateErr := hashing.do(ctx, func() { h, err = HashPassword(password) }); gateErr != nil {
		return "", gateErr
	}
	return h, err
}
