package report_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/changzhi/redpoint/ent/followup"
	"github.com/changzhi/redpoint/ent/rating"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/testutil"
)

// TestWorkloadCountsReopenings: reopenings in the period, and their rate
// over the period's completions, per grouping and in the Excel file. In
// June 2027 at the 丹朱镇 demo point: a pension certificate completed,
// reopened twice (completed again in between) and completed again; a
// medical insurance payment completed once; a May completion reopened in
// June and not completed again.
func TestWorkloadCountsReopenings(t *testing.T) {
	clock := testutil.NewClock(testutil.At("2027-05-31 09:00"))
	set := func(s string) { clock.Set(testutil.At(s)) }
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 1},
		Clock: clock.Now, Configure: func(a *app.Options) { a.NoWorkers = true }})
	ctx := context.Background()
	agent := s.As(t, ctx, demo.DanzhuAgentPhone)
	secretary := s.As(t, ctx, demo.DanzhuSecretaryPhone)
	c := redpointv1.NewErrandServiceClient(s.GRPC)
	db := s.App.Store.Client
	n := 0
	create := func(typ string) string {
		n++
		x, err := c.CreateErrand(agent, &redpointv1.CreateErrandRequest{RequestId: fmt.Sprintf("ro-%d", n),
			Errand: &redpointv1.Errand{ErrandType: typ, ResidentName: "测试", ResidentPhone: fmt.Sprintf("139666%05d", n)}})
		if err != nil {
			t.Fatal(err)
		}
		return x.Name
	}
	complete := func(when, name string) {
		set(when)
		if _, err := c.CompleteErrand(agent, &redpointv1.CompleteErrandRequest{Name: name, Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	// A bad rating's follow-up, written as the residents' channel does.
	followUp := func(name string) string {
		id := testutil.ID(t, name)
		e := db.Errand.GetX(ctx, id)
		r := db.Rating.Create().SetErrandID(id).SetServicePointID(e.ServicePointID).SetRegionID(e.RegionID).SetLevel(rating.LevelVERY_DISSATISFIED).SaveX(ctx)
		f := db.FollowUp.Create().SetRatingID(r.ID).SetErrandID(id).SetRegionID(e.RegionID).SaveX(ctx)
		return fmt.Sprintf("followUps/%d", f.ID)
	}
	reopen := func(when, name, f string) {
		set(when)
		if _, err := c.ReopenErrand(secretary, &redpointv1.ReopenErrandRequest{Name: name, FollowUp: f, Reason: "回访核实未办好"}); err != nil {
			t.Fatal(err)
		}
	}
	may := create("errandTypes/MI-PAYMENT")
	complete("2027-05-31 10:00", may)
	fMay := followUp(may)
	set("2027-06-01 09:00")
	pension := create("errandTypes/SI-PENSION-CERT")
	payment := create("errandTypes/MI-PAYMENT")
	complete("2027-06-01 10:00", pension)
	complete("2027-06-01 10:00", payment)
	f := followUp(pension)
	reopen("2027-06-02 09:00", pension, f)
	complete("2027-06-03 10:00", pension)
	reopen("2027-06-04 09:00", pension, f)
	complete("2027-06-07 10:00", pension)
	reopen("2027-06-08 09:00", may, fMay)
	set("2027-06-30 10:00")

	reports := redpointv1.NewReportServiceClient(s.GRPC)
	byType := map[string][2]float64{}
	for _, g := range []string{"AGENT", "SERVICE_POINT", "ERRAND_TYPE"} {
		w, err := reports.GetWorkload(secretary, &redpointv1.GetWorkloadRequest{Name: "regions/140428100000/workload", Period: "2027-06", GroupBy: g})
		if err != nil {
			t.Fatal(err)
		}
		// Completed in June and still completed: the pension certificate and the payment.
		if w.Total.Reopened != 3 || w.Total.Completed != 2 || w.Total.ReopenRate != 1.5 {
			t.Errorf("%s total: reopened %d, completed %d, rate %v; want 3, 2, 1.5", g, w.Total.Reopened, w.Total.Completed, w.Total.ReopenRate)
		}
		sum := int32(0)
		for _, r := range w.Rows {
			sum += r.Reopened
			if g == "ERRAND_TYPE" {
				byType[r.Key] = [2]float64{float64(r.Reopened), r.ReopenRate}
			}
		}
		if sum != 3 {
			t.Errorf("%s rows: %d reopenings, want 3", g, sum)
		}
	}
	if byType["errandTypes/SI-PENSION-CERT"] != [2]float64{2, 2} || byType["errandTypes/MI-PAYMENT"] != [2]float64{1, 1} {
		t.Errorf("by type: %v", byType)
	}
	// May: one completion (reopened since, so no longer counted), no reopenings.
	w, err := reports.GetWorkload(secretary, &redpointv1.GetWorkloadRequest{Name: "regions/140428100000/workload", Period: "2027-05", GroupBy: "AGENT"})
	if err != nil || w.Total.Reopened != 0 || w.Total.ReopenRate != 0 {
		t.Errorf("May: %v, %v", w.GetTotal(), err)
	}
	if db.FollowUp.Query().Where(followup.StateEQ(followup.StateOPEN)).CountX(ctx) < 2 {
		t.Error("reopening closed the follow-ups; the township closes them")
	}
	// The Excel file has the two columns, in Chinese, on every sheet.
	code, body, _ := download(t, s, "/v1/regions/140428100000/workload:export?period=2027-06")
	if code != http.StatusOK {
		t.Fatalf("export: %d %s", code, body)
	}
	x, err := excelize.OpenReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, sheet := range x.GetSheetList() {
		rows, err := x.GetRows(sheet, excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows[0]) != 19 || rows[0][17] != "重新办理数" || rows[0][18] != "重新办理率" {
			t.Fatalf("%s header %v", sheet, rows[0])
		}
		if sheet == "汇总" && (rows[1][17] != "3" || rows[1][18] != "1.5") {
			t.Errorf("summary: reopened %q, rate %q", rows[1][17], rows[1][18])
		}
	}
}
