package leaderboard_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/testutil"
)

// TestBoardsOnARedisCluster: on a Redis Cluster, which refuses a script
// or a multi-key command over keys of two slots (CROSSSLOT), a period's
// boards build, swap in, read and take live updates as on one server,
// with the same figures.
func TestBoardsOnARedisCluster(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	node := kvtest.StartClusterNode(t)
	ck, err := kv.Open(ctx, node.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Close(t, ck)
	if !ck.Cluster {
		t.Fatal("the node is no cluster")
	}
	p := mustPeriod("2026-11")
	city := leaderboard.Board{Period: p, Scope: "1404", Level: leaderboard.Townships, Average: true}
	want := within(t, readAsync(rebuilt(t, e, p), city), "a read on one server")
	if want.err != nil || len(want.entries) == 0 {
		t.Fatalf("on one server: %+v", want)
	}

	b := leaderboard.New(e.App.Store.Client, ck)
	for _, q := range []string{"2026-11", "2026-10"} {
		if err := b.Rebuild(ctx, mustPeriod(q)); err != nil { // the swap script: every key of the period
			t.Fatalf("rebuilding %s on the cluster: %v", q, err)
		}
	}
	got := within(t, readAsync(b, city), "a read on the cluster")
	if got.err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("on the cluster:\n got %+v\nwant %+v", got, want)
	}
	if n, err := b.Reconcile(ctx, p); err != nil || n != 0 {
		t.Errorf("Reconcile on the cluster: drift %d, %v", n, err)
	}
	if err := b.Apply(ctx, "1", []leaderboard.Component{{PointID: 1, Village: "140402100200", At: testutil.At("2026-11-20 10:00"), Points: 1, Completed: 1}}); err != nil {
		t.Errorf("Apply on the cluster: %v", err)
	}
	if _, err := b.Warm(ctx, testutil.At("2026-11-20 10:00")); err != nil { // the rest of the current periods, built on their first read
		t.Errorf("Warm on the cluster: %v", err)
	}
}
