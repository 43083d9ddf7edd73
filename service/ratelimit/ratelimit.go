// Package ratelimit counts hits per key in fixed windows shared through
// Redis, without a Redis round trip for most hits.
//
// Each replica admits a key's first hits in a window on its own — while
// the count it knows (the last one Redis returned, plus its own hits not
// yet answered) stays under a quarter of the limit — and sends those
// counts to Redis in one pipeline every FlushEvery. Past that allowance
// every hit is counted in Redis before it is answered, so a key that gets
// busy is limited across replicas; a key known to be over its limit is
// refused without asking Redis again. The hits a replica admitted on its
// own can reach Redis after others were counted, so with R replicas a key
// gets at most limit + R·limit/4 hits in a window, and more than the limit
// only when hits race to several replicas within one flush interval.
package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/changzhi/redpoint/service/kv"
)

// FlushEvery is how often locally admitted hits reach Redis.
const FlushEvery = 100 * time.Millisecond

// Hit is one key counted against its limit.
type Hit struct {
	Key   string
	Limit int
}

// Limiter counts hits of one kind ("lookup") in windows of one length.
type Limiter struct {
	kv     *kv.KV
	name   string
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	counts  map[string]*count // by Redis key, current and previous window
	timer   *time.Timer       // the next flush, when one is due
	closed  bool
	flushMu sync.Mutex // one flush at a time
}

type count struct {
	window   int64 // the window index, for dropping old counts
	known    int64 // the shared count as of the last answer from Redis
	pending  int64 // hits admitted here and not yet sent
	inflight int64 // hits sent and not yet answered
}

// New returns a limiter whose counters live under kv's prefix.
func New(k *kv.KV, name string, window time.Duration) *Limiter {
	return &Limiter{kv: k, name: name, window: window, now: time.Now, counts: map[string]*count{}}
}

// Allow counts one hit against every key and reports whether all are
// within their limits. A refused hit counts too: guessing does not get
// cheaper by being refused.
func (l *Limiter) Allow(ctx context.Context, hits ...Hit) (bool, error) {
	w := l.now().UnixNano() / int64(l.window)
	keys := make([]string, len(hits))
	l.mu.Lock()
	local, over := true, false
	for i, h := range hits {
		keys[i] = l.redisKey(h.Key, w)
		c := l.counts[keys[i]]
		if c == nil {
			c = &count{window: w}
			l.counts[keys[i]] = c
			l.scheduleFlushLocked() // which also forgets it when its window is over
		}
		// Only Redis's own count proves a key over its limit; what is in
		// flight may be in that count already.
		switch seen := c.known + c.inflight + c.pending; {
		case c.known >= int64(h.Limit):
			over = true
		case seen+1 > int64(h.Limit/4):
			local = false
		}
	}
	if over || (local && !l.closed) {
		for _, k := range keys {
			if !l.closed { // once closed nothing would send it
				l.counts[k].pending++
			}
		}
		l.scheduleFlushLocked()
		l.mu.Unlock()
		return !over, nil
	}
	// Count in Redis now, with whatever this replica has not sent yet.
	sends := make([]int64, len(keys))
	for i, k := range keys {
		c := l.counts[k]
		sends[i], c.pending = c.pending+1, 0
		c.inflight += sends[i]
	}
	l.mu.Unlock()
	totals, err := l.send(ctx, keys, sends)
	if err != nil {
		return false, err
	}
	allowed := true
	for i, h := range hits {
		if totals[i] > int64(h.Limit) {
			allowed = false
		}
	}
	return allowed, nil
}

// Reset forgets every hit of key in the current window: a login that
// succeeds clears its phone's failures. A replica that has already seen
// the key over its limit still refuses it until the window ends.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	k := l.redisKey(key, l.now().UnixNano()/int64(l.window))
	l.mu.Lock()
	delete(l.counts, k)
	l.mu.Unlock()
	if err := l.kv.Client.Del(ctx, k).Err(); err != nil {
		return fmt.Errorf("ratelimit.%s: %w", l.name, err)
	}
	return nil
}

// Forgive takes back one hit of key in the current window: a login that
// succeeds gives its address the attempt back.
func (l *Limiter) Forgive(ctx context.Context, key string) error {
	k := l.redisKey(key, l.now().UnixNano()/int64(l.window))
	l.mu.Lock()
	if c := l.counts[k]; c != nil && c.pending > 0 {
		c.pending-- // not sent yet: nothing to take back in Redis
		l.mu.Unlock()
		return nil
	} else if c != nil && c.known > 0 {
		c.known--
	}
	l.mu.Unlock()
	pipe := l.kv.Client.Pipeline()
	pipe.Decr(ctx, k)
	pipe.Expire(ctx, k, 2*l.window)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("ratelimit.%s: %w", l.name, err)
	}
	return nil
}

func (l *Limiter) redisKey(key string, window int64) string {
	return l.kv.Key("rl", l.name, key, strconv.FormatInt(window, 10))
}

// send adds counts in one pipeline and records the totals Redis answers.
func (l *Limiter) send(ctx context.Context, keys []string, sends []int64) ([]int64, error) {
	pipe := l.kv.Client.Pipeline()
	cmds := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.IncrBy(ctx, k, sends[i])
		pipe.Expire(ctx, k, 2*l.window)
	}
	_, err := pipe.Exec(ctx)
	totals := make([]int64, len(keys))
	for i := range keys {
		totals[i] = cmds[i].Val()
	}
	l.mu.Lock()
	for i, k := range keys {
		c := l.counts[k]
		if c == nil {
			continue
		}
		c.inflight -= sends[i]
		if err != nil {
			c.pending += sends[i] // Redis is away: send them with the next
			continue
		}
		c.known = max(c.known, totals[i])
	}
	l.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("ratelimit.%s: %w", l.name, err)
	}
	return totals, nil
}

// Close stops the flushes and sends what is pending. Hits after it are
// counted in Redis one by one.
func (l *Limiter) Close() {
	l.mu.Lock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.mu.Unlock()
	l.flush(true)
}

func (l *Limiter) scheduleFlushLocked() {
	if l.timer == nil && !l.closed {
		l.timer = time.AfterFunc(FlushEvery, func() { l.flush(false) })
	}
}

// flush sends every pending count, forgets windows that have passed, and
// runs again while it holds any count.
func (l *Limiter) flush(closing bool) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	w := l.now().UnixNano() / int64(l.window)
	l.mu.Lock()
	if l.closed && !closing {
		l.mu.Unlock()
		return // a timer that fired as Close stopped it: Close sends
	}
	l.timer = nil
	var keys []string
	var sends []int64
	for k, c := range l.counts {
		if c.pending > 0 {
			keys, sends = append(keys, k), append(sends, c.pending)
			c.inflight += c.pending
			c.pending = 0
		}
		if c.window < w && c.inflight == 0 {
			delete(l.counts, k)
		}
	}
	l.mu.Unlock()
	if len(keys) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = l.send(ctx, keys, sends) // on failure they are pending again
		cancel()
	}
	l.mu.Lock()
	if len(l.counts) > 0 {
		l.scheduleFlushLocked()
	}
	l.mu.Unlock()
}
