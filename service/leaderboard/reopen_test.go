package leaderboard_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/changzhi/redpoint/ent/rating"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/testutil"
)

// standing is a point's score and scored completions in a period.
func (e *env) standing(name, scope string, pointID int) (float64, int) {
	e.t.Helper()
	entry, _, ok, err := e.boards.RankOf(context.Background(), leaderboard.Board{Period: mustPeriod(name), Scope: scope, Level: leaderboard.Points}, fmt.Sprint(pointID))
	if err != nil || !ok {
		e.t.Fatalf("rank of %d in %s %s: %v %v", pointID, name, scope, ok, err)
	}
	return entry.Total, entry.Completed
}

// TestReopenWithdrawsTheCompletionUntilCompletedAgain: a reopening takes
// the completion's points (and its count) off the board; the rating and
// the follow-up credit stay; completed again, the errand scores once, on
// time or late against its new due time. A quick completion credited by
// its rating is withdrawn the same way. The boards equal a rebuild.
func TestReopenWithdrawsTheCompletionUntilCompletedAgain(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	agent := demo.GuhanAgentPhone
	point, village := e.pointOf(agent)
	township := village[:9]
	periods := []string{"2027-03", "2027-W10", "2027-W11", "2027-Q1"}
	for _, p := range periods { // the boards exist before the run, as in TestIncrementalEqualsRebuild
		if err := e.boards.Rebuild(ctx, mustPeriod(p)); err != nil {
			t.Fatal(err)
		}
	}
	score0, done0 := e.standing("2027-03", township, point)
	check := func(label string, wantScore float64, wantDone int) {
		t.Helper()
		e.settle()
		if got, done := e.standing("2027-03", township, point); got != score0+wantScore || done != done0+wantDone {
			t.Errorf("%s: score %+v, %+d completed; want %+v, %+d", label, got-score0, done-done0, wantScore, wantDone)
		}
	}

	e.clock.Set(testutil.At("2027-03-10 09:00"))
	x := e.create(agent, "13933330001", "errandTypes/MI-PAYMENT")
	e.clock.Set(testutil.At("2027-03-10 11:00"))
	e.complete(agent, x.Name)
	check("completed on time", leaderboard.PointsCompleted+leaderboard.PointsOnTime, 1)
	e.clock.Set(testutil.At("2027-03-10 12:00"))
	e.rate(x.Name, rating.LevelVERY_DISSATISFIED)
	bad := leaderboard.PointsRating[rating.LevelVERY_DISSATISFIED]
	check("rated 非常不满意", leaderboard.PointsCompleted+leaderboard.PointsOnTime+bad, 1)

	e.clock.Set(testutil.At("2027-03-11 10:00"))
	reopened, err := e.client().ReopenErrand(e.As(t, ctx, demo.GuhanSecretaryPhone), &redpointv1.ReopenErrandRequest{
		Name: x.Name, FollowUp: e.followUpOf(x.Name), Reason: "回访核实未办好"})
	if err != nil {
		t.Fatal(err)
	}
	check("reopened: the completion is withdrawn, the rating stays", bad, 0)
	e.clock.Set(testutil.At("2027-03-11 11:00"))
	e.closeFollowUp(x.Name)
	credit := leaderboard.CreditFollowUp[rating.LevelVERY_DISSATISFIED]
	check("the follow-up closed", bad+credit, 0)
	e.clock.Set(reopened.DueTime.AsTime().Add(time.Hour))
	e.complete(agent, x.Name)
	check("completed again, late against the new due time", bad+credit+leaderboard.PointsCompleted, 1)

	// A quick completion, credited by its rating, reopened by its resident.
	me := e.resident("demo-lb-quick", "13933330002")
	// Completed on Sunday night (week 10), rated on Monday (week 11): the
	// credit counts in week 11, and is withdrawn there.
	e.clock.Set(testutil.At("2027-03-14 23:50"))
	y := e.create(agent, "13933330002", "errandTypes/MI-PAYMENT")
	e.clock.Set(testutil.At("2027-03-14 23:53"))
	e.complete(agent, y.Name)
	e.clock.Set(testutil.At("2027-03-15 08:00"))
	e.rate(y.Name, rating.LevelSATISFIED)
	good := leaderboard.PointsRating[rating.LevelSATISFIED]
	sofar := bad + credit + leaderboard.PointsCompleted
	check("a quick completion, rated", sofar+leaderboard.PointsCompleted+leaderboard.PointsOnTime+good, 2)
	e.clock.Set(testutil.At("2027-03-15 10:00"))
	if _, err := redpointv1.NewResidentServiceClient(e.GRPC).ReopenMyErrand(me, &redpointv1.ReopenMyErrandRequest{
		Name: fmt.Sprintf("residents/me/errands/%d", testutil.ID(t, y.Name)), Reason: "没办好"}); err != nil {
		t.Fatal(err)
	}
	check("the quick one reopened", sofar+good, 1)
	e.clock.Set(testutil.At("2027-03-16 10:00"))
	e.complete(agent, y.Name)
	check("the quick one completed again", sofar+good+leaderboard.PointsCompleted+leaderboard.PointsOnTime, 2)

	for _, p := range periods {
		if drift, err := e.boards.Reconcile(ctx, mustPeriod(p)); err != nil || drift != 0 {
			t.Errorf("%s: drift %d (%v) against a rebuild", p, drift, err)
		}
	}
}
