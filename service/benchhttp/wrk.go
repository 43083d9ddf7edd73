package benchhttp

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run measured.
type wrkResult struct {
	Rate     float64 // requests per second
	P50, P99 time.Duration
	// Bad counts answers other than 2xx/3xx and socket errors: a run with
	// any is not a measurement of the read.
	Bad int
}

// parseWrk reads wrk --latency's report.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveRate, have50, have99 bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("wrk: rate %q: %w", f[1], err)
			}
			r.Rate, haveRate = v, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			d, err := time.ParseDuration(f[1]) // wrk's units: us, ms, s, m, h
			if err != nil {
				return r, fmt.Errorf("wrk: latency %q: %w", f[1], err)
			}
			if f[0] == "50%" {
				r.P50, have50 = d, true
			} else {
				r.P99, have99 = d, true
			}
		case strings.HasPrefix(sc.Text(), "  Non-2xx or 3xx responses:"):
			n, err := strconv.Atoi(f[len(f)-1])
			if err != nil {
				return r, fmt.Errorf("wrk: %q: %w", sc.Text(), err)
			}
			r.Bad += n
		case len(f) > 2 && f[0] == "Socket" && f[1] == "errors:":
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 3; i < len(f); i += 2 {
				n, err := strconv.Atoi(strings.TrimSuffix(f[i], ","))
				if err != nil {
					return r, fmt.Errorf("wrk: %q: %w", sc.Text(), err)
				}
				r.Bad += n
			}
		}
	}
	if !haveRate || !have50 || !have99 {
		return r, fmt.Errorf("wrk: no Requests/sec or latency distribution in its output:\n%s", out)
	}
	return r, nil
}

// runWrk loads url from core 1 with the run's connections, once.
func runWrk(ctx context.Context, url string, header []string, cfg Config) (wrkResult, error) {
	args := []string{"-c", "1", "wrk", "-t1", fmt.Sprintf("-c%d", cfg.Conns),
		fmt.Sprintf("-d%ds", int(cfg.Duration.Seconds())), "--latency"}
	for _, h := range header {
		args = append(args, "-H", h)
	}
	out, err := exec.CommandContext(ctx, "taskset", append(args, url)...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", url, err, out)
	}
	return parseWrk(string(out))
}
