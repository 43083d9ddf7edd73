package resident

import (
	"context"
	"crypto/subtle"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
	"google.golang.org/protobuf/proto"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/ratelimit"
	"github.com/changzhi/redpoint/service/server"
	"github.com/changzhi/redpoint/service/trackingcode"
)

// Lookup limits, per window: per client address and per tracking code.
// Counters live in Redis, so every replica shares them.
type LookupLimits struct {
	PerIP, PerCode int
	Window         time.Duration
}

// DefaultLookupLimits: 30 lookups a minute from one address, 10 of one code.
var DefaultLookupLimits = LookupLimits{PerIP: 30, PerCode: 10, Window: time.Minute}

// CacheTTL bounds how long a cached lookup lives in Redis; every change of
// the errand deletes it sooner.
const CacheTTL = time.Minute

// LocalTTL bounds how long a replica answers a lookup from its own memory.
// A change on any replica drops the entry sooner: the replica that made it
// directly, the others when Redis relays the news; the bound covers news
// lost while a replica's subscription reconnects.
const LocalTTL = 3 * time.Second

// localMax caps the entries a replica keeps; past it the memory starts afresh.
const localMax = 50_000

// ErrLookupNotFound is the one answer to a wrong code and to wrong digits:
// byte-identical, so a stranger learns nothing from the difference.
var ErrLookupNotFound = apierr.ErrNotFound.WithMessage("未查询到事项，请核对查询码和手机号后四位")

// ErrLookupLimited refuses a burst of lookups.
var ErrLookupLimited = apierr.ErrRateLimited.WithMessage("查询过于频繁，请稍后再试")

// Lookup serves the public lookup from a replica's memory, then a Redis
// cache-aside entry, then the database — one query for a burst of misses.
type Lookup struct {
	db      *ent.Client
	kv      *kv.KV
	limits  LookupLimits
	limiter *ratelimit.Limiter
	sf      singleflight.Group
	changes *redis.PubSub

	mu    sync.RWMutex
	local map[string]localEntry
	gen   atomic.Uint64 // bumped by every invalidation
}

type localEntry struct {
	entry *redpointv1.LookupCacheEntry
	json  []byte // the REST answer, rendered once
	until time.Time
}

// NewLookup returns the public lookup, listening until ctx is done for
// the changes other replicas make.
func NewLookup(ctx context.Context, db *ent.Client, k *kv.KV, limits LookupLimits) (*Lookup, error) {
	if limits == (LookupLimits{}) {
		limits = DefaultLookupLimits
	}
	l := &Lookup{db: db, kv: k, limits: limits, limiter: ratelimit.New(k, "lookup", limits.Window), local: map[string]localEntry{}}
	l.changes = k.Client.Subscribe(ctx, l.changesChannel())
	if _, err := l.changes.Receive(ctx); err != nil { // the subscription stands before the first lookup
		l.changes.Close()
		return nil, fmt.Errorf("resident.NewLookup: %w", err)
	}
	go func() {
		for m := range l.changes.Channel() {
			l.forget(m.Payload)
		}
	}()
	return l, nil
}

// Close stops listening and sends the pending rate-limit counts.
func (l *Lookup) Close() {
	l.changes.Close()
	l.limiter.Close()
}

func (l *Lookup) cacheKey(code string) string { return l.kv.Key("lookup", code) }
func (l *Lookup) changesChannel() string      { return l.kv.Key("lookup", "changed") }

// Invalidate drops the cached lookup of an errand everywhere; the errand
// service calls it after every committed change.
func (l *Lookup) Invalidate(ctx context.Context, trackingCode string) {
	code, err := trackingcode.Normalize(trackingCode)
	if err != nil {
		return
	}
	l.forget(code)
	pipe := l.kv.Client.Pipeline()
	pipe.Del(ctx, l.cacheKey(code))
	pipe.Publish(ctx, l.changesChannel(), code)
	_, _ = pipe.Exec(ctx)
}

func (l *Lookup) forget(code string) {
	l.gen.Add(1)
	l.mu.Lock()
	delete(l.local, code)
	l.mu.Unlock()
}

func (l *Lookup) remember(code string, entry *redpointv1.LookupCacheEntry, gen uint64) localEntry {
	m := localEntry{entry: entry, until: time.Now().Add(LocalTTL)}
	if entry.Errand != nil {
		m.json, _ = server.JSON(entry.Errand) // none: the gateway renders it
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen.Load() != gen {
		return m // a change landed while it was read: it may be stale
	}
	if len(l.local) >= localMax {
		l.local = map[string]localEntry{}
	}
	l.local[code] = m
	return m
}

// allow counts one lookup against the address and, when the code is well
// formed, the code, and refuses it over either limit.
func (l *Lookup) allow(ctx context.Context, ip, code string) error {
	hits := []ratelimit.Hit{{Key: "ip:" + ip, Limit: l.limits.PerIP}}
	if code != "" {
		hits = append(hits, ratelimit.Hit{Key: "code:" + code, Limit: l.limits.PerCode})
	}
	ok, err := l.limiter.Allow(ctx, hits...)
	if err != nil {
		return fmt.Errorf("resident.Lookup: %w", err)
	}
	if !ok {
		return ErrLookupLimited
	}
	return nil
}

// load returns what the caches hold for code: the view and the digits it
// answers to, or an empty entry for an unknown code.
func (l *Lookup) load(ctx context.Context, code string) (localEntry, error) {
	l.mu.RLock()
	m, ok := l.local[code]
	l.mu.RUnlock()
	if ok && time.Now().Before(m.until) {
		return m, nil
	}
	gen := l.gen.Load()
	entry := l.fromRedis(ctx, code)
	if entry == nil {
		v, err, _ := l.sf.Do(code, func() (any, error) {
			// A caller that missed just before the last fill finds it here.
			if e := l.fromRedis(ctx, code); e != nil {
				return e, nil
			}
			return l.fromDatabase(ctx, code, gen)
		})
		if err != nil {
			return localEntry{}, fmt.Errorf("resident.Lookup: %w", err)
		}
		entry = v.(*redpointv1.LookupCacheEntry)
	}
	return l.remember(code, entry, gen), nil
}

func (l *Lookup) fromRedis(ctx context.Context, code string) *redpointv1.LookupCacheEntry {
	raw, err := l.kv.Client.Get(ctx, l.cacheKey(code)).Bytes()
	if err != nil {
		return nil // a miss, or Redis away: the database answers
	}
	entry := &redpointv1.LookupCacheEntry{}
	if proto.Unmarshal(raw, entry) != nil {
		return nil
	}
	return entry
}

func (l *Lookup) fromDatabase(ctx context.Context, code string, gen uint64) (*redpointv1.LookupCacheEntry, error) {
	e, err := l.db.Errand.Query().Where(errand.TrackingCode(code)).WithErrandType().WithServicePoint().Only(ctx)
	entry := &redpointv1.LookupCacheEntry{}
	switch {
	case ent.IsNotFound(err):
		// An unknown code is cached too: a burst of guesses must not
		// reach the database.
	case err != nil:
		return nil, err
	default:
		entry.Errand, entry.PhoneLast4 = view(e), e.ResidentPhoneLast4
		entry.Errand.Name = "" // the public view names no resource
	}
	b, err := proto.Marshal(entry)
	if err != nil {
		return nil, err
	}
	l.kv.Client.Set(ctx, l.cacheKey(code), b, CacheTTL)
	if l.gen.Load() != gen {
		// A change landed while the row was read: what was just cached
		// may predate it.
		l.kv.Client.Del(ctx, l.cacheKey(code))
	}
	return entry, nil
}

// LookupErrand answers the public lookup.
func (s *Server) LookupErrand(ctx context.Context, req *redpointv1.LookupErrandRequest) (*redpointv1.ResidentErrand, error) {
	digits := req.GetPhoneLast4()
	if len(digits) != 4 || !allDigits(digits) {
		return nil, apierr.InvalidField("phone_last4", "请输入手机号后四位")
	}
	code, codeErr := trackingcode.Normalize(req.GetTrackingCode())
	if err := s.lookup.allow(ctx, access.ClientIP(ctx), code); err != nil {
		return nil, err
	}
	if codeErr != nil {
		return nil, ErrLookupNotFound
	}
	m, err := s.lookup.load(ctx, code)
	if err != nil {
		return nil, err
	}
	if m.entry.Errand == nil || subtle.ConstantTimeCompare([]byte(m.entry.PhoneLast4), []byte(digits)) != 1 {
		return nil, ErrLookupNotFound
	}
	server.SetRendered(ctx, m.json)
	return m.entry.Errand, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
