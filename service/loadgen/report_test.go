package loadgen

import (
	"net/http"
	"testing"
	"time"
)

func TestPercentilesAreNearestRank(t *testing.T) {
	r := newRecorder()
	for i := 1; i <= 100; i++ {
		r.add("op", time.Duration(i)*time.Millisecond, http.StatusOK, nil, 0)
	}
	r.add("op", time.Hour, http.StatusInternalServerError, nil, 0) // failures have no latency
	s := r.report(time.Second).Ops[0]
	if s.P50 != 50*time.Millisecond || s.P95 != 95*time.Millisecond || s.P99 != 99*time.Millisecond || s.Max != 100*time.Millisecond {
		t.Errorf("p50 %v p95 %v p99 %v max %v, want 50, 95, 99, 100 ms", s.P50, s.P95, s.P99, s.Max)
	}
	if s.Served != 100 || s.Failed != 1 || s.Codes[500] != 1 {
		t.Errorf("served %d failed %d codes %v", s.Served, s.Failed, s.Codes)
	}
}
