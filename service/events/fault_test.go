package events_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/metadata"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/notification"
	"github.com/changzhi/redpoint/ent/outboxevent"
	"github.com/changzhi/redpoint/ent/processedevent"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/period"
	"github.com/changzhi/redpoint/service/store/storetest"
	"github.com/changzhi/redpoint/service/testutil"
)

// TestNothingLostWhenRedisDies: during a burst of 1,000 state changes the
// Redis process is killed and restarted empty. Afterwards every outbox
// event has taken effect once for every handler, and every due reminder
// and escalation exists exactly once.
func TestNothingLostWhenRedisDies(t *testing.T) {
	testutil.SkipIfShort(t, "kills Redis during a burst of 1,000 changes")
	r := kvtest.StartServer(t)
	k, err := kv.Open(context.Background(), r.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testutil.Close(t, k) })
	now := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC) // Monday 10:00 Asia/Shanghai
	rec := newRecorder()
	s := apptest.Start(t, apptest.Options{KV: k, Demo: &demo.Options{Now: now.Add(-10 * 24 * time.Hour), Errands: 600},
		Clock:     testutil.NewClock(now).Now,
		Configure: func(a *app.Options) { a.ExtraHandlers = []events.Handler{rec.handler()} }})
	ctx := context.Background()
	// Log in before the burst: logins count failures in Redis.
	agents := []string{demo.GuhanAgentPhone, demo.DanzhuAgentPhone}
	ctxs := map[string]context.Context{}
	for _, a := range agents {
		ctxs[a] = s.As(t, ctx, a)
	}
	errandClient := redpointv1.NewErrandServiceClient(s.GRPC)
	// A resident follows the burst's errands in the mini-program.
	residents := redpointv1.NewResidentServiceClient(s.GRPC)
	sess, err := residents.WechatLogin(ctx, &redpointv1.WechatLoginRequest{Code: "demo-burst"})
	if err != nil {
		t.Fatal(err)
	}
	rctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+sess.AccessToken)
	if _, err := residents.BindPhone(rctx, &redpointv1.BindPhoneRequest{PhoneCode: "phone-13900009999"}); err != nil {
		t.Fatal(err)
	}
	if _, err := residents.SetSubscription(rctx, &redpointv1.SetSubscriptionRequest{Subscribed: true}); err != nil {
		t.Fatal(err)
	}

	var changes atomic.Int64
	var killOnce sync.Once
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			actx := ctxs[agents[w%2]]
			for changes.Load() < 1000 {
				x, err := errandClient.CreateErrand(actx, &redpointv1.CreateErrandRequest{RequestId: fmt.Sprintf("f-%d-%d", w, changes.Load()),
					Errand: &redpointv1.Errand{ErrandType: "errandTypes/MI-PAYMENT", ResidentName: "压测", ResidentPhone: "13900009999"}})
				if err != nil {
					t.Error(err)
					return
				}
				changes.Add(1)
				for _, step := range []func() (*redpointv1.Errand, error){
					func() (*redpointv1.Errand, error) {
						return errandClient.StartErrand(actx, &redpointv1.StartErrandRequest{Name: x.Name})
					},
					func() (*redpointv1.Errand, error) {
						return errandClient.ForwardErrand(actx, &redpointv1.ForwardErrandRequest{Name: x.Name, Office: "县医保局"})
					},
					func() (*redpointv1.Errand, error) {
						return errandClient.CompleteErrand(actx, &redpointv1.CompleteErrandRequest{Name: x.Name, Result: "已缴费"})
					},
				} {
					if _, err := step(); err != nil {
						t.Error(err)
						return
					}
					if changes.Add(1) >= 400 {
						killOnce.Do(func() {
							r.Kill()                                      // Redis dies mid-burst...
							time.AfterFunc(300*time.Millisecond, r.Start) // ...and comes back empty
						})
					}
				}
			}
		}(w)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	db := s.App.Store.Client
	// What Redis lost, the database still has: redrive the lost jobs and
	// re-derive the timers, as the relay and the sweep do on their own.
	redriven := 0
	var redriveErr error
	var redrove time.Time
	testutil.EventuallyNoError(t, 90*time.Second, "every handler took every event", func() error {
		if time.Since(redrove) >= 500*time.Millisecond { // a pass finds what the last one could not
			n, err := s.App.Background().Relay().Redrive(ctx, 0)
			redriven, redriveErr, redrove = redriven+n, err, time.Now()
		}
		if handledByAll(db, "sla", "test") {
			transitions := db.OutboxEvent.Query().Where(outboxevent.Topic(outbox.TopicErrandTransitioned)).CountX(ctx)
			lb := db.ProcessedEvent.Query().Where(processedevent.Handler("leaderboard")).CountX(ctx)
			notified := db.ProcessedEvent.Query().Where(processedevent.Handler("resident-notify")).CountX(ctx)
			if lb == transitions && notified == transitions {
				return nil
			}
			return fmt.Errorf("of %d transitions, leaderboard processed %d and resident-notify %d (last redrive: %v)", transitions, lb, notified, redriveErr) //nolint:errorlint // redriveErr is mostly nil (%w would print %!w(<nil>)) and only informs the message
		}
		return fmt.Errorf("sla or test lacks events (last redrive: %v)", redriveErr) //nolint:errorlint // as above: mostly nil, only informs
	})
	t.Logf("jobs enqueued again after Redis lost them: %d", redriven)
	total := db.OutboxEvent.Query().CountX(ctx)
	for _, h := range []string{"sla", "test"} {
		if n := db.ProcessedEvent.Query().Where(processedevent.Handler(h)).CountX(ctx); n != total {
			t.Errorf("handler %s processed %d of %d events", h, n, total)
		}
	}
	// Each state change of the resident's errands reached WeChat once.
	transitions := db.OutboxEvent.Query().Where(outboxevent.Topic(outbox.TopicErrandTransitioned)).CountX(ctx)
	if n := len(s.WeChat.Messages()); n != transitions {
		t.Errorf("%d subscribe messages for %d state changes", n, transitions)
	}
	// The boards Redis lost are rebuilt on first read and equal the database.
	boards := leaderboard.New(db, s.App.KV)
	for _, p := range period.All(now) {
		if _, _, err := boards.Top(ctx, leaderboard.Board{Period: p, Scope: "1404", Level: leaderboard.Points}, 0, 10); err != nil {
			t.Fatal(err)
		}
		if drift, err := boards.Reconcile(ctx, p); err != nil || drift != 0 {
			t.Errorf("%s: leaderboard differs from a rebuild in %d members (%v)", p, drift, err)
		}
	}
	if total < 1000 {
		t.Errorf("only %d outbox events for the burst", total)
	}
	for i := 0; i < 2; i++ {
		if err := s.App.Background().Timers().Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	checkSLANotifications(t, db, now)
}

func handledByAll(db *ent.Client, handlers ...string) bool {
	ctx := context.Background()
	total := db.OutboxEvent.Query().CountX(ctx)
	for _, h := range handlers {
		if db.ProcessedEvent.Query().Where(processedevent.Handler(h)).CountX(ctx) != total {
			return false
		}
	}
	return true
}

// checkSLANotifications: every overdue running errand has exactly one
// escalation per township secretary, every errand in its last working day
// exactly one reminder, and nothing else has any.
func checkSLANotifications(t *testing.T, db *ent.Client, now time.Time) {
	t.Helper()
	ctx := context.Background()
	days, err := calendar.Official()
	if err != nil {
		t.Fatal(err)
	}
	cal := calendar.New(days)
	overdue := db.Errand.Query().Where(errands.OverduePredicate(now), errand.StateIn(errands.Running...)).AllX(ctx)
	if len(overdue) == 0 {
		t.Fatal("the demo has no overdue errands to escalate")
	}
	for _, e := range overdue {
		n := db.Notification.Query().Where(notification.ErrandID(e.ID), notification.KindEQ(notification.KindESCALATION)).CountX(ctx)
		if n != 1 { // one secretary per demo township
			t.Errorf("errand %d: %d escalations, want 1", e.ID, n)
		}
	}
	running := db.Errand.Query().Where(errand.StateIn(errands.Running...), errand.DueTimeGTE(now)).AllX(ctx)
	for _, e := range running {
		want := 0
		if !now.Before(cal.Before(e.DueTime, 1)) {
			want = 1
		}
		n := db.Notification.Query().Where(notification.ErrandID(e.ID), notification.KindEQ(notification.KindSLA_REMINDER)).CountX(ctx)
		if n != want {
			t.Errorf("errand %d due %v: %d reminders, want %d", e.ID, e.DueTime, n, want)
		}
	}
}

// TestRelayResumingAfterRedisRunsTheJobsItLost: Redis restarts empty while
// events are written. When the relay gets through again it enqueues again
// the jobs of what it had relayed before, at once, not a minute and more
// later when the periodic redrive would find them.
func TestRelayResumingAfterRedisRunsTheJobsItLost(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	r := kvtest.StartServer(t)
	k, err := kv.Open(ctx, r.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testutil.Close(t, k) })
	db := storetest.Open(t).Client
	log := slog.New(slog.DiscardHandler)
	rec := newRecorder()
	handlers := []events.Handler{rec.handler()}
	reg := prometheus.NewRegistry()
	relay := events.NewRelay(db, asynq.NewClientFromRedisClient(k.Client), events.Queue(k), handlers, log, reg)
	wg.Add(1)
	go func() { defer wg.Done(); relay.Run(ctx) }()
	write := func() int {
		t.Helper()
		return publish(t, db, time.Now(), outbox.NewErrandChange(outbox.ErrandCreated, &ent.Errand{ID: 1}, 0, "", "", ""))
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		testutil.Eventually(t, 15*time.Second, what, cond)
	}
	first := write()
	wait("the first event relayed", func() bool { return db.OutboxEvent.GetX(ctx, first).SentTime != nil })
	r.Kill() // its job dies with Redis, before any worker ran it
	write()
	wait("the relay failing", func() bool { return counter(t, reg, "redpoint_outbox_relay_failures_total") > 0 })
	r.Start()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := events.NewWorker(db, k.Client, events.Queue(k), handlers, nil, log, nil).Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	wait("both events handled", func() bool {
		return db.ProcessedEvent.Query().Where(processedevent.Handler("test")).CountX(ctx) == 2
	})
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
