package loadgen_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/loadgen"
	"github.com/changzhi/redpoint/service/report"
)

// A short run against a demo server: every operation of the mix is
// served, none fails, and the report prints them all.
func TestRunAgainstDemo(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 200},
		Configure: func(a *app.Options) { a.TrustedProxies = 1 }})
	r, err := loadgen.Run(context.Background(), loadgen.Config{Targets: []string{s.BaseURL}, Rate: 60, Duration: 2 * time.Second,
		Agents: 3, Residents: 8, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r.Print(&out)
	served := map[string]int{}
	for _, op := range r.Ops {
		served[op.Op] = op.Served
	}
	for op := range loadgen.DefaultMix {
		if served[op] == 0 {
			t.Errorf("%s never served\n%s", op, out.String())
		}
		if !strings.Contains(out.String(), op) {
			t.Errorf("the report leaves out %s\n%s", op, out.String())
		}
	}
	if p := r.Problems(); len(p) != 0 {
		t.Errorf("problems %q\n%s", p, out.String())
	}
}

// Without the server trusting its X-Forwarded-For, every resident is one
// address: the limits refuse most lookups, and the report says so.
func TestReportSaysWhenLimitsSkewIt(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 20}})
	r, err := loadgen.Run(context.Background(), loadgen.Config{Targets: []string{s.BaseURL}, Rate: 100, Duration: time.Second,
		Agents: 2, Residents: 4, Mix: map[string]int{loadgen.OpLookup: 1}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if p := r.Problems(); len(p) != 1 || !strings.Contains(p[0], "refused by rate limits") {
		t.Errorf("problems %q, want the lookups refused by rate limits", p)
	}
}

func TestRefusesAnotherMachineUnlessAllowed(t *testing.T) {
	for _, target := range []string{"http://10.1.2.3:8080", "https://redpoint.example.cn", "localhost:8080"} {
		if _, err := loadgen.Run(context.Background(), loadgen.Config{Targets: []string{target}}); err == nil {
			t.Errorf("%s: driven without --allow-remote", target)
		}
	}
}

func TestUnknownOperation(t *testing.T) {
	if _, err := loadgen.Run(context.Background(), loadgen.Config{Targets: []string{"http://127.0.0.1:1"}, Mix: map[string]int{"dance": 1}}); err == nil {
		t.Error("a mix naming an unknown operation ran")
	}
}

// A run over three targets as over API replicas behind a balancer: one
// refuses connections (a replica that is down), one commits every third
// write and then drops the connection unanswered (a replica killed
// between its commit and its answer), one is healthy. The harness retries
// as the app does, on the next target with the same request id, so every
// operation is answered, and the check of the server's holdings finds no
// write lost and none applied twice.
func TestRetriesOverReplicasLoseAndDoubleNothing(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 50},
		Configure: func(a *app.Options) { a.TrustedProxies = 1 }})
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downURL := "http://" + down.Addr().String()
	_ = down.Close()
	backend, err := url.Parse(s.BaseURL)
	if err != nil {
		t.Fatal(err)
	}
	var writes, dropped atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(backend)
	dying := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || writes.Add(1)%3 != 0 {
			proxy.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, r) // the write commits...
		dropped.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close() // ...and its answer never leaves
		}
	}))
	defer dying.Close()

	r, err := loadgen.Run(context.Background(), loadgen.Config{Targets: []string{downURL, dying.URL, s.BaseURL},
		Rate: 60, Duration: 2 * time.Second, Agents: 3, Residents: 6, Seed: 1, Backoff: 10 * time.Millisecond,
		Mix: map[string]int{loadgen.OpCreate: 1, loadgen.OpTransition: 1, loadgen.OpLookup: 1}, CheckWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r.Print(&out)
	t.Logf("%d answers dropped after their commit\n%s", dropped.Load(), out.String())
	if dropped.Load() == 0 {
		t.Fatalf("no answer was dropped: the test tests nothing\n%s", out.String())
	}
	c := r.Writes
	if c == nil {
		t.Fatalf("no write check\n%s", out.String())
	}
	if c.Lost != 0 || c.Duplicated != 0 || c.Unknown != 0 {
		t.Errorf("writes lost %d, twice %d, unanswered %d, want none\n%s", c.Lost, c.Duplicated, c.Unknown, out.String())
	}
	if c.Creates == 0 || c.Transitions == 0 || c.Errands < c.Creates {
		t.Errorf("creates %d, transitions %d, errands on the server %d: the run wrote too little to check\n%s", c.Creates, c.Transitions, c.Errands, out.String())
	}
	retried := 0
	for _, op := range r.Ops {
		retried += op.Retried
	}
	if failed, _ := r.Errors(); failed != 0 || retried == 0 {
		t.Errorf("%d operations failed and %d were retried, want none failed and some retried\n%s", failed, retried, out.String())
	}
	if !strings.Contains(out.String(), "0 lost, 0 applied twice") || !strings.Contains(out.String(), "error budget: 0 of") {
		t.Errorf("the report leaves out the write check or the error budget\n%s", out.String())
	}
}

// The reads harness times every read, and its computed workloads are
// computed: each of their calls misses the cache (the server's counter
// says so), while the cached ones hit it.
func TestMeasureReads(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 200},
		Configure: func(a *app.Options) { a.TrustedProxies = 1; a.NoWorkers = true }})
	misses := func() int {
		resp, err := http.Get(s.AdminURL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, `redpoint_workload_cache_total{result="miss"} `); ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
		}
		t.Fatal("no workload cache counter")
		return 0
	}
	before := misses()
	const samples = 9 // 11 lookups: past the 10 a minute one tracking code may have
	stats, err := loadgen.MeasureReads(context.Background(), loadgen.Reads{Target: s.BaseURL, Samples: samples,
		Stale:    report.NewCache(s.App.KV, nil).Changed,
		Township: demo.GuhanSecretaryPhone, County: demo.CountyAdminPhone, City: demo.CityAdminPhone, Agent: demo.GuhanAgentPhone})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	loadgen.PrintReads(&out, stats)
	want := []string{"workload_township_computed", "workload_township_cached", "workload_county_computed", "workload_county_cached",
		"workload_city_computed", "workload_city_cached", "agent_list_first_page", "agent_sync_first", "agent_sync_next",
		"leaderboard_top50_and_rank", "lookup"}
	if len(stats) != len(want) {
		t.Fatalf("%d reads timed, want %d\n%s", len(stats), len(want), out.String())
	}
	for i, st := range stats {
		if st.Read != want[i] || st.Samples != samples || st.P50 <= 0 || st.P99 < st.P50 {
			t.Errorf("read %d: %+v, want %s with %d samples", i, st, want[i], samples)
		}
	}
	// Three computed reads, each called samples+2 times, all misses; the
	// cached ones, warmed by their computed twin, none.
	if got := misses() - before; got != 3*(samples+2) {
		t.Errorf("%d cache misses, want %d\n%s", got, 3*(samples+2), out.String())
	}
}
