package report_test

import (
	"context"
	"testing"
	"time"

	"github.com/changzhi/redpoint/ent/region"
	"github.com/changzhi/redpoint/ent/user"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
)

// A deployment of several cities has their province above them
// (`redpoint seed --scale province`): the province's admin, a CITY_ADMIN
// whose region is the province, reads the province's workload by city,
// and the province reads as a region of its level.
func TestProvinceWorkloadByCity(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 200},
		Configure: func(a *app.Options) { a.NoWorkers = true }})
	ctx := context.Background()
	db := s.App.Store.Client
	db.Region.Create().SetID("140000000000").SetName("山西省").SetLevel(region.LevelPROVINCE).ExecX(ctx)
	db.Region.UpdateOneID("140400000000").SetParentID("140000000000").ExecX(ctx)
	hash, err := access.HashPassword(demo.Password)
	if err != nil {
		t.Fatal(err)
	}
	const phone = "13200000014"
	db.User.Create().SetPhone(phone).SetDisplayName("省管理员").SetRole(user.RoleCITY_ADMIN).SetRegionID("140000000000").SetPasswordHash(hash).ExecX(ctx)
	as := s.As(t, ctx, phone)

	province, err := redpointv1.NewRegionServiceClient(s.GRPC).GetRegion(as, &redpointv1.GetRegionRequest{Name: "regions/140000000000"})
	if err != nil {
		t.Fatal(err)
	}
	if province.GetLevel() != redpointv1.RegionLevel_REGION_LEVEL_PROVINCE || province.GetParent() != "" {
		t.Errorf("province reads as %v under %q, want REGION_LEVEL_PROVINCE on top", province.GetLevel(), province.GetParent())
	}
	reports := redpointv1.NewReportServiceClient(s.GRPC)
	got, err := reports.GetWorkload(as, &redpointv1.GetWorkloadRequest{Name: "regions/140000000000/workload", Period: "2026-11", GroupBy: "CHILD_REGION"})
	if err != nil {
		t.Fatal(err)
	}
	city, err := reports.GetWorkload(s.As(t, ctx, demo.CityAdminPhone), &redpointv1.GetWorkloadRequest{Name: "regions/140400000000/workload", Period: "2026-11"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.GetRows()) != 1 || got.GetRows()[0].GetKey() != "regions/140400000000" || got.GetRows()[0].GetDisplayName() != "长治市" {
		t.Fatalf("province rows %v, want one: 长治市", got.GetRows())
	}
	if g, w := got.GetTotal().GetReceived(), city.GetTotal().GetReceived(); g != w || g == 0 {
		t.Errorf("province received %d, its one city %d", g, w)
	}
	// The city's admin does not see its province.
	if _, err := reports.GetWorkload(s.As(t, ctx, demo.CityAdminPhone), &redpointv1.GetWorkloadRequest{Name: "regions/140000000000/workload", Period: "2026-11"}); err == nil {
		t.Error("长治市's admin read 山西省's workload")
	}
}
