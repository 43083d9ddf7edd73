package leaderboard_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/ent/followup"
	"github.com/changzhi/redpoint/ent/outboxevent"
	"github.com/changzhi/redpoint/ent/processedevent"
	"github.com/changzhi/redpoint/ent/rating"
	"github.com/changzhi/redpoint/ent/region"
	"github.com/changzhi/redpoint/ent/servicepoint"
	"github.com/changzhi/redpoint/ent/user"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/period"
	"github.com/changzhi/redpoint/service/testutil"
)

type env struct {
	*apptest.Server
	t      testing.TB
	clock  *testutil.Clock
	boards *leaderboard.Boards
}

func newEnv(t *testing.T) *env { return benchEnv(t) }

func benchEnv(t testing.TB) *env {
	e := &env{t: t, clock: testutil.NewClock(testutil.At("2027-03-01 09:00"))}
	e.Server = apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 100},
		Clock: e.clock.Now})
	e.boards = leaderboard.New(e.App.Store.Client, e.App.KV)
	return e
}

func (e *env) client() redpointv1.ErrandServiceClient {
	return redpointv1.NewErrandServiceClient(e.GRPC)
}

var rid atomic.Int64

// create logs an errand as the agent with phone, for a resident.
func (e *env) create(phone, resident, typ string) *redpointv1.Errand {
	e.t.Helper()
	x, err := e.client().CreateErrand(e.As(e.t, context.Background(), phone), &redpointv1.CreateErrandRequest{
		RequestId: fmt.Sprintf("lb-%d", rid.Add(1)),
		Errand:    &redpointv1.Errand{ErrandType: typ, ResidentName: "测试", ResidentPhone: resident}})
	if err != nil {
		e.t.Fatal(err)
	}
	return x
}

// consent records the resident's paper consent (委托授权), as the agent with phone.
func (e *env) consent(phone, name string) {
	e.t.Helper()
	if _, err := e.client().RecordPaperConsent(e.As(e.t, context.Background(), phone),
		&redpointv1.RecordPaperConsentRequest{Name: name, WitnessName: "村委会主任"}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) complete(phone, name string) {
	e.t.Helper()
	if _, err := e.client().CompleteErrand(e.As(e.t, context.Background(), phone), &redpointv1.CompleteErrandRequest{Name: name, Result: "ok"}); err != nil {
		e.t.Fatal(err)
	}
}

// rate writes a rating as the residents' channel will: the row, a history
// event and an outbox event, in one transaction.
func (e *env) rate(name string, level rating.Level) {
	e.t.Helper()
	ctx := context.Background()
	tx, err := e.App.Store.Client.Tx(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	x := tx.Errand.GetX(ctx, testutil.ID(e.t, name))
	now := e.clock.Now().UTC()
	r := tx.Rating.Create().SetErrandID(x.ID).SetServicePointID(x.ServicePointID).SetRegionID(x.RegionID).SetLevel(level).SetCreateTime(now).SaveX(ctx)
	tx.ErrandEvent.Create().SetErrandID(x.ID).SetKind(errandevent.KindRATED).SetActorKind(errandevent.ActorKindRESIDENT).SetCreateTime(now).ExecX(ctx)
	if level == rating.LevelDISSATISFIED || level == rating.LevelVERY_DISSATISFIED {
		tx.FollowUp.Create().SetRatingID(r.ID).SetErrandID(x.ID).SetRegionID(x.RegionID).ExecX(ctx)
	}
	if err := outbox.Publish(ctx, tx, now, outbox.NewRatingCreated(r)); err != nil {
		e.t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		e.t.Fatal(err)
	}
}

// closeFollowUp closes a bad rating's follow-up, as the township will.
func (e *env) closeFollowUp(name string) bool {
	e.t.Helper()
	ctx := context.Background()
	f, err := e.App.Store.Client.FollowUp.Query().Where(followup.ErrandID(testutil.ID(e.t, name)), followup.StateEQ(followup.StateOPEN)).Only(ctx)
	if ent.IsNotFound(err) {
		return false
	}
	now := e.clock.Now().UTC()
	tx, err := e.App.Store.Client.Tx(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	tx.FollowUp.UpdateOneID(f.ID).SetState(followup.StateCLOSED).SetCloseTime(now).SetOutcome(followup.OutcomeRESOLVED).ExecX(ctx)
	if err := outbox.Publish(ctx, tx, now, outbox.NewFollowUpClosed(f)); err != nil {
		e.t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		e.t.Fatal(err)
	}
	return true
}

// settle waits until the leaderboard handler has processed every event.
func (e *env) settle() {
	e.t.Helper()
	ctx := context.Background()
	db := e.App.Store.Client
	testutil.EventuallyNoError(e.t, 30*time.Second, "the leaderboard handler processed every event", func() error {
		want, err := db.OutboxEvent.Query().Where(outboxevent.TopicIn(outbox.TopicErrandTransitioned, outbox.TopicRatingCreated, outbox.TopicFollowUpClosed)).Count(ctx)
		if err != nil {
			return err
		}
		got, err := db.ProcessedEvent.Query().Where(processedevent.Handler("leaderboard")).Count(ctx)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("processed %d of %d events", got, want)
		}
		return nil
	})
}

func (e *env) score(name, scope string, pointID int) float64 {
	e.t.Helper()
	p := mustPeriod(name)
	entry, _, ok, err := e.boards.RankOf(context.Background(), leaderboard.Board{Period: p, Scope: scope, Level: leaderboard.Points}, fmt.Sprint(pointID))
	if err != nil || !ok {
		e.t.Fatalf("rank of %d in %s %s: %v %v", pointID, name, scope, ok, err)
	}
	return entry.Total
}

func (e *env) pointOf(phone string) (int, string) {
	u := e.App.Store.Client.User.Query().Where(user.Phone(phone)).OnlyX(context.Background())
	sp := e.App.Store.Client.ServicePoint.GetX(context.Background(), *u.ServicePointID)
	return sp.ID, sp.RegionID
}

// TestIncrementalEqualsRebuild is the property: random sequences of
// creations, completions, cancellations, ratings, follow-ups, reopenings
// (by the resident, or by the township from a follow-up) and consents
// (paper or by WeChat code, given before a completion or on a reopened
// errand, revoked by the resident) across week, month and quarter
// boundaries leave boards equal to a rebuild from the database (Reconcile
// finds no drift), and each event's effect is the same whenever its job
// runs: as computed right after the event, and at the end.
func TestIncrementalEqualsRebuild(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 11))
	agents := []string{demo.GuhanAgentPhone, demo.DanzhuAgentPhone}
	secretaries := map[string]string{demo.GuhanAgentPhone: demo.GuhanSecretaryPhone, demo.DanzhuAgentPhone: demo.DanzhuSecretaryPhone}
	types := []string{"errandTypes/MI-PAYMENT", "errandTypes/SI-PENSION-CERT", "errandTypes/CA-DIBAO"}
	residents := []string{"13911110001", "13911110002", "13911110003"}
	sessions := map[string]context.Context{}
	for i, phone := range residents {
		sessions[phone] = e.resident(fmt.Sprintf("demo-lb%d", i), phone)
	}
	start := testutil.At("2027-03-28 08:00") // Sunday before a new week, month and quarter
	// Boards of every period the run touches exist before it (built from the demo data).
	touched := map[string]period.Period{}
	for d := 0; d < 10; d++ {
		for _, p := range period.All(start.AddDate(0, 0, d)) {
			touched[p.String()] = p
		}
	}
	for _, p := range touched {
		if err := e.boards.Rebuild(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	type item struct{ name, agent, resident string }
	clock := start
	var open, done []item
	reopened, revoked, lateConsents := 0, 0, 0
	consented := map[string]bool{}
	giveConsent := func(x item) {
		if r.IntN(2) == 0 {
			e.consent(x.agent, x.name)
		} else {
			e.wechatConsent(x.agent, sessions[x.resident], x.name)
		}
		consented[x.name] = true
	}
	seen, last := effectsSeen{}, 0
	for i := 0; i < 200; i++ {
		if i > 0 { // the effects of the last step's events, as their jobs would add them now
			for id, eff := range e.effects(last) {
				seen[id] = eff
				last = max(last, id)
			}
		}
		clock = clock.Add(time.Duration(r.IntN(240)) * time.Minute)
		e.clock.Set(clock)
		switch op := r.IntN(14); {
		case op < 4 || len(open) == 0:
			a, res := agents[r.IntN(len(agents))], residents[r.IntN(len(residents))]
			x := e.create(a, res, types[r.IntN(len(types))])
			open = append(open, item{x.Name, a, res})
			if r.IntN(3) == 0 { // a quick one: completed within minutes
				if r.IntN(2) == 0 { // confirmed by its resident: it scores at once
					giveConsent(open[len(open)-1])
				}
				clock = clock.Add(2 * time.Minute) // time only moves forward
				e.clock.Set(clock)
				e.complete(a, x.Name)
				done = append(done, open[len(open)-1])
				open = open[:len(open)-1]
			}
		case op < 7:
			j := r.IntN(len(open))
			e.complete(open[j].agent, open[j].name)
			done = append(done, open[j])
			open = append(open[:j], open[j+1:]...)
		case op < 8:
			j := r.IntN(len(open))
			if _, err := e.client().CancelErrand(e.As(t, ctx, open[j].agent), &redpointv1.CancelErrandRequest{Name: open[j].name, Reason: "撤回"}); err != nil {
				t.Fatal(err)
			}
			open = append(open[:j], open[j+1:]...)
		case op < 9 && len(done) > 0:
			j := r.IntN(len(done))
			if n, err := e.App.Store.Client.Rating.Query().Where(rating.ErrandID(testutil.ID(e.t, done[j].name))).Count(ctx); err != nil {
				t.Fatal(err)
			} else if n == 0 {
				levels := []rating.Level{rating.LevelVERY_SATISFIED, rating.LevelSATISFIED, rating.LevelBASICALLY_SATISFIED, rating.LevelDISSATISFIED, rating.LevelVERY_DISSATISFIED}
				e.rate(done[j].name, levels[r.IntN(len(levels))])
			}
		case op < 10 && len(done) > 0:
			e.closeFollowUp(done[r.IntN(len(done))].name)
		case op < 12 && len(done) > 0:
			j := r.IntN(len(done))
			x := done[j]
			var err error
			if f := e.followUpOf(x.name); f != "" && r.IntN(2) == 0 {
				_, err = e.client().ReopenErrand(e.As(t, ctx, secretaries[x.agent]), &redpointv1.ReopenErrandRequest{Name: x.name, FollowUp: f, Reason: "回访核实未办好"})
			} else {
				_, err = redpointv1.NewResidentServiceClient(e.GRPC).ReopenMyErrand(sessions[x.resident], &redpointv1.ReopenMyErrandRequest{
					Name: "residents/me/errands/" + fmt.Sprint(testutil.ID(t, x.name)), Reason: "没有办好"})
			}
			if status.Code(err) == codes.FailedPrecondition { // past the resident's 15 days
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			reopened++
			open = append(open, x)
			done = append(done[:j], done[j+1:]...)
		case op == 12: // a consent to an open errand, maybe a reopened one
			j := r.IntN(len(open))
			if !consented[open[j].name] {
				if x := e.App.Store.Client.Errand.GetX(ctx, testutil.ID(t, open[j].name)); x.ReopenCount > 0 {
					lateConsents++
				}
				giveConsent(open[j])
			}
		case op == 13: // the resident revokes a consent: the errand is cancelled
			var mine []int
			for j, x := range open {
				if consented[x.name] {
					mine = append(mine, j)
				}
			}
			if len(mine) == 0 {
				continue
			}
			j := mine[r.IntN(len(mine))]
			if _, err := redpointv1.NewResidentServiceClient(e.GRPC).RevokeConsent(sessions[open[j].resident], &redpointv1.RevokeConsentRequest{
				Name: "residents/me/errands/" + fmt.Sprint(testutil.ID(t, open[j].name)), Reason: "不办了"}); err != nil {
				t.Fatal(err)
			}
			revoked++
			open = append(open[:j], open[j+1:]...)
		}
	}
	if reopened < 5 || revoked < 3 || lateConsents < 1 {
		t.Fatalf("%d reopenings, %d revocations, %d consents to reopened errands: the run does not exercise them", reopened, revoked, lateConsents)
	}
	t.Logf("%d reopenings, %d revocations, %d consents to reopened errands", reopened, revoked, lateConsents)
	seen.check(t, "at the end", e.effects(0))
	e.settle()
	for _, p := range touched {
		drift, err := e.boards.Reconcile(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if drift != 0 {
			t.Errorf("%s: incremental boards differ from a rebuild in %d members", p, drift)
		}
	}
}

// wechatConsent has the resident of session authorise the errand by the
// code the agent with phone shows (委托授权 by WeChat).
func (e *env) wechatConsent(phone string, session context.Context, name string) {
	e.t.Helper()
	code, err := e.client().CreateConsentCode(e.As(e.t, context.Background(), phone), &redpointv1.CreateConsentCodeRequest{Name: name})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := redpointv1.NewResidentServiceClient(e.GRPC).GrantConsent(session, &redpointv1.GrantConsentRequest{Code: code.QrPayload}); err != nil {
		e.t.Fatal(err)
	}
}

// resident logs a resident in with WeChat and binds phone.
func (e *env) resident(openid, phone string) context.Context {
	e.t.Helper()
	rs := redpointv1.NewResidentServiceClient(e.GRPC)
	sess, err := rs.WechatLogin(context.Background(), &redpointv1.WechatLoginRequest{Code: openid})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+sess.AccessToken)
	if _, err := rs.BindPhone(ctx, &redpointv1.BindPhoneRequest{PhoneCode: "phone-" + phone}); err != nil {
		e.t.Fatal(err)
	}
	return ctx
}

// followUpOf is the errand's follow-up, "" if it has none.
func (e *env) followUpOf(name string) string {
	e.t.Helper()
	f, err := e.App.Store.Client.FollowUp.Query().Where(followup.ErrandID(testutil.ID(e.t, name))).Only(context.Background())
	if ent.IsNotFound(err) {
		return ""
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return fmt.Sprintf("followUps/%d", f.ID)
}

func TestAntiPaddingRules(t *testing.T) {
	e := newEnv(t)
	agent := demo.GuhanAgentPhone
	point, village := e.pointOf(agent)
	township := village[:9]
	before := e.score("2027-03", township, point)

	t.Run("a quick completion scores only once rated", func(t *testing.T) {
		e.clock.Set(testutil.At("2027-03-02 09:00"))
		x := e.create(agent, "13922220001", "errandTypes/MI-PAYMENT")
		e.clock.Set(testutil.At("2027-03-02 09:03"))
		e.complete(agent, x.Name)
		e.settle()
		if got := e.score("2027-03", township, point); got != before {
			t.Fatalf("a 3-minute completion scored %v before any rating", got-before)
		}
		e.clock.Set(testutil.At("2027-03-03 10:00"))
		e.rate(x.Name, rating.LevelSATISFIED)
		e.settle()
		want := before + leaderboard.PointsCompleted + leaderboard.PointsOnTime + leaderboard.PointsRating[rating.LevelSATISFIED]
		if got := e.score("2027-03", township, point); got != want {
			t.Errorf("after the rating: %v, want %v", got, want)
		}
		before = want
	})

	t.Run("a quick completion the resident confirmed scores at once", func(t *testing.T) {
		e.clock.Set(testutil.At("2027-03-02 14:00"))
		x := e.create(agent, "13922220005", "errandTypes/MI-PAYMENT")
		e.consent(agent, x.Name)
		e.clock.Set(testutil.At("2027-03-02 14:03"))
		e.complete(agent, x.Name)
		e.settle()
		want := before + leaderboard.PointsCompleted + leaderboard.PointsOnTime
		if got := e.score("2027-03", township, point); got != want {
			t.Fatalf("a confirmed 3-minute completion: %v, want %v", got, want)
		}
		// Rated later, it adds the rating only: the completion scored once.
		e.clock.Set(testutil.At("2027-03-03 11:00"))
		e.rate(x.Name, rating.LevelSATISFIED)
		e.settle()
		want += leaderboard.PointsRating[rating.LevelSATISFIED]
		if got := e.score("2027-03", township, point); got != want {
			t.Errorf("after its rating: %v, want %v", got, want)
		}
		before = want
	})

	t.Run("one agent, resident, type and day score once", func(t *testing.T) {
		e.clock.Set(testutil.At("2027-03-04 09:00"))
		a := e.create(agent, "13922220002", "errandTypes/SI-PENSION-CERT")
		b := e.create(agent, "13922220002", "errandTypes/SI-PENSION-CERT")
		c := e.create(agent, "13922220002", "errandTypes/MI-PAYMENT") // another type: its own errand
		e.clock.Set(testutil.At("2027-03-04 11:00"))
		e.complete(agent, a.Name)
		e.complete(agent, b.Name)
		e.complete(agent, c.Name)
		e.settle()
		want := before + 2*(leaderboard.PointsCompleted+leaderboard.PointsOnTime)
		if got := e.score("2027-03", township, point); got != want {
			t.Errorf("three completions, two distinct: %v, want %v", got, want)
		}
		e.rate(b.Name, rating.LevelVERY_SATISFIED) // the duplicate's rating doesn't count either
		e.settle()
		if got := e.score("2027-03", township, point); got != want {
			t.Errorf("a duplicate's rating scored: %v, want %v", got, want)
		}
		before = want
	})

	t.Run("cancelled errands score nothing; a closed follow-up gives credit back", func(t *testing.T) {
		e.clock.Set(testutil.At("2027-03-05 09:00"))
		x := e.create(agent, "13922220003", "errandTypes/CA-DIBAO")
		if _, err := e.client().CancelErrand(e.As(t, context.Background(), agent), &redpointv1.CancelErrandRequest{Name: x.Name, Reason: "撤回"}); err != nil {
			t.Fatal(err)
		}
		y := e.create(agent, "13922220004", "errandTypes/CA-DIBAO")
		e.clock.Set(testutil.At("2027-03-05 15:00"))
		e.complete(agent, y.Name)
		e.rate(y.Name, rating.LevelVERY_DISSATISFIED)
		e.settle()
		want := before + leaderboard.PointsCompleted + leaderboard.PointsOnTime + leaderboard.PointsRating[rating.LevelVERY_DISSATISFIED]
		if got := e.score("2027-03", township, point); got != want {
			t.Fatalf("after a 非常不满意: %v, want %v", got, want)
		}
		e.clock.Set(testutil.At("2027-03-06 10:00"))
		e.closeFollowUp(y.Name)
		e.settle()
		want += leaderboard.CreditFollowUp[rating.LevelVERY_DISSATISFIED]
		if got := e.score("2027-03", township, point); got != want {
			t.Errorf("after the follow-up closed: %v, want %v", got, want)
		}
	})

	// A rebuild applies the same rules: the boards the events made are
	// the ones the database gives, duplicates and quick completions left out.
	for _, p := range []string{"2027-03", "2027-W09"} {
		if drift, err := e.boards.Reconcile(context.Background(), mustPeriod(p)); err != nil || drift != 0 {
			t.Errorf("%s rebuilt from the database: %d members off (%v)", p, drift, err)
		}
	}
}

func TestPeriodBoundariesOnTheBoard(t *testing.T) {
	e := newEnv(t)
	agent := demo.GuhanAgentPhone
	point, village := e.pointOf(agent)
	city := village[:4]
	base := map[string]float64{}
	for _, p := range []string{"2027-W12", "2027-W13", "2027-03", "2027-04", "2027-Q1", "2027-Q2"} {
		base[p] = e.score(p, city, point)
	}
	e.clock.Set(testutil.At("2027-03-28 10:00")) // Sunday
	x := e.create(agent, "13933330001", "errandTypes/MI-PAYMENT")
	y := e.create(agent, "13933330002", "errandTypes/MI-PAYMENT")
	e.clock.Set(testutil.At("2027-03-28 23:59")) // Sunday 23:59: week 12, March, Q1
	e.complete(agent, x.Name)
	e.clock.Set(testutil.At("2027-03-29 00:00")) // Monday 00:00: week 13, still March
	e.complete(agent, y.Name)
	e.clock.Set(testutil.At("2027-03-31 10:00"))
	z := e.create(agent, "13933330003", "errandTypes/MI-PAYMENT") // due Friday 04-02
	e.clock.Set(testutil.At("2027-04-01 00:00"))                  // Thursday: April, Q2, still week 13
	e.complete(agent, z.Name)
	e.settle()
	pts := leaderboard.PointsCompleted + leaderboard.PointsOnTime
	want := map[string]float64{"2027-W12": pts, "2027-W13": 2 * pts, "2027-03": 2 * pts, "2027-04": pts, "2027-Q1": 2 * pts, "2027-Q2": pts}
	for p, d := range want {
		if got := e.score(p, city, point) - base[p]; got != d {
			t.Errorf("%s gained %v, want %v", p, got, d)
		}
	}
}

func TestTotalAverageAndRankChange(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	db := e.App.Store.Client
	// A township with one active point, and one with several, in one county.
	var small, big string
	counts := map[string]int{}
	for _, v := range db.ServicePoint.Query().Where(servicepoint.Active(true)).Select(servicepoint.FieldRegionID).StringsX(ctx) {
		counts[v[:9]]++
	}
	for tw, n := range counts {
		for tw2, n2 := range counts {
			if tw[:6] == tw2[:6] && n == 1 && n2 >= 3 && small == "" {
				small, big = tw, tw2
			}
		}
	}
	if small == "" {
		t.Skip("demo has no county with a 1-point and a 3-point township")
	}
	agentIn := func(tw string) []string {
		lo, hi := tw+"000", tw+"999"
		return db.User.Query().Where(user.RoleEQ(user.RoleAGENT), user.RegionIDGTE(lo), user.RegionIDLTE(hi)).Select(user.FieldPhone).StringsX(ctx)
	}
	var bigAgents []string
	seen := map[int]bool{}
	for _, ph := range agentIn(big) {
		if p, _ := e.pointOf(ph); !seen[p] {
			seen[p] = true
			bigAgents = append(bigAgents, ph)
		}
	}
	smallAgent := agentIn(small)[0]
	work := func(phone string, n int, day string) {
		for i := 0; i < n; i++ {
			e.clock.Set(testutil.At(day + " 09:00"))
			x := e.create(phone, fmt.Sprintf("139444%05d", rid.Add(1)), "errandTypes/MI-PAYMENT")
			e.clock.Set(testutil.At(day + " 10:00"))
			e.complete(phone, x.Name)
		}
	}
	// February: the small township leads in total.
	work(smallAgent, 3, "2027-02-10")
	work(bigAgents[0], 1, "2027-02-10")
	// March: the big township does more in all, the small one more per point.
	work(smallAgent, 2, "2027-03-10")
	for _, a := range bigAgents[:3] {
		work(a, 1, "2027-03-10")
	}
	e.settle()
	county := small[:6]
	list := func(name, order string) []*redpointv1.LeaderboardEntry {
		resp, err := redpointv1.NewLeaderboardServiceClient(e.GRPC).ListLeaderboardEntries(e.As(t, ctx, demo.CityAdminPhone),
			&redpointv1.ListLeaderboardEntriesRequest{Parent: "regions/" + county + "000000", Level: "TOWNSHIP", Period: name, OrderBy: order, PageSize: 500})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Entries
	}
	rankOf := func(entries []*redpointv1.LeaderboardEntry, tw string) *redpointv1.LeaderboardEntry {
		for _, en := range entries {
			if en.Member == "regions/"+tw+"000" {
				return en
			}
		}
		t.Fatalf("%s not on the board", tw)
		return nil
	}
	total, avg := list("2027-03", "total"), list("2027-03", "average")
	st, bt := rankOf(total, small), rankOf(total, big)
	sa, ba := rankOf(avg, small), rankOf(avg, big)
	if bt.Rank >= st.Rank {
		t.Errorf("by total: big #%d (%v), small #%d (%v); big should lead", bt.Rank, bt.Score, st.Rank, st.Score)
	}
	if sa.Rank >= ba.Rank {
		t.Errorf("by average: small #%d (%v), big #%d (%v); small should lead", sa.Rank, sa.Score, ba.Rank, ba.Score)
	}
	feb := list("2027-02", "total")
	if want := rankOf(feb, big).Rank - bt.Rank; bt.RankChange != want {
		t.Errorf("big township's rank change %d, want %d (February #%d → March #%d)", bt.RankChange, want, rankOf(feb, big).Rank, bt.Rank)
	}
	if st.RankChange >= 0 && rankOf(feb, small).Rank < st.Rank {
		t.Errorf("small township fell from #%d to #%d but shows change %d", rankOf(feb, small).Rank, st.Rank, st.RankChange)
	}
	_ = errand.StateCOMPLETED
}

func mustPeriod(s string) period.Period {
	p, err := period.Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

func TestMissingKeysRebuildOnReadAndReconcileRepairsDrift(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	k := e.App.KV
	// Redis restarted empty: the first read rebuilds the board from the database.
	kvtest.Del(t, k, kvtest.Keys(t, k, leaderboard.KeyPattern(k))...)
	resp, err := redpointv1.NewLeaderboardServiceClient(e.GRPC).ListLeaderboardEntries(e.As(t, ctx, demo.GuhanSecretaryPhone),
		&redpointv1.ListLeaderboardEntriesRequest{Parent: "regions/140400000000", Period: "2026-11", PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if resp.TotalSize != 1286 || len(resp.Entries) != 10 || resp.Entries[0].Score < resp.Entries[9].Score {
		t.Fatalf("rebuilt board: %d members, %d entries", resp.TotalSize, len(resp.Entries))
	}
	// Drift (a lost or doubled update) is found and repaired.
	p := mustPeriod("2026-11")
	if n, err := e.boards.Reconcile(ctx, p); err != nil || n != 0 {
		t.Fatalf("fresh board drift %d, %v", n, err)
	}
	k.Client.ZIncrBy(ctx, leaderboard.BoardKey(k, p, "1404", leaderboard.Points, false), 50, "1")
	if n, err := e.boards.Reconcile(ctx, p); err != nil || n != 1 {
		t.Fatalf("after a stray update: drift %d, %v; want 1", n, err)
	}
	if n, err := e.boards.Reconcile(ctx, p); err != nil || n != 0 {
		t.Errorf("drift %d (%v) after the repair", n, err)
	}
}

// TestRebuildWhileEventsWaitCountsThemOnce: a board rebuilt while scoring
// events still wait for the leaderboard job — read first after Redis came
// back empty, before the relay's backlog drained — leaves them to the job,
// so each counts once.
func TestRebuildWhileEventsWaitCountsThemOnce(t *testing.T) {
	ctx := context.Background()
	e := &env{t: t, clock: testutil.NewClock(testutil.At("2027-03-01 09:00"))}
	// No workers: the events wait, as they do while Redis is away.
	e.Server = apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 100},
		Clock: e.clock.Now, Configure: func(a *app.Options) { a.NoWorkers = true }})
	e.boards = leaderboard.New(e.App.Store.Client, e.App.KV)
	var names []string
	for i := 0; i < 3; i++ {
		names = append(names, e.create(demo.GuhanAgentPhone, fmt.Sprintf("1390000%04d", i), "errandTypes/MI-PAYMENT").Name)
	}
	e.clock.Set(testutil.At("2027-03-01 10:00"))
	for _, n := range names {
		e.complete(demo.GuhanAgentPhone, n)
	}
	p := mustPeriod("2027-03")
	point, village := e.pointOf(demo.GuhanAgentPhone)
	if got := e.score("2027-03", village[:9], point); got != 0 {
		t.Errorf("board rebuilt with the events still waiting: %v points, want 0 until the job adds them", got)
	}
	apptest.Join(t, e.Server) // a replica with workers drains the backlog
	e.settle()
	if got, want := e.score("2027-03", village[:9], point), 3*(leaderboard.PointsCompleted+leaderboard.PointsOnTime); got != want {
		t.Errorf("after the job: %v points, want %v", got, want)
	}
	if n, err := e.boards.Reconcile(ctx, p); err != nil || n != 0 {
		t.Errorf("drift %d (%v) against a rebuild", n, err)
	}
}

// TestAnEventScoresOnceHoweverOftenItsJobRuns: the handler's job writes
// the boards, then commits its ledger entry; a process killed between the
// two, or a lost job run again beside its first run, runs the handler
// again for the same event. The boards count the event once, and a
// rebuild, which counts what the ledger has, forgets the events applied
// to the boards it replaces.
func TestAnEventScoresOnceHoweverOftenItsJobRuns(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	db := e.App.Store.Client
	x := e.create(demo.GuhanAgentPhone, "13900000001", "errandTypes/MI-PAYMENT")
	e.clock.Set(testutil.At("2027-03-01 10:00"))
	e.complete(demo.GuhanAgentPhone, x.Name)
	e.settle()
	point, village := e.pointOf(demo.GuhanAgentPhone)
	once := e.score("2027-03", village[:9], point)
	if once == 0 {
		t.Fatal("the completion did not score")
	}
	row := db.OutboxEvent.Query().Where(outboxevent.TopicEQ(outbox.TopicErrandTransitioned)).Order(ent.Desc(outboxevent.FieldID)).FirstX(ctx)
	payload, err := outbox.Decode(row.Topic, row.Payload)
	if err != nil {
		t.Fatal(err)
	}
	again := func() {
		t.Helper()
		tx, err := db.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }() // the ledger entry that never committed
		ev := events.Event{ID: row.ID, Topic: row.Topic, Payload: payload}
		if err := e.boards.Handler().Handle(ctx, tx, ev); err != nil {
			t.Fatal(err)
		}
	}
	again()
	again()
	if got := e.score("2027-03", village[:9], point); got != once {
		t.Errorf("after the handler ran twice more for the same event: %v points, want still %v", got, once)
	}
	p := mustPeriod("2027-03")
	if n, err := e.boards.Reconcile(ctx, p); err != nil || n != 0 {
		t.Errorf("drift %d (%v) against a rebuild", n, err)
	}
	k := e.App.KV
	if n := k.Client.Exists(ctx, leaderboard.AppliedKey(k, p)).Val(); n != 1 {
		t.Fatal("no applied events recorded for 2027-03")
	}
	if err := e.boards.Rebuild(ctx, p); err != nil {
		t.Fatal(err)
	}
	if n := k.Client.Exists(ctx, leaderboard.AppliedKey(k, p)).Val(); n != 0 {
		t.Error("a rebuild kept the applied events of the boards it replaced")
	}
	// The same id applied more than 48 hours ago — an event of an earlier
	// database under a Redis that outlived it — does not hold this one back.
	k.Client.ZAdd(ctx, leaderboard.AppliedKey(k, p), redis.Z{Score: float64(time.Now().Add(-49 * time.Hour).Unix()), Member: strconv.Itoa(row.ID)})
	again()
	if got := e.score("2027-03", village[:9], point); got != 2*once {
		t.Errorf("an event whose id was applied 49 hours ago: %v points, want %v", got, 2*once)
	}
}

// A point of another city of the deployment (a province's or the
// country's) ranks in its own city by default, not in Changzhi's.
func TestRankDefaultsToThePointsOwnCity(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	db := e.App.Store.Client
	for _, r := range []struct {
		id, parent, name string
		level            region.Level
	}{
		{"140100000000", "", "太原市", region.LevelCITY}, {"140105000000", "140100000000", "小店区", region.LevelCOUNTY},
		{"140105001000", "140105000000", "坞城街道", region.LevelTOWNSHIP}, {"140105001001", "140105001000", "坞城社区", region.LevelVILLAGE},
	} {
		c := db.Region.Create().SetID(r.id).SetName(r.name).SetLevel(r.level)
		if r.parent != "" {
			c.SetParentID(r.parent)
		}
		c.ExecX(ctx)
	}
	sp := db.ServicePoint.Create().SetName("坞城社区红色代办点").SetRegionID("140105001001").SaveX(ctx)
	p := mustPeriod("2027-03")
	if err := e.boards.Rebuild(ctx, p); err != nil {
		t.Fatal(err)
	}
	srv := leaderboard.NewServer(e.boards, nil, e.clock.Now)
	rank, err := srv.GetServicePointRank(ctx, &redpointv1.GetServicePointRankRequest{ServicePoint: fmt.Sprintf("servicePoints/%d", sp.ID), Period: "2027-03"})
	if err != nil {
		t.Fatalf("rank of a 太原市 point, default scope: %v", err)
	}
	if rank.GetScope() != "regions/140100000000" || rank.GetTotalSize() != 1 || rank.GetEntry().GetRank() != 1 {
		t.Errorf("scope %s, rank %d of %d; want first of 1 in regions/140100000000", rank.GetScope(), rank.GetEntry().GetRank(), rank.GetTotalSize())
	}
}
