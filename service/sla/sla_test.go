package sla

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/hibiken/asynq"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/notification"
	"github.com/changzhi/redpoint/ent/region"
	"github.com/changzhi/redpoint/ent/user"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/store/storetest"
	"github.com/changzhi/redpoint/service/testutil"
	"github.com/changzhi/redpoint/service/trackingcode"
)

// The tests' dates lie in March 2099, far enough ahead that asynq, which
// schedules on the real clock, keeps every timer scheduled rather than due.
//
//	     March 2099
//	Mo Tu We Th Fr Sa Su
//	                   1
//	 2  3  4  5  6  7  8
//	 9 10 11 12 13 14 15   11th a holiday, 14th a make-up working day (调休)
//	16 17 18 19 20 21 22
var testDays = []calendar.Day{
	{Date: "2099-03-11", Kind: calendar.Holiday, Name: "测试假日"},
	{Date: "2099-03-14", Kind: calendar.Workday, Name: "测试调休"},
}

// The regions of the fixture: one village's township, and a neighbour.
const (
	village          = "140423100201"
	township         = "140423100000"
	otherTownship    = "140423101000"
	county           = "140423000000"
	errandTypeCode   = "SI-PENSION-CERT"
	errandTypeName   = "养老保险资格认证"
	servicePointName = "北关村红色代办点"
)

// fixture is an SLA timer set over a store and a Redis of the test's own,
// with a fake clock, a calendar built in the test and one village's staff.
type fixture struct {
	db     *ent.Client
	timers *Timers
	clock  *testutil.Clock
	insp   *asynq.Inspector
	queue  string
	// queries counts the statements the timers send the database.
	queries *atomic.Int64

	point      int
	agent      int
	secretary  int // active, in the errand's township
	retired    int // an inactive secretary of the same township
	neighbour  int // a secretary of another township
	countyHead int // a county admin: not a recipient
}

func newFixture(t *testing.T, now time.Time) *fixture {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t)
	db := st.Client
	k := kvtest.Open(t)
	f := &fixture{
		db:      db,
		clock:   testutil.NewClock(now),
		insp:    asynq.NewInspectorFromRedisClient(k.Client),
		queue:   events.Queue(k),
		queries: new(atomic.Int64),
	}
	cal := calendar.NewCache(func(context.Context) ([]calendar.Day, error) { return testDays, nil }, time.Hour)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	counted := ent.NewClient(ent.Driver(dialect.DebugWithContext(entsql.OpenDB(st.Dialect, st.DB),
		func(context.Context, ...any) { f.queries.Add(1) })))
	f.timers = New(counted, cal, asynq.NewClientFromRedisClient(k.Client), f.queue, log, f.clock.Now)

	if err := db.Region.Create().SetID(village).SetName("北关村").SetLevel(region.LevelVILLAGE).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	sp, err := db.ServicePoint.Create().SetName(servicePointName).SetRegionID(village).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.point = sp.ID
	if err := db.ErrandType.Create().SetID(errandTypeCode).SetName(errandTypeName).SetDepartment("县人社局").SetTimeLimitDays(3).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	newUser := func(phone string, role user.Role, regionID string, active bool) int {
		t.Helper()
		c := db.User.Create().SetPhone(phone).SetDisplayName("用户" + phone).SetRole(role).SetRegionID(regionID).
			SetPasswordHash("x").SetActive(active)
		if role == user.RoleAGENT {
			c.SetServicePointID(f.point)
		}
		u, err := c.Save(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	f.agent = newUser("13800000001", user.RoleAGENT, village, true)
	f.secretary = newUser("13800000002", user.RoleTOWNSHIP_SECRETARY, township, true)
	f.retired = newUser("13800000003", user.RoleTOWNSHIP_SECRETARY, township, false)
	f.neighbour = newUser("13800000004", user.RoleTOWNSHIP_SECRETARY, otherTownship, true)
	f.countyHead = newUser("13800000005", user.RoleCOUNTY_ADMIN, county, true)
	return f
}

// errand writes an errand of the fixture's agent in state, due at due
// (and paused at pause when it is not zero).
func (f *fixture) errand(t *testing.T, state errand.State, due, pause time.Time) *ent.Errand {
	t.Helper()
	code, err := trackingcode.New(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := f.db.Errand.Create().SetTrackingCode(code).SetErrandTypeID(errandTypeCode).SetServicePointID(f.point).
		SetAgentID(f.agent).SetRegionID(village).SetResidentName("申秀英").SetResidentPhoneCipher("c").
		SetResidentPhoneHash("h").SetResidentPhoneLast4("5678").SetState(state).
		SetAcceptTime(due.Add(-72 * time.Hour).UTC()).SetDueTime(due.UTC())
	if !pause.IsZero() {
		c.SetPauseTime(pause.UTC())
	}
	e, err := c.Save(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// armed is one timer in Redis, as the inspector reads it back.
type armed struct {
	ID string
	At time.Time
	timer
}

// armedTimers lists every timer task in the queue, scheduled or already
// due, by id.
func (f *fixture) armedTimers(t *testing.T) []armed {
	t.Helper()
	var out []armed
	for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){f.insp.ListScheduledTasks, f.insp.ListPendingTasks} {
		tasks, err := list(f.queue, asynq.PageSize(1000))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			continue // nothing was ever enqueued
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, ti := range tasks {
			if ti.Type != TimerJob {
				t.Fatalf("task %s has type %q, want %q", ti.ID, ti.Type, TimerJob)
			}
			a := armed{ID: ti.ID, At: ti.NextProcessAt}
			if err := json.Unmarshal(ti.Payload, &a.timer); err != nil {
				t.Fatalf("task %s payload %s: %v", ti.ID, ti.Payload, err)
			}
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// sent is one notification, reduced to what a test compares.
type sent struct {
	User   int
	Kind   notification.Kind
	Errand int
}

func (f *fixture) notifications(t *testing.T) []sent {
	t.Helper()
	rows, err := f.db.Notification.Query().Order(ent.Asc(notification.FieldID)).All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]sent, len(rows))
	for i, r := range rows {
		out[i] = sent{User: r.UserID, Kind: r.Kind, Errand: r.ErrandID}
	}
	return out
}

func sameSent(got, want []sent) bool {
	if len(got) != len(want) {
		return false
	}
	key := func(s sent) string {
		return strconv.Itoa(s.User) + "/" + string(s.Kind) + "/" + strconv.Itoa(s.Errand)
	}
	g, w := make([]string, len(got)), make([]string, len(want))
	for i := range got {
		g[i], w[i] = key(got[i]), key(want[i])
	}
	sort.Strings(g)
	sort.Strings(w)
	return strings.Join(g, ",") == strings.Join(w, ",")
}

// TestArmSchedulesReminderAndEscalation: a running errand gets a reminder
// at the end of the working day before its due day, on the holiday
// calendar, and an escalation at its due time; a closed errand or one
// waiting for materials gets no timer.
func TestArmSchedulesReminderAndEscalation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		state    errand.State
		due      string
		reminder string // "" when no timer is armed
	}{
		{"plain week", errand.StateACCEPTED, "2099-03-05 23:59:59", "2099-03-04 23:59:59"},
		{"due Monday, reminded Friday", errand.StateIN_PROGRESS, "2099-03-09 23:59:59", "2099-03-06 23:59:59"},
		{"a weekday holiday is skipped", errand.StateFORWARDED, "2099-03-12 23:59:59", "2099-03-10 23:59:59"},
		{"a make-up Saturday counts", errand.StateACCEPTED, "2099-03-16 23:59:59", "2099-03-14 23:59:59"},
		{"waiting for materials", errand.StateNEEDS_MATERIALS, "2099-03-05 23:59:59", ""},
		{"completed", errand.StateCOMPLETED, "2099-03-05 23:59:59", ""},
		{"cancelled", errand.StateCANCELLED, "2099-03-05 23:59:59", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, testutil.At("2099-03-02 09:00"))
			due := testutil.At(tc.due)
			var pause time.Time
			if tc.state == errand.StateNEEDS_MATERIALS {
				pause = testutil.At("2099-03-03 10:00")
			}
			e := f.errand(t, tc.state, due, pause)
			if err := f.timers.arm(context.Background(), e, time.Time{}, time.Time{}); err != nil {
				t.Fatal(err)
			}
			got := f.armedTimers(t)
			if tc.reminder == "" {
				if len(got) != 0 {
					t.Fatalf("armed %+v for a %s errand, want nothing", got, tc.state)
				}
				return
			}
			suffix := "-" + strconv.Itoa(e.ID) + "-" + strconv.FormatInt(due.Unix(), 10)
			want := []armed{
				{ID: "sla-escalation" + suffix, At: due, timer: timer{Errand: e.ID, Kind: Escalation, Due: due.Unix()}},
				{ID: "sla-reminder" + suffix, At: testutil.At(tc.reminder), timer: timer{Errand: e.ID, Kind: Reminder, Due: due.Unix()}},
			}
			if len(got) != len(want) {
				t.Fatalf("armed %+v, want %+v", got, want)
			}
			for i := range want {
				if got[i].ID != want[i].ID || !got[i].At.Equal(want[i].At) || got[i].timer != want[i].timer {
					t.Errorf("timer %d = %s at %s %+v, want %s at %s %+v", i,
						got[i].ID, got[i].At.In(calendar.Location), got[i].timer,
						want[i].ID, want[i].At.In(calendar.Location), want[i].timer)
				}
			}
		})
	}
}

// TestArmIsKeyedByDueTime: arming again for the same due time adds
// nothing; a moved due time gets timers of its own beside the old ones
// (which fire finds stale).
func TestArmIsKeyedByDueTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, testutil.At("2099-03-02 09:00"))
	e := f.errand(t, errand.StateACCEPTED, testutil.At("2099-03-05 23:59:59"), time.Time{})
	for range 2 {
		if err := f.timers.arm(ctx, e, time.Time{}, time.Time{}); err != nil {
			t.Fatalf("arm: %v", err)
		}
	}
	if got := f.armedTimers(t); len(got) != 2 {
		t.Fatalf("armed twice for one due time: %d timers %+v, want 2", len(got), got)
	}
	e, err := e.Update().SetDueTime(testutil.At("2099-03-09 23:59:59").UTC()).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.timers.arm(ctx, e, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	got := f.armedTimers(t)
	dues := map[int64]int{}
	for _, a := range got {
		dues[a.Due]++
	}
	if len(got) != 4 || dues[testutil.At("2099-03-05 23:59:59").Unix()] != 2 || dues[testutil.At("2099-03-09 23:59:59").Unix()] != 2 {
		t.Fatalf("after the due time moved: %+v, want a reminder and an escalation for each due time", got)
	}
}

// TestTimerPayload: the timer job's payload is JSON whose names never
// change (archived jobs hold the old ones), and it reads back whole.
func TestTimerPayload(t *testing.T) {
	t.Parallel()
	tm := timer{Errand: 42, Kind: Escalation, Due: testutil.At("2099-03-05 23:59:59").Unix()}
	b, err := json.Marshal(tm)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"errand":42,"kind":"escalation","due":` + strconv.FormatInt(tm.Due, 10) + `}`; string(b) != want {
		t.Errorf("payload = %s, want %s", b, want)
	}
	var back timer
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != tm {
		t.Errorf("round trip = %+v, want %+v", back, tm)
	}
}

// TestFire: a timer writes its notification only while it still applies:
// the errand running, its due time the one the timer was set for, and the
// timer's time reached (to the second asynq schedules by).
func TestFire(t *testing.T) {
	t.Parallel()
	due := testutil.At("2099-03-12 23:59:59")      // Thursday, after the Wednesday holiday
	reminder := testutil.At("2099-03-10 23:59:59") // Tuesday
	type recipients int
	const (
		none recipients = iota
		agent
		secretary
	)
	cases := []struct {
		name  string
		state errand.State
		kind  string
		now   time.Time
		stale bool // the timer was set for an earlier due time
		want  recipients
	}{
		{"reminder at its time", errand.StateACCEPTED, Reminder, reminder, false, agent},
		{"reminder a second early (asynq rounds)", errand.StateIN_PROGRESS, Reminder, reminder.Add(-time.Second), false, agent},
		{"reminder too early", errand.StateACCEPTED, Reminder, reminder.Add(-3 * time.Second), false, none},
		{"reminder a day early", errand.StateACCEPTED, Reminder, testutil.At("2099-03-09 23:59:59"), false, none},
		{"escalation at the due time", errand.StateFORWARDED, Escalation, due, false, secretary},
		{"escalation later", errand.StateACCEPTED, Escalation, due.Add(time.Hour), false, secretary},
		{"escalation before the due time", errand.StateACCEPTED, Escalation, reminder, false, none},
		{"stale reminder", errand.StateACCEPTED, Reminder, due, true, none},
		{"stale escalation", errand.StateACCEPTED, Escalation, due.Add(time.Hour), true, none},
		{"completed", errand.StateCOMPLETED, Escalation, due.Add(time.Hour), false, none},
		{"cancelled", errand.StateCANCELLED, Reminder, reminder, false, none},
		{"waiting for materials", errand.StateNEEDS_MATERIALS, Escalation, due.Add(time.Hour), false, none},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFixture(t, tc.now)
			var pause time.Time
			if tc.state == errand.StateNEEDS_MATERIALS {
				pause = testutil.At("2099-03-10 10:00")
			}
			e := f.errand(t, tc.state, due, pause)
			tm := timer{Errand: e.ID, Kind: tc.kind, Due: due.Unix()}
			if tc.stale {
				tm.Due = testutil.At("2099-03-09 23:59:59").Unix()
			}
			// Twice: a redelivered job notifies no one again.
			for range 2 {
				if err := f.timers.fire(ctx, tm); err != nil {
					t.Fatalf("fire: %v", err)
				}
			}
			var want []sent
			switch tc.want {
			case agent:
				want = []sent{{f.agent, notification.KindSLA_REMINDER, e.ID}}
			case secretary:
				want = []sent{{f.secretary, notification.KindESCALATION, e.ID}}
			}
			if got := f.notifications(t); !sameSent(got, want) {
				t.Errorf("notifications = %+v, want %+v (agent %d, secretary %d)", got, want, f.agent, f.secretary)
			}
		})
	}
}

// TestFireMissingErrand: a timer of an errand that no longer exists is done.
func TestFireMissingErrand(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testutil.At("2099-03-05 10:00"))
	if err := f.timers.fire(context.Background(), timer{Errand: 999, Kind: Escalation, Due: 1}); err != nil {
		t.Fatalf("fire for a missing errand: %v, want nil (nothing to retry)", err)
	}
	if got := f.notifications(t); len(got) != 0 {
		t.Errorf("notifications = %+v, want none", got)
	}
}

// TestNotificationTexts: what the agent and the secretary read.
func TestNotificationTexts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	due := testutil.At("2099-03-05 23:59:59")
	f := newFixture(t, due.Add(time.Minute))
	e := f.errand(t, errand.StateACCEPTED, due, time.Time{})
	for _, kind := range []string{Reminder, Escalation} {
		if err := f.timers.fire(ctx, timer{Errand: e.ID, Kind: kind, Due: due.Unix()}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := f.db.Notification.Query().Order(ent.Asc(notification.FieldID)).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	code := trackingcode.Format(e.TrackingCode)
	want := []struct{ title, body string }{
		{"事项即将到期", "「" + errandTypeName + "」（" + code + "）将于3月5日 23:59到期，请抓紧办理。"},
		{"事项已超期", servicePointName + "的「" + errandTypeName + "」（" + code + "）已于3月5日 23:59超期，请督促办理。"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d notifications, want %d", len(rows), len(want))
	}
	for i, r := range rows {
		if r.Title != want[i].title || r.Body != want[i].body {
			t.Errorf("notification %d = %q / %q, want %q / %q", i, r.Title, r.Body, want[i].title, want[i].body)
		}
		if r.RegionID != village {
			t.Errorf("notification %d region = %q, want %q", i, r.RegionID, village)
		}
	}
}

// TestTimerJob: the job decodes its payload and fires; a payload it can't
// read is not retried.
func TestTimerJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	due := testutil.At("2099-03-05 23:59:59")
	f := newFixture(t, due)
	e := f.errand(t, errand.StateACCEPTED, due, time.Time{})
	var job events.Job
	for _, j := range f.timers.Jobs() {
		if j.Type == TimerJob {
			job = j
		}
	}
	if job.Handle == nil {
		t.Fatalf("Jobs has no %s", TimerJob)
	}
	if err := job.Handle(ctx, []byte("{not json")); !errors.Is(err, asynq.SkipRetry) {
		t.Errorf("malformed payload: %v, want asynq.SkipRetry", err)
	}
	payload, err := json.Marshal(timer{Errand: e.ID, Kind: Escalation, Due: due.Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Handle(ctx, payload); err != nil {
		t.Fatal(err)
	}
	if got, want := f.notifications(t), []sent{{f.secretary, notification.KindESCALATION, e.ID}}; !sameSent(got, want) {
		t.Errorf("notifications = %+v, want %+v", got, want)
	}
}

// TestSweep: the sweep escalates every running overdue errand, reminds
// those whose reminder time has passed, and re-arms the timers that fire
// within its horizon (15 minutes), and only those.
func TestSweep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := testutil.At("2099-03-05 23:50") // Thursday
	f := newFixture(t, now)
	overdue := f.errand(t, errand.StateIN_PROGRESS, testutil.At("2099-03-04 23:59:59"), time.Time{})
	dueToday := f.errand(t, errand.StateACCEPTED, testutil.At("2099-03-05 23:59:59"), time.Time{})     // escalation in 10 minutes
	dueTomorrow := f.errand(t, errand.StateFORWARDED, testutil.At("2099-03-06 23:59:59"), time.Time{}) // reminder in 10 minutes
	dueMonday := f.errand(t, errand.StateACCEPTED, testutil.At("2099-03-09 23:59:59"), time.Time{})    // reminder on Friday
	f.errand(t, errand.StateNEEDS_MATERIALS, testutil.At("2099-03-04 23:59:59"), testutil.At("2099-03-05 09:00"))
	f.errand(t, errand.StateCOMPLETED, testutil.At("2099-03-04 23:59:59"), time.Time{})
	f.errand(t, errand.StateCANCELLED, testutil.At("2099-03-05 23:59:59"), time.Time{})

	// Twice: what is due is written once.
	for range 2 {
		if err := f.timers.Sweep(ctx); err != nil {
			t.Fatalf("Sweep: %v", err)
		}
	}
	want := []sent{
		{f.secretary, notification.KindESCALATION, overdue.ID},
		{f.agent, notification.KindSLA_REMINDER, dueToday.ID},
	}
	if got := f.notifications(t); !sameSent(got, want) {
		t.Errorf("notifications = %+v, want %+v", got, want)
	}
	var got []string
	for _, a := range f.armedTimers(t) {
		got = append(got, fmt.Sprintf("%d %s", a.Errand, a.Kind))
	}
	sort.Strings(got)
	wantArmed := []string{fmt.Sprintf("%d %s", dueToday.ID, Escalation), fmt.Sprintf("%d %s", dueTomorrow.ID, Reminder)}
	if !slices.Equal(got, wantArmed) {
		t.Errorf("armed %v, want %v (errand %d's timers fire beyond the horizon)", got, wantArmed, dueMonday.ID)
	}
}

// TestSweepAsksInBulk: a sweep finds the same overdue and due-soon
// errands every minute — thousands of them in a country. Once they are
// notified, it asks the database a few queries about them whatever their
// number, not a few each.
func TestSweepAsksInBulk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := testutil.At("2099-03-05 10:00")
	queries := map[int]int64{}
	for _, n := range []int{3, 30} {
		f := newFixture(t, now)
		for range n {
			f.errand(t, errand.StateIN_PROGRESS, testutil.At("2099-03-04 23:59:59"), time.Time{}) // overdue
			f.errand(t, errand.StateACCEPTED, testutil.At("2099-03-05 23:59:59"), time.Time{})    // to remind
		}
		if err := f.timers.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got := len(f.notifications(t)); got != 2*n {
			t.Fatalf("%d errands of each: %d notifications, want %d", n, got, 2*n)
		}
		f.queries.Store(0)
		if err := f.timers.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		queries[n] = f.queries.Load()
		if got := len(f.notifications(t)); got != 2*n {
			t.Errorf("%d errands of each, swept again: %d notifications, want still %d", n, got, 2*n)
		}
	}
	if queries[30] != queries[3] {
		t.Errorf("a sweep over notified errands sent %d queries for 3 of each and %d for 30: it should not grow with them", queries[3], queries[30])
	}
}

// TestSweepHorizon: a timer that fires exactly at the horizon's end is
// re-armed, one that fires a second beyond it is not.
func TestSweepHorizon(t *testing.T) {
	t.Parallel()
	now := testutil.At("2099-03-05 10:00")
	due := testutil.At("2099-03-09 23:59:59")    // Monday
	remind := testutil.At("2099-03-06 23:59:59") // Friday, the working day before
	cases := []struct {
		name    string
		horizon time.Duration
		armed   []string
	}{
		{"the escalation at the horizon", due.Sub(now), []string{Escalation, Reminder}},
		{"the escalation a second beyond", due.Sub(now) - time.Second, []string{Reminder}},
		{"the reminder at the horizon", remind.Sub(now), []string{Reminder}},
		{"the reminder a second beyond", remind.Sub(now) - time.Second, nil},
		{"the default 15 minutes", 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, now)
			if tc.horizon != 0 {
				f.timers.Horizon = tc.horizon
			}
			f.errand(t, errand.StateACCEPTED, due, time.Time{})
			if err := f.timers.Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range f.armedTimers(t) {
				got = append(got, a.Kind)
			}
			sort.Strings(got)
			if !slices.Equal(got, tc.armed) {
				t.Errorf("armed %v, want %v", got, tc.armed)
			}
		})
	}
}

// TestMovedDueTimeNotifiesAgain: notifications are deduplicated per due
// time, so an errand whose due time moved (a pause for materials) and
// passes its new one is reminded and escalated again.
func TestMovedDueTimeNotifiesAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first, second := testutil.At("2099-03-05 23:59:59"), testutil.At("2099-03-09 23:59:59")
	f := newFixture(t, first.Add(time.Hour))
	e := f.errand(t, errand.StateACCEPTED, first, time.Time{})
	if err := f.timers.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Update().SetDueTime(second.UTC()).Save(ctx); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(second.Add(time.Hour))
	if err := f.timers.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	want := []sent{
		{f.secretary, notification.KindESCALATION, e.ID},
		{f.secretary, notification.KindESCALATION, e.ID},
	}
	if got := f.notifications(t); !sameSent(got, want) {
		t.Errorf("notifications = %+v, want an escalation for each due time %+v", got, want)
	}
}
