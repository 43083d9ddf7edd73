package report

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/changzhi/redpoint/ent"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/regioncode"
)

// Cache keeps answered workloads in Redis, so a township's dashboard,
// opened by its secretary and the county all Monday morning, is computed
// once per change rather than once per look.
//
// Every region has a version that each change inside it replaces with a
// new random token (the outbox handler Invalidator does, for the village,
// township, county, city and province); an entry carries the version its
// figures were read at and is ignored once that moved on. An entry also belongs to the minute it was
// computed in, which bounds how late "overdue now" and escalations (which
// no outbox event announces) can be: a minute.
type Cache struct {
	kv    *kv.KV
	looks *prometheus.CounterVec // hit or miss
}

// NewCache returns the workload cache; its counters go to reg (nil: nowhere).
func NewCache(k *kv.KV, reg prometheus.Registerer) *Cache {
	c := &Cache{kv: k, looks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "redpoint_workload_cache_total",
		Help: "Workload answers looked for in the cache, by result: hit or miss."}, []string{"result"})}
	// Every result at zero from the start: a counter that appears only on
	// its first increment can't be told from one that is not exported.
	for _, r := range []string{cacheHit, cacheMiss} {
		c.looks.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(c.looks)
	}
	return c
}

// The results the cache counter counts.
const cacheHit, cacheMiss = "hit", "miss"

// entryTTL outlives the minute an entry belongs to.
const entryTTL = 2 * time.Minute

// versionTTL outlives every entry by far (kv.NewVersion).
const versionTTL = 24 * time.Hour

// A region's entries and version share the hash tag {wl:REGION}, so that
// on a Redis Cluster one MGET reads an entry and its version
// (kv.ReadVersioned); regions spread over the masters.
func (c *Cache) versionKey(region string) string { return c.kv.Key(kv.Tag("wl", region), "v") }

func (c *Cache) entryKey(q Query) string {
	return c.kv.Key(kv.Tag("wl", q.Region.String()), string(q.GroupBy), strconv.FormatInt(q.Start.Unix(), 10),
		strconv.FormatInt(q.End.Unix(), 10), strconv.FormatInt(q.Now.Unix()/60, 10))
}

// get returns the cached answer to q if it is current, and the region's
// version either way, in one round trip. Redis away: no answer, and the
// version "" — the figures are computed and not cached.
func (c *Cache) get(ctx context.Context, q Query) (*redpointv1.Workload, string, bool) {
	if c == nil {
		return nil, "", false
	}
	entry := &redpointv1.WorkloadCacheEntry{}
	version, current, err := c.kv.ReadVersioned(ctx, c.entryKey(q), c.versionKey(q.Region.String()), entry)
	if err != nil {
		return nil, "", false
	}
	if !current || entry.Workload == nil {
		c.looks.WithLabelValues(cacheMiss).Inc()
		return nil, version, true
	}
	c.looks.WithLabelValues(cacheHit).Inc()
	return entry.Workload, version, true
}

// put caches w, computed from figures read at version.
func (c *Cache) put(ctx context.Context, q Query, version string, w *redpointv1.Workload) {
	_ = c.kv.WriteVersioned(ctx, c.entryKey(q), &redpointv1.WorkloadCacheEntry{Version: version, Workload: w}, entryTTL)
}

// Changed makes every cached workload that covers region stale: the
// village's own, its township's, county's, city's and province's.
func (c *Cache) Changed(ctx context.Context, region string) error {
	code, err := regioncode.Parse(region)
	if err != nil {
		return nil // not a region: nothing cached covers it
	}
	pipe := c.kv.Client.Pipeline()
	for _, n := range []int{2, 4, 6, 9, 12} {
		a, err := regioncode.Pad(code.String()[:n])
		if err != nil {
			continue
		}
		kv.NewVersion(ctx, pipe, c.versionKey(a.String()), versionTTL)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("report.Cache: %w", err)
	}
	return nil
}

// Invalidator bumps the versions of the region of every change the
// workloads count: errands logged, edited and moved, ratings, follow-ups
// closed.
func (c *Cache) Invalidator() events.Handler {
	return events.Handler{
		Name: "workload-invalidate",
		Topics: []string{outbox.TopicErrandCreated, outbox.TopicErrandUpdated, outbox.TopicErrandTransitioned,
			outbox.TopicRatingCreated, outbox.TopicFollowUpClosed},
		Handle: func(ctx context.Context, _ *ent.Tx, ev events.Event) error {
			switch p := ev.Payload.(type) {
			case outbox.ErrandChange:
				return c.Changed(ctx, p.Region)
			case outbox.RatingCreated:
				return c.Changed(ctx, p.Region)
			case outbox.FollowUpClosed:
				return c.Changed(ctx, p.Region)
			}
			return ev.Unexpected()
		},
	}
}
