package events_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
)

// TestWorkersApartFromTheAPI: an API replica without workers and a
// worker-only process (redpoint worker) on the same database and Redis.
func TestWorkersApartFromTheAPI(t *testing.T) {
	api := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: seeded, Errands: 20},
		Configure: func(a *app.Options) { a.NoWorkers = true }})
	w := app.New(slog.New(slog.NewTextHandler(io.Discard, nil)), api.App.Store, api.App.KV, api.App.Objects, api.App.Keys, api.App.AuthKey, app.Options{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Work(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Work: %v", err)
		}
	})
	create(t, api, api.As(t, context.Background(), demo.GuhanAgentPhone), 1)
	waitHandled(t, api.App.Store.Client, "sla", 20*time.Second)
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get("http://" + lis.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
		if path == "/metrics" && !strings.Contains(string(body), `redpoint_jobs_processed_total{result="ok",type="event:sla"}`) {
			t.Errorf("worker metrics lack the processed job")
		}
	}
}
