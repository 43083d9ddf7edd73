package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBodiesInFlightAreBounded: while bodies fill the budget, another is
// refused 503 before it is held; once they finish, it is taken again.
func TestBodiesInFlightAreBounded(t *testing.T) {
	old := bodyBudget
	bodyBudget = 100 << 10
	t.Cleanup(func() { bodyBudget = old })
	entered, release := make(chan struct{}), make(chan struct{})
	h := limitBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Hold") != "" {
			entered <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusOK)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(size int, hold bool) int {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/errands", strings.NewReader(strings.Repeat("a", size)))
		if err != nil {
			t.Error(err)
			return 0
		}
		if hold {
			req.Header.Set("X-Hold", "1")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Error(err)
		}
		return resp.StatusCode
	}
	held := make(chan int, 1)
	go func() { held <- post(80<<10, true) }()
	<-entered // 80 KiB of the 100 KiB budget held by a handler
	if code := post(40<<10, false); code != http.StatusServiceUnavailable {
		t.Errorf("a body past the budget: %d, want 503", code)
	}
	close(release)
	if code := <-held; code != http.StatusOK {
		t.Errorf("the held request: %d", code)
	}
	if code := post(40<<10, false); code != http.StatusOK {
		t.Errorf("after the held body was released: %d, want 200", code)
	}
	if n := bodyBytes.Load(); n != 0 {
		t.Errorf("%d body bytes still counted after every request ended", n)
	}
}
