package report

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/regioncode"
)

// A cached workload is served until a change lands in its region or its
// minute passes; changes elsewhere leave it be. On a Redis Cluster too,
// which refuses an MGET of an entry and its version in two slots (CROSSSLOT).
func TestCacheServesUntilItsRegionChanges(t *testing.T) {
	t.Run("the tests' Redis", func(t *testing.T) { testCacheServesUntilItsRegionChanges(t, kvtest.Open(t)) })
	t.Run("a Redis Cluster", func(t *testing.T) {
		node := kvtest.StartClusterNode(t)
		k, err := kv.Open(context.Background(), node.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { kvtest.Close(t, k) })
		testCacheServesUntilItsRegionChanges(t, k)
	})
}

func testCacheServesUntilItsRegionChanges(t *testing.T, k *kv.KV) {
	c := NewCache(k, nil)
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 1, 2, 3, 0, time.UTC)
	q := Query{Region: regioncode.Code("140423100000"), Start: now.AddDate(0, 0, -29), End: now.AddDate(0, 0, 1), Now: now, GroupBy: ByAgent}
	cached := func() bool {
		w, version, ok := c.get(ctx, q)
		if !ok {
			t.Fatal("Redis unavailable")
		}
		if w == nil {
			c.put(ctx, q, version, &redpointv1.Workload{DisplayName: "古韩镇"})
			return false
		}
		return w.DisplayName == "古韩镇"
	}
	changed := func(region string) func() {
		return func() {
			if err := c.Changed(ctx, region); err != nil {
				t.Fatal(err)
			}
		}
	}
	steps := []struct {
		name   string
		before func()
		want   bool
	}{
		{"first look", func() {}, false},
		{"second look", func() {}, true},
		{"a change in another county", changed("140428100201"), true},
		{"a change in another township of the county", changed("140423101201"), true},
		{"a change in one of its villages", changed("140423100201"), false},
		{"the look after", func() {}, true},
		{"the next minute", func() { q.Now = q.Now.Add(time.Minute) }, false},
	}
	for _, s := range steps {
		s.before()
		if got := cached(); got != s.want {
			t.Errorf("%s: cached %v, want %v", s.name, got, s.want)
		}
	}
	// The county, city and province answers go stale with a village of
	// theirs too.
	for _, region := range []regioncode.Code{"140423000000", "140400000000", "140000000000"} {
		wider := q
		wider.Region = region
		_, v1, _ := c.get(ctx, wider)
		changed("140423100201")()
		if _, v2, _ := c.get(ctx, wider); v1 == v2 {
			t.Errorf("a change in a village left %s's version as it was", region)
		}
	}
}

// The README greps /metrics for the cache counters on a fresh start:
// both results are there at zero before the first workload is asked for.
func TestCacheCountersStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewCache(nil, reg)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "redpoint_workload_cache_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				got[l.GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if len(got) != 2 || got["hit"] != 0 || got["miss"] != 0 {
		t.Errorf("redpoint_workload_cache_total on a fresh registry: %v, want hit and miss at 0", got)
	}
}
