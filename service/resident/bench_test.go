package resident_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/resident"
	"github.com/changzhi/redpoint/service/testutil"
)

// BenchmarkLookup measures the cached public lookup over REST against a
// bare net/http handler answering the same JSON on the same machine: the
// issue's target is ≥ 0.40 of the bare handler's rate. Run with
// -cpu 2 (the server and the client share two cores).
func BenchmarkLookup(b *testing.B) {
	s := apptest.Start(b, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 20},
		Configure: func(a *app.Options) {
			a.NoWorkers = true
			a.LookupLimits = resident.LookupLimits{PerIP: 1 << 30, PerCode: 1 << 30, Window: time.Minute, PerCodePerDay: 1 << 30}
		}})
	agent := s.As(b, context.Background(), demo.GuhanAgentPhone)
	x := logErrand(b, s, agent, "bench-1", "李四", "13912348765")
	body := []byte(`{"trackingCode":"` + x.TrackingCode + `","phoneLast4":"8765"}`)
	_, answer := s.Do(b, "", http.MethodPost, "/v1/errands:lookup", string(body))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	post := func(b *testing.B, url string) {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	bare := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	})}
	go func() { _ = bare.Serve(lis) }()
	defer testutil.Close(b, bare)
	targets := []struct{ name, url string }{
		{"redpoint", s.BaseURL + "/v1/errands:lookup"},
		{"bare_net_http", "http://" + lis.Addr().String() + "/v1/errands:lookup"},
	}
	// One client at a time: the rate is the inverse of the latency.
	for _, tg := range targets {
		b.Run(tg.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				post(b, tg.url)
			}
		})
	}
	// Eight clients at once: the rate is what the two cores can serve.
	for _, tg := range targets {
		b.Run(tg.name+"_8_clients", func(b *testing.B) {
			b.SetParallelism(4) // × -cpu 2
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					post(b, tg.url)
				}
			})
		})
	}
}
