package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"unicode"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
)

// createErrand logs an errand over REST as the agent with token and
// returns its REST path, /v1/errands/{id}.
func createErrand(t *testing.T, s *apptest.Server, token, description string) string {
	t.Helper()
	resp, raw := s.Send(t, token, "POST", "/v1/errands", map[string]string{"errandType": "errandTypes/SI-PENSION-CERT",
		"residentName": "申秀英", "residentPhone": "13900000001", "channel": "ERRAND_CHANNEL_WALK_IN", "description": description})
	if resp.StatusCode != 200 {
		t.Fatalf("create: %d %s", resp.StatusCode, raw)
	}
	var created struct{ Name string }
	if err := json.Unmarshal(raw, &created); err != nil || created.Name == "" {
		t.Fatalf("create: %s", raw)
	}
	return "/v1/" + created.Name
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// TestHTTPErrorsHaveOneShape: whatever refuses a request — the router, the
// JSON parser, the query parser, the handler — the client gets the same
// body: a zh-CN message, ErrorInfo with a stable reason, a zh-CN
// LocalizedMessage, and BadRequest naming the field where there is one.
func TestHTTPErrorsHaveOneShape(t *testing.T) {
	s := demoServer(t)
	token := s.Token(t, demo.GuhanAgentPhone)
	cases := []struct {
		name, method, path, body string
		wantStatus               int
		wantReason, wantField    string
	}{
		{"unknown path", "GET", "/v1/nothing/here", "", 404, "UNKNOWN_PATH", ""},
		{"malformed JSON", "POST", "/v1/errands", `{"residentName":`, 400, "MALFORMED_BODY", ""},
		// A field in a body that is one field of the request (the errand)
		// is named by its path from the request, as handlers name it.
		{"unknown field", "POST", "/v1/errands", `{"residentNmae":"申秀英"}`, 400, "UNKNOWN_FIELD", "errand.residentNmae"},
		{"wrong JSON type", "POST", "/v1/errands", `{"residentName":5}`, 400, "INVALID_ARGUMENT", "errand.resident_name"},
		{"wrong JSON type in a PATCH", "PATCH", "/v1/errands/1", `{"materials":[1]}`, 400, "INVALID_ARGUMENT", "errand.materials"},
		{"a key given twice", "PATCH", "/v1/errands/1", `{"description":"a","description":"b"}`, 400, "INVALID_ARGUMENT", "errand.description"},
		{"wrong JSON type in a whole-request body", "POST", "/v1/auth:login", `{"phone":5}`, 400, "INVALID_ARGUMENT", "phone"},
		{"query parameter not a number", "GET", "/v1/errands?pageSize=abc", "", 400, "INVALID_ARGUMENT", "page_size"},
		{"query parameter given twice", "GET", "/v1/errands/1?view=ERRAND_VIEW_BASIC&view=ERRAND_VIEW_FULL", "", 400, "INVALID_ARGUMENT", "view"},
		{"query parameter given by both its names", "GET", "/v1/errands?pageSize=1&page_size=2", "", 400, "INVALID_ARGUMENT", "page_size"},
		{"wrong method", "DELETE", "/v1/errands", "", 405, "METHOD_NOT_ALLOWED", ""},
		{"domain error", "GET", "/v1/regions/140499999999", "", 404, "NOT_FOUND", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, raw := s.Send(t, token, tc.method, tc.path, tc.body)
			var body errorBody
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("%d %s: %v", resp.StatusCode, raw, err)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, raw)
			}
			if info := body.detail("google.rpc.ErrorInfo"); info == nil || info["reason"] != tc.wantReason || info["domain"] != "redpoint" {
				t.Errorf("ErrorInfo = %v, want reason %s", info, tc.wantReason)
			}
			lm := body.detail("google.rpc.LocalizedMessage")
			if lm == nil || lm["locale"] != "zh-CN" || !hasHan(lm["message"].(string)) {
				t.Errorf("LocalizedMessage = %v, want zh-CN text", lm)
			}
			if !hasHan(body.Message) {
				t.Errorf("message %q is not the zh-CN text", body.Message)
			}
			if tc.wantField != "" {
				br := body.detail("google.rpc.BadRequest")
				if br == nil || !strings.Contains(toJSON(t, br), `"field":"`+tc.wantField+`"`) {
					t.Errorf("BadRequest = %v, want a violation on %s", br, tc.wantField)
				}
			}
		})
	}
}

// TestMethodsAndChallenges: a known path with the wrong method is 405 with
// the methods it takes (RFC 9110), and a refused or missing token is a
// Bearer challenge (RFC 6750), not the error text.
func TestMethodsAndChallenges(t *testing.T) {
	s := demoServer(t)
	for _, tc := range []struct{ method, path, allow string }{
		{"DELETE", "/v1/errands", "GET, POST"},
		{"GET", "/v1/auth:login", "POST"},
		{"HEAD", "/v1/auth:login", "POST"},
		{"PUT", "/v1/errands/1", "GET, PATCH"},
		{"POST", "/v1/regions/140400000000", "GET"},
		// Custom verbs: the methods the verb takes, not those of the
		// resource the path would be without it.
		{"PUT", "/v1/errands/1:start", "POST"},
		{"DELETE", "/v1/users/1:resetPassword", "POST"},
		{"PUT", "/v1/residents/me/errands/1:rate", "POST"},
		{"POST", "/v1/errands:sync", "GET"},
		{"POST", "/v1/errands/1/events", "GET"},
	} {
		resp, body := s.Send(t, "", tc.method, tc.path, "")
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s = %d Allow %q, want 405 Allow %q (%s)", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.allow, body)
		}
	}

	// The scheme is case-insensitive.
	if resp, body := s.Send(t, "", "GET", "/v1/errands?pageSize=1", "", "Authorization", "bearer "+s.Token(t, demo.GuhanAgentPhone)); resp.StatusCode != 200 {
		t.Errorf("Authorization: bearer …: %d %s", resp.StatusCode, body)
	}
	resp, _ := s.Send(t, "", "GET", "/v1/errands", "")
	if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || got != `Bearer realm="redpoint"` {
		t.Errorf("no token: %d WWW-Authenticate %q", resp.StatusCode, got)
	}
	resp, _ = s.Send(t, "not-a-token", "GET", "/v1/errands", "")
	if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || got != `Bearer realm="redpoint", error="invalid_token"` {
		t.Errorf("bad token: %d WWW-Authenticate %q", resp.StatusCode, got)
	}
}

// TestGRPCHealthPerService: a load balancer can ask about one service.
func TestGRPCHealthPerService(t *testing.T) {
	s := demoServer(t)
	hc := healthpb.NewHealthClient(s.GRPC)
	for _, svc := range []string{"", "redpoint.v1.ErrandService", "redpoint.v1.ResidentService", "redpoint.v1.RegionService"} {
		r, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q = %v, %v", svc, r, err)
		}
	}
	_, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "redpoint.v1.NoSuchService"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("health of an unknown service: %v, want NotFound", err)
	}
}

// TestErrandsForClientsWithoutPatch walks what the mini-program's and the
// app's HTTP clients do with an errand: PATCH sent as POST with
// X-HTTP-Method-Override, camelCase update masks, a fetched errand sent
// back whole (its output-only fields ignored), and ETags on the detail
// and the list so a re-open over a weak link is a 304.
func TestErrandsForClientsWithoutPatch(t *testing.T) {
	s := demoServer(t)
	token := s.Token(t, demo.GuhanAgentPhone)
	path := createErrand(t, s, token, "")

	// ETag on the detail: the same answer is a 304 without a body.
	resp, first := s.Send(t, token, "GET", path, "")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || etag == "" {
		t.Fatalf("GET %s: %d ETag %q", path, resp.StatusCode, etag)
	}
	resp, body := s.Send(t, token, "GET", path, "", "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("GET with If-None-Match: %d %q, want 304 and no body", resp.StatusCode, body)
	}
	listResp, _ := s.Send(t, token, "GET", "/v1/errands?pageSize=5", "")
	listTag := listResp.Header.Get("ETag")
	if resp, _ := s.Send(t, token, "GET", "/v1/errands?pageSize=5", "", "If-None-Match", listTag); listTag == "" || resp.StatusCode != http.StatusNotModified {
		t.Errorf("list: ETag %q, then %d, want 304", listTag, resp.StatusCode)
	}

	// PATCH without PATCH, with the JSON name in the mask.
	resp, raw := s.Send(t, token, "POST", path+"?updateMask=residentName", `{"residentName":"申秀兰"}`, "X-HTTP-Method-Override", "PATCH")
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"residentName":"申秀兰"`) {
		t.Fatalf("POST with X-HTTP-Method-Override: PATCH and updateMask=residentName: %d %s", resp.StatusCode, raw)
	}
	// The detail changed: the old ETag no longer matches.
	if resp, _ := s.Send(t, token, "GET", path, "", "If-None-Match", etag); resp.StatusCode != 200 {
		t.Errorf("GET after an update with the old ETag: %d, want 200", resp.StatusCode)
	}

	// The fetched errand sent back whole with one field changed: its
	// output-only fields (state, times, tracking code) and the masked
	// phone are ignored, the description is saved.
	var fetched map[string]any
	_, raw = s.Send(t, token, "GET", path, "")
	if err := json.Unmarshal(raw, &fetched); err != nil {
		t.Fatal(err)
	}
	fetched["description"] = "老人行动不便，上门办理"
	fetched["state"] = "ERRAND_STATE_COMPLETED"
	b, _ := json.Marshal(fetched)
	resp, raw = s.Send(t, token, "PATCH", path, string(b))
	var updated map[string]any
	_ = json.Unmarshal(raw, &updated)
	if resp.StatusCode != 200 || updated["description"] != "老人行动不便，上门办理" || updated["state"] != "ERRAND_STATE_ACCEPTED" || updated["residentPhone"] != fetched["residentPhone"] {
		t.Errorf("PATCH with the fetched errand: %d %s", resp.StatusCode, raw)
	}
	if !bytes.Contains(first, []byte(`"state":"ERRAND_STATE_ACCEPTED"`)) {
		t.Errorf("created errand: %s", first)
	}
	// The history names what changed, not every field the body carried.
	_, raw = s.Send(t, token, "GET", path+"/events", "")
	var history struct{ Events []struct{ Note string } }
	if err := json.Unmarshal(raw, &history); err != nil || len(history.Events) == 0 {
		t.Fatalf("events: %s", raw)
	}
	if last := history.Events[len(history.Events)-1].Note; last != "修改了事项描述" {
		t.Errorf("the whole errand sent back with a new description is in the history as %q", last)
	}
}

// TestAccountsForClientsWithoutPatch: a fetched account sent back whole
// with one change (as the console does), for an agent and for a
// secretary, whose service point is empty; fields fixed at creation
// (phone, role, region) are ignored.
func TestAccountsForClientsWithoutPatch(t *testing.T) {
	s := demoServer(t)
	admin := s.Token(t, demo.CountyAdminPhone)
	for _, phone := range []string{demo.GuhanAgentPhone, demo.GuhanSecretaryPhone} {
		var login struct{ User map[string]any }
		_, raw := s.Send(t, "", "POST", "/v1/auth:login", map[string]string{"phone": phone, "password": demo.Password})
		if err := json.Unmarshal(raw, &login); err != nil || login.User["name"] == nil {
			t.Fatalf("login %s: %s", phone, raw)
		}
		path := "/v1/" + login.User["name"].(string)
		var fetched map[string]any
		_, raw = s.Send(t, admin, "GET", path, "")
		if err := json.Unmarshal(raw, &fetched); err != nil {
			t.Fatal(err)
		}
		fetched["displayName"] = "改名" + phone[7:]
		resp, raw := s.Send(t, admin, "POST", path, fetched, "X-HTTP-Method-Override", "PATCH")
		if resp.StatusCode != 200 || !strings.Contains(string(raw), `"displayName":"改名`+phone[7:]+`"`) {
			t.Errorf("%s sent back whole: %d %s", path, resp.StatusCode, raw)
		}
	}
}

// TestAnUpdateMaskIsNeverIgnored: a mask that names only the errand's
// name and etag names nothing to change. It must be refused, not taken
// for no mask at all — that would write every field in the body, the
// ones the client did not name included.
func TestAnUpdateMaskIsNeverIgnored(t *testing.T) {
	s := demoServer(t)
	token := s.Token(t, demo.GuhanAgentPhone)
	path := createErrand(t, s, token, "原描述")
	for _, mask := range []string{"etag", "name,etag"} {
		resp, raw := s.Send(t, token, "PATCH", path+"?updateMask="+mask, `{"description":"不该写入","residentName":"申秀兰"}`)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), `"field":"update_mask"`) {
			t.Errorf("PATCH with updateMask=%s: %d %s, want 400 on update_mask", mask, resp.StatusCode, raw)
		}
	}
	_, raw := s.Send(t, token, "GET", path, "")
	if !strings.Contains(string(raw), `"description":"原描述"`) || !strings.Contains(string(raw), `"residentName":"申秀英"`) {
		t.Errorf("after the refused updates: %s", raw)
	}
}

// TestConditionalGets: HEAD is answered wherever GET is (RFC 9110), with
// the GET's ETag and no body; If-None-Match compares weakly, takes lists
// over several lines, and "*" matches any answer there is. The GETs ask
// for no compression: HEAD is never compressed, and a compressed answer's
// ETag is weak (service/server/compress_test.go).
func TestConditionalGets(t *testing.T) {
	s := demoServer(t)
	token := s.Token(t, demo.GuhanAgentPhone)
	const path = "/v1/errands?pageSize=3"
	resp, _ := s.Send(t, token, "GET", path, "", "Accept-Encoding", "identity")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || etag == "" {
		t.Fatalf("GET %s: %d ETag %q", path, resp.StatusCode, etag)
	}
	for _, p := range []string{path, "/v1/regions/140423000000"} {
		get, _ := s.Send(t, token, "GET", p, "", "Accept-Encoding", "identity")
		resp, body := s.Send(t, token, "HEAD", p, "")
		if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != get.ContentLength {
			t.Errorf("HEAD %s: %d, Content-Length %d, body %q; want 200, the GET's Content-Length %d, no body", p, resp.StatusCode, resp.ContentLength, body, get.ContentLength)
		}
		if p == path && resp.Header.Get("ETag") != etag {
			t.Errorf("HEAD %s: ETag %q, want the GET's %s", p, resp.Header.Get("ETag"), etag)
		}
	}
	// On the wire: the headers and nothing after them (a body there would
	// be read as the next answer on the connection).
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.BaseURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_, _ = io.WriteString(conn, "HEAD /v1/regions/140423000000 HTTP/1.1\r\nHost: redpoint\r\nConnection: close\r\n\r\n")
	wire, _ := io.ReadAll(conn)
	if _, after, _ := strings.Cut(string(wire), "\r\n\r\n"); !strings.HasPrefix(string(wire), "HTTP/1.1 200") || after != "" {
		t.Errorf("HEAD on the wire: %q, want 200 and no body", wire)
	}

	for _, tc := range []struct {
		name  string
		lines []string
		want  int
	}{
		{"the tag", []string{etag}, http.StatusNotModified},
		{"the tag, weak", []string{"W/" + etag}, http.StatusNotModified},
		{"any", []string{"*"}, http.StatusNotModified},
		{"in a list", []string{`"a", ` + etag}, http.StatusNotModified},
		{"on a second line", []string{`"a"`, etag}, http.StatusNotModified},
		{"another tag", []string{`"a"`}, http.StatusOK},
	} {
		req, err := http.NewRequest("GET", s.BaseURL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		for _, l := range tc.lines {
			req.Header.Add("If-None-Match", l)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("If-None-Match %s %q: %d, want %d", tc.name, tc.lines, resp.StatusCode, tc.want)
		}
	}
}
