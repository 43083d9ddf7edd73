package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/testutil"
)

// demoServer is one seeded server shared by the read-only tests below: the
// full directory (1,286 points) with a few hundred errands.
func demoServer(t *testing.T) *apptest.Server {
	t.Helper()
	return apptest.Start(t, apptest.Options{Demo: &demo.Options{
		Now:     time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		Errands: 300,
	}})
}

func getJSON(t *testing.T, url string, out any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("GET %s: %d %s: %v", url, resp.StatusCode, body, err)
		}
	}
	return resp.StatusCode
}

func TestDirectoryOverRESTAndGRPC(t *testing.T) {
	s := demoServer(t)
	ctx := context.Background()

	t.Run("REST lists the 12 counties of the city", func(t *testing.T) {
		var got struct {
			Regions []struct {
				Name, Code, DisplayName, Level, Parent string
			}
			NextPageToken string
		}
		if code := getJSON(t, s.BaseURL+"/v1/regions?parent=regions/140400000000", &got); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		if len(got.Regions) != 12 || got.NextPageToken != "" {
			t.Fatalf("got %d counties, next %q; want 12 and no next page", len(got.Regions), got.NextPageToken)
		}
		first := got.Regions[0]
		if first.Name != "regions/140403000000" || first.DisplayName != "潞州区" || first.Level != "REGION_LEVEL_COUNTY" || first.Parent != "regions/140400000000" {
			t.Errorf("first county = %+v", first)
		}
	})

	t.Run("REST pages through all 1,286 service points exactly once", func(t *testing.T) {
		seen := map[string]bool{}
		token := ""
		pages := 0
		for {
			var page struct {
				ServicePoints []struct{ Name, Region string }
				NextPageToken string
				TotalSize     int
			}
			url := s.BaseURL + "/v1/servicePoints?parent=regions/140400000000&pageSize=300&pageToken=" + token
			if code := getJSON(t, url, &page); code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			if page.TotalSize != 1286 {
				t.Fatalf("totalSize = %d, want 1286", page.TotalSize)
			}
			for _, sp := range page.ServicePoints {
				if seen[sp.Name] {
					t.Fatalf("%s listed twice", sp.Name)
				}
				seen[sp.Name] = true
			}
			pages++
			if token = page.NextPageToken; token == "" {
				break
			}
		}
		if len(seen) != 1286 || pages != 5 {
			t.Errorf("listed %d points in %d pages, want 1286 in 5", len(seen), pages)
		}
	})

	t.Run("gRPC lists only the township's subtree", func(t *testing.T) {
		client := redpointv1.NewServicePointServiceClient(s.GRPC)
		resp, err := client.ListServicePoints(ctx, &redpointv1.ListServicePointsRequest{Parent: "regions/140423100000", PageSize: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.ServicePoints) == 0 || int(resp.TotalSize) != len(resp.ServicePoints) {
			t.Fatalf("古韩镇 has %d points, total %d", len(resp.ServicePoints), resp.TotalSize)
		}
		for _, sp := range resp.ServicePoints {
			if !strings.HasPrefix(sp.Region, "regions/140423100") {
				t.Errorf("%s in %s is outside 古韩镇", sp.Name, sp.Region)
			}
			if sp.AgentCount < 1 || sp.AgentCount > 3 {
				t.Errorf("%s has %d agents, want 1–3", sp.Name, sp.AgentCount)
			}
		}
		got, err := client.GetServicePoint(ctx, &redpointv1.GetServicePointRequest{Name: resp.ServicePoints[0].Name})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(resp.ServicePoints[0], got, protocmp.Transform()); diff != "" {
			t.Errorf("Get differs from List (-list +get):\n%s", diff)
		}
	})

	t.Run("gRPC region and catalog reads", func(t *testing.T) {
		r, err := redpointv1.NewRegionServiceClient(s.GRPC).GetRegion(ctx, &redpointv1.GetRegionRequest{Name: "regions/140423100000"})
		if err != nil {
			t.Fatal(err)
		}
		want := &redpointv1.Region{Name: "regions/140423100000", Code: "140423100000", DisplayName: "古韩镇",
			Level: redpointv1.RegionLevel_REGION_LEVEL_TOWNSHIP, Parent: "regions/140423000000"}
		if diff := cmp.Diff(want, r, protocmp.Transform()); diff != "" {
			t.Errorf("GetRegion mismatch (-want +got):\n%s", diff)
		}
		types, err := redpointv1.NewErrandTypeServiceClient(s.GRPC).ListErrandTypes(ctx, &redpointv1.ListErrandTypesRequest{PageSize: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(types.ErrandTypes) != 10 || types.NextPageToken == "" {
			t.Fatalf("first page: %d types, next %q", len(types.ErrandTypes), types.NextPageToken)
		}
		rest, err := redpointv1.NewErrandTypeServiceClient(s.GRPC).ListErrandTypes(ctx, &redpointv1.ListErrandTypesRequest{PageSize: 100, PageToken: types.NextPageToken})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(types.ErrandTypes) + len(rest.ErrandTypes); n < 20 {
			t.Errorf("catalog has %d types, want at least 20", n)
		}
	})
}

// errorBody is the JSON the gateway writes for a gRPC status.
type errorBody struct {
	Code    int
	Message string
	Details []map[string]any
}

func (b errorBody) detail(typ string) map[string]any {
	for _, d := range b.Details {
		if d["@type"] == "type.googleapis.com/"+typ {
			return d
		}
	}
	return nil
}

func TestMalformedRequestsGetClearErrors(t *testing.T) {
	s := demoServer(t)
	cases := []struct {
		name       string
		path       string
		wantStatus int
		wantReason string
		wantField  string
	}{
		{"region code not 12 digits", "/v1/regions/abc", 400, "INVALID_ARGUMENT", "name"},
		{"unknown region", "/v1/regions/140499999999", 404, "NOT_FOUND", ""},
		{"unknown parent", "/v1/regions?parent=regions/140499999999", 404, "NOT_FOUND", ""},
		{"missing parent", "/v1/regions", 400, "INVALID_ARGUMENT", "parent"},
		{"negative page size", "/v1/servicePoints?parent=regions/140400000000&pageSize=-1", 400, "INVALID_ARGUMENT", "page_size"},
		{"page size not a number", "/v1/servicePoints?parent=regions/140400000000&pageSize=abc", 400, "INVALID_ARGUMENT", "page_size"},
		{"forged page token", "/v1/servicePoints?parent=regions/140400000000&pageToken=forged", 400, "INVALID_ARGUMENT", "page_token"},
		{"service point id not a number", "/v1/servicePoints/x1", 400, "INVALID_ARGUMENT", "name"},
		{"unknown service point", "/v1/servicePoints/999999", 404, "NOT_FOUND", ""},
		{"unknown errand type", "/v1/errandTypes/NO-SUCH", 404, "NOT_FOUND", ""},
		{"errand type code with symbols", "/v1/errandTypes/a%24b", 400, "INVALID_ARGUMENT", "name"},
		{"unknown path", "/v1/nothing/here", 404, "UNKNOWN_PATH", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body errorBody
			code := getJSON(t, s.BaseURL+tc.path, &body)
			if code != tc.wantStatus {
				t.Fatalf("status %d, want %d (body %+v)", code, tc.wantStatus, body)
			}
			info := body.detail("google.rpc.ErrorInfo")
			if info == nil || info["reason"] != tc.wantReason || info["domain"] != "redpoint" {
				t.Errorf("ErrorInfo = %v, want reason %s domain redpoint", info, tc.wantReason)
			}
			if lm := body.detail("google.rpc.LocalizedMessage"); lm == nil || lm["locale"] != "zh-CN" || lm["message"] == "" {
				t.Errorf("LocalizedMessage = %v", lm)
			}
			if tc.wantField != "" {
				br := body.detail("google.rpc.BadRequest")
				if br == nil || !strings.Contains(toJSON(t, br), `"field":"`+tc.wantField+`"`) {
					t.Errorf("BadRequest = %v, want a violation on %s", br, tc.wantField)
				}
			}
		})
	}

	t.Run("gRPC sees the same status details", func(t *testing.T) {
		_, err := redpointv1.NewRegionServiceClient(s.GRPC).GetRegion(context.Background(), &redpointv1.GetRegionRequest{Name: "regions/12"})
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument {
			t.Fatalf("code %v", st.Code())
		}
		var sawInfo, sawField bool
		for _, d := range st.Details() {
			switch d := d.(type) {
			case *errdetails.ErrorInfo:
				sawInfo = d.Reason == "INVALID_ARGUMENT" && d.Domain == "redpoint"
			case *errdetails.BadRequest:
				sawField = len(d.FieldViolations) == 1 && d.FieldViolations[0].Field == "name"
			}
		}
		if !sawInfo || !sawField {
			t.Errorf("details %v: ErrorInfo %v, field violation %v", st.Details(), sawInfo, sawField)
		}
	})
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOperationalEndpoints(t *testing.T) {
	s := demoServer(t)
	ctx := context.Background()

	var health struct {
		Status string
		Checks map[string]string
	}
	if code := getJSON(t, s.BaseURL+"/healthz", &health); code != 200 || health.Status != "ok" || health.Checks["database"] != "ok" || health.Checks["redis"] != "ok" {
		t.Errorf("healthz = %d %+v", code, health)
	}
	hc, err := healthpb.NewHealthClient(s.GRPC).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hc.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("gRPC health = %v, %v", hc, err)
	}

	// A REST call must pass the gRPC interceptor chain: the gRPC metrics count it.
	getJSON(t, s.BaseURL+"/v1/regions/140400000000", nil)
	resp, err := http.Get(s.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(metrics), `grpc_server_handled_total{grpc_code="OK",grpc_method="GetRegion",grpc_service="redpoint.v1.RegionService",grpc_type="unary"} 1`) {
		t.Errorf("metrics do not count the REST GetRegion call through the gRPC chain")
	}

	var doc struct {
		OpenAPI string
		Paths   map[string]any
	}
	if code := getJSON(t, s.BaseURL+"/openapi.json", &doc); code != 200 || !strings.HasPrefix(doc.OpenAPI, "3.") || doc.Paths["/v1/regions"] == nil {
		t.Errorf("openapi.json = %d, paths %d", code, len(doc.Paths))
	}
	// Every resource has its real path: clients and validating proxies
	// route by it, so no two operations may share a collapsed /v1/{name}.
	for _, want := range []string{"/v1/errands/{errand}", "/v1/errands/{errand}:complete", "/v1/regions/{region}/followUps"} {
		if doc.Paths[want] == nil {
			t.Errorf("openapi.json has no path %s", want)
		}
	}
	for path := range doc.Paths {
		if strings.HasPrefix(path, "/v1/{") {
			t.Errorf("openapi.json has a collapsed path %s", path)
		}
	}

	stream, err := reflectionpb.NewServerReflectionClient(s.GRPC).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	rr, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, svc := range rr.GetListServicesResponse().GetService() {
		names = append(names, svc.Name)
	}
	for _, want := range []string{"redpoint.v1.RegionService", "redpoint.v1.ServicePointService", "redpoint.v1.ErrandTypeService", "grpc.health.v1.Health"} {
		if !strings.Contains(strings.Join(names, ","), want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
}

func TestHealthzFailsWhenRedisIsDown(t *testing.T) {
	k := kvtest.Open(t)
	// No workers: this test pulls Redis out from under the process, and the
	// job server must not be running on a client closed beneath it.
	s := apptest.Start(t, apptest.Options{KV: k, Configure: func(a *app.Options) { a.NoWorkers = true }})
	if code := getJSON(t, s.BaseURL+"/healthz", nil); code != http.StatusOK {
		t.Fatalf("healthy server: %d", code)
	}
	testutil.Close(t, k.Client) // the server's Redis is gone
	var health struct {
		Status string
		Checks map[string]string
	}
	if code := getJSON(t, s.BaseURL+"/healthz", &health); code != http.StatusServiceUnavailable || health.Checks["redis"] != "unavailable" || health.Checks["database"] != "ok" {
		t.Errorf("healthz without Redis = %d %+v, want 503 naming redis", code, health)
	}
	// What can't be counted is refused as unavailable, not as a server
	// fault: logins (attempts per phone) and lookups (per address and code),
	// once past what a replica admits on its own.
	for _, c := range []struct{ path, body string }{
		{"/v1/auth:login", `{"phone":"13800000009","password":"x"}`},
		{"/v1/errands:lookup", `{"trackingCode":"7KQ9M-2XAP4-TB8QZ","phoneLast4":"0000"}`},
	} {
		codes := []int{}
		for len(codes) < 40 && (len(codes) == 0 || codes[len(codes)-1] != http.StatusServiceUnavailable) {
			code, _ := s.Do(t, "", http.MethodPost, c.path, c.body)
			codes = append(codes, code)
		}
		for i, code := range codes {
			if last := i == len(codes)-1; (last && code != http.StatusServiceUnavailable) || (!last && code >= 500) {
				t.Errorf("%s without Redis: %v, want 4xx then 503", c.path, codes)
				break
			}
		}
	}
}
