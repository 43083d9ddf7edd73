package report_test

import (
	"context"
	"sort"
	"testing"
	"time"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/report"
)

// BenchmarkWorkload measures, on the full demo (about 23,000 errands),
// a township's month by agent and the city's month by county, with
// GetErrand as the baseline of the same run; it reports p50 and p95 in
// milliseconds. Targets: township ≤ 5 × GetErrand; city < 1 s. The
// *_computed cases make every call miss the cache (a change in the
// region before each), so they time the SQL.
func BenchmarkWorkload(b *testing.B) {
	s := apptest.Start(b, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)},
		Configure: func(a *app.Options) { a.NoWorkers = true }})
	ctx := s.As(b, context.Background(), demo.CityAdminPhone)
	reports := redpointv1.NewReportServiceClient(s.GRPC)
	errands := redpointv1.NewErrandServiceClient(s.GRPC)
	list, err := errands.ListErrands(ctx, &redpointv1.ListErrandsRequest{PageSize: 1})
	if err != nil {
		b.Fatal(err)
	}
	township := func() error {
		_, err := reports.GetWorkload(ctx, &redpointv1.GetWorkloadRequest{Name: "regions/140423100000/workload", Period: "2026-11", GroupBy: "AGENT"})
		return err
	}
	city := func() error {
		_, err := reports.GetWorkload(ctx, &redpointv1.GetWorkloadRequest{Name: "regions/140400000000/workload", Period: "2026-11", GroupBy: "CHILD_REGION"})
		return err
	}
	cache := report.NewCache(s.App.KV, nil)
	cases := []struct {
		name string
		call func() error
	}{
		{"get_errand", func() error {
			_, err := errands.GetErrand(ctx, &redpointv1.GetErrandRequest{Name: list.Errands[0].Name})
			return err
		}},
		{"township_by_agent", township},
		{"township_by_agent_computed", func() error {
			if err := cache.Changed(ctx, "140423100201"); err != nil {
				return err
			}
			return township()
		}},
		{"city_by_county", city},
		{"city_by_county_computed", func() error {
			if err := cache.Changed(ctx, "140423100201"); err != nil {
				return err
			}
			return city()
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if err := c.call(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95_ms")
		})
	}
}
