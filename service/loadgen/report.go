package loadgen

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Report is a run's outcome, per operation.
type Report struct {
	Elapsed time.Duration // the time operations were started in
	Ops     []OpStats
	// Writes is the check of the run's writes, when Config.CheckWrites.
	Writes *WriteCheck
}

// OpStats is one operation's outcome. Served counts 2xx answers and
// NotModified the 304s of a poll with nothing new; the latencies are
// theirs. Limited counts the 429s (the limits at work), Failed everything
// else (by status in Codes; 0: no answer), Dropped the starts skipped
// because MaxInFlight operations were still running. Retried counts the
// operations that needed more than one attempt, Retries the attempts
// beyond the first.
type OpStats struct {
	Op                                   string
	Served, NotModified, Limited, Failed int
	Dropped, Retried, Retries            int
	Codes                                map[int]int
	P50, P95, P99, Max                   time.Duration
}

type recorder struct {
	mu    sync.Mutex
	lat   map[string][]time.Duration
	stats map[string]*OpStats
}

func newRecorder() *recorder {
	return &recorder{lat: map[string][]time.Duration{}, stats: map[string]*OpStats{}}
}

func (r *recorder) op(op string) *OpStats {
	s := r.stats[op]
	if s == nil {
		s = &OpStats{Op: op, Codes: map[int]int{}}
		r.stats[op] = s
	}
	return s
}

func (r *recorder) add(op string, d time.Duration, code int, err error, retries int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.op(op)
	if retries > 0 {
		s.Retried++
		s.Retries += retries
	}
	switch {
	case err == nil && code/100 == 2:
		s.Served++
		r.lat[op] = append(r.lat[op], d)
	case err == nil && code == http.StatusNotModified:
		s.NotModified++
		r.lat[op] = append(r.lat[op], d)
	case err == nil && code == http.StatusTooManyRequests:
		s.Limited++
	default:
		s.Failed++
		s.Codes[code]++
	}
}

func (r *recorder) drop(op string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.op(op).Dropped++
}

func (r *recorder) report(elapsed time.Duration) Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := Report{Elapsed: elapsed}
	for op, s := range r.stats {
		lat := r.lat[op]
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		if n := len(lat); n > 0 {
			// nearest rank: the smallest latency at or above q of them
			at := func(q float64) time.Duration { return lat[max(0, int(math.Ceil(q*float64(n)))-1)] }
			s.P50, s.P95, s.P99, s.Max = at(0.50), at(0.95), at(0.99), lat[n-1]
		}
		out.Ops = append(out.Ops, *s)
	}
	sort.Slice(out.Ops, func(i, j int) bool { return out.Ops[i].Op < out.Ops[j].Op })
	return out
}

// Problems says what makes the run's figures untrustworthy: failures,
// starts dropped (the server or this machine could not keep up), or more
// than 1% of an operation refused by the limits (too few residents for
// the rate, or a server not trusting the harness's X-Forwarded-For).
func (r Report) Problems() []string {
	var out []string
	if c := r.Writes; c != nil && c.Lost+c.Duplicated > 0 {
		out = append(out, fmt.Sprintf("writes: %d lost, %d applied twice", c.Lost, c.Duplicated))
	}
	for _, s := range r.Ops {
		answered := s.Served + s.NotModified + s.Limited
		switch {
		case s.Failed > 0:
			out = append(out, fmt.Sprintf("%s: %d failed", s.Op, s.Failed))
		case s.Dropped > 0:
			out = append(out, fmt.Sprintf("%s: %d starts dropped at the in-flight cap", s.Op, s.Dropped))
		case answered > 0 && s.Limited*100 > answered:
			out = append(out, fmt.Sprintf("%s: %d of %d refused by rate limits (more --residents, or serve with --trusted-proxies 1)", s.Op, s.Limited, answered))
		}
	}
	return out
}

// ErrorBudget is the share of operations that may fail, retries
// included, in a run that counts as healthy: 0.1%, the 99.9% a city
// service is held to.
const ErrorBudget = 0.001

// Errors is how many operations failed after their retries, of how many
// started and not dropped. A 429 is the limits at work, not a failure.
func (r Report) Errors() (failed, started int) {
	for _, s := range r.Ops {
		failed += s.Failed
		started += s.Served + s.NotModified + s.Limited + s.Failed
	}
	return failed, started
}

// Print writes the report as a table, and its problems.
func (r Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tserved\t304\tper s\t429\tfailed\tdropped\tretried\tp50 ms\tp95 ms\tp99 ms\tmax ms\t")
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
	total := 0
	for _, s := range r.Ops {
		answered := s.Served + s.NotModified
		total += answered
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", s.Op, s.Served, s.NotModified, float64(answered)/r.Elapsed.Seconds(),
			s.Limited, s.Failed, s.Dropped, s.Retried, ms(s.P50), ms(s.P95), ms(s.P99), ms(s.Max))
	}
	_ = tw.Flush() // to the terminal, like the Fprint calls: nothing to act on
	fmt.Fprintf(w, "%d answered in %.1f s (%.1f per s)\n", total, r.Elapsed.Seconds(), float64(total)/r.Elapsed.Seconds())
	for _, s := range r.Ops {
		if len(s.Codes) > 0 {
			var parts []string
			for c, n := range s.Codes {
				parts = append(parts, fmt.Sprintf("%d×%d", n, c))
			}
			sort.Strings(parts)
			fmt.Fprintf(w, "%s failures by status: %s\n", s.Op, strings.Join(parts, ", "))
		}
	}
	failed, started := r.Errors()
	fmt.Fprintf(w, "error budget: %d of %d operations failed after retries (%.3f%%; the budget is %.1f%%, %.0f%% of it spent)\n",
		failed, started, 100*float64(failed)/float64(max(started, 1)), 100*ErrorBudget, 100*float64(failed)/float64(max(started, 1))/ErrorBudget)
	if c := r.Writes; c != nil {
		fmt.Fprintf(w, "writes: %d creates and %d transitions acknowledged; the server holds %d errands and %d transitions of the run; %d lost, %d applied twice, %d never answered\n",
			c.Creates, c.Transitions, c.Errands, c.TransitionsOnServer, c.Lost, c.Duplicated, c.Unknown)
		for _, d := range c.Details {
			fmt.Fprintln(w, "  ", d)
		}
	}
	for _, p := range r.Problems() {
		fmt.Fprintln(w, "problem:", p)
	}
}
