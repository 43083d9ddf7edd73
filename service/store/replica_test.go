package store_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/changzhi/redpoint/ent/region"
	"github.com/changzhi/redpoint/service/store"
	"github.com/changzhi/redpoint/service/store/storetest"
	"github.com/changzhi/redpoint/service/testutil"
)

// The replica tests pause the shared replica's replay (PauseReplay takes
// turns across packages) and are not parallel.

// fast measures the lag often, so the guard's switches show quickly.
const fast = 100 * time.Millisecond

func addRegion(t *testing.T, st *store.Store, id string) {
	t.Helper()
	if err := st.Client.Region.Create().SetID(id).SetName("测试村").SetLevel(region.LevelVILLAGE).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// counts reads the regions through r, by ent and by SQL, failing on an error.
func counts(t *testing.T, r store.Reader) (byEnt, bySQL int) {
	t.Helper()
	ctx := context.Background()
	byEnt, err := r.Client.Region.Query().Count(ctx)
	if err != nil {
		t.Fatalf("ent read: %v", err)
	}
	rows, err := r.QueryContext(ctx, "SELECT count(*) FROM regions")
	if err != nil {
		t.Fatalf("SQL read: %v", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		if err := rows.Scan(&bySQL); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("SQL read: %v", err)
	}
	return byEnt, bySQL
}

func readsBy(t *testing.T, st *store.Store, target string) float64 {
	t.Helper()
	for _, m := range metric(t, st, "redpoint_database_reads_total").GetMetric() {
		if label(m, "target") == target {
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no redpoint_database_reads_total{target=%q}", target)
	return 0
}

// metric is the store's metric family name, as /metrics has it.
func metric(t *testing.T, st *store.Store, name string) *dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(st.Collectors()...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f
		}
	}
	t.Fatalf("no %s", name)
	return nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func waitForReplica(t *testing.T, st *store.Store, want bool) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, "the guard sends the reads to the replica: "+map[bool]string{true: "yes", false: "no"}[want], func() bool {
		return st.Reads(context.Background()).Replica() == want
	})
}

func TestReadsGoToTheReplica(t *testing.T) {
	st := storetest.OpenReplicated(t, store.ReplicaOptions{MaxLag: time.Hour, Refresh: fast})
	addRegion(t, st, "140400000001")
	waitForReplica(t, st, true)
	storetest.PauseReplay(t, st)
	addRegion(t, st, "140400000002") // on the primary only, while replay stands still

	before := readsBy(t, st, "replica")
	r := st.Reads(context.Background())
	if !r.Replica() {
		t.Fatal("Reads chose the primary with the replica within the bound")
	}
	if e, s := counts(t, r); e != 1 || s != 1 {
		t.Errorf("routed reads saw %d (ent) and %d (SQL) regions, want the replica's 1", e, s)
	}
	if got := readsBy(t, st, "replica") - before; got != 2 {
		t.Errorf("reads counted on the replica: %v, want 2", got)
	}
	if e, s := counts(t, st.Primary()); e != 2 || s != 2 {
		t.Errorf("primary reads saw %d (ent) and %d (SQL) regions, want 2", e, s)
	}
	// A read that must see every commit before it doesn't read the
	// paused replica, which has not replayed them.
	if r := st.CurrentReads(context.Background()); r.Replica() {
		t.Error("CurrentReads chose a replica that has not replayed the latest commit")
	} else if e, _ := counts(t, r); e != 2 {
		t.Errorf("CurrentReads saw %d regions, want 2", e)
	}
}

func TestCurrentReadsUseACaughtUpReplica(t *testing.T) {
	st := storetest.OpenReplicated(t, store.ReplicaOptions{MaxLag: time.Hour, Refresh: fast})
	addRegion(t, st, "140400000001")
	waitForReplica(t, st, true)
	// Streaming replays a commit within milliseconds: the fence is met.
	testutil.Eventually(t, 30*time.Second, "CurrentReads reads the replica once it replayed the commit", func() bool {
		r := st.CurrentReads(context.Background())
		if !r.Replica() {
			return false
		}
		if e, _ := counts(t, r); e != 1 {
			t.Fatalf("CurrentReads on the replica saw %d regions, want 1", e)
		}
		return true
	})
	if n := catchUps(t, st); n == 0 {
		t.Error("redpoint_database_replica_catch_up_seconds counted no read that waited for the replica")
	}
}

// catchUps is how many reads CurrentReads sent to the replica once it had
// caught up (redpoint_database_replica_catch_up_seconds' count).
func catchUps(t *testing.T, st *store.Store) uint64 {
	t.Helper()
	return metric(t, st, "redpoint_database_replica_catch_up_seconds").GetMetric()[0].GetHistogram().GetSampleCount()
}

func TestReadsLeaveALaggingReplica(t *testing.T) {
	st := storetest.OpenReplicated(t, store.ReplicaOptions{MaxLag: store.MinReplicaLag, Refresh: fast})
	waitForReplica(t, st, true)
	resume := storetest.PauseReplay(t, st)
	addRegion(t, st, "140400000001") // the replica receives it, and can't replay it
	waitForReplica(t, st, false)
	lag, usable, ok := st.ReplicaLag()
	if !ok || usable || lag <= store.MinReplicaLag {
		t.Errorf("ReplicaLag() = %v, %v, %v; want beyond %v, not usable", lag, usable, ok, store.MinReplicaLag)
	}
	if e, s := counts(t, st.Reads(context.Background())); e != 1 || s != 1 {
		t.Errorf("reads on the primary saw %d (ent) and %d (SQL) regions, want 1", e, s)
	}
	resume()
	waitForReplica(t, st, true)
}

// proxy forwards TCP connections to target until closed; Close also cuts
// the connections it carries, as a replica that went away does.
type proxy struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l}
	t.Cleanup(p.Close)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	return p
}

func (p *proxy) Close() {
	_ = p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func TestReadsSurviveTheReplicaGoingAway(t *testing.T) {
	server := storetest.ReplicaServer(t)
	st := storetest.Open(t)
	addRegion(t, st, "140400000001")
	storetest.WaitReplayed(t, st)
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host)
	var name string
	if err := st.DB.QueryRow("SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	u.Host, u.Path = p.l.Addr().String(), "/"+name
	if err := st.UseReplica(u.String(), store.ReplicaOptions{MaxLag: time.Hour, Refresh: fast}); err != nil {
		t.Fatal(err)
	}
	waitForReplica(t, st, true)
	r := st.Reads(context.Background())
	counts(t, r) // the pool holds connections through the proxy now
	p.Close()
	primaryBefore := readsBy(t, st, "primary")
	if e, s := counts(t, r); e != 1 || s != 1 { // fails the test on an error
		t.Errorf("reads after the replica went away saw %d (ent) and %d (SQL) regions, want 1", e, s)
	}
	if got := readsBy(t, st, "primary") - primaryBefore; got != 2 {
		t.Errorf("reads counted on the primary: %v, want the 2 the replica failed", got)
	}
	if st.Reads(context.Background()).Replica() {
		t.Error("Reads still chose the replica after it went away")
	}
}

func TestReadsUseThePrimaryWhileTheReplicaIsUnreachable(t *testing.T) {
	if storetest.Dialect() != "postgres" {
		t.Skipf("a read replica needs PostgreSQL: set %s", storetest.EnvDatabaseURL)
	}
	st := storetest.Open(t)
	addRegion(t, st, "140400000001")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := l.Addr().String()
	testutil.Close(t, l) // nothing listens there now
	if err := st.UseReplica("postgres://postgres@"+nobody+"/test?sslmode=disable", store.ReplicaOptions{Refresh: fast}); err != nil {
		t.Fatal(err)
	}
	// Before the first measurement and after failed ones alike.
	for range 3 {
		r := st.Reads(context.Background())
		if r.Replica() {
			t.Fatal("Reads chose a replica that does not answer")
		}
		if e, s := counts(t, r); e != 1 || s != 1 {
			t.Errorf("reads saw %d (ent) and %d (SQL) regions, want 1", e, s)
		}
	}
}

func TestUseReplicaNeedsPostgres(t *testing.T) {
	t.Parallel()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Close(t, st)
	if err := st.UseReplica("postgres://postgres@127.0.0.1:5433/test?sslmode=disable", store.ReplicaOptions{}); err == nil {
		t.Error("UseReplica on SQLite: no error")
	}
	if st.Reads(context.Background()).Replica() {
		t.Error("SQLite reads chose a replica")
	}
}
