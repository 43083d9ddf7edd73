package apptest

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Metric reads one sample (name{labels}) from the admin port's /metrics;
// 0 when the series is not there.
func (s *Server) Metric(tb testing.TB, series string) float64 {
	tb.Helper()
	resp, err := http.Get(s.AdminURL + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}
