package leaderboard_test

import (
	"context"
	"testing"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/period"
	"github.com/changzhi/redpoint/service/store"
	"github.com/changzhi/redpoint/service/store/storetest"
	"github.com/changzhi/redpoint/service/testutil"
)

// A rebuild reads the replica when given one (ReadsFrom): from a paused
// replica it misses a completion the primary has. The reconciliation
// reads the primary, whose boards it finds exact. Not parallel: it pauses
// the shared replica (storetest.PauseReplay).
func TestRebuildReadsTheReplicaAndReconcileThePrimary(t *testing.T) {
	e := &env{t: t, clock: testutil.NewClock(testutil.At("2027-03-01 09:00"))}
	e.Server = apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 100},
		Clock: e.clock.Now, Replica: &store.ReplicaOptions{MaxLag: time.Hour, Refresh: 100 * time.Millisecond}})
	ctx := context.Background()
	st := e.App.Store
	e.boards = leaderboard.New(st.Client, e.App.KV, leaderboard.ReadsFrom(func(ctx context.Context) *ent.Client { return st.Reads(ctx).Client }))
	onPrimary := leaderboard.New(st.Client, e.App.KV)
	testutil.Eventually(t, 30*time.Second, "the reads go to the replica", func() bool { return st.Reads(ctx).Replica() })
	p := period.Of(period.Month, e.clock.Now())
	if err := onPrimary.Rebuild(ctx, p); err != nil {
		t.Fatal(err)
	}
	point, village := e.pointOf(demo.DanzhuAgentPhone)
	completeOne := func(resident string) {
		x := e.create(demo.DanzhuAgentPhone, resident, "errandTypes/MI-PAYMENT")
		e.consent(demo.DanzhuAgentPhone, x.Name) // confirmed: it scores at once
		e.clock.Advance(2 * time.Minute)
		e.complete(demo.DanzhuAgentPhone, x.Name)
		e.settle()
	}
	completeOne("13911110001")
	storetest.WaitReplayed(t, st)
	if err := e.boards.Rebuild(ctx, p); err != nil {
		t.Fatal(err)
	}
	replayed := e.score(p.String(), village[:9], point)

	storetest.PauseReplay(t, st)
	completeOne("13911110002")
	live := e.score(p.String(), village[:9], point)
	if live <= replayed {
		t.Fatalf("the second completion did not score: %v, then %v", replayed, live)
	}
	if err := e.boards.Rebuild(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := e.score(p.String(), village[:9], point); got != replayed {
		t.Errorf("rebuilt from the paused replica: %v, want its %v (the primary has %v)", got, replayed, live)
	}
	if n, err := e.boards.Reconcile(ctx, p); err != nil || n == 0 {
		t.Errorf("Reconcile after a rebuild from the paused replica: %d members off (%v), want the drift found", n, err)
	}
	if got := e.score(p.String(), village[:9], point); got != live {
		t.Errorf("after the reconciliation: %v, want the primary's %v", got, live)
	}
}
