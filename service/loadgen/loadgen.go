// Package loadgen drives a running redpoint over REST with a day's mix of
// work — residents looking up and polling their errands, agents logging
// and moving errands, secretaries reading workloads — at a fixed rate, and
// reports each operation's throughput and latency.
//
// It is open loop: operations start on schedule whether or not earlier
// ones have finished (up to MaxInFlight), so a slow server shows as
// latency and dropped starts rather than as a politely lower rate. It
// needs the demo data and the demo WeChat fake (`serve --demo`), and, to
// spread residents over client addresses as in life, a server started
// with REDPOINT_TRUSTED_PROXIES=1 (it sends X-Forwarded-For). It writes:
// errands logged and moved count on the agents' leaderboard.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/changzhi/redpoint/service/demo"
)

// Config is one run.
type Config struct {
	// Targets are the REST base URLs, e.g. http://localhost:8080: one
	// server, or the API replicas behind one service, used in turn as a
	// load balancer would.
	Targets     []string
	Rate        float64       // operations started per second
	Duration    time.Duration // how long to keep starting them
	MaxInFlight int           // beyond it a due start is dropped and counted
	Agents      int           // demo agents to log in
	Residents   int           // simulated residents, each with an errand and an address
	Mix         map[string]int
	Seed        uint64
	// Retries is how many times a request that got no answer, or 408,
	// 503 or 504, is sent again (to the next target, with the same
	// request id), after Backoff, then twice that, and so on: the app's
	// policy (docs/api.md). Zero: 3 retries from 1 s. Negative: none.
	Retries int
	Backoff time.Duration
	// CheckWrites, after the run, compares what the server holds with the
	// creates and transitions it acknowledged: none lost, none twice.
	CheckWrites bool
	// AllowRemote lets the harness write to a server that is not on this
	// machine; without it only loopback targets are driven.
	AllowRemote bool
	Progress    io.Writer // set-up progress; nil: quiet

	started chan<- time.Time // told when the set-up is done and the load starts
}

// DefaultMix weighs the operations as a morning in a township does:
// residents check most, agents write, secretaries read reports.
var DefaultMix = map[string]int{
	OpLookup: 40, OpMyErrands: 20, OpGetErrand: 10, OpCreate: 10,
	OpTransition: 10, OpWorkload: 5, OpLeaderboard: 5,
}

// The operations.
const (
	OpLookup     = "lookup"     // POST /v1/errands:lookup, no login
	OpMyErrands  = "my_errands" // GET /v1/residents/me/errands, with If-None-Match
	OpGetErrand  = "get_errand" // an agent reads one of its errands
	OpCreate     = "create"     // an agent logs an errand
	OpTransition = "transition" // an agent starts or completes one
	// OpListErrands is what an agent does for get_errand or transition
	// while it has no open errand: its list's first page.
	OpListErrands = "list_errands"
	OpWorkload    = "workload"    // a secretary's township workload by agent
	OpLeaderboard = "leaderboard" // the city board's top 20
)

// Defaults fills what c leaves empty.
func (c Config) withDefaults() Config {
	if c.Rate <= 0 {
		c.Rate = 50
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 256
	}
	if c.Agents <= 0 {
		c.Agents = 10
	}
	if c.Residents <= 0 {
		c.Residents = 100
	}
	if len(c.Mix) == 0 {
		c.Mix = DefaultMix
	}
	switch {
	case c.Retries == 0:
		c.Retries = 3
	case c.Retries < 0:
		c.Retries = 0
	}
	if c.Backoff <= 0 {
		c.Backoff = time.Second
	}
	return c
}

// Run sets up the actors, then starts operations at cfg.Rate for
// cfg.Duration and waits for the last to finish.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	var ops []string
	for op, w := range cfg.Mix {
		if _, ok := runners[op]; !ok {
			return Report{}, fmt.Errorf("loadgen: unknown operation %q", op)
		}
		if w > 0 {
			ops = append(ops, op)
		}
	}
	sort.Strings(ops) // a seed gives the same sequence
	weights, total := make([]int, len(ops)), 0
	for i, op := range ops {
		weights[i] = cfg.Mix[op]
		total += weights[i]
	}
	if total == 0 {
		return Report{}, errors.New("loadgen: the mix weighs nothing")
	}
	if err := cfg.checkTargets(); err != nil {
		return Report{}, err
	}
	// A second's margin: the server's clock stamps the errands, and
	// the check lists those logged since.
	since := time.Now().Add(-time.Second).Truncate(time.Second)
	w, err := setUp(ctx, cfg, cfg.Progress)
	if err != nil {
		return Report{}, err
	}
	rec := newRecorder()
	rng := rand.New(rand.NewPCG(cfg.Seed, 1))
	var wg sync.WaitGroup
	inFlight := make(chan struct{}, cfg.MaxInFlight)
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	start := time.Now()
	if cfg.started != nil {
		cfg.started <- start
	}
	for next := start; next.Sub(start) < cfg.Duration; next = next.Add(interval) {
		if ctx.Err() != nil {
			break
		}
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
			if ctx.Err() != nil {
				break
			}
		}
		pick := rng.IntN(total)
		op := ops[0]
		for i, wt := range weights {
			if pick < wt {
				op = ops[i]
				break
			}
			pick -= wt
		}
		select {
		case inFlight <- struct{}{}:
		default:
			rec.drop(op)
			continue
		}
		seed := rng.Uint64()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-inFlight }()
			runners[op](ctx, w, rand.New(rand.NewPCG(seed, 2)), rec)
		}()
	}
	// Rates are over the time operations were started in; the last ones
	// are waited for, but a Ctrl-C cuts them short uncounted.
	ran := min(time.Since(start), cfg.Duration)
	wg.Wait()
	report := rec.report(ran)
	if cfg.CheckWrites && ctx.Err() == nil {
		check, err := w.checkWrites(ctx, since)
		if err != nil {
			return report, fmt.Errorf("loadgen: checking the writes: %w", err)
		}
		report.Writes = &check
	}
	return report, ctx.Err()
}

// checkTargets refuses to write to another machine unless told to.
func (c Config) checkTargets() error {
	if len(c.Targets) == 0 {
		return errors.New("loadgen: no target")
	}
	for _, t := range c.Targets {
		u, err := url.Parse(t)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("loadgen: target %q is not an http(s) URL", t)
		}
		if c.AllowRemote {
			continue
		}
		host := u.Hostname()
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("loadgen: %s is not this machine, and the harness logs and moves errands there; allow it explicitly", host)
		}
	}
	return nil
}

// The secretaries whose township workloads the harness reads.
var secretaries = []string{demo.GuhanSecretaryPhone, demo.DanzhuSecretaryPhone}
