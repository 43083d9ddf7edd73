// Package ratelimit counts hits per key in fixed windows shared through
// Redis, exactly: across any number of replicas a key admits at most its
// limit in a window, and refuses a hit only when every slot is taken.
//
// Redis keeps a key's slots taken in a window: hits admitted, plus
// allowance leased to replicas. A script takes a hit's slot in every key
// of the hit or in none, so a refused hit takes nothing, and never lets
// the slots pass the limit. A key a replica has already seen since its
// last flush leases, with its next slot, up to a quarter of the limit —
// but only from the first half of it — and the replica admits the next
// hits from that lease without a round trip. Every FlushEvery a replica
// reports the leased slots it used and gives back the rest, so an idle
// lease holds its slots for one flush interval at most.
//
// A hit that finds every slot taken while leases are out waits for them
// to come back rather than be refused while slots may still be free; a
// lease not reported within LeaseTimeout (its replica died) counts as
// used. A key refused with no lease out is refused by that replica
// without asking Redis until its window ends.
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

// FlushEvery is how often a replica reports its leases to Redis.
const FlushEvery = 100 * time.Millisecond

// LeaseTimeout bounds how long a hit waits for leases to come back: a
// lease unreported for that long is taken as used.
const LeaseTimeout = 10 * FlushEvery

// retryEvery is how often a hit that waits for leases asks again.
const retryEvery = FlushEvery / 2

// Hit is one key counted against its limit in a window.
type Hit struct {
	Key    string
	Limit  int
	Window time.Duration // zero: the limiter's
}

// Limiter counts hits of one kind ("lookup"), in windows of one length
// unless a hit names another.
type Limiter struct {
	kv           *kv.KV
	name         string
	window       time.Duration
	now          func() time.Time
	flushEvery   time.Duration
	leaseTimeout time.Duration

	mu      sync.Mutex
	entries map[string]*entry // by Redis key, current and previous window
	timer   *time.Timer       // the next flush, when one is due
	closed  bool
	flushMu sync.Mutex // one flush at a time
}

// entry is what a replica knows of a key in a window.
type entry struct {
	window time.Duration
	index  int64 // the window's, for dropping old entries
	lease  int64 // leased slots free to admit a hit here
	held   int64 // leased slots a hit holds while Redis decides its other keys
	used   int64 // leased slots that admitted a hit, not yet reported
	asking int   // calls to Redis about this key in flight
	full   bool  // Redis refused it with no lease out
}

// New returns a limiter whose counters live under kv's prefix.
func New(k *kv.KV, name string, window time.Duration) *Limiter {
	return &Limiter{kv: k, name: name, window: window, now: time.Now, flushEvery: FlushEvery, leaseTimeout: LeaseTimeout, entries: map[string]*entry{}}
}

// takeScript takes a slot in every key or in none, after settling what
// the caller reports of its leases. A key is a hash: n, the slots taken
// (admitted hits and leased slots); l, the leased slots not yet reported;
// t, when a lease was last granted (Redis's clock, ms).
//
// ARGV: take (1, or 0 to settle only), lease timeout ms, then per key:
// limit, surplus wanted (a lease), leased slots used, leased slots given
// back, ttl ms. Answers per key: surplus granted + 1 when it took a slot,
// 0 when it had room but another key refused, -1 when full with leases
// out (wait), -2 when full.
var takeScript = redis.NewScript(`
local take = ARGV[1] == '1'
local timeout = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local n, l, out = {}, {}, {}
local refused, wait = false, false
for i, k in ipairs(KEYS) do
  local a = 5 * i - 2
  local used, back = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local v = redis.call('HMGET', k, 'n', 'l', 't')
  n[i], l[i] = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  if used + back > 0 and v[1] then -- an expired key has nothing to settle
    l[i] = math.max(l[i] - used - back, 0)
    n[i] = math.max(n[i] - back, 0)
    redis.call('HSET', k, 'n', n[i], 'l', l[i])
  end
  out[i] = 0
  if take and n[i] >= tonumber(ARGV[a]) then
    if l[i] > 0 and now - (tonumber(v[3]) or 0) < timeout then
      out[i], wait = -1, true
    else
      out[i], refused = -2, true
    end
  end
end
if not take or refused or wait then
  return out
end
for i, k in ipairs(KEYS) do
  local a = 5 * i - 2
  local limit = tonumber(ARGV[a])
  local surplus = math.max(math.min(tonumber(ARGV[a + 1]), math.floor(limit / 2) - n[i] - 1), 0)
  redis.call('HSET', k, 'n', n[i] + 1 + surplus)
  if surplus > 0 then
    redis.call('HSET', k, 'l', l[i] + surplus, 't', now)
  end
  redis.call('PEXPIRE', k, ARGV[a + 4])
  out[i] = 1 + surplus
end
return out
`)

// resetScript frees every slot of a key but those leased out, which
// their replicas report later.
var resetScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'n', redis.call('HGET', KEYS[1], 'l') or 0)
end
return 0
`)

// forgiveScript frees one slot an admitted hit took.
var forgiveScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'n', 'l')
if tonumber(v[1] or 0) > tonumber(v[2] or 0) then redis.call('HINCRBY', KEYS[1], 'n', -1) end
return 0
`)

const (
	outWait = -1
	outFull = -2
)

// Allow counts one hit against every key and reports whether all are
// within their limits. A hit is admitted when every key has a slot for
// it, and then takes a slot in each; a refused hit takes none.
func (l *Limiter) Allow(ctx context.Context, hits ...Hit) (bool, error) {
	now := l.now().UnixNano()
	windows := make([]time.Duration, len(hits))
	keys := make([]string, len(hits))
	entries := make([]*entry, len(hits))
	var remote []int // the hits' keys with no lease here
	var wants []int64
	l.mu.Lock()
	for i, h := range hits {
		win := h.Window
		if win == 0 {
			win = l.window
		}
		windows[i] = win
		keys[i] = l.redisKey(h.Key, win, now/int64(win))
		e := l.entries[keys[i]]
		seen := e != nil
		if !seen {
			e = &entry{window: win, index: now / int64(win)}
			l.entries[keys[i]] = e
			l.scheduleFlushLocked() // which also forgets it when its window is over
		}
		if e.full || h.Limit <= 0 {
			l.mu.Unlock()
			return false, nil
		}
		entries[i] = e
		want := int64(0)
		if seen && !l.closed { // a key seen twice in a flush interval is busy
			want = int64(h.Limit / 4)
		}
		remote, wants = append(remote, i), append(wants, want)
	}
	// Hold a leased slot where there is one; ask Redis for the rest.
	n := 0
	for j, i := range remote {
		if e := entries[i]; e.lease > 0 {
			e.lease--
			e.held++
		} else {
			remote[n], wants[n] = i, wants[j]
			n++
		}
	}
	remote, wants = remote[:n], wants[:n]
	if len(remote) == 0 {
		l.settleHeldLocked(entries, nil, true)
		l.mu.Unlock()
		return true, nil
	}
	// The used leased slots of the keys asked about are reported with the
	// question: this replica must not wait for its own report.
	used := make([]int64, len(remote))
	for j, i := range remote {
		e := entries[i]
		used[j], e.used = e.used, 0
		e.asking++
	}
	l.mu.Unlock()

	for {
		out, err := l.take(ctx, keys, hits, windows, remote, wants, used)
		l.mu.Lock()
		if err != nil {
			for j, i := range remote {
				entries[i].used += used[j] // reported with the next call
			}
			l.settleHeldLocked(entries, remote, false)
			l.mu.Unlock()
			return false, fmt.Errorf("ratelimit.%s: %w", l.name, err)
		}
		clear(used)
		admitted, wait := true, false
		for j, i := range remote {
			switch e := entries[i]; {
			case out[j] > 0:
				e.lease += out[j] - 1
			case out[j] == outFull:
				e.full = true
				admitted = false
			case out[j] == outWait:
				wait = true
			}
		}
		if !wait || !admitted {
			l.settleHeldLocked(entries, remote, admitted && !wait)
			l.mu.Unlock()
			return admitted && !wait, nil
		}
		l.mu.Unlock()
		// Every slot is taken, some by leases that may come back unused.
		t := time.NewTimer(retryEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			l.mu.Lock()
			l.settleHeldLocked(entries, remote, false)
			l.mu.Unlock()
			return false, fmt.Errorf("ratelimit.%s: %w", l.name, ctx.Err())
		case <-t.C:
		}
	}
}

// settleHeldLocked ends a hit: its held leased slots become used when it
// was admitted and free again when not; the keys asked about (remote)
// have one call fewer in flight.
func (l *Limiter) settleHeldLocked(entries []*entry, remote []int, admitted bool) {
	asked := make(map[*entry]bool, len(remote))
	for _, i := range remote {
		asked[entries[i]] = true
		entries[i].asking--
	}
	for _, e := range entries {
		if asked[e] || e.held == 0 {
			continue
		}
		e.held--
		if admitted {
			e.used++
		} else {
			e.lease++
		}
	}
	l.scheduleFlushLocked()
}

// take runs takeScript for the keys asked about (remote, or every key
// with none when settling).
func (l *Limiter) take(ctx context.Context, keys []string, hits []Hit, windows []time.Duration, remote []int, wants, used []int64) ([]int64, error) {
	ks := make([]string, len(remote))
	args := make([]any, 0, 2+5*len(remote))
	args = append(args, 1, l.leaseTimeout.Milliseconds())
	for j, i := range remote {
		ks[j] = keys[i]
		args = append(args, hits[i].Limit, wants[j], used[j], 0, (2 * windows[i]).Milliseconds())
	}
	return takeScript.Run(ctx, l.kv.Client, ks, args...).Int64Slice()
}

// Reset frees every slot of key in the limiter's current window: a login that
// succeeds clears its phone's failures. A replica that has already seen
// the key full still refuses it until the window ends.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	k := l.redisKey(key, l.window, l.now().UnixNano()/int64(l.window))
	l.mu.Lock()
	if e := l.entries[k]; e != nil {
		e.full = false
	}
	l.mu.Unlock()
	if err := resetScript.Run(ctx, l.kv.Client, []string{k}).Err(); err != nil {
		return fmt.Errorf("ratelimit.%s: %w", l.name, err)
	}
	return nil
}

// Forgive frees the slot one admitted hit of key took in the limiter's
// current window: a login that succeeds gives its address the attempt back.
func (l *Limiter) Forgive(ctx context.Context, key string) error {
	k := l.redisKey(key, l.window, l.now().UnixNano()/int64(l.window))
	l.mu.Lock()
	if e := l.entries[k]; e != nil {
		e.full = false
	}
	l.mu.Unlock()
	if err := forgiveScript.Run(ctx, l.kv.Client, []string{k}).Err(); err != nil {
		return fmt.Errorf("ratelimit.%s: %w", l.name, err)
	}
	return nil
}

// redisKey names key's hash in a window: rp:{rls:lookup}:ip:…:60000:29… .
// A limiter's keys share its hash tag, one slot of a Redis Cluster, for
// takeScript takes a hit's slots in all its keys at once (an address's
// and a code's, of any window) and a flush reports every key's at once.
func (l *Limiter) redisKey(key string, window time.Duration, index int64) string {
	return l.kv.Key(kv.Tag("rls", l.name), key, strconv.FormatInt(window.Milliseconds(), 10), strconv.FormatInt(index, 10))
}

// Close stops the flushes and gives back every lease. Hits after it are
// decided in Redis one by one.
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
		l.timer = time.AfterFunc(l.flushEvery, func() { l.flush(false) })
	}
}

// flush reports the leased slots used and gives back the others, forgets
// the keys it has nothing more to do for, and runs again while it holds
// any.
func (l *Limiter) flush(closing bool) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	now := l.now().UnixNano()
	l.mu.Lock()
	if l.closed && !closing {
		l.mu.Unlock()
		return // a timer that fired as Close stopped it: Close sends
	}
	l.timer = nil
	var keys []string
	var reports []*entry
	args := []any{0, l.leaseTimeout.Milliseconds()}
	sent := map[*entry][2]int64{}
	for k, e := range l.entries {
		if e.lease+e.used > 0 { // a past window's too: a replica whose clock lags still counts in it
			keys, reports = append(keys, k), append(reports, e)
			args = append(args, 0, 0, e.used, e.lease, 0)
			sent[e] = [2]int64{e.used, e.lease}
			e.used, e.lease = 0, 0
		}
	}
	l.mu.Unlock()
	var err error
	if len(keys) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = takeScript.Run(ctx, l.kv.Client, keys, args...).Err()
		cancel()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		// Redis is away, or the report ran and its reply was lost: the
		// hits used are reported again with the next flush (at worst
		// counted twice: stricter), but the unused lease is not taken
		// back, as Redis may already have handed it to others. Unreported,
		// it counts as used once LeaseTimeout passes.
		for _, e := range reports {
			e.used += sent[e][0]
		}
	}
	for k, e := range l.entries {
		current := e.index == now/int64(e.window)
		idle := e.lease+e.held+e.used == 0 && e.asking == 0 && !e.full
		if !current && e.asking == 0 || current && idle {
			delete(l.entries, k)
		}
	}
	if len(l.entries) > 0 {
		l.scheduleFlushLocked()
	}
}
