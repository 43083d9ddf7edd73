package events_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/changzhi/redpoint/ent"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/testutil"
)

// TestFailedJobsAreListedAndRetried: a job that fails for good lands in
// the archive, the city admin lists it and sends it back, and it runs.
func TestFailedJobsAreListedAndRetried(t *testing.T) {
	var attempts atomic.Int32
	flaky := events.Handler{Name: "flaky", Topics: []string{outbox.TopicErrandCreated},
		Handle: func(ctx context.Context, tx *ent.Tx, ev events.Event) error {
			if attempts.Add(1) == 1 {
				return fmt.Errorf("%w: the office system is down", asynq.SkipRetry)
			}
			return nil
		}}
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: seeded, Errands: 20},
		Configure: func(a *app.Options) { a.ExtraHandlers = []events.Handler{flaky} }})
	create(t, s, s.As(t, context.Background(), demo.GuhanAgentPhone), 1)
	jobs := redpointv1.NewJobServiceClient(s.GRPC)
	admin := s.As(t, context.Background(), demo.CityAdminPhone)
	var failed *redpointv1.FailedJob
	testutil.Eventually(t, 15*time.Second, "the failed job reached the archive", func() bool {
		list, err := jobs.ListFailedJobs(admin, &redpointv1.ListFailedJobsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.FailedJobs) == 0 {
			return false
		}
		failed = list.FailedJobs[0]
		return true
	})
	if failed.Type != "event:flaky" || failed.LastError == "" {
		t.Errorf("failed job = %v", failed)
	}
	if _, err := jobs.RetryFailedJob(admin, &redpointv1.RetryFailedJobRequest{Name: failed.Name}); err != nil {
		t.Fatal(err)
	}
	waitHandled(t, s.App.Store.Client, "flaky", 15*time.Second)
	if n := attempts.Load(); n != 2 {
		t.Errorf("ran %d times, want 2", n)
	}
	if _, err := jobs.RetryFailedJob(admin, &redpointv1.RetryFailedJobRequest{Name: failed.Name}); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("retrying a job no longer archived: %v", err)
	}
}
