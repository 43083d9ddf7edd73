package events_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/notification"
	"github.com/changzhi/redpoint/ent/outboxevent"
	"github.com/changzhi/redpoint/ent/processedevent"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/testutil"
)

var seeded = time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC) // Wed 10:00 Asia/Shanghai

// recorder is a test handler that counts what it is given.
type recorder struct {
	mu        sync.Mutex
	seen      map[int]int
	latencies []time.Duration
}

func newRecorder() *recorder { return &recorder{seen: map[int]int{}} }

func (r *recorder) handler() events.Handler {
	return events.Handler{Name: "test", Topics: []string{outbox.TopicErrandCreated, outbox.TopicErrandTransitioned, outbox.TopicErrandUpdated},
		Handle: func(ctx context.Context, tx *ent.Tx, ev events.Event) error {
			r.mu.Lock()
			r.seen[ev.ID]++
			r.latencies = append(r.latencies, time.Since(ev.Time))
			r.mu.Unlock()
			return nil
		}}
}

func create(t testing.TB, s *apptest.Server, ctx context.Context, i int) *redpointv1.Errand {
	t.Helper()
	x, err := redpointv1.NewErrandServiceClient(s.GRPC).CreateErrand(ctx, &redpointv1.CreateErrandRequest{
		RequestId: fmt.Sprintf("ev-%d-%d", time.Now().UnixNano(), i),
		Errand:    &redpointv1.Errand{ErrandType: "errandTypes/SI-PENSION-CERT", ResidentName: "测试", ResidentPhone: "13912345678"}})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// waitHandled waits until every outbox event was relayed and processed by
// handler h (per the ledger).
func waitHandled(t testing.TB, db *ent.Client, h string, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	testutil.EventuallyNoError(t, timeout, "every event relayed and processed by "+h, func() error {
		unsent, err := db.OutboxEvent.Query().Where(outboxevent.SentTimeIsNil()).Count(ctx)
		if err != nil {
			return err
		}
		total, err := db.OutboxEvent.Query().Count(ctx)
		if err != nil {
			return err
		}
		done, err := db.ProcessedEvent.Query().Where(processedevent.Handler(h)).Count(ctx)
		if err != nil {
			return err
		}
		if unsent != 0 || done != total {
			return fmt.Errorf("%d unsent, %d of %d processed", unsent, done, total)
		}
		return nil
	})
}

func TestEveryEventReachesEachHandlerOnce(t *testing.T) {
	rec := newRecorder()
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: seeded, Errands: 100},
		Configure: func(a *app.Options) { a.ExtraHandlers = []events.Handler{rec.handler()} }})
	ctx := s.As(t, context.Background(), demo.GuhanAgentPhone)
	errands := redpointv1.NewErrandServiceClient(s.GRPC)
	for i := 0; i < 20; i++ {
		x := create(t, s, ctx, i)
		if _, err := errands.StartErrand(ctx, &redpointv1.StartErrandRequest{Name: x.Name}); err != nil {
			t.Fatal(err)
		}
	}
	waitHandled(t, s.App.Store.Client, "test", 20*time.Second)
	waitHandled(t, s.App.Store.Client, "sla", 20*time.Second)
	db := s.App.Store.Client
	handlers, err := s.App.EventHandlers()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range handlers {
		testutil.EventuallyNoError(t, 20*time.Second, h.Name+" processed every event of its topics", func() error {
			want, err := db.OutboxEvent.Query().Where(outboxevent.TopicIn(h.Topics...)).Count(ctx)
			if err != nil {
				return err
			}
			got, err := db.ProcessedEvent.Query().Where(processedevent.Handler(h.Name)).Count(ctx)
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("%d of %d", got, want)
			}
			return nil
		})
	}
	ledger, err := db.ProcessedEvent.Query().Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A relay pass over already-sent rows, and a replay of every job, change nothing.
	if _, err := s.App.Background().Relay().Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := replayEveryJob(t, s); n < 40 {
		t.Fatalf("replayed %d jobs, want one per event and handler (40 events)", n)
	}
	if n, err := db.ProcessedEvent.Query().Count(ctx); err != nil || n != ledger {
		t.Errorf("the ledger after the replay: %d entries (%v), want %d", n, err, ledger)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seen) != 40 {
		t.Errorf("handler saw %d events, want 40", len(rec.seen))
	}
	for id, n := range rec.seen {
		if n != 1 {
			t.Errorf("event %d handled %d times", id, n)
		}
	}
}

// replayEveryJob runs again every job s's workers have completed (asynq
// keeps them for a day), as a redelivery would, waits until each replay
// has run, and returns how many it replayed.
func replayEveryJob(t *testing.T, s *apptest.Server) int {
	t.Helper()
	insp := asynq.NewInspectorFromRedisClient(s.App.KV.Client)
	client := asynq.NewClientFromRedisClient(s.App.KV.Client)
	queue := events.Queue(s.App.KV)
	var done []*asynq.TaskInfo
	for page := 1; ; page++ {
		jobs, err := insp.ListCompletedTasks(queue, asynq.Page(page), asynq.PageSize(100))
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 0 {
			break
		}
		done = append(done, jobs...)
	}
	replays := make([]string, len(done))
	for i, j := range done {
		replays[i] = j.ID + "-replay"
		if _, err := client.Enqueue(asynq.NewTask(j.Type, j.Payload), asynq.Queue(queue), asynq.TaskID(replays[i]), asynq.Retention(time.Hour)); err != nil {
			t.Fatalf("replaying %s: %v", j.ID, err)
		}
	}
	testutil.EventuallyNoError(t, 20*time.Second, "every replayed job run", func() error {
		for _, id := range replays {
			info, err := insp.GetTaskInfo(queue, id)
			if err != nil {
				return err
			}
			if info.State != asynq.TaskStateCompleted {
				return fmt.Errorf("%s (%s) is %v", id, info.Type, info.State)
			}
		}
		return nil
	})
	return len(done)
}

func TestSLATimersFollowTheDueTime(t *testing.T) {
	clock := testutil.NewClock(seeded)
	set := func(s string) { clock.Set(testutil.At(s)) }
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: seeded, Errands: 50}, Clock: clock.Now})
	ctx := context.Background()
	agentCtx := s.As(t, ctx, demo.GuhanAgentPhone)
	errands := redpointv1.NewErrandServiceClient(s.GRPC)
	db := s.App.Store.Client
	timers := s.App.Background().Timers()
	sweep := func() {
		t.Helper()
		for i := 0; i < 2; i++ { // twice: the second must change nothing
			if err := timers.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func(errand string, kind notification.Kind) int {
		t.Helper()
		n, err := db.Notification.Query().Where(notification.ErrandID(testutil.ID(t, errand)), notification.KindEQ(kind)).Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	set("2026-11-23 10:00") // Monday; SI-PENSION-CERT: 3 working days → due Thu 11-26 23:59
	x := create(t, s, agentCtx, 1)
	set("2026-11-25 12:00") // Wednesday noon: not yet one working day before
	sweep()
	if n := count(x.Name, notification.KindSLA_REMINDER); n != 0 {
		t.Fatalf("%d reminders two days early", n)
	}
	set("2026-11-26 00:30") // after Wed 23:59:59, one working day before the due time
	sweep()
	if n := count(x.Name, notification.KindSLA_REMINDER); n != 1 {
		t.Fatalf("%d reminders on the last day, want 1", n)
	}
	// Paused: past the due time, no escalation while waiting for materials.
	if _, err := errands.StartErrand(agentCtx, &redpointv1.StartErrandRequest{Name: x.Name}); err != nil {
		t.Fatal(err)
	}
	if _, err := errands.RequestErrandMaterials(agentCtx, &redpointv1.RequestErrandMaterialsRequest{Name: x.Name, MissingMaterials: []string{"户口簿"}}); err != nil {
		t.Fatal(err)
	}
	set("2026-11-30 10:00")
	sweep()
	if n := count(x.Name, notification.KindESCALATION); n != 0 {
		t.Fatalf("escalated while paused: %d", n)
	}
	// Resumed Monday: Thursday and Friday were spent waiting, so the due
	// time moves two working days, from Thursday to Monday 11-30.
	x, err := errands.StartErrand(agentCtx, &redpointv1.StartErrandRequest{Name: x.Name})
	if err != nil {
		t.Fatal(err)
	}
	if due := x.DueTime.AsTime().In(time.FixedZone("CST", 8*3600)).Format("01-02 15:04"); due != "11-30 23:59" {
		t.Fatalf("due after resume %s, want 11-30 23:59", due)
	}
	sweep() // Monday 10:00: the new due time is within a working day
	if n := count(x.Name, notification.KindSLA_REMINDER); n != 2 {
		t.Fatalf("reminders after the due time moved: %d, want 2 (one per due time)", n)
	}
	if n := count(x.Name, notification.KindESCALATION); n != 0 {
		t.Fatalf("escalated before the new due time: %d", n)
	}
	set("2026-12-01 08:00")
	sweep()
	secretaries := db.Notification.Query().Where(notification.KindEQ(notification.KindESCALATION)).Where(notification.ErrandID(testutil.ID(t, x.Name))).AllX(ctx)
	if len(secretaries) != 1 {
		t.Fatalf("%d escalations, want 1 to 古韩镇's secretary", len(secretaries))
	}
	sec := db.User.GetX(ctx, secretaries[0].UserID)
	if sec.Phone != demo.GuhanSecretaryPhone {
		t.Errorf("escalated to %s, want %s", sec.Phone, demo.GuhanSecretaryPhone)
	}
	// The secretary lists it; the agent lists the reminders.
	list, err := redpointv1.NewNotificationServiceClient(s.GRPC).ListNotifications(s.As(t, ctx, demo.GuhanSecretaryPhone), &redpointv1.ListNotificationsRequest{Parent: "users/me"})
	if err != nil || len(list.Notifications) == 0 || list.Notifications[0].Kind != redpointv1.NotificationKind_NOTIFICATION_KIND_ESCALATION {
		t.Fatalf("secretary's notifications: %v, %v", list, err)
	}
	// Completion: a completed errand is never escalated.
	y := create(t, s, agentCtx, 2)
	if _, err := errands.CompleteErrand(agentCtx, &redpointv1.CompleteErrandRequest{Name: y.Name, Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	set("2026-12-20 10:00")
	sweep()
	if n := count(y.Name, notification.KindESCALATION) + count(y.Name, notification.KindSLA_REMINDER); n != 0 {
		t.Errorf("a completed errand got %d SLA notifications", n)
	}
}

func TestOneSchedulerLeadsAndAnotherTakesOver(t *testing.T) {
	testutil.SkipIfShort(t, "watches two schedulers for testutil.Quiet, then stops the leader")
	fast := func(a *app.Options) { a.SweepSpec = "@every 1s"; a.LeaderTTL = 2 * time.Second }
	a := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: seeded, Errands: 20}, Configure: fast})
	b := apptest.Join(t, a, fast)
	leaders := func() (int, *apptest.Server) {
		n, which := 0, (*apptest.Server)(nil)
		for _, s := range []*apptest.Server{a, b} {
			if s.App.Background().Leader() {
				n++
				which = s
			}
		}
		return n, which
	}
	var leader *apptest.Server
	testutil.Eventually(t, 10*time.Second, "one scheduler leads", func() bool {
		n, l := leaders()
		if n > 1 {
			t.Fatal("two schedulers lead at once")
		}
		leader = l
		return n == 1
	})
	// The follower campaigns every LeaderTTL/3 and nothing tells when it
	// has tried: watch for the one window.
	testutil.Never(t, "two schedulers lead at once", func() bool {
		n, _ := leaders()
		return n > 1
	})
	follower := a
	if leader == a {
		follower = b
	}
	leader.Stop()
	testutil.Eventually(t, 8*time.Second, "the other replica takes over", follower.App.Background().Leader)
}

// BenchmarkCommitToHandler measures how long an errand change takes from
// its commit to a handler through the relay and the queue, with the
// default settings; it reports p50 and p99 in milliseconds.
func BenchmarkCommitToHandler(b *testing.B) {
	rec := newRecorder()
	s := apptest.Start(b, apptest.Options{Demo: &demo.Options{Now: seeded, Errands: 20},
		Configure: func(a *app.Options) { a.ExtraHandlers = []events.Handler{rec.handler()} }})
	ctx := s.As(b, context.Background(), demo.GuhanAgentPhone)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		create(b, s, ctx, i)
		time.Sleep(20 * time.Millisecond) // a steady trickle, as agents write
	}
	waitHandled(b, s.App.Store.Client, "test", 30*time.Second)
	b.StopTimer()
	rec.mu.Lock()
	lat := append([]time.Duration(nil), rec.latencies...)
	rec.mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		b.Fatal("nothing handled")
	}
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.50), "p50_ms")
	b.ReportMetric(p(0.99), "p99_ms")
}
