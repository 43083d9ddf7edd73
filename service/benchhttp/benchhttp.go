// Package benchhttp measures redpoint's hot reads side by side with a bare
// net/http server that sends the very same bytes (issue 15): the ratio of
// the two rates is what the server's work per read costs, on any machine.
//
// Both run on core 0 with GOMAXPROCS=1 and are loaded in turn from core 1
// (wrk for REST, a Go caller for gRPC), so the figures compare one core's
// worth of serving. It starts its own demo server on a fresh data dir.
package benchhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/changzhi/redpoint/service/demo"
)

// Config is one run of the harness.
type Config struct {
	Server   string        // the redpoint binary
	Self     string        // this program: run again as `reference` and `grpc-load`
	Duration time.Duration // each load run (whole seconds: wrk's unit)
	Runs     int           // runs of each load; the best counts
	Conns    int           // wrk's connections and the gRPC callers
	Gzip     bool          // send Accept-Encoding: gzip
	Progress io.Writer     // what it is doing; nil: quiet

	loadAverage string // the machine's, from /proc, as the run began
}

// read is one measured request and what came of it.
type read struct {
	name, path string
	header     []string // "Name: value", for wrk -H and the capture
	answer     Answer
	wire       int // bytes of the whole answer on the wire
	server     wrkResult
	reference  wrkResult
}

// Run measures the reads and the gRPC pair and prints the table to out.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	for _, tool := range []string{"wrk", "taskset"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("benchhttp: %s is not on PATH; the harness needs wrk and taskset: apt-get install wrk util-linux", tool)
		}
	}
	if cfg.Duration < time.Second || cfg.Runs < 1 || cfg.Conns < 1 {
		return errors.New("benchhttp: the duration must be at least 1s, runs and connections at least 1")
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		cfg.loadAverage = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	tmp, err := os.MkdirTemp("", "redpoint-bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	addr := func() string { return loopbackAddr(&err) }
	httpAddr, grpcAddr, adminAddr := addr(), addr(), addr()
	if err != nil {
		return err
	}

	fmt.Fprintf(cfg.Progress, "starting %s serve --demo (seeding takes 10-30 s) …\n", cfg.Server)
	srv, err := startPinned("0", filepath.Join(tmp, "server.log"), cfg.Server, "serve", "--demo", "--data-dir", filepath.Join(tmp, "data"),
		"--http-addr", httpAddr, "--grpc-addr", grpcAddr, "--admin-addr", adminAddr, "--log-level", "warn")
	if err != nil {
		return err
	}
	defer srv.stop()
	base := "http://" + httpAddr
	if err := srv.waitFor(ctx, base+"/healthz", 5*time.Minute); err != nil {
		return err
	}
	s, err := logIn(ctx, base)
	if err != nil {
		return err
	}
	reads, err := capturedReads(ctx, base, s, cfg.Gzip)
	if err != nil {
		return err
	}
	refAddr := addr()
	if err != nil {
		return err
	}
	// Both stay up on core 0 and are loaded in turn: the idle one costs
	// next to nothing, and the turns share the machine's ups and downs.
	ref, err := startReference(ctx, cfg, tmp, refAddr, reads)
	if err != nil {
		return err
	}
	defer ref.stop()
	if err := measure(ctx, cfg, base, "http://"+refAddr, reads); err != nil {
		return err
	}
	rss := vmRSS(srv.cmd.Process.Pid)
	fmt.Fprintf(cfg.Progress, "gRPC GetErrand and Health/Check …\n")
	rates, err := grpcRates(ctx, cfg, grpcAddr, s.agent, "errands/"+s.errand)
	if err != nil {
		return err
	}
	if n := printTable(out, cfg, reads, rss, rates); n > 0 {
		return fmt.Errorf("benchhttp: the figures are not to be trusted: %d problems", n)
	}
	return nil
}

// session is who the reads are made as, and the errand they read.
type session struct {
	agent, resident string // access tokens
	errand          string // its id: errands/{id}, residents/me/errands/{id}
}

// logIn logs the demo's agent and resident in and gives the resident more
// than a page of errands; the errand read is one of theirs in progress.
func logIn(ctx context.Context, base string) (session, error) {
	var s session
	var agent, resident struct{ AccessToken string }
	var mine struct {
		Errands []struct{ Name, State string }
	}
	err := api(ctx, http.MethodPost, base+"/v1/auth:login", "", map[string]string{"phone": demo.GuhanAgentPhone, "password": demo.Password}, &agent)
	if err == nil {
		err = api(ctx, http.MethodPost, base+"/v1/residents:wechatLogin", "", map[string]string{"code": "demo-bench"}, &resident)
	}
	if err == nil {
		err = api(ctx, http.MethodPost, base+"/v1/residents/me:bindPhone", resident.AccessToken, map[string]string{"phoneCode": "phone-" + demo.ResidentPhone}, nil)
	}
	for i := range 5 { // the demo gives the resident seven errands; a full page takes ten
		if err == nil {
			body := map[string]any{"errandType": "errandTypes/SI-PENSION-CERT", "residentName": "申秀英", "residentPhone": demo.ResidentPhone,
				"residentIdNumber": "140423195603120029", "materials": []string{"居民身份证"}, "channel": "ERRAND_CHANNEL_HOME_VISIT"}
			err = api(ctx, http.MethodPost, fmt.Sprintf("%s/v1/errands?requestId=bench-%d", base, i), agent.AccessToken, body, nil)
		}
	}
	if err == nil {
		err = api(ctx, http.MethodGet, base+"/v1/residents/me/errands?pageSize=10", resident.AccessToken, nil, &mine)
	}
	if err == nil && len(mine.Errands) < 10 {
		err = fmt.Errorf("benchhttp: the resident's first page has %d errands, want 10", len(mine.Errands))
	}
	if err != nil {
		return s, err
	}
	s = session{agent: agent.AccessToken, resident: resident.AccessToken, errand: mine.Errands[0].Name}
	for _, e := range mine.Errands {
		if e.State == "ERRAND_STATE_IN_PROGRESS" { // one with a history to show
			s.errand = e.Name
			break
		}
	}
	s.errand = strings.TrimPrefix(s.errand, "residents/me/errands/")
	return s, nil
}

// capturedReads are the reads, each with the server's answer to it: a
// 200, and a 304 to its ETag where the route gives one.
func capturedReads(ctx context.Context, base string, s session, gzip bool) ([]*read, error) {
	asAgent, asResident := []string{"Authorization: Bearer " + s.agent}, []string{"Authorization: Bearer " + s.resident}
	reads := []*read{
		{name: "resident list", path: "/v1/residents/me/errands?pageSize=10", header: asResident},
		{name: "resident errand", path: "/v1/residents/me/errands/" + s.errand, header: asResident},
		{name: "agent errand", path: "/v1/errands/" + s.errand, header: asAgent},
		{name: "agent list IN_PROGRESS", path: "/v1/errands?filter=state%3DIN_PROGRESS", header: asAgent},
		{name: "region", path: "/v1/regions/140423100000"},
		{name: "service point", path: "/v1/servicePoints/1"},
		{name: "errand types", path: "/v1/errandTypes"},
	}
	var all []*read
	for _, r := range reads {
		if gzip {
			r.header = append(r.header[:len(r.header):len(r.header)], "Accept-Encoding: gzip")
		}
		if err := r.capture(ctx, base, http.StatusOK); err != nil {
			return nil, err
		}
		r.name += " 200"
		all = append(all, r)
		if etag := r.answer.Header.Get("ETag"); etag != "" {
			nm := &read{name: strings.TrimSuffix(r.name, "200") + "304", path: r.path, header: append(r.header[:len(r.header):len(r.header)], "If-None-Match: "+etag)}
			if err := nm.capture(ctx, base, http.StatusNotModified); err != nil {
				return nil, err
			}
			all = append(all, nm)
		}
	}
	return all, nil
}

// measure loads each read on redpoint and on the reference in turn, run
// after run, so that a neighbour's burst on the machine falls on both
// alike; the best run of each counts, and a run with errors stays seen.
func measure(ctx context.Context, cfg Config, base, refBase string, reads []*read) error {
	for _, r := range reads {
		fmt.Fprintf(cfg.Progress, "%s …\n", r.name)
		for range cfg.Runs {
			for _, m := range []struct {
				base string
				best *wrkResult
			}{{base, &r.server}, {refBase, &r.reference}} {
				res, err := runWrk(ctx, m.base+r.path, r.header, cfg)
				if err != nil {
					return err
				}
				if res.Bad > 0 || (m.best.Bad == 0 && res.Rate > m.best.Rate) {
					*m.best = res
				}
			}
		}
	}
	return nil
}

// capture makes the read once and keeps the answer as sent, counting
// every byte of it that crossed the connection; another status than want
// is an error.
func (r *read) capture(ctx context.Context, base string, want int) error {
	var wire atomic.Int64
	tr := &http.Transport{DisableCompression: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		return countingConn{c, &wire}, err
	}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+r.path, nil)
	if err != nil {
		return err
	}
	for _, h := range r.header {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	for _, h := range []string{"Date", "Content-Length", "Transfer-Encoding", "Connection"} {
		resp.Header.Del(h) // net/http writes these itself
	}
	r.answer, r.wire = Answer{Status: resp.StatusCode, Header: resp.Header, Body: body}, int(wire.Load())
	if resp.StatusCode != want {
		return fmt.Errorf("benchhttp: %s %v: HTTP %d, want %d: %.300s", r.path, r.header, resp.StatusCode, want, body)
	}
	return nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// setUpClient makes the calls around the measurements; a server that
// hangs fails the run rather than stalling it.
var setUpClient = &http.Client{Timeout: 30 * time.Second}

// api makes a set-up call that must answer 200 and decodes it into out.
func api(ctx context.Context, method, url, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := setUpClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("benchhttp: %s %s: HTTP %d %s", method, req.URL.Path, resp.StatusCode, b)
	}
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// printTable writes the figures: per read the two rates, their ratio and
// the server's latencies, then its memory and the gRPC pair. It returns
// how many reads had errors under load.
func printTable(w io.Writer, cfg Config, reads []*read, rss int64, g GRPCRates) int {
	enc := ""
	if cfg.Gzip {
		enc = ", Accept-Encoding: gzip"
	}
	fmt.Fprintf(w, "redpoint and a bare net/http reference sending the same bytes, loaded in turn on core 0 with GOMAXPROCS=1;\n"+
		"wrk -t1 -c%d -d%v on core 1, best of %d%s; load average at the start %s (others' work skews the ratios)\n\n",
		cfg.Conns, cfg.Duration, cfg.Runs, enc, cfg.loadAverage)
	width := 0
	for _, r := range reads {
		width = max(width, len(r.name)) // names padded alike stay left-aligned in the right-aligned table
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tbody B\twire B\tredpoint/s\treference/s\tratio\tp50 ms\tp99 ms\t\n", width, "read")
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }
	var problems []string
	for _, r := range reads {
		fmt.Fprintf(tw, "%-*s\t%d\t%d\t%.0f\t%.0f\t%.2f\t%s\t%s\t\n", width, r.name, len(r.answer.Body), r.wire,
			r.server.Rate, r.reference.Rate, r.server.Rate/r.reference.Rate, ms(r.server.P50), ms(r.server.P99))
		if r.server.Bad > 0 || r.reference.Bad > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d bad answers or socket errors from redpoint, %d from the reference", r.name, r.server.Bad, r.reference.Bad))
		}
	}
	_ = tw.Flush() // to the terminal: nothing to act on
	fmt.Fprintf(w, "\nredpoint RSS after the REST load: %.1f MiB\n", float64(rss)/(1<<20))
	fmt.Fprintf(w, "gRPC, %d callers on core 1: GetErrand %.0f/s, Health/Check %.0f/s, ratio %.2f\n", cfg.Conns, g.GetErrand, g.Health, g.GetErrand/g.Health)
	for _, p := range problems {
		fmt.Fprintln(w, "problem:", p)
	}
	return len(problems)
}
