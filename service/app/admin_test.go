package app_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
)

func TestAdminKeepsTheDirectory(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: smallDemo()})
	ctx := context.Background()
	county := s.As(t, ctx, demo.CountyAdminPhone)
	city := s.As(t, ctx, demo.CityAdminPhone)
	points := redpointv1.NewServicePointServiceClient(s.GRPC)
	types := redpointv1.NewErrandTypeServiceClient(s.GRPC)
	errands := redpointv1.NewErrandServiceClient(s.GRPC)

	t.Run("a county admin opens and closes a point in the county only", func(t *testing.T) {
		villages, err := redpointv1.NewRegionServiceClient(s.GRPC).ListRegions(ctx, &redpointv1.ListRegionsRequest{Parent: "regions/140423100000"})
		if err != nil || len(villages.Regions) == 0 {
			t.Fatal(err)
		}
		sp, err := points.CreateServicePoint(county, &redpointv1.CreateServicePointRequest{ServicePoint: &redpointv1.ServicePoint{
			DisplayName: "古韩镇新设代办点", Region: villages.Regions[0].Name, Address: "村委会一楼"}})
		if err != nil {
			t.Fatal(err)
		}
		if !sp.Active || sp.RegionDisplayName != villages.Regions[0].DisplayName {
			t.Errorf("created %v", sp)
		}
		_, err = points.CreateServicePoint(county, &redpointv1.CreateServicePointRequest{ServicePoint: &redpointv1.ServicePoint{
			DisplayName: "长子县的点", Region: "regions/140428100201"}})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("襄垣县 admin opening a point in 长子县: %v", err)
		}
		_, err = points.CreateServicePoint(county, &redpointv1.CreateServicePointRequest{ServicePoint: &redpointv1.ServicePoint{
			DisplayName: "镇上", Region: "regions/140423100000"}})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("a point in a township, not a village: %v", err)
		}
		// The agent's own point, deactivated: no new errands there.
		agentUser, err := redpointv1.NewUserServiceClient(s.GRPC).GetUser(s.As(t, ctx, demo.GuhanAgentPhone), &redpointv1.GetUserRequest{Name: "users/me"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := points.UpdateServicePoint(county, &redpointv1.UpdateServicePointRequest{
			ServicePoint: &redpointv1.ServicePoint{Name: agentUser.ServicePoint, Active: false},
			UpdateMask:   &fieldmaskpb.FieldMask{Paths: []string{"active"}}}); err != nil {
			t.Fatal(err)
		}
		_, err = errands.CreateErrand(s.As(t, ctx, demo.GuhanAgentPhone), &redpointv1.CreateErrandRequest{Errand: &redpointv1.Errand{
			ErrandType: "errandTypes/MI-PAYMENT", ResidentName: "李四", ResidentPhone: "13912345678"}})
		if status.Code(err) != codes.FailedPrecondition {
			t.Errorf("an errand at a deactivated point: %v", err)
		}
	})

	t.Run("the city keeps the catalog", func(t *testing.T) {
		et, err := types.CreateErrandType(city, &redpointv1.CreateErrandTypeRequest{ErrandTypeId: "CA-WINTER-HEAT",
			ErrandType: &redpointv1.ErrandType{DisplayName: "冬季取暖补贴申请", Department: "县民政局", TimeLimitDays: 10, RequiredMaterials: []string{"居民身份证"}}})
		if err != nil || et.Name != "errandTypes/CA-WINTER-HEAT" || !et.Active {
			t.Fatalf("created %v, %v", et, err)
		}
		if _, err := types.CreateErrandType(city, &redpointv1.CreateErrandTypeRequest{ErrandTypeId: "CA-WINTER-HEAT",
			ErrandType: &redpointv1.ErrandType{DisplayName: "重复", Department: "县民政局", TimeLimitDays: 10}}); status.Code(err) != codes.AlreadyExists {
			t.Errorf("duplicate code: %v", err)
		}
		if _, err := types.CreateErrandType(county, &redpointv1.CreateErrandTypeRequest{ErrandTypeId: "X-1",
			ErrandType: &redpointv1.ErrandType{DisplayName: "县里加的", Department: "县民政局", TimeLimitDays: 1}}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("a county admin changing the city catalog: %v", err)
		}
		if _, err := types.UpdateErrandType(city, &redpointv1.UpdateErrandTypeRequest{ErrandType: &redpointv1.ErrandType{Name: et.Name, Active: false},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"active"}}}); err != nil {
			t.Fatal(err)
		}
		list, err := types.ListErrandTypes(ctx, &redpointv1.ListErrandTypesRequest{PageSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range list.ErrandTypes {
			if x.Name == et.Name {
				t.Error("a deactivated type is still listed")
			}
		}
	})
}
