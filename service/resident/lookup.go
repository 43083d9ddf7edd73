package resident

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/errandtype"
	"github.com/changzhi/redpoint/ent/rating"
	"github.com/changzhi/redpoint/ent/servicepoint"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/feedback"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/ratelimit"
	"github.com/changzhi/redpoint/service/server"
	"github.com/changzhi/redpoint/service/trackingcode"
)

// LookupLimits bound public lookups, per window: per client address and
// per tracking code; and per code in a day, so that guessing a code's
// four digits at the per-window rate takes months, not a day. Counters
// live in Redis, so every replica shares them.
type LookupLimits struct {
	PerIP, PerCode int
	Window         time.Duration
	PerCodePerDay  int // 0: no daily limit
}

// DefaultLookupLimits allow 30 lookups a minute from one address, 10 of
// one code, 50 of one code a day.
var DefaultLookupLimits = LookupLimits{PerIP: 30, PerCode: 10, Window: time.Minute, PerCodePerDay: 50}

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

// ErrLookupUnavailable answers while the limits can't be counted: lookups
// are refused rather than let through uncounted.
var ErrLookupUnavailable = apierr.ErrUnavailable.WithMessage("查询服务暂不可用，请稍后再试")

// Lookup serves the public lookup from a replica's memory, then a Redis
// cache-aside entry, then the database — one read for a burst of misses.
//
// Staleness is bounded three ways. In Redis each code has a version that
// every change replaces with a new random token; an entry carries the
// version it was read at and is ignored once that moved on, so a read
// racing a change can't leave an old answer behind. A replica drops its own memory of a code at once when it
// makes the change, and when Redis relays the news of a change elsewhere;
// generation counters keep a read that raced that news out of memory.
// News lost while a subscription reconnects is bounded by LocalTTL.
type Lookup struct {
	*LookupCache
	db      *ent.Client
	log     *slog.Logger
	limits  LookupLimits
	limiter *ratelimit.Limiter
	answers *prometheus.CounterVec // by where the answer came from
	sf      singleflight.Group
	changes *redis.PubSub
	// decoyRows are the rows an unknown code's read reads (readDecoy).
	decoyRows atomic.Pointer[decoyRows]

	mu    sync.RWMutex
	local map[string]localEntry
	gens  [256]atomic.Uint64 // bumped by every change of a code hashing there
}

type localEntry struct {
	entry *redpointv1.LookupCacheEntry
	json  []byte // the REST answer, rendered once
	until time.Time
}

// readTimeout bounds the shared read of a miss, which outlives the
// request that started it: a caller that hangs up must not fail the others.
const readTimeout = 5 * time.Second

// NewLookup returns the public lookup, listening for the changes other
// replicas make until Close; its counters go to reg (nil: nowhere).
func NewLookup(ctx context.Context, db *ent.Client, k *kv.KV, limits LookupLimits, log *slog.Logger, reg prometheus.Registerer) (*Lookup, error) {
	if limits == (LookupLimits{}) {
		limits = DefaultLookupLimits
	}
	l := &Lookup{LookupCache: NewLookupCache(k), db: db, log: log, limits: limits, limiter: ratelimit.New(k, "lookup", limits.Window),
		local: map[string]localEntry{},
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "redpoint_lookup_answers_total",
			Help: "Public lookups answered, by where the answer came from: memory, redis or database."}, []string{"source"})}
	// Every source at zero from the start: a counter that appears only on
	// its first increment can't be told from one that is not exported.
	for _, source := range []string{fromMemory, fromRedis, fromDatabase} {
		l.answers.WithLabelValues(source)
	}
	if reg != nil {
		reg.MustRegister(l.answers)
	}
	l.changes = k.Client.Subscribe(ctx, l.changesChannel())
	if _, err := l.changes.Receive(ctx); err != nil { // the subscription stands before the first lookup
		return nil, fmt.Errorf("resident.NewLookup: %w", errors.Join(err, l.changes.Close()))
	}
	go func() {
		for m := range l.changes.Channel() {
			l.forget(m.Payload)
		}
	}()
	return l, nil
}

// Close stops listening and gives back the rate-limit leases.
func (l *Lookup) Close() {
	if err := l.changes.Close(); err != nil {
		l.log.Warn("lookup: closing the change subscription", "error", err)
	}
	l.limiter.Close()
}

// versionTTL outlives every entry by far (kv.NewVersion).
const versionTTL = 10 * CacheTTL

// Invalidate makes every cached lookup of an errand stale: the errand
// service calls it after each committed change, and the outbox handler
// (Invalidator) again, in case this call was lost.
func (l *Lookup) Invalidate(ctx context.Context, trackingCode string) error {
	code, err := trackingcode.Normalize(trackingCode)
	if err != nil {
		return nil
	}
	l.forget(code)
	return l.invalidate(ctx, code)
}

// Changed is Invalidate for the errand service's hook, which has no use
// for the error: it is logged, and the outbox handler tries again.
func (l *Lookup) Changed(ctx context.Context, trackingCode string) {
	if err := l.Invalidate(ctx, trackingCode); err != nil {
		l.log.WarnContext(ctx, "lookup cache not invalidated; the outbox retries", "error", err)
	}
}

func (l *Lookup) gen(code string) *atomic.Uint64 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(code))
	return &l.gens[h.Sum32()%uint32(len(l.gens))]
}

func (l *Lookup) forget(code string) {
	l.gen(code).Add(1)
	l.mu.Lock()
	delete(l.local, code)
	l.mu.Unlock()
}

// remember keeps entry in memory unless the code changed since gen was read.
func (l *Lookup) remember(code string, entry *redpointv1.LookupCacheEntry, gen uint64, read time.Time) localEntry {
	m := localEntry{entry: entry, until: read.Add(LocalTTL)}
	if entry.Errand != nil {
		m.json, _ = server.JSON(entry.Errand) // none: the gateway renders it
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen(code).Load() != gen {
		return m // a change landed while it was read: it may be stale
	}
	if len(l.local) >= localMax {
		l.local = map[string]localEntry{}
	}
	l.local[code] = m
	return m
}

// allow counts one lookup against the address (an IPv6 address by its
// /64: access.ClientNetwork) and, when the code is well formed, the code,
// in its window and in its day, and refuses it over any of the limits; a
// refused lookup counts against none.
func (l *Lookup) allow(ctx context.Context, ip, code string) error {
	hits := make([]ratelimit.Hit, 1, 3)
	hits[0] = ratelimit.Hit{Key: "ip:" + access.ClientNetwork(ip), Limit: l.limits.PerIP}
	if code != "" {
		hits = append(hits, ratelimit.Hit{Key: "code:" + code, Limit: l.limits.PerCode})
		if l.limits.PerCodePerDay > 0 {
			hits = append(hits, ratelimit.Hit{Key: "code:" + code, Limit: l.limits.PerCodePerDay, Window: 24 * time.Hour})
		}
	}
	ok, err := l.limiter.Allow(ctx, hits...)
	if err != nil {
		return fmt.Errorf("resident.Lookup: %w: %w", ErrLookupUnavailable, err)
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
		l.answers.WithLabelValues(fromMemory).Inc()
		return m, nil
	}
	// Every caller of a burst shares one read — but only callers that came
	// before the same change: one arriving after it starts a read of its own.
	gen := l.gen(code).Load()
	v, err, _ := l.sf.Do(code+":"+strconv.FormatUint(gen, 10), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readTimeout)
		defer cancel()
		read := time.Now()
		entry, version := l.fromRedis(ctx, code)
		source := fromRedis
		if entry == nil {
			var err error
			if entry, err = l.fromDatabase(ctx, code, version); err != nil {
				return nil, err
			}
			source = fromDatabase
		}
		return sourced{l.remember(code, entry, gen, read), source}, nil
	})
	if err != nil {
		return localEntry{}, fmt.Errorf("resident.Lookup: %w", err)
	}
	a := v.(sourced)
	l.answers.WithLabelValues(a.source).Inc()
	return a.localEntry, nil
}

// Where a lookup's answer came from, as the answers counter labels it.
const (
	fromMemory   = "memory"
	fromRedis    = "redis"
	fromDatabase = "database"
)

// sourced is a shared read's answer and where it came from.
type sourced struct {
	localEntry
	source string
}

// fromDatabase reads the code's errand and caches it at version, the
// code's version from before the read.
func (l *Lookup) fromDatabase(ctx context.Context, code, version string) (*redpointv1.LookupCacheEntry, error) {
	// Only what the public view needs: less of a found row to decode
	// than an unknown code's read can match (readDecoy), and the
	// resident's name and sealed numbers stay in the database.
	e, err := l.db.Errand.Query().Where(errand.TrackingCode(code)).
		Select(errand.FieldTrackingCode, errand.FieldErrandTypeID, errand.FieldServicePointID, errand.FieldResidentPhoneLast4,
			errand.FieldState, errand.FieldAcceptTime, errand.FieldDueTime, errand.FieldCloseTime, errand.FieldMissingMaterials, errand.FieldResult).
		WithErrandType().WithServicePoint().WithRating(func(q *ent.RatingQuery) { q.Select(rating.FieldLevel, rating.FieldErrandID) }).Only(ctx)
	entry := &redpointv1.LookupCacheEntry{Version: version}
	switch {
	case ent.IsNotFound(err):
		// An unknown code is cached too: a burst of guesses must not
		// reach the database.
		if err := l.readDecoy(ctx); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		entry.Errand, entry.PhoneLast4 = view(e), e.ResidentPhoneLast4
		entry.Errand.Name = "" // the public view names no resource
		if r := e.Edges.Rating; r != nil {
			entry.Errand.Rating = feedback.LevelProto(r.Level)
		}
		l.decoyRows.Store(&decoyRows{e.ErrandTypeID, e.ServicePointID})
	}
	_ = l.kv.WriteVersioned(ctx, l.cacheKey(code), entry, CacheTTL) // not cached: the next miss reads again
	return entry, nil
}

// decoy is the errand the read of an unknown code works on in place of
// a real one: made up, about the size of a real one.
var decoy = &ent.Errand{
	TrackingCode: "0000000000000000", State: errand.StateNEEDS_MATERIALS,
	AcceptTime: time.Unix(1_764_000_000, 0), DueTime: time.Unix(1_765_000_000, 0),
	MissingMaterials: []string{"居民身份证复印件", "户口簿复印件"},
	Edges: ent.ErrandEdges{
		ErrandType:   &ent.ErrandType{Name: "城乡居民基本养老保险资格认证"},
		ServicePoint: &ent.ServicePoint{Name: "古韩镇东关村红色代办服务点", Phone: "0355-8888888"},
	},
}

// decoyRows names the type and point rows the read of an unknown code
// reads: those of the last errand read, so that they decode like a real
// read's (none are found before the first).
type decoyRows struct {
	errandType   string
	servicePoint int
}

// readDecoy does for an unknown code what the read of a known one does
// after its first query — read a type and a point, build the public view,
// render it — so that a miss on a code that exists (wrong digits) takes
// no longer than a miss on one that doesn't, and a stranger can't time
// which codes exist. Nothing of it is kept.
func (l *Lookup) readDecoy(ctx context.Context) error {
	var rows decoyRows
	if r := l.decoyRows.Load(); r != nil {
		rows = *r
	}
	if _, err := l.db.ErrandType.Query().Where(errandtype.IDIn(rows.errandType)).All(ctx); err != nil {
		return err
	}
	if _, err := l.db.ServicePoint.Query().Where(servicepoint.IDIn(rows.servicePoint)).All(ctx); err != nil {
		return err
	}
	if _, err := l.db.Rating.Query().Where(rating.ErrandIDIn(0)).Select(rating.FieldLevel, rating.FieldErrandID).All(ctx); err != nil {
		return err
	}
	v := view(decoy)
	v.Name = ""
	_, _ = server.JSON(v)
	return nil
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
