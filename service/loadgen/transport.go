package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// balancer spreads requests over the targets in turn, as a load balancer
// in front of API replicas does, and takes a target that refused a
// connection out of the turn for a while (a passive health check), so a
// killed replica costs the requests that were on it and few more.
type balancer struct {
	targets []string
	mu      sync.Mutex
	next    int
	downTil []time.Time
}

// downFor is how long a target that failed a connection is skipped.
const downFor = 2 * time.Second

func newBalancer(targets []string) *balancer {
	out := &balancer{downTil: make([]time.Time, len(targets))}
	for _, t := range targets {
		out.targets = append(out.targets, strings.TrimSuffix(t, "/"))
	}
	return out
}

// pick returns the next target that is not marked down; when all are,
// the next in turn (one of them may be back).
func (b *balancer) pick() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	for range b.targets {
		i := b.next
		b.next = (b.next + 1) % len(b.targets)
		if now.After(b.downTil[i]) {
			return i
		}
	}
	i := b.next
	b.next = (b.next + 1) % len(b.targets)
	return i
}

func (b *balancer) markDown(i int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.downTil[i] = time.Now().Add(downFor)
}

// retryable is what docs/api.md tells clients to retry, with the same
// request id: no answer at all, 408, 503 and 504.
func retryable(code int, err error) bool {
	return err != nil || code == http.StatusRequestTimeout || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// attemptsKey carries a counter of an operation's retries to do.
type attemptsKey struct{}

// withRetryCount returns ctx counting do's retries into n.
func withRetryCount(ctx context.Context, n *int) context.Context {
	return context.WithValue(ctx, attemptsKey{}, n)
}

// do sends one request as the client at addr, retrying as the app does
// (docs/api.md, "Retries and request ids": backoff from cfg.Backoff,
// doubling, with jitter; the same request, so the same request id), on
// the next target each time. It decodes a 200's body into out and
// returns the status, and the body of an answer other than 200 or 304 (a
// little of it).
func (w *world) do(ctx context.Context, method, path, token, addr, etag string, body, out any) (int, string, error) {
	var payload []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		payload = b
	}
	for attempt := 0; ; attempt++ {
		i := w.lb.pick()
		code, msg, err := w.once(ctx, w.lb.targets[i]+path, method, token, addr, etag, payload, out)
		if err != nil && ctx.Err() == nil {
			w.lb.markDown(i)
		}
		if !retryable(code, err) || attempt >= w.cfg.Retries || ctx.Err() != nil {
			return code, msg, err
		}
		if n, ok := ctx.Value(attemptsKey{}).(*int); ok {
			*n++
		}
		wait := w.cfg.Backoff << attempt
		wait += time.Duration(rand.Int64N(int64(wait)/5 + 1)) // up to +20%
		select {
		case <-ctx.Done():
			return code, msg, err
		case <-time.After(wait):
		}
	}
}

func (w *world) once(ctx context.Context, url, method, token, addr, etag string, payload []byte, out any) (int, string, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode == http.StatusOK && out != nil:
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, "", err
		}
		if e, ok := out.(*etagged); ok {
			e.etag = resp.Header.Get("ETag")
		}
	case resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotModified:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, string(b), nil
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, "", nil
}
