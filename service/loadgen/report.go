package loadgen

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Report is a run's outcome, per operation.
type Report struct {
	Elapsed time.Duration
	Dropped int // starts skipped because MaxInFlight were still running
	Ops     []OpStats
}

// OpStats is one operation's count and latencies. Served counts 2xx and
// 304; Limited the 429s (the limits at work); Failed everything else,
// by status in Codes (0: no answer).
type OpStats struct {
	Op                    string
	Served, Limited, Fail int
	Codes                 map[int]int
	P50, P95, P99, Max    time.Duration
}

type recorder struct {
	mu    sync.Mutex
	lat   map[string][]time.Duration
	stats map[string]*OpStats
}

func newRecorder() *recorder {
	return &recorder{lat: map[string][]time.Duration{}, stats: map[string]*OpStats{}}
}

func (r *recorder) add(op string, d time.Duration, code int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats[op]
	if s == nil {
		s = &OpStats{Op: op, Codes: map[int]int{}}
		r.stats[op] = s
	}
	switch {
	case err == nil && statusOK(code):
		s.Served++
		r.lat[op] = append(r.lat[op], d)
	case err == nil && code == http.StatusTooManyRequests:
		s.Limited++
	default:
		s.Fail++
		s.Codes[code]++
	}
}

func (r *recorder) report(elapsed time.Duration, dropped int) Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := Report{Elapsed: elapsed, Dropped: dropped}
	for op, s := range r.stats {
		lat := r.lat[op]
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		if n := len(lat); n > 0 {
			at := func(q float64) time.Duration { return lat[min(n-1, int(q*float64(n)))] }
			s.P50, s.P95, s.P99, s.Max = at(0.50), at(0.95), at(0.99), lat[n-1]
		}
		out.Ops = append(out.Ops, *s)
	}
	sort.Slice(out.Ops, func(i, j int) bool { return out.Ops[i].Op < out.Ops[j].Op })
	return out
}

// Failed is how many operations got neither an answer nor a 429.
func (r Report) Failed() int {
	n := 0
	for _, s := range r.Ops {
		n += s.Fail
	}
	return n
}

// Print writes the report as a table.
func (r Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tserved\tper s\t429\tfailed\tp50 ms\tp95 ms\tp99 ms\tmax ms\t")
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
	total := 0
	for _, s := range r.Ops {
		total += s.Served
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%d\t%d\t%s\t%s\t%s\t%s\t\n", s.Op, s.Served, float64(s.Served)/r.Elapsed.Seconds(),
			s.Limited, s.Fail, ms(s.P50), ms(s.P95), ms(s.P99), ms(s.Max))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d served in %.1f s (%.1f per s); %d starts dropped at the in-flight cap\n",
		total, r.Elapsed.Seconds(), float64(total)/r.Elapsed.Seconds(), r.Dropped)
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
}
