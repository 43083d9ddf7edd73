package resident

import (
	"context"
	"crypto/subtle"
	"fmt"
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

// CacheTTL bounds how long a cached lookup lives; every change of the
// errand deletes it sooner.
const CacheTTL = time.Minute

// ErrLookupNotFound is the one answer to a wrong code and to wrong digits:
// byte-identical, so a stranger learns nothing from the difference.
var ErrLookupNotFound = apierr.ErrNotFound.WithMessage("未查询到事项，请核对查询码和手机号后四位")

// ErrLookupLimited refuses a burst of lookups.
var ErrLookupLimited = apierr.ErrRateLimited.WithMessage("查询过于频繁，请稍后再试")

// Lookup serves the public lookup from a Redis cache-aside entry.
type Lookup struct {
	db     *ent.Client
	kv     *kv.KV
	limits LookupLimits
	sf     singleflight.Group
}

// NewLookup returns the public lookup.
func NewLookup(db *ent.Client, k *kv.KV, limits LookupLimits) *Lookup {
	if limits == (LookupLimits{}) {
		limits = DefaultLookupLimits
	}
	return &Lookup{db: db, kv: k, limits: limits}
}

func (l *Lookup) cacheKey(code string) string { return l.kv.Key("lookup", code) }

// Invalidate drops the cached lookup of an errand; the errand service
// calls it after every committed change.
func (l *Lookup) Invalidate(ctx context.Context, trackingCode string) {
	code, err := trackingcode.Normalize(trackingCode)
	if err == nil {
		l.kv.Client.Del(ctx, l.cacheKey(code))
	}
}

// allow counts one lookup against the address and, when the code is well
// formed, the code — in one round trip — and refuses it over either limit.
func (l *Lookup) allow(ctx context.Context, ip, code string) error {
	pipe := l.kv.Client.TxPipeline()
	ik := l.kv.Key("rl", "lookup", "ip", ip)
	in := pipe.Incr(ctx, ik)
	pipe.ExpireNX(ctx, ik, l.limits.Window)
	var cn *redis.IntCmd
	if code != "" {
		ck := l.kv.Key("rl", "lookup", "code", code)
		cn = pipe.Incr(ctx, ck)
		pipe.ExpireNX(ctx, ck, l.limits.Window)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("resident.Lookup: %w", err)
	}
	if in.Val() > int64(l.limits.PerIP) || (cn != nil && cn.Val() > int64(l.limits.PerCode)) {
		return ErrLookupLimited
	}
	return nil
}

// cached is what the cache holds: the view and the digits it answers to.
func (l *Lookup) load(ctx context.Context, code string) (*redpointv1.LookupCacheEntry, error) {
	raw, err := l.kv.Client.Get(ctx, l.cacheKey(code)).Bytes()
	if err == nil {
		entry := &redpointv1.LookupCacheEntry{}
		if proto.Unmarshal(raw, entry) == nil {
			return entry, nil
		}
	}
	v, err, _ := l.sf.Do(code, func() (any, error) {
		e, err := l.db.Errand.Query().Where(errand.TrackingCode(code)).WithErrandType().WithServicePoint().Only(ctx)
		entry := &redpointv1.LookupCacheEntry{}
		switch {
		case ent.IsNotFound(err):
			// An unknown code is cached too, briefly: a burst of guesses
			// must not reach the database.
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
		return entry, nil
	})
	if err != nil {
		return nil, fmt.Errorf("resident.Lookup: %w", err)
	}
	return v.(*redpointv1.LookupCacheEntry), nil
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
	entry, err := s.lookup.load(ctx, code)
	if err != nil {
		return nil, err
	}
	if entry.Errand == nil || subtle.ConstantTimeCompare([]byte(entry.PhoneLast4), []byte(digits)) != 1 {
		return nil, ErrLookupNotFound
	}
	return entry.Errand, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
