package report_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/changzhi/redpoint/ent/processedevent"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/store"
	"github.com/changzhi/redpoint/service/store/storetest"
	"github.com/changzhi/redpoint/service/testutil"
)

// With a read replica, the workload figures and the export are read there
// (a change the paused replica has not replayed is not in them), except
// the cache fill after a change: filed under the region's new version, it
// must count the change, and so reads where every commit is seen. Not
// parallel: it pauses the shared replica (storetest.PauseReplay).
func TestReplicaReadsWorkloadsAndTheCacheFillSeesTheChange(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 200},
		Replica: &store.ReplicaOptions{MaxLag: time.Hour, Refresh: 100 * time.Millisecond}})
	ctx := context.Background()
	st := s.App.Store
	testutil.Eventually(t, 30*time.Second, "the reads go to the replica", func() bool { return st.Reads(ctx).Replica() })
	sec := s.As(t, ctx, demo.DanzhuSecretaryPhone)
	reports := redpointv1.NewReportServiceClient(s.GRPC)
	received := func() int32 {
		t.Helper()
		w, err := reports.GetWorkload(sec, &redpointv1.GetWorkloadRequest{Name: "regions/140428100000/workload", GroupBy: "AGENT"})
		if err != nil {
			t.Fatal(err)
		}
		return w.Total.Received
	}
	exported := func() string {
		t.Helper()
		code, body, _ := download(t, s, "/v1/regions/140428100000/workload:export")
		if code != 200 {
			t.Fatalf("export: %d %s", code, body)
		}
		f, err := excelize.OpenReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		v, err := f.GetCellValue("汇总", "B2", excelize.Options{RawCellValue: true}) // 受理数
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := received()
	storetest.WaitReplayed(t, st)
	if got := exported(); got != strconv.Itoa(int(before)) {
		t.Fatalf("export before the change: 受理数 %s, want %d", got, before)
	}
	processed := func() int {
		n, err := st.Client.ProcessedEvent.Query().Where(processedevent.Handler("workload-invalidate")).Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	done := processed()
	storetest.PauseReplay(t, st)
	if _, err := redpointv1.NewErrandServiceClient(s.GRPC).CreateErrand(s.As(t, ctx, demo.DanzhuAgentPhone), &redpointv1.CreateErrandRequest{
		RequestId: "wl-replica-1", Errand: &redpointv1.Errand{ErrandType: "errandTypes/MI-PAYMENT", ResidentName: "李四", ResidentPhone: "13912348765"}}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "the outbox passed the change on", func() bool { return processed() != done })
	replicaReads := s.Metric(t, `redpoint_database_reads_total{target="replica"}`)
	if got := exported(); got != strconv.Itoa(int(before)) {
		t.Errorf("export from the paused replica: 受理数 %s, want the replica's %d", got, before)
	}
	if got := s.Metric(t, `redpoint_database_reads_total{target="replica"}`); got <= replicaReads {
		t.Errorf("the export's queries on the replica: %v before, %v after", replicaReads, got)
	}
	if got := received(); got != before+1 {
		t.Errorf("workload after the change, filed under the new version: received %d, want %d", got, before+1)
	}
	if got := s.Metric(t, "redpoint_database_replica_behind_total"); got < 1 {
		t.Errorf("redpoint_database_replica_behind_total = %v, want the cache fill counted", got)
	}
}
