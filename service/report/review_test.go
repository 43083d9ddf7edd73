package report_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/xuri/excelize/v2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/rating"
	"github.com/changzhi/redpoint/ent/reportsnapshot"
	"github.com/changzhi/redpoint/ent/servicepoint"
	"github.com/changzhi/redpoint/ent/user"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/period"
	"github.com/changzhi/redpoint/service/report"
	"github.com/changzhi/redpoint/service/testutil"
)

// The review's fixture, in 2027 where the demo has nothing: 长子县
// (140428), its townships 丹朱镇 (T1, 140428100) and 鲍店镇 (T2,
// 140428101).
//
// 2027-Q1 (the quarter before):
//
//	T1 point A: 1 completed on time              15
//	T2 point D: 2 completed on time              30
//
// 2027-Q2:
//
//	T1 point A: 1 on time (15) + 满意 (3) = 18, and 1 received, still open
//	T1 point B: 1 on time (15) + 满意 (3) = 18   best, tied with A
//	T1 point C: 1 late (10) + 不满意 (-5) = 5     weakest, tied with G
//	T1 point G: 1 late (10) + 不满意 (-5) = 5
//	T2 point D: 1 on time                   15   D and E tie: best both,
//	T2 point E: 1 on time                   15   no weakest
//
// so in Q2 T1 has received 5, completed 4, 2 late (on time 50%), 4
// ratings 2 satisfied (50%), score 46, rank 1 in the county (Q1: 15, rank
// 2: up one); T2 received 2, completed 2, none late, no rating, score 30,
// rank 2 (Q1: 30, rank 1: down one). The county: Q2 received 7, completed
// 6, 2 late, score 76, first of the city's 12 counties (every other
// scores 0), as in Q1 (45).
const (
	fixtureCounty = "140428000000"
	fixtureT1     = "140428100000"
	fixtureT2     = "140428101000"
)

type reviewFixture struct {
	s                *apptest.Server
	clock            *testutil.Clock
	a, b, c, g, d, e *ent.ServicePoint
	t1Points         int // active points in T1
	t2Points         int
	countyPoints     int
}

func newReviewFixture(t *testing.T) *reviewFixture {
	clock := testutil.NewClock(time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC))
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 1}, Clock: clock.Now})
	ctx := context.Background()
	db := s.App.Store.Client
	points := func(township string) []*ent.ServicePoint {
		return db.ServicePoint.Query().Where(servicepoint.Active(true), servicepoint.RegionIDHasPrefix(township[:9])).Order(servicepoint.ByID()).AllX(ctx)
	}
	t1, t2 := points(fixtureT1), points(fixtureT2)
	if len(t1) < 5 || len(t2) < 3 {
		t.Fatalf("丹朱镇 has %d active points and 鲍店镇 %d, want at least 5 and 3", len(t1), len(t2))
	}
	f := &reviewFixture{s: s, clock: clock, a: t1[0], b: t1[1], c: t1[2], g: t1[3], d: t2[0], e: t2[1],
		t1Points: len(t1), t2Points: len(t2),
		countyPoints: db.ServicePoint.Query().Where(servicepoint.Active(true), servicepoint.RegionIDHasPrefix("140428")).CountX(ctx)}
	agent := db.User.Query().Where(user.Phone(demo.DanzhuAgentPhone)).OnlyX(ctx)
	n := 0
	at := func(s string) time.Time { return testutil.At(s).UTC() }
	// put stores an errand accepted at accept and due two days later,
	// completed at done ("" leaves it in progress), and rated.
	put := func(sp *ent.ServicePoint, accept, done string, late bool, level rating.Level) {
		n++
		c := db.Errand.Create().SetTrackingCode(fmt.Sprintf("QREVIEW%04d", n)).SetErrandTypeID("MI-PAYMENT").
			SetServicePointID(sp.ID).SetAgentID(agent.ID).SetRegionID(sp.RegionID).SetResidentName("测试").
			SetResidentPhoneCipher("x").SetResidentPhoneHash(fmt.Sprintf("qreview-%d", n)).SetResidentPhoneLast4("0000").
			SetAcceptTime(at(accept)).SetDueTime(at(accept).Add(48 * time.Hour)).SetState(errand.StateIN_PROGRESS)
		if done != "" {
			due := at(done).Add(time.Hour)
			if late {
				due = at(done).Add(-time.Hour)
			}
			c.SetState(errand.StateCOMPLETED).SetCloseTime(at(done)).SetDueTime(due).SetWorkingDays(1)
		}
		e := c.SaveX(ctx)
		if level != "" {
			db.Rating.Create().SetErrandID(e.ID).SetServicePointID(sp.ID).SetRegionID(sp.RegionID).SetLevel(level).
				SetCreateTime(at(done).Add(time.Hour)).ExecX(ctx)
		}
	}
	// 2027-Q1.
	put(f.a, "2027-02-01 09:00", "2027-02-02 10:00", false, "")
	put(f.d, "2027-02-01 09:00", "2027-02-02 10:00", false, "")
	put(f.d, "2027-03-01 09:00", "2027-03-02 10:00", false, "")
	// 2027-Q2.
	put(f.a, "2027-05-10 09:00", "2027-05-11 10:00", false, rating.LevelSATISFIED)
	put(f.a, "2027-06-28 09:00", "", false, "")
	put(f.b, "2027-05-10 09:00", "2027-05-11 10:00", false, rating.LevelSATISFIED)
	put(f.c, "2027-05-10 09:00", "2027-05-14 10:00", true, rating.LevelDISSATISFIED)
	put(f.g, "2027-05-10 09:00", "2027-05-14 10:00", true, rating.LevelDISSATISFIED)
	put(f.d, "2027-04-12 09:00", "2027-04-13 10:00", false, "")
	put(f.e, "2027-04-12 09:00", "2027-04-13 10:00", false, "")
	clock.Set(testutil.At("2027-07-01 09:00"))
	return f
}

func pointsProto(ps ...*ent.ServicePoint) []*redpointv1.QuarterlyReviewPoint {
	var out []*redpointv1.QuarterlyReviewPoint
	for _, p := range ps {
		out = append(out, &redpointv1.QuarterlyReviewPoint{ServicePoint: fmt.Sprintf("servicePoints/%d", p.ID), DisplayName: p.Name})
	}
	return out
}

// wantRows are the fixture's hand-computed rows (scores of points aside).
func (f *reviewFixture) wantRows() (county, t1, t2 *redpointv1.QuarterlyReviewRow) {
	county = &redpointv1.QuarterlyReviewRow{Region: "regions/" + fixtureCounty, DisplayName: "长子县",
		Current:       &redpointv1.QuarterlyFigures{Received: 7, Completed: 6, CompletedLate: 2, OnTimeRate: 4.0 / 6, Ratings: 4, SatisfactionRate: 0.5, Score: 76, Rank: 1, RankOf: 12},
		Previous:      &redpointv1.QuarterlyFigures{Received: 3, Completed: 3, OnTimeRate: 1, Score: 45, Rank: 1, RankOf: 12},
		ServicePoints: int32(f.countyPoints), IdleServicePoints: int32(f.countyPoints - 6)}
	t1 = &redpointv1.QuarterlyReviewRow{Region: "regions/" + fixtureT1, DisplayName: "丹朱镇", CountyDisplayName: "长子县",
		Current:       &redpointv1.QuarterlyFigures{Received: 5, Completed: 4, CompletedLate: 2, OnTimeRate: 0.5, Ratings: 4, SatisfactionRate: 0.5, Score: 46, Rank: 1},
		Previous:      &redpointv1.QuarterlyFigures{Received: 1, Completed: 1, OnTimeRate: 1, Score: 15, Rank: 2},
		RankChange:    1,
		ServicePoints: int32(f.t1Points), IdleServicePoints: int32(f.t1Points - 4),
		BestServicePoints: pointsProto(f.a, f.b), WeakestServicePoints: pointsProto(f.c, f.g)}
	t2 = &redpointv1.QuarterlyReviewRow{Region: "regions/" + fixtureT2, DisplayName: "鲍店镇", CountyDisplayName: "长子县",
		Current:       &redpointv1.QuarterlyFigures{Received: 2, Completed: 2, OnTimeRate: 1, Score: 30, Rank: 2},
		Previous:      &redpointv1.QuarterlyFigures{Received: 2, Completed: 2, OnTimeRate: 1, Score: 30, Rank: 1},
		RankChange:    -1,
		ServicePoints: int32(f.t2Points), IdleServicePoints: int32(f.t2Points - 2),
		BestServicePoints: pointsProto(f.d, f.e)}
	return county, t1, t2
}

// checkRow compares a row with want; RankOf of townships is the number of
// the county's townships with points, which want leaves 0 for.
func checkRow(t *testing.T, label string, got, want *redpointv1.QuarterlyReviewRow) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no row", label)
	}
	num := func(name string, g, w float64) {
		t.Helper()
		if math.Abs(g-w) > 1e-9 {
			t.Errorf("%s: %s = %v, want %v", label, name, g, w)
		}
	}
	for _, q := range []struct {
		name      string
		got, want *redpointv1.QuarterlyFigures
	}{{"current", got.Current, want.Current}, {"previous", got.Previous, want.Previous}} {
		g, w := q.got, q.want
		num(q.name+" received", float64(g.Received), float64(w.Received))
		num(q.name+" completed", float64(g.Completed), float64(w.Completed))
		num(q.name+" completed late", float64(g.CompletedLate), float64(w.CompletedLate))
		num(q.name+" on-time rate", g.OnTimeRate, w.OnTimeRate)
		num(q.name+" ratings", float64(g.Ratings), float64(w.Ratings))
		num(q.name+" satisfaction", g.SatisfactionRate, w.SatisfactionRate)
		num(q.name+" score", g.Score, w.Score)
		num(q.name+" rank", float64(g.Rank), float64(w.Rank))
		if w.RankOf != 0 {
			num(q.name+" rank of", float64(g.RankOf), float64(w.RankOf))
		}
	}
	num("rank change", float64(got.RankChange), float64(want.RankChange))
	num("service points", float64(got.ServicePoints), float64(want.ServicePoints))
	num("idle service points", float64(got.IdleServicePoints), float64(want.IdleServicePoints))
	if got.DisplayName != want.DisplayName || got.CountyDisplayName != want.CountyDisplayName {
		t.Errorf("%s: names %q %q, want %q %q", label, got.DisplayName, got.CountyDisplayName, want.DisplayName, want.CountyDisplayName)
	}
	names := func(ps []*redpointv1.QuarterlyReviewPoint) string {
		var out []string
		for _, p := range ps {
			out = append(out, p.ServicePoint)
		}
		return strings.Join(out, ",")
	}
	if names(got.BestServicePoints) != names(want.BestServicePoints) {
		t.Errorf("%s: best %v, want %v", label, got.BestServicePoints, want.BestServicePoints)
	}
	if names(got.WeakestServicePoints) != names(want.WeakestServicePoints) {
		t.Errorf("%s: weakest %v, want %v", label, got.WeakestServicePoints, want.WeakestServicePoints)
	}
}

func rowOf(rows []*redpointv1.QuarterlyReviewRow, region string) *redpointv1.QuarterlyReviewRow {
	for _, r := range rows {
		if r.Region == "regions/"+region {
			return r
		}
	}
	return nil
}

func TestQuarterlyReviewFiguresAgainstTheQuarterBefore(t *testing.T) {
	f := newReviewFixture(t)
	ctx := context.Background()
	reports := redpointv1.NewReportServiceClient(f.s.GRPC)
	wantCounty, wantT1, wantT2 := f.wantRows()

	// The county, as the city admin sees it.
	r, err := reports.GetQuarterlyReview(f.s.As(t, ctx, demo.CityAdminPhone), &redpointv1.GetQuarterlyReviewRequest{Name: "regions/" + fixtureCounty + "/quarterlyReviews/2027-Q2"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Period != "2027-Q2" || r.PreviousPeriod != "2027-Q1" || r.DisplayName != "长子县" || len(r.Counties) != 1 {
		t.Fatalf("review %s %s %s, %d counties", r.Period, r.PreviousPeriod, r.DisplayName, len(r.Counties))
	}
	if start, _ := period.Of(period.Quarter, testutil.At("2027-05-01 00:00")).Range(); !r.StartTime.AsTime().Equal(start) {
		t.Errorf("start %v, want %v", r.StartTime.AsTime(), start)
	}
	checkRow(t, "长子县", r.Counties[0], wantCounty)
	checkRow(t, "丹朱镇", rowOf(r.Townships, fixtureT1), wantT1)
	checkRow(t, "鲍店镇", rowOf(r.Townships, fixtureT2), wantT2)
	if got := rowOf(r.Townships, fixtureT1).BestServicePoints[0].Score; got != 18 {
		t.Errorf("best score %v, want 18", got)
	}
	if got := rowOf(r.Townships, fixtureT1).WeakestServicePoints[0].Score; got != 5 {
		t.Errorf("weakest score %v, want 5", got)
	}
	// A township of the county with no activity: on the board at 0, no
	// best or weakest, all its points idle.
	idle := rowOf(r.Townships, "140428102000") // 石哲镇
	if idle == nil || idle.Current.Score != 0 || idle.Current.Rank < 3 || len(idle.BestServicePoints) != 0 || idle.IdleServicePoints != idle.ServicePoints || idle.ServicePoints == 0 {
		t.Errorf("石哲镇: %v", idle)
	}

	// The township, as its secretary sees it: the same row.
	tw, err := reports.GetQuarterlyReview(f.s.As(t, ctx, demo.DanzhuSecretaryPhone), &redpointv1.GetQuarterlyReviewRequest{Name: "regions/" + fixtureT1 + "/quarterlyReviews/2027-Q2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tw.Counties) != 0 || len(tw.Townships) != 1 {
		t.Fatalf("township review: %d counties, %d townships", len(tw.Counties), len(tw.Townships))
	}
	checkRow(t, "丹朱镇 (its own review)", tw.Townships[0], wantT1)

	// The city: every county and township, the fixture's as above.
	city, err := reports.GetQuarterlyReview(f.s.As(t, ctx, demo.CityAdminPhone), &redpointv1.GetQuarterlyReviewRequest{Name: "regions/140400000000/quarterlyReviews/2027-Q2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(city.Counties) != 12 || len(city.Townships) != 128 {
		t.Errorf("city review: %d counties, %d townships", len(city.Counties), len(city.Townships))
	}
	checkRow(t, "长子县 (city)", rowOf(city.Counties, fixtureCounty), wantCounty)
	checkRow(t, "丹朱镇 (city)", rowOf(city.Townships, fixtureT1), wantT1)
}

// The quarterly snapshot has the 季观摩 sheet with the review's figures,
// and a quarter's export has it too.
func TestQuarterlyReviewSheet(t *testing.T) {
	f := newReviewFixture(t)
	ctx := context.Background()
	q, _ := period.Parse("2027-Q2")
	if err := f.s.App.Background().Reports().SnapshotRegions(ctx, reportsnapshot.KindQUARTERLY_REVIEW, q, report.RunTime(q), fixtureT1); err != nil {
		t.Fatal(err)
	}
	list, err := redpointv1.NewReportServiceClient(f.s.GRPC).ListReportSnapshots(f.s.As(t, ctx, demo.DanzhuSecretaryPhone),
		&redpointv1.ListReportSnapshotsRequest{Parent: "regions/" + fixtureT1})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.ReportSnapshots) != 1 || list.ReportSnapshots[0].Kind != "QUARTERLY_REVIEW" || list.ReportSnapshots[0].Period != "2027-Q2" ||
		list.ReportSnapshots[0].FileName != "丹朱镇-2027年第2季度-代办工作季报.xlsx" {
		t.Fatalf("snapshots: %v", list.ReportSnapshots)
	}
	code, body, _ := download(t, f.s, "/v1/"+list.ReportSnapshots[0].Name+":download")
	if code != 200 {
		t.Fatalf("download: %d", code)
	}
	_, wantT1, _ := f.wantRows()
	checkSheet(t, body, wantT1, f)

	// The export of the quarter: the same sheet; of a month: none.
	code, body, _ = download(t, f.s, "/v1/regions/"+fixtureT1+"/workload:export?period=2027-Q2")
	if code != 200 {
		t.Fatalf("export: %d %s", code, body)
	}
	checkSheet(t, body, wantT1, f)
	code, body, _ = download(t, f.s, "/v1/regions/"+fixtureT1+"/workload:export?period=2027-05")
	if code != 200 {
		t.Fatalf("export: %d", code)
	}
	x, err := excelize.OpenReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if sheets := strings.Join(x.GetSheetList(), ","); sheets != "汇总,按下级地区,按代办点,按代办员,按事项" {
		t.Errorf("a month's sheets: %s", sheets)
	}
}

func checkSheet(t *testing.T, body []byte, want *redpointv1.QuarterlyReviewRow, f *reviewFixture) {
	t.Helper()
	x, err := excelize.OpenReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if sheets := strings.Join(x.GetSheetList(), ","); sheets != "季观摩,汇总,按下级地区,按代办点,按代办员,按事项" {
		t.Errorf("sheets %s", sheets)
	}
	rows, err := x.GetRows("季观摩", excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("季观摩 rows %v", rows)
	}
	head := strings.Join(rows[0], ",")
	if head != "层级,名称,所属县区,受理数,受理数较上季,办结数,办结数较上季,超期办结,超期办结较上季,按时办结率,按时办结率较上季,评价数,满意率,满意率较上季,得分,得分较上季,排名,参评数,上季排名,名次变化,代办点数,无业务代办点,最佳代办点（得分）,最弱代办点（得分）" {
		t.Errorf("header %s", head)
	}
	got := map[string]string{}
	for i, h := range rows[0] {
		if i < len(rows[1]) {
			got[h] = rows[1][i]
		}
	}
	for col, w := range map[string]string{
		"层级": "乡镇", "名称": "丹朱镇", "所属县区": "长子县", "受理数": "5", "受理数较上季": "4", "办结数": "4", "办结数较上季": "3",
		"超期办结": "2", "超期办结较上季": "2", "按时办结率": "0.5", "按时办结率较上季": "-0.5", "评价数": "4", "满意率": "0.5", "满意率较上季": "0.5",
		"得分": "46", "得分较上季": "31", "排名": "1", "上季排名": "2", "名次变化": "1",
		"代办点数": fmt.Sprint(want.ServicePoints), "无业务代办点": fmt.Sprint(want.IdleServicePoints),
		"最佳代办点（得分）": f.a.Name + "（18.00）、" + f.b.Name + "（18.00）",
		"最弱代办点（得分）": f.c.Name + "（5.00）、" + f.g.Name + "（5.00）",
	} {
		if got[col] != w {
			t.Errorf("季观摩 %s = %q, want %q", col, got[col], w)
		}
	}
	if panes, err := x.GetPanes("季观摩"); err != nil || !panes.Freeze || panes.YSplit != 1 {
		t.Errorf("header row not frozen: %+v (%v)", panes, err)
	}
	for cell, fmtID := range map[string]int{"J2": 10, "M2": 10, "O2": 2} {
		style, err := x.GetCellStyle("季观摩", cell)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := x.GetStyle(style); err != nil || st == nil || st.NumFmt != fmtID {
			t.Errorf("%s: number format %v, want %d (%v)", cell, st, fmtID, err)
		}
	}
	if w, err := x.GetColWidth("季观摩", "X"); err != nil || w < 30 {
		t.Errorf("best/weakest column width %v (%v)", w, err)
	}
}

// The quarterly job, run by the scheduler at 08:00 on the 1st of January,
// April, July and October, stores the quarter before's review once for
// every region: a retried job adds nothing.
func TestQuarterlySnapshotJobRunsOnceAfterTheQuarter(t *testing.T) {
	var spec string
	for _, p := range report.Periodic {
		if p.Type == report.QuarterlyJob {
			spec = p.Spec
		}
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		t.Fatalf("spec %q: %v", spec, err)
	}
	for from, want := range map[string]string{
		"2027-06-15 12:00": "2027-07-01 08:00", "2027-07-01 08:00": "2027-10-01 08:00", "2027-11-20 00:00": "2028-01-01 08:00",
	} {
		if got := sched.Next(testutil.At(from).In(calendar.Location)); !got.Equal(testutil.At(want)) {
			t.Errorf("after %s the job runs at %v, want %s", from, got, want)
		}
	}
	if q, _ := period.Parse("2027-Q2"); !report.RunTime(q).Equal(testutil.At("2027-07-01 08:00")) {
		t.Errorf("RunTime(2027-Q2) = %v", report.RunTime(q))
	}

	f := newReviewFixture(t)
	ctx := context.Background()
	f.clock.Set(testutil.At("2027-07-01 08:00"))
	var job func(context.Context, []byte) error
	for _, j := range f.s.App.Background().Reports().Jobs(f.clock.Now) {
		if j.Type == report.QuarterlyJob {
			job = j.Handle
		}
	}
	if job == nil {
		t.Fatal("no quarterly job")
	}
	for range 2 { // a retried job stores nothing twice
		if err := job(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	db := f.s.App.Store.Client
	if n := db.ReportSnapshot.Query().Where(reportsnapshot.KindEQ(reportsnapshot.KindQUARTERLY_REVIEW)).CountX(ctx); n != 1+12+128 {
		t.Errorf("%d quarterly snapshots, want one each for the city, 12 counties and 128 townships", n)
	}
	if n := db.ReportSnapshot.Query().Where(reportsnapshot.KindEQ(reportsnapshot.KindQUARTERLY_REVIEW), reportsnapshot.PeriodNEQ("2027-Q2")).CountX(ctx); n != 0 {
		t.Errorf("%d quarterly snapshots of another quarter", n)
	}
	city := db.ReportSnapshot.Query().Where(reportsnapshot.RegionID("140400000000"), reportsnapshot.KindEQ(reportsnapshot.KindQUARTERLY_REVIEW)).OnlyX(ctx)
	x, err := excelize.OpenReader(bytes.NewReader(city.Content))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := x.GetRows("季观摩")
	if err != nil || len(rows) != 1+12+128 {
		t.Errorf("the city's 季观摩: %d rows (%v), want a header, 12 counties and 128 townships", len(rows), err)
	}
}

// Another county's or township's review is refused before anything is
// looked up; a bad name or quarter is INVALID_ARGUMENT on name.
func TestQuarterlyReviewScopeAndBadNames(t *testing.T) {
	clock := testutil.NewClock(testutil.At("2027-07-01 09:00"))
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 1}, Clock: clock.Now})
	ctx := context.Background()
	reports := redpointv1.NewReportServiceClient(s.GRPC)
	call := func(phone, name string) error {
		_, err := reports.GetQuarterlyReview(s.As(t, ctx, phone), &redpointv1.GetQuarterlyReviewRequest{Name: name})
		return err
	}
	for _, tc := range []struct{ phone, name string }{
		{demo.DanzhuSecretaryPhone, "regions/" + fixtureCounty + "/quarterlyReviews/2027-Q2"}, // its county
		{demo.DanzhuSecretaryPhone, "regions/140423100000/quarterlyReviews/2027-Q2"},          // 古韩镇
		{demo.CountyAdminPhone, "regions/" + fixtureT1 + "/quarterlyReviews/2027-Q2"},         // 襄垣县's admin, 长子县's township
		{demo.CountyAdminPhone, "regions/140400000000/quarterlyReviews/2027-Q2"},              // the city
		{demo.CountyAdminPhone, "regions/" + fixtureT1 + "/quarterlyReviews/2027-13"},         // out of scope first
	} {
		if err := call(tc.phone, tc.name); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s asks %s: %v, want PERMISSION_DENIED", tc.phone, tc.name, err)
		}
	}
	for _, name := range []string{
		"regions/" + fixtureT1 + "/quarterlyReviews/2027-13",
		"regions/" + fixtureT1 + "/quarterlyReviews/2027-05",
		"regions/" + fixtureT1 + "/quarterlyReviews/2027",
		"regions/" + fixtureT1 + "/quarterlyReviews/2027Q2",
		"regions/" + fixtureT1 + "/quarterlyReviews/",
		"regions/" + fixtureT1 + "/quarterlyReviews/2027-Q5",
		"regions/" + fixtureT1 + "/quarterlyReviews/2027-Q4", // not begun
		"regions/" + fixtureT1 + "/quarterlyReviews/2020-Q1", // older than the boards' history
		"regions/" + fixtureT1 + "/quarterlies/2027-Q2",
		"regions/1404281/quarterlyReviews/2027-Q2",
	} {
		err := call(demo.DanzhuSecretaryPhone, name)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want INVALID_ARGUMENT", name, err)
			continue
		}
		if fields := violations(err); fields != "name" {
			t.Errorf("%s: violations on %q, want name", name, fields)
		}
	}
	// A village has no review; its township's secretary is told so.
	village := s.App.Store.Client.ServicePoint.Query().Where(servicepoint.RegionIDHasPrefix("140428100")).FirstX(ctx).RegionID
	if err := call(demo.DanzhuSecretaryPhone, "regions/"+village+"/quarterlyReviews/2027-Q2"); status.Code(err) != codes.InvalidArgument || violations(err) != "name" {
		t.Errorf("a village's review: %v", err)
	}
	// A township that does not exist, in scope: NOT_FOUND, after the scope check.
	if err := call(demo.DanzhuSecretaryPhone, "regions/140428199000/quarterlyReviews/2027-Q2"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a township out of scope that does not exist: %v", err)
	}
	if err := call(demo.CityAdminPhone, "regions/140428199000/quarterlyReviews/2027-Q2"); status.Code(err) != codes.NotFound {
		t.Errorf("a township that does not exist: %v, want NOT_FOUND", err)
	}
	// An agent is no overseer.
	if err := call(demo.DanzhuAgentPhone, "regions/"+fixtureT1+"/quarterlyReviews/2027-Q2"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("an agent: %v", err)
	}
}

func violations(err error) string {
	var fields []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				fields = append(fields, v.Field)
			}
		}
	}
	return strings.Join(fields, ",")
}
