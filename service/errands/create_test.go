package errands_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/changzhi/redpoint/ent/auditentry"
	"github.com/changzhi/redpoint/ent/errand"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/trackingcode"
)

func TestCreateAssignsPointAgentCodeAndDueTime(t *testing.T) {
	e := newEnv(t)
	got := e.create(t)
	if got.State != accepted || got.StateDisplayName != "已受理" || got.Etag == "" || got.Name == "" {
		t.Errorf("created %+v", got)
	}
	if _, err := trackingcode.Normalize(got.TrackingCode); err != nil || len(got.TrackingCode) != 17 {
		t.Errorf("tracking code %q: %v", got.TrackingCode, err)
	}
	// The agent's own point, and the agent: from the caller, not the request.
	if got.Agent == "" || got.AgentDisplayName == "" || got.ServicePoint == "" || got.Region[:len("regions/140423100")] != "regions/140423100" {
		t.Errorf("point/agent/region = %s %s %s", got.ServicePoint, got.Agent, got.Region)
	}
	// Wednesday 10:00 + 3 working days = Monday 2026-11-30 23:59:59 Asia/Shanghai.
	if due := got.DueTime.AsTime().Format("2006-01-02T15:04:05Z07:00"); due != "2026-11-30T15:59:59Z" {
		t.Errorf("due = %s, want 2026-11-30 23:59:59 +08:00", due)
	}
	// Responses mask personal data by default, even for the agent who typed it.
	if got.ResidentPhone != "139****5678" || got.ResidentIdNumber != "140423********0029" {
		t.Errorf("create response shows %s %s, want masked", got.ResidentPhone, got.ResidentIdNumber)
	}
	row, err := e.App.Store.Client.Errand.Query().Where(errand.TrackingCode(got.TrackingCode[0:5] + got.TrackingCode[6:11] + got.TrackingCode[12:])).Only(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if row.ResidentPhoneCipher == "13912345678" || row.ResidentIDNumberCipher == "140423195603120029" {
		t.Error("personal data stored in the clear")
	}
}

func TestFullViewPerRoleIsAudited(t *testing.T) {
	e := newEnv(t)
	got := e.create(t)
	cases := []struct {
		name  string
		phone string
		full  bool // may read the FULL view
	}{
		{"agent", demo.GuhanAgentPhone, true},
		{"township secretary", demo.GuhanSecretaryPhone, true},
		{"county admin", demo.CountyAdminPhone, false},
		{"city admin", demo.CityAdminPhone, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			basic, err := e.client.GetErrand(e.as(tc.phone), &redpointv1.GetErrandRequest{Name: got.Name})
			if err != nil {
				t.Fatal(err)
			}
			if basic.ResidentPhone != "139****5678" || basic.ResidentIdNumber != "140423********0029" {
				t.Errorf("BASIC view shows %s %s", basic.ResidentPhone, basic.ResidentIdNumber)
			}
			before := unmaskedReads(t, e)
			full, err := e.client.GetErrand(e.as(tc.phone), &redpointv1.GetErrandRequest{Name: got.Name, View: redpointv1.ErrandView_ERRAND_VIEW_FULL})
			if !tc.full {
				if code, _, _ := reason(err); code != codes.PermissionDenied || full != nil {
					t.Errorf("FULL view for %s: %v", tc.name, err)
				}
				if after := unmaskedReads(t, e); after != before {
					t.Errorf("a denied FULL read was audited")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if full.ResidentPhone != "13912345678" || full.ResidentIdNumber != "140423195603120029" {
				t.Errorf("FULL view shows %s %s", full.ResidentPhone, full.ResidentIdNumber)
			}
			if after := unmaskedReads(t, e); after != before+1 {
				t.Errorf("FULL read audited %d times, want once", after-before)
			}
		})
	}
}

func unmaskedReads(t *testing.T, e *env) int {
	t.Helper()
	n, err := e.App.Store.Client.AuditEntry.Query().Where(auditentry.UnmaskedRead(true)).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreateRequestIDReplayAndReuse(t *testing.T) {
	e := newEnv(t)
	ctx := e.agent()
	id := requestID()
	first, err := e.client.CreateErrand(ctx, &redpointv1.CreateErrandRequest{Errand: validErrand(), RequestId: id})
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.client.CreateErrand(ctx, &redpointv1.CreateErrandRequest{Errand: validErrand(), RequestId: id})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, again, protocmp.Transform()); diff != "" {
		t.Errorf("retry returned a different result (-first +retry):\n%s", diff)
	}
	other := validErrand()
	other.Description = "另一件事"
	_, err = e.client.CreateErrand(ctx, &redpointv1.CreateErrandRequest{Errand: other, RequestId: id})
	if code, r, fields := reason(err); code != codes.InvalidArgument || r != "REQUEST_ID_REUSED" || len(fields) != 1 || fields[0] != "request_id" {
		t.Errorf("reused id: %v %s %v", code, r, fields)
	}
	n, err := e.App.Store.Client.Errand.Query().Where(errand.ResidentPhoneHash(e.App.Keys.Hash("phone", "13912345678"))).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d errands for one request id, want 1", n)
	}
	// The same request id from another agent is theirs, not a replay.
	if _, err := e.client.CreateErrand(e.as(demo.DanzhuAgentPhone), &redpointv1.CreateErrandRequest{Errand: validErrand(), RequestId: id}); err != nil {
		t.Errorf("another agent's equal request id: %v", err)
	}
}

func TestFiftyConcurrentCreatesWithOneRequestIDMakeOneErrand(t *testing.T) {
	e := newEnv(t)
	ctx := e.agent()
	id := requestID()
	req := &redpointv1.CreateErrandRequest{Errand: validErrand(), RequestId: id}
	req.Errand.ResidentPhone = "13700001111"
	var wg sync.WaitGroup
	names := make([]string, 50)
	errs := make([]error, 50)
	for i := range names {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out, err := e.client.CreateErrand(ctx, req)
			if err == nil {
				names[i] = out.Name
			}
			errs[i] = err
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if names[i] != names[0] {
			t.Fatalf("call %d created %s, call 0 %s", i, names[i], names[0])
		}
	}
	n, err := e.App.Store.Client.Errand.Query().Where(errand.ResidentPhoneHash(e.App.Keys.Hash("phone", "13700001111"))).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("50 concurrent creates made %d errands, want 1", n)
	}
}

func TestTransitionRetryReturnsFirstResult(t *testing.T) {
	e := newEnv(t)
	ctx := e.agent()
	er := e.create(t)
	id := requestID()
	first, err := e.client.CompleteErrand(ctx, &redpointv1.CompleteErrandRequest{Name: er.Name, Result: "已认证", RequestId: id})
	if err != nil {
		t.Fatal(err)
	}
	// Offline app retries: same request id, same body. Not an invalid transition.
	again, err := e.client.CompleteErrand(ctx, &redpointv1.CompleteErrandRequest{Name: er.Name, Result: "已认证", RequestId: id})
	if err != nil {
		t.Fatalf("retry of :complete: %v", err)
	}
	if first.Etag != again.Etag || again.State != completed {
		t.Errorf("retry = %s %s, first %s", again.State, again.Etag, first.Etag)
	}
	events, err := e.client.ListErrandEvents(ctx, &redpointv1.ListErrandEventsRequest{Parent: er.Name})
	if err != nil {
		t.Fatal(err)
	}
	if len(events.Events) != 2 {
		t.Errorf("history has %d events after a retried complete, want 2", len(events.Events))
	}
}

func TestBatchCreateMixedItems(t *testing.T) {
	e := newEnv(t)
	ctx := e.agent()
	replayID := requestID()
	if _, err := e.client.CreateErrand(ctx, &redpointv1.CreateErrandRequest{Errand: validErrand(), RequestId: replayID}); err != nil {
		t.Fatal(err)
	}
	bad := validErrand()
	bad.ResidentPhone = "12345"
	bad.ResidentIdNumber = "140423195603120020"
	unknownType := validErrand()
	unknownType.ErrandType = "errandTypes/NO-SUCH"
	resp, err := e.client.BatchCreateErrands(ctx, &redpointv1.BatchCreateErrandsRequest{Requests: []*redpointv1.CreateErrandRequest{
		{Errand: validErrand(), RequestId: requestID()},
		{Errand: bad, RequestId: requestID()},
		{Errand: validErrand(), RequestId: replayID},
		{Errand: unknownType, RequestId: requestID()},
		{Errand: validErrand(), RequestId: requestID()},
	}})
	if err != nil {
		t.Fatal(err)
	}
	outcomes := []redpointv1.BatchItemOutcome{}
	for _, r := range resp.Results {
		outcomes = append(outcomes, r.Outcome)
	}
	want := []redpointv1.BatchItemOutcome{
		redpointv1.BatchItemOutcome_BATCH_ITEM_OUTCOME_CREATED,
		redpointv1.BatchItemOutcome_BATCH_ITEM_OUTCOME_FAILED,
		redpointv1.BatchItemOutcome_BATCH_ITEM_OUTCOME_REPLAYED,
		redpointv1.BatchItemOutcome_BATCH_ITEM_OUTCOME_FAILED,
		redpointv1.BatchItemOutcome_BATCH_ITEM_OUTCOME_CREATED,
	}
	if diff := cmp.Diff(want, outcomes); diff != "" {
		t.Fatalf("outcomes (-want +got):\n%s", diff)
	}
	var fields []string
	for _, f := range resp.Results[1].FieldErrors {
		fields = append(fields, f.Field)
	}
	sort.Strings(fields)
	if diff := cmp.Diff([]string{"errand.resident_id_number", "errand.resident_phone"}, fields); diff != "" || resp.Results[1].ErrorReason != "INVALID_ARGUMENT" {
		t.Errorf("bad item: reason %s, fields (-want +got):\n%s", resp.Results[1].ErrorReason, diff)
	}
	if resp.Results[0].Errand.Name == resp.Results[4].Errand.Name || resp.Results[2].Errand == nil {
		t.Error("batch results do not carry their errands")
	}
	tooMany := &redpointv1.BatchCreateErrandsRequest{}
	for i := 0; i < 101; i++ {
		tooMany.Requests = append(tooMany.Requests, &redpointv1.CreateErrandRequest{Errand: validErrand(), RequestId: requestID()})
	}
	if _, err := e.client.BatchCreateErrands(ctx, tooMany); err == nil {
		t.Error("a batch of 101 was accepted")
	}
}

func TestMalformedCreateOverREST(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name       string
		body       any
		wantStatus int
		wantFields []string
	}{
		{"every field bad", map[string]any{
			"errandType": "errandTypes/NO-SUCH", "residentName": "", "residentPhone": "0355123", "residentIdNumber": "140423195603120020",
		}, 400, []string{"errand.errand_type", "errand.resident_id_number", "errand.resident_name", "errand.resident_phone"}},
		{"not JSON", "{nope", 400, nil},
		{"wrong type for a field", `{"residentName": 12}`, 400, nil},
		{"unknown channel", map[string]any{"errandType": "errandTypes/MI-PAYMENT", "residentName": "李四", "residentPhone": "13912345678", "channel": "CARRIER_PIGEON"}, 400, nil},
		{"bad request id", map[string]any{"errandType": "errandTypes/MI-PAYMENT", "residentName": "李四", "residentPhone": "13912345678"}, 400, []string{"request_id"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := "/v1/errands?requestId=" + requestID()
			if tc.name == "bad request id" {
				path = "/v1/errands?requestId=has%20spaces!"
			}
			code, body := e.Do(t, demo.GuhanAgentPhone, http.MethodPost, path, tc.body)
			if code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", code, tc.wantStatus, body)
			}
			r, fields := decodeREST(t, body)
			if r == "" {
				t.Errorf("no ErrorInfo in %s", body)
			}
			sort.Strings(fields)
			if tc.wantFields != nil {
				if diff := cmp.Diff(tc.wantFields, fields); diff != "" {
					t.Errorf("field violations (-want +got):\n%s", diff)
				}
			}
		})
	}
	n, err := e.App.Store.Client.Errand.Query().Where(errand.ResidentName("李四")).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("a rejected create wrote %d errands", n)
	}
}

func TestRESTFlowWithEtagConflict(t *testing.T) {
	e := newEnv(t)
	agent := demo.GuhanAgentPhone
	reqID := requestID()
	body := map[string]any{"errandType": "errandTypes/MI-PAYMENT", "residentName": "王五", "residentPhone": "13912340000", "description": "缴纳医保"}
	code, raw := e.Do(t, agent, http.MethodPost, "/v1/errands?requestId="+reqID, body)
	if code != 200 {
		t.Fatalf("create: %d %s", code, raw)
	}
	var created redpointv1.Errand
	if err := protojson.Unmarshal(raw, &created); err != nil {
		t.Fatal(err)
	}
	code, raw2 := e.Do(t, agent, http.MethodPost, "/v1/errands?requestId="+reqID, body)
	var replay redpointv1.Errand
	if code != 200 {
		t.Fatalf("retry: %d %s", code, raw2)
	}
	if err := protojson.Unmarshal(raw2, &replay); err != nil || replay.Name != created.Name {
		t.Fatalf("retry: %s (%v)", raw2, err)
	}
	code, raw = e.Do(t, agent, http.MethodPost, "/"+"v1/"+created.Name+":start", map[string]any{"etag": created.Etag})
	if code != 200 {
		t.Fatalf("start: %d %s", code, raw)
	}
	// The old etag is stale now: 409 ABORTED, and nothing changes.
	code, raw = e.Do(t, agent, http.MethodPost, "/v1/"+created.Name+":complete", map[string]any{"etag": created.Etag, "result": "已缴费"})
	if r, _ := decodeREST(t, raw); code != http.StatusConflict || r != "ETAG_MISMATCH" {
		t.Fatalf("stale etag: %d %s", code, raw)
	}
	code, raw = e.Do(t, agent, http.MethodPatch, "/v1/"+created.Name+"?updateMask=description", map[string]any{"description": "x", "etag": created.Etag})
	if code != http.StatusConflict {
		t.Fatalf("stale etag on PATCH: %d %s", code, raw)
	}
	code, raw = e.Do(t, agent, http.MethodPost, "/v1/"+created.Name+":complete", map[string]any{"result": "已缴费"})
	if code != 200 {
		t.Fatalf("complete: %d %s", code, raw)
	}
	code, raw = e.Do(t, agent, http.MethodGet, "/v1/"+created.Name+"/events", nil)
	var events struct {
		Events []struct{ Kind, FromState, ToState, DisplayText string }
	}
	if code != 200 {
		t.Fatalf("history: %d %s", code, raw)
	}
	if err := json.Unmarshal(raw, &events); err != nil {
		t.Fatalf("history %s: %v", raw, err)
	}
	if len(events.Events) != 3 || events.Events[2].DisplayText != "办理中 → 已办结" {
		t.Errorf("history: %d %s", code, raw)
	}
}

// TestConcurrentRetriesOfATransition: the app fires its queued :start
// again while the first is still running; every call gets the first
// result, none an INVALID_STATE_TRANSITION.
func TestConcurrentRetriesOfATransition(t *testing.T) {
	e := newEnv(t)
	ctx := e.agent()
	for round := 0; round < 5; round++ {
		x := e.create(t)
		id := requestID()
		var wg sync.WaitGroup
		etags := make([]string, 4)
		errs := make([]error, 4)
		for i := range etags {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				out, err := e.client.StartErrand(ctx, &redpointv1.StartErrandRequest{Name: x.Name, RequestId: id})
				errs[i] = err
				if err == nil {
					etags[i] = out.Etag
				}
			}(i)
		}
		wg.Wait()
		for i := range etags {
			if errs[i] != nil || etags[i] != etags[0] {
				t.Fatalf("round %d call %d: %v (etag %q, first %q)", round, i, errs[i], etags[i], etags[0])
			}
		}
	}
}

// TestPatchWithEtagInBodyAndNoMask: the gateway makes a mask of every body
// key; the etag guards the write and is not a field to change.
func TestPatchWithEtagInBodyAndNoMask(t *testing.T) {
	e := newEnv(t)
	x := e.create(t)
	code, body := e.Do(t, demo.GuhanAgentPhone, http.MethodPatch, "/v1/"+x.Name, map[string]any{"description": "新的描述", "etag": x.Etag})
	if code != 200 {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	code, _ = e.Do(t, demo.GuhanAgentPhone, http.MethodPatch, "/v1/"+x.Name, map[string]any{"description": "再改", "etag": x.Etag})
	if code != http.StatusConflict {
		t.Errorf("stale etag in the body: %d, want 409", code)
	}
}
