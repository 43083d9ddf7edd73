package report_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/ent/processedevent"
	"github.com/changzhi/redpoint/ent/rating"
	"github.com/changzhi/redpoint/ent/reportsnapshot"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/period"
	"github.com/changzhi/redpoint/service/testutil"
)

// handMade builds a small dataset at the 丹朱镇 demo agent's point in May
// 2027, where the demo has nothing, and returns the server at 05-31 10:00.
func handMade(t *testing.T) *apptest.Server {
	clock := testutil.NewClock(testutil.At("2027-04-30 09:00"))
	set := func(s string) { clock.Set(testutil.At(s)) }
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 1},
		Clock: clock.Now, Configure: func(a *app.Options) { a.NoWorkers = true }})
	ctx := s.As(t, context.Background(), demo.DanzhuAgentPhone)
	c := redpointv1.NewErrandServiceClient(s.GRPC)
	n := 0
	create := func(when, typ string) string {
		set(when)
		n++
		x, err := c.CreateErrand(ctx, &redpointv1.CreateErrandRequest{RequestId: fmt.Sprintf("hm-%d", n),
			Errand: &redpointv1.Errand{ErrandType: typ, ResidentName: "测试", ResidentPhone: fmt.Sprintf("139555%05d", n)}})
		if err != nil {
			t.Fatal(err)
		}
		return x.Name
	}
	complete := func(when, name string) {
		set(when)
		if _, err := c.CompleteErrand(ctx, &redpointv1.CompleteErrandRequest{Name: name, Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	rate := func(when, name string, level rating.Level) {
		set(when)
		db := s.App.Store.Client
		id := testutil.ID(t, name)
		e := db.Errand.GetX(context.Background(), id)
		r := db.Rating.Create().SetErrandID(id).SetServicePointID(e.ServicePointID).SetRegionID(e.RegionID).SetLevel(level).SetCreateTime(testutil.At(when).UTC()).SaveX(context.Background())
		db.ErrandEvent.Create().SetErrandID(id).SetKind(errandevent.KindRATED).SetActorKind(errandevent.ActorKindRESIDENT).ExecX(context.Background())
		if level == rating.LevelVERY_DISSATISFIED {
			db.FollowUp.Create().SetRatingID(r.ID).SetErrandID(id).SetRegionID(e.RegionID).ExecX(context.Background())
		}
	}
	consent := func(name string) { // the resident signed a paper consent
		if _, err := c.RecordPaperConsent(ctx, &redpointv1.RecordPaperConsentRequest{Name: name, WitnessName: "村委会主任"}); err != nil {
			t.Fatal(err)
		}
	}
	e6 := create("2027-04-30 09:00", "errandTypes/MI-PAYMENT") // due Mon 05-03; completed 05-06: late, 4 working days
	complete("2027-05-06 10:00", e6)
	e1 := create("2027-05-10 09:00", "errandTypes/MI-PAYMENT") // due Wed 05-12; completed 05-11: on time, 1 day
	consent(e1)
	complete("2027-05-11 10:00", e1)
	e2 := create("2027-05-10 09:00", "errandTypes/SI-PENSION-CERT") // due Thu 05-13; completed Mon 05-17: late, 5 days
	complete("2027-05-17 10:00", e2)
	e3 := create("2027-05-12 09:00", "errandTypes/MI-PAYMENT") // due Fri 05-14; completed 05-14: on time, 2 days
	consent(e3)
	complete("2027-05-14 10:00", e3)
	e4 := create("2027-05-20 09:00", "errandTypes/MI-PAYMENT") // due Mon 05-24: overdue on 05-31
	set("2027-05-20 10:00")
	if _, err := c.StartErrand(ctx, &redpointv1.StartErrandRequest{Name: e4}); err != nil {
		t.Fatal(err)
	}
	e5 := create("2027-05-21 09:00", "errandTypes/CA-DIBAO") // waiting for materials, paused before due
	set("2027-05-21 10:00")
	if _, err := c.StartErrand(ctx, &redpointv1.StartErrandRequest{Name: e5}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RequestErrandMaterials(ctx, &redpointv1.RequestErrandMaterialsRequest{Name: e5, MissingMaterials: []string{"户口簿"}}); err != nil {
		t.Fatal(err)
	}
	rate("2027-05-12 10:00", e1, rating.LevelSATISFIED)
	rate("2027-05-18 10:00", e2, rating.LevelVERY_DISSATISFIED)
	rate("2027-05-15 10:00", e3, rating.LevelBASICALLY_SATISFIED)
	rate("2027-04-30 12:00", e6, rating.LevelVERY_SATISFIED) // an April rating: not May's
	set("2027-05-31 10:00")
	if err := s.App.Background().Timers().Sweep(context.Background()); err != nil { // escalates e4
		t.Fatal(err)
	}
	return s
}

func TestWorkloadFiguresAreExact(t *testing.T) {
	s := handMade(t)
	ctx := s.As(t, context.Background(), demo.DanzhuSecretaryPhone)
	reports := redpointv1.NewReportServiceClient(s.GRPC)
	w, err := reports.GetWorkload(ctx, &redpointv1.GetWorkloadRequest{Name: "regions/140428100000/workload", Period: "2027-05", GroupBy: "AGENT"})
	if err != nil {
		t.Fatal(err)
	}
	want := &redpointv1.WorkloadRow{Received: 5, Completed: 4, InProgress: 1, NeedsMaterials: 1, Overdue: 1, CompletedLate: 2,
		OnTimeRate: 0.5, MedianWorkingDays: 3, P90WorkingDays: 5, Ratings: 3, SatisfactionRate: 2.0 / 3, BadRatings: 1, OpenFollowUps: 1, Escalations: 1,
		Consented: 2, ConsentRate: 0.4}
	check := func(label string, got *redpointv1.WorkloadRow) {
		t.Helper()
		for _, f := range []struct {
			name      string
			got, want float64
		}{
			{"received", float64(got.Received), float64(want.Received)}, {"completed", float64(got.Completed), float64(want.Completed)},
			{"in progress", float64(got.InProgress), float64(want.InProgress)}, {"needs materials", float64(got.NeedsMaterials), float64(want.NeedsMaterials)},
			{"overdue", float64(got.Overdue), float64(want.Overdue)}, {"completed late", float64(got.CompletedLate), float64(want.CompletedLate)},
			{"on-time rate", got.OnTimeRate, want.OnTimeRate}, {"median", got.MedianWorkingDays, want.MedianWorkingDays},
			{"p90", got.P90WorkingDays, want.P90WorkingDays}, {"ratings", float64(got.Ratings), float64(want.Ratings)},
			{"satisfaction", got.SatisfactionRate, want.SatisfactionRate}, {"bad ratings", float64(got.BadRatings), float64(want.BadRatings)},
			{"open follow-ups", float64(got.OpenFollowUps), float64(want.OpenFollowUps)}, {"escalations", float64(got.Escalations), float64(want.Escalations)},
			{"consented", float64(got.Consented), float64(want.Consented)}, {"consent rate", got.ConsentRate, want.ConsentRate},
		} {
			if math.Abs(f.got-f.want) > 1e-9 {
				t.Errorf("%s %s = %v, want %v", label, f.name, f.got, f.want)
			}
		}
	}
	check("total", w.Total)
	if len(w.Rows) != 1 || !strings.HasPrefix(w.Rows[0].Key, "users/") || w.Rows[0].DisplayName == "" {
		t.Fatalf("rows by agent: %v", w.Rows)
	}
	check("the agent", w.Rows[0])
	byPoint, err := reports.GetWorkload(ctx, &redpointv1.GetWorkloadRequest{Name: "regions/140428100000/workload", Period: "2027-05", GroupBy: "SERVICE_POINT"})
	if err != nil || len(byPoint.Rows) != 1 {
		t.Fatalf("by point: %v, %v", byPoint, err)
	}
	check("the point", byPoint.Rows[0])
	// Period boundaries: April holds e6's acceptance and its rating only.
	apr, err := reports.GetWorkload(ctx, &redpointv1.GetWorkloadRequest{Name: "regions/140428100000/workload", Period: "2027-04"})
	if err != nil {
		t.Fatal(err)
	}
	if apr.Total.Received != 1 || apr.Total.Completed != 0 || apr.Total.Ratings != 1 || apr.Total.SatisfactionRate != 1 {
		t.Errorf("April: %+v", apr.Total)
	}
	// A custom range: 05-10 to 05-12 (exclusive) holds e1 and e2's acceptance and e1's completion.
	custom, err := reports.GetWorkload(ctx, &redpointv1.GetWorkloadRequest{Name: "regions/140428100000/workload",
		StartTime: tsOf(testutil.At("2027-05-10 00:00")), EndTime: tsOf(testutil.At("2027-05-12 00:00")), GroupBy: "ERRAND_TYPE"})
	if err != nil {
		t.Fatal(err)
	}
	// Rows: the two types received, and CA-DIBAO, open now.
	if custom.Total.Received != 2 || custom.Total.Completed != 1 || custom.Total.MedianWorkingDays != 1 || len(custom.Rows) != 3 ||
		custom.Total.Consented != 1 || custom.Total.ConsentRate != 0.5 {
		t.Errorf("custom range: total %+v, %d rows", custom.Total, len(custom.Rows))
	}
	// Lists that drive action.
	overdue, err := reports.ListOverdueErrands(ctx, &redpointv1.ListOverdueErrandsRequest{Parent: "regions/140428100000"})
	if err != nil || overdue.TotalSize != 1 || overdue.OverdueErrands[0].OverdueWorkingDays != 5 {
		t.Errorf("overdue: %v, %v", overdue, err)
	}
	follow, err := reports.ListFollowUps(ctx, &redpointv1.ListFollowUpsRequest{Parent: "regions/140428100000", OpenOnly: true})
	if err != nil || len(follow.FollowUps) != 1 || follow.FollowUps[0].RatingDisplayName != "非常不满意" || !follow.FollowUps[0].Open {
		t.Errorf("follow-ups: %v, %v", follow, err)
	}
}

func TestWorkloadScope(t *testing.T) {
	s := handMade(t)
	reports := redpointv1.NewReportServiceClient(s.GRPC)
	cases := []struct {
		phone, region string
		want          codes.Code
	}{
		{demo.DanzhuSecretaryPhone, "140428100000", codes.OK},
		{demo.GuhanSecretaryPhone, "140428100000", codes.PermissionDenied},
		{demo.CountyAdminPhone, "140423000000", codes.OK},
		{demo.CountyAdminPhone, "140428000000", codes.PermissionDenied},
		{demo.CityAdminPhone, "140400000000", codes.OK},
		{demo.DanzhuAgentPhone, "140428100000", codes.PermissionDenied},
	}
	for _, tc := range cases {
		_, err := reports.GetWorkload(s.As(t, context.Background(), tc.phone), &redpointv1.GetWorkloadRequest{Name: "regions/" + tc.region + "/workload", Period: "2027-05"})
		if status.Code(err) != tc.want {
			t.Errorf("%s on %s: %v, want %v", tc.phone, tc.region, err, tc.want)
		}
	}
}

func TestExcelHoldsTheSameNumbers(t *testing.T) {
	s := handMade(t)
	code, body, headers := download(t, s, "/v1/regions/140428100000/workload:export?period=2027-05")
	if code != 200 {
		t.Fatalf("export: %d %s", code, body)
	}
	if ct := headers.Get("Content-Type"); ct != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" {
		t.Errorf("content type %q", ct)
	}
	if cd := headers.Get("Content-Disposition"); !strings.Contains(cd, "filename*=UTF-8''") || !strings.Contains(cd, "%E4%B8%B9%E6%9C%B1%E9%95%87") { // 丹朱镇
		t.Errorf("content disposition %q", cd)
	}
	f, err := excelize.OpenReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sheets := f.GetSheetList()
	if strings.Join(sheets, ",") != "汇总,按下级地区,按代办点,按代办员,按事项" {
		t.Errorf("sheets %v", sheets)
	}
	rows, err := f.GetRows("汇总", excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0][1] != "受理数" {
		t.Fatalf("summary rows %v", rows)
	}
	// 受理数 办结数 办理中 待补正 当前超期 超期办结 按时办结率 中位数 P90 评价数 满意率 差评数 待回访 督办数 已授权数 授权率 重新办理数 重新办理率
	want := []string{"5", "4", "1", "1", "1", "2", "0.5", "3", "5", "3", "0.666666666666667", "1", "1", "1", "2", "0.4", "0", "0"}
	if len(rows[0]) != len(want)+1 || rows[0][15] != "已授权数" || rows[0][16] != "授权率" {
		t.Errorf("header %v", rows[0])
	}
	for i, w := range want {
		got := rows[1][i+1]
		twoThirds := strings.HasPrefix(got, "0.6666666") && strings.HasPrefix(w, "0.6666666") // 2/3, to another precision
		if got != w && !twoThirds {
			t.Errorf("summary %s = %q, want %q", rows[0][i+1], got, w)
		}
	}
	if panes, err := f.GetPanes("按代办员"); err != nil || !panes.Freeze || panes.YSplit != 1 {
		t.Errorf("header row not frozen: %+v (%v)", panes, err)
	}
	style, err := f.GetCellStyle("汇总", "H2")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := f.GetStyle(style); err != nil || st == nil || st.NumFmt != 10 {
		t.Errorf("on-time rate not formatted as a percentage (%v)", err)
	}
	// Every rate is a percentage: 按时办结率 H, 满意率 L, 授权率 Q, 重新办理率 S.
	for _, cell := range []string{"H2", "L2", "Q2", "S2"} {
		style, err := f.GetCellStyle("汇总", cell)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := f.GetStyle(style); err != nil || st == nil || st.NumFmt != 10 {
			t.Errorf("%s (%s) not formatted as a percentage (%v)", cell, rows[0][int(cell[0]-'A')], err)
		}
	}
}

func TestSnapshotsAreStoredOnceAndDownloadable(t *testing.T) {
	s := handMade(t)
	ctx := context.Background()
	reportsRun := func() {
		p, err := period.Parse("2027-05")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.App.Background().Reports().Snapshot(ctx, reportsnapshot.KindMONTHLY_REPORT, p, testutil.At("2027-06-01 08:00")); err != nil {
			t.Fatal(err)
		}
	}
	reportsRun()
	reportsRun() // a retried job stores nothing twice
	if n := s.App.Store.Client.ReportSnapshot.Query().CountX(ctx); n != 1+12+128 {
		t.Errorf("%d snapshots, want one each for the city, 12 counties and 128 townships", n)
	}
	list, err := redpointv1.NewReportServiceClient(s.GRPC).ListReportSnapshots(s.As(t, ctx, demo.DanzhuSecretaryPhone),
		&redpointv1.ListReportSnapshotsRequest{Parent: "regions/140428100000"})
	if err != nil || len(list.ReportSnapshots) != 1 || list.ReportSnapshots[0].FileName != "丹朱镇-2027年5月-代办工作月报.xlsx" {
		t.Fatalf("snapshots: %v, %v", list, err)
	}
	code, body, _ := download(t, s, "/v1/"+list.ReportSnapshots[0].Name+":download")
	if code != 200 || int64(len(body)) != list.ReportSnapshots[0].SizeBytes {
		t.Errorf("download: %d, %d bytes", code, len(body))
	}
}

func download(t *testing.T, s *apptest.Server, path string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.BaseURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token(t, demo.DanzhuSecretaryPhone))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, buf.Bytes(), resp.Header
}

func tsOf(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// A change shows in the next look at the workload once the outbox has
// passed it on, though the workload before it was cached.
func TestWorkloadCacheSeesChanges(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 200}})
	ctx := context.Background()
	sec := s.As(t, ctx, demo.DanzhuSecretaryPhone)
	reports := redpointv1.NewReportServiceClient(s.GRPC)
	received := func() int32 {
		w, err := reports.GetWorkload(sec, &redpointv1.GetWorkloadRequest{Name: "regions/140428100000/workload", GroupBy: "AGENT"})
		if err != nil {
			t.Fatal(err)
		}
		return w.Total.Received
	}
	before := received()
	received() // from the cache
	processed := func() int {
		n, err := s.App.Store.Client.ProcessedEvent.Query().Where(processedevent.Handler("workload-invalidate")).Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	done := processed()
	if _, err := redpointv1.NewErrandServiceClient(s.GRPC).CreateErrand(s.As(t, ctx, demo.DanzhuAgentPhone), &redpointv1.CreateErrandRequest{
		RequestId: "wl-cache-1", Errand: &redpointv1.Errand{ErrandType: "errandTypes/MI-PAYMENT", ResidentName: "李四", ResidentPhone: "13912348765"}}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "the outbox passed the change on", func() bool { return processed() != done })
	if got := received(); got != before+1 {
		t.Errorf("received after logging one more: %d, want %d", got, before+1)
	}
	for series, want := range map[string]float64{`redpoint_workload_cache_total{result="hit"}`: 1, `redpoint_workload_cache_total{result="miss"}`: 2} {
		if got := s.Metric(t, series); got != want {
			t.Errorf("/metrics: %s = %v, want %v", series, got, want)
		}
	}
}
