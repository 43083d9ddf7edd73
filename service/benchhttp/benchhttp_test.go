package benchhttp

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// wrk 4.2's --latency report, of a run with failures.
const wrkOutput = `Running 1s test @ http://127.0.0.1:18499/nothere
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.13ms    2.21ms  25.66ms   96.20%
    Req/Sec     1.33k   106.03     1.41k    90.91%
  Latency Distribution
     50%  812.00us
     75%    3.40ms
     90%    4.16ms
     99%    1.02s
  1458 requests in 1.10s, 740.39KB read
  Socket errors: connect 1, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 1458
Requests/sec:   1325.28
Transfer/sec:    672.99KB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{Rate: 1325.28, P50: 812 * time.Microsecond, P99: 1020 * time.Millisecond, Bad: 1458 + 6}
	if r != want {
		t.Errorf("got %+v, want %+v", r, want)
	}
}

// Without --latency (or when wrk dies early) there is nothing to report.
func TestParseWrkRefusesAnIncompleteReport(t *testing.T) {
	for _, out := range []string{"", "Requests/sec:   1325.28\n", "     50%    3.93ms\n     99%   10.24ms\n", "Requests/sec:   lots\n"} {
		if r, err := parseWrk(out); err == nil {
			t.Errorf("%q parsed as %+v", out, r)
		}
	}
}

func TestReferenceAnswersAsCaptured(t *testing.T) {
	ok := Answer{Status: 200, Header: http.Header{"Content-Type": {"application/json"}, "Etag": {`"abc"`}, "Cache-Control": {"private, no-cache"}},
		Body: []byte(`{"name":"regions/1"}`)}
	nm := &Answer{Status: 304, Header: http.Header{"Etag": {`"abc"`}, "Cache-Control": {"private, no-cache"}}}
	plain := Answer{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{}`)}
	h := Reference([]Capture{{Path: "/v1/x?pageSize=10", OK: ok, NotModified: nm}, {Path: "/v1/plain", OK: plain}})
	for _, c := range []struct {
		name, path, ifNoneMatch string
		status                  int
		body                    string
	}{
		{"no If-None-Match", "/v1/x?pageSize=10", "", 200, `{"name":"regions/1"}`},
		{"matching", "/v1/x?pageSize=10", `"abc"`, 304, ""},
		{"weak, in a list", "/v1/x?pageSize=10", `"zzz", W/"abc"`, 304, ""},
		{"any", "/v1/x?pageSize=10", `*`, 304, ""},
		{"another tag", "/v1/x?pageSize=10", `"abd"`, 200, `{"name":"regions/1"}`},
		{"no tag to match", "/v1/plain", `*`, 200, `{}`},
		{"another query", "/v1/x?pageSize=11", "", 404, "404 page not found\n"},
	} {
		req := httptest.NewRequest(http.MethodGet, c.path, nil)
		if c.ifNoneMatch != "" {
			req.Header.Set("If-None-Match", c.ifNoneMatch)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != c.status || w.Body.String() != c.body {
			t.Errorf("%s: %d %q, want %d %q", c.name, w.Code, w.Body, c.status, c.body)
		}
		if w.Code == 304 && (w.Header().Get("Etag") != `"abc"` || w.Header().Get("Cache-Control") == "" || w.Header().Get("Content-Length") != "") {
			t.Errorf("%s: 304 headers %v, want the captured 304's", c.name, w.Header())
		}
		if w.Code == 200 && (w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Content-Length") != strconv.Itoa(len(c.body))) {
			t.Errorf("%s: 200 headers %v, want the captured type and a length", c.name, w.Header())
		}
	}
}
