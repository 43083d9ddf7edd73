package resident

import (
	"context"
	"fmt"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/trackingcode"
)

// LookupCache is the lookup's half in Redis: the versioned entries, and
// the news of changes every replica listens to. It is all a worker needs
// to make lookups stale (Invalidator), without the replica's memory.
type LookupCache struct {
	kv *kv.KV
}

// NewLookupCache returns the lookup's Redis half.
func NewLookupCache(k *kv.KV) *LookupCache { return &LookupCache{kv: k} }

// A code's entry and version share the hash tag {lookup:CODE}, so that on
// a Redis Cluster one MGET reads both (kv.ReadVersioned); codes spread
// over the masters.
func (c *LookupCache) cacheKey(code string) string   { return c.kv.Key(kv.Tag("lookup", code)) }
func (c *LookupCache) versionKey(code string) string { return c.kv.Key(kv.Tag("lookup", code), "v") }
func (c *LookupCache) changesChannel() string        { return c.kv.Key("lookup", "changed") }

// invalidate makes code's entries stale and tells every replica.
func (c *LookupCache) invalidate(ctx context.Context, code string) error {
	// The change is committed: a caller hanging up must not keep it cached.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readTimeout)
	defer cancel()
	pipe := c.kv.Client.Pipeline()
	kv.NewVersion(ctx, pipe, c.versionKey(code), versionTTL)
	pipe.Del(ctx, c.cacheKey(code))
	pipe.Publish(ctx, c.changesChannel(), code)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("resident.Invalidate: %w", err)
	}
	return nil
}

// fromRedis returns the cached entry if it is current, and the code's
// version either way (in one round trip).
func (c *LookupCache) fromRedis(ctx context.Context, code string) (*redpointv1.LookupCacheEntry, string) {
	entry := &redpointv1.LookupCacheEntry{}
	version, current, err := c.kv.ReadVersioned(ctx, c.cacheKey(code), c.versionKey(code), entry)
	if err != nil {
		return nil, "" // Redis away: the database answers
	}
	if !current {
		return nil, version
	}
	return entry, version
}

// Invalidator makes the lookup of every changed errand stale from the
// outbox: the guaranteed path, retried until Redis takes it. Replicas
// drop their memory of it on the news. A rating changes the lookup too
// (it shows the rating).
func (c *LookupCache) Invalidator() events.Handler {
	return events.Handler{
		Name:   "lookup-invalidate",
		Topics: []string{outbox.TopicErrandCreated, outbox.TopicErrandUpdated, outbox.TopicErrandTransitioned, outbox.TopicRatingCreated},
		Handle: func(ctx context.Context, tx *ent.Tx, ev events.Event) error {
			var id int
			var tracking string
			switch p := ev.Payload.(type) {
			case outbox.ErrandChange:
				id, tracking = p.ErrandID, p.TrackingCode
			case outbox.RatingCreated:
				id = p.ErrandID
			default:
				return ev.Unexpected()
			}
			if tracking == "" { // a rating, or a version-1 row written before payloads carried it
				var err error
				if tracking, err = tx.Errand.Query().Where(errand.ID(id)).Select(errand.FieldTrackingCode).String(ctx); err != nil {
					return err
				}
			}
			code, err := trackingcode.Normalize(tracking)
			if err != nil {
				return nil
			}
			return c.invalidate(ctx, code)
		},
	}
}
