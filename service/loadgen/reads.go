package loadgen

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Reads measures, one call at a time, the reads people repeat all day, as
// their users make them over REST: the workloads of a township, a county,
// a city and (with a province admin) a province, each computed (its
// cache made stale first) and cached; an agent's first list page, first
// sync and next sync; the leaderboard's top 50 with the agent's own rank;
// and a resident's lookup. Run at each scale with the same settings, the
// figures compare scales (docs/scaling.md).
type Reads struct {
	Target  string
	Samples int // per read; 30 when 0
	// Stale makes every cached workload covering region stale, as a change
	// inside it does: report.Cache.Changed over the deployment's Redis.
	Stale func(ctx context.Context, region string) error
	// The accounts, by phone (all with the demo password): a township
	// secretary, a county and a city admin, an agent; Province (a
	// CITY_ADMIN of a province) is measured when set.
	Township, County, City, Province, Agent string
}

// ReadStat is one read's latencies over its samples.
type ReadStat struct {
	Read               string
	Samples            int
	P50, P95, P99, Max time.Duration
}

// MeasureReads logs the accounts in and times each read.
func MeasureReads(ctx context.Context, r Reads) ([]ReadStat, error) {
	if r.Samples <= 0 {
		r.Samples = 30
	}
	cfg := Config{Targets: []string{r.Target}}.withDefaults()
	if err := cfg.checkTargets(); err != nil {
		return nil, err
	}
	w := &world{cfg: cfg, http: &http.Client{Timeout: 2 * time.Minute}, lb: newBalancer(cfg.Targets), ledger: newLedger(),
		run: fmt.Sprintf("%x", time.Now().UnixNano())}
	type login struct{ who, phone string }
	logins := []*login{{who: "township", phone: r.Township}, {who: "county", phone: r.County}, {who: "city", phone: r.City}, {who: "agent", phone: r.Agent}}
	if r.Province != "" {
		logins = append(logins, &login{who: "province", phone: r.Province})
	}
	as := map[string]*staff{}
	for i, l := range logins {
		s, err := w.login(ctx, l.phone, address(3, i))
		if err != nil {
			return nil, fmt.Errorf("loadgen: %s: %w", l.who, err)
		}
		as[l.who] = s
	}
	var out []ReadStat
	measure := func(name string, before func() error, call func() (int, error)) error {
		lat := make([]time.Duration, 0, r.Samples)
		for range r.Samples + 2 { // two to warm up, uncounted
			if before != nil {
				if err := before(); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
			began := time.Now()
			code, err := call()
			d := time.Since(began)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if code != http.StatusOK {
				return fmt.Errorf("%s: HTTP %d", name, code)
			}
			lat = append(lat, d)
		}
		out = append(out, stat(name, lat[2:]))
		return nil
	}
	get := func(s *staff, path string) func() (int, error) {
		return func() (int, error) {
			code, msg, err := w.do(ctx, http.MethodGet, path, s.token, s.addr, "", nil, nil)
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("HTTP %d %s", code, msg)
			}
			return code, err
		}
	}
	for _, who := range []string{"township", "county", "city", "province"} {
		s := as[who]
		if s == nil {
			continue
		}
		groupBy := "CHILD_REGION"
		if who == "township" {
			groupBy = "AGENT"
		}
		read := get(s, "/v1/"+s.region+"/workload?groupBy="+groupBy)
		region := strings.TrimPrefix(s.region, "regions/")
		stale := func() error { return r.Stale(ctx, region) }
		if r.Stale != nil {
			if err := measure("workload_"+who+"_computed", stale, read); err != nil {
				return out, err
			}
		}
		if err := measure("workload_"+who+"_cached", nil, read); err != nil {
			return out, err
		}
	}
	agent := as["agent"]
	if err := measure("agent_list_first_page", nil, get(agent, "/v1/errands?pageSize=50")); err != nil {
		return out, err
	}
	if err := measure("agent_sync_first", nil, get(agent, "/v1/errands:sync?pageSize=50")); err != nil {
		return out, err
	}
	var first struct {
		SyncToken string `json:"syncToken"`
	}
	if err := w.expect(ctx, "first sync", http.MethodGet, "/v1/errands:sync?pageSize=500", agent.token, agent.addr, nil, &first); err != nil {
		return out, err
	}
	if err := measure("agent_sync_next", nil, get(agent, "/v1/errands:sync?syncToken="+url.QueryEscape(first.SyncToken))); err != nil {
		return out, err
	}
	city := "regions/" + strings.TrimPrefix(agent.region, "regions/")[:4] + "00000000"
	top, rank := get(agent, "/v1/"+city+"/leaderboard?pageSize=50"), get(agent, "/v1/"+agent.point+"/rank")
	if err := measure("leaderboard_top50_and_rank", nil, func() (int, error) {
		if code, err := top(); err != nil || code != http.StatusOK {
			return code, err
		}
		return rank()
	}); err != nil {
		return out, err
	}
	// A tracking code is looked up at most 10 times a minute: an errand
	// to look up for each call, as each resident looks up their own.
	type code struct{ tracking, last4 string }
	var codes []code
	for i := range r.Samples + 2 {
		res := &resident{addr: address(3, 100+i), phone: fmt.Sprintf("199%08d", i)}
		status, x, err := w.create(ctx, agent, res)
		if err != nil {
			return out, fmt.Errorf("an errand to look up: %w", err)
		}
		if status != http.StatusOK {
			return out, fmt.Errorf("an errand to look up: HTTP %d", status)
		}
		codes = append(codes, code{x, res.phone[7:]})
	}
	n := 0
	if err := measure("lookup", nil, func() (int, error) {
		c := codes[n]
		n++ // and from an address of its own: the limits count per address too
		status, _, err := w.do(ctx, http.MethodPost, "/v1/errands:lookup", "", address(4, n), "", map[string]string{"trackingCode": c.tracking, "phoneLast4": c.last4}, nil)
		return status, err
	}); err != nil {
		return out, err
	}
	return out, nil
}

func stat(name string, lat []time.Duration) ReadStat {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	n := len(lat)
	at := func(q float64) time.Duration { return lat[max(0, int(math.Ceil(q*float64(n)))-1)] }
	return ReadStat{Read: name, Samples: n, P50: at(0.5), P95: at(0.95), P99: at(0.99), Max: lat[n-1]}
}

// PrintReads writes the reads' figures as a table.
func PrintReads(w io.Writer, stats []ReadStat) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "read\tsamples\tp50 ms\tp95 ms\tp99 ms\tmax ms\t")
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }
	for _, s := range stats {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t\n", s.Read, s.Samples, ms(s.P50), ms(s.P95), ms(s.P99), ms(s.Max))
	}
	_ = tw.Flush()
}
