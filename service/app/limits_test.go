package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/changzhi/redpoint/ent/errand"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/server"
	"github.com/changzhi/redpoint/service/testutil"
)

// TestMetricsOnlyOnTheAdminPort: the public REST port does not serve
// /metrics; the admin port does.
func TestMetricsOnlyOnTheAdminPort(t *testing.T) {
	s := apptest.Start(t, apptest.Options{})
	for _, tc := range []struct {
		url  string
		want int
	}{{s.BaseURL + "/metrics", http.StatusNotFound}, {s.AdminURL + "/metrics", http.StatusOK}, {s.AdminURL + "/healthz", http.StatusOK}} {
		resp, err := http.Get(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s = %d, want %d", tc.url, resp.StatusCode, tc.want)
		}
		if tc.want == http.StatusOK && strings.HasSuffix(tc.url, "/metrics") && !strings.Contains(string(body), "grpc_server_handled_total") {
			t.Errorf("the admin port's /metrics lacks the gRPC metrics")
		}
	}
}

// restReason decodes the reason of a gateway-shaped error body.
func restReason(t *testing.T, body []byte) (string, []string) {
	t.Helper()
	var re struct{ Details []json.RawMessage }
	if err := json.Unmarshal(body, &re); err != nil {
		t.Fatalf("error body %.200q: %v", body, err)
	}
	var reason string
	var fields []string
	for _, d := range re.Details {
		var m struct {
			Reason          string
			FieldViolations []struct{ Field string }
		}
		if err := json.Unmarshal(d, &m); err != nil {
			t.Fatalf("error detail %.200q: %v", d, err)
		}
		reason += m.Reason
		for _, f := range m.FieldViolations {
			fields = append(fields, f.Field)
		}
	}
	return reason, fields
}

// TestBodiesOverTheirBoundAre413: a body over 1 MiB — announced or
// chunked — is refused before anything parses it, on the public lookup
// too; a batch may be larger.
func TestBodiesOverTheirBoundAre413(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 10}})
	big := `{"trackingCode":"` + strings.Repeat("A", server.MaxBody) + `"}`
	cases := []struct {
		name    string
		path    string
		body    io.Reader
		chunked bool
		want    int
	}{
		{"announced", "/v1/errands:lookup", strings.NewReader(big), false, http.StatusRequestEntityTooLarge},
		{"chunked", "/v1/errands:lookup", io.MultiReader(strings.NewReader(big)), true, http.StatusRequestEntityTooLarge},
		{"batch under its own bound (parsed, then refused as a batch)", "/v1/errands:batchCreate", strings.NewReader(`{"requests":[],"x":"` + strings.Repeat("A", server.MaxBody) + `"}`), false, http.StatusBadRequest},
		{"batch over its bound", "/v1/errands:batchCreate", strings.NewReader(strings.Repeat(" ", server.BatchBody+1)), false, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, s.BaseURL+tc.path, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.chunked {
				req.ContentLength = -1
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, tc.want, body)
			}
			if tc.want == http.StatusRequestEntityTooLarge {
				if reason, _ := restReason(t, body); reason != "REQUEST_TOO_LARGE" {
					t.Errorf("reason %q, want REQUEST_TOO_LARGE", reason)
				}
			}
		})
	}
}

// TestSlowClientsAreCutOff: a body dripped a byte at a time, and a gRPC
// connection that never sends its preface, are closed at their timeouts
// instead of being held for ever.
func TestSlowClientsAreCutOff(t *testing.T) {
	timeouts := server.Timeouts{Read: 300 * time.Millisecond, Handshake: 300 * time.Millisecond}
	s := apptest.Start(t, apptest.Options{Configure: func(a *app.Options) { a.Timeouts = timeouts }})

	closed := func(t *testing.T, conn net.Conn, drip bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		if err := conn.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, conn)
			done <- err
		}()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case err := <-done:
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatal("the server still held the connection after 10 s")
				}
				return
			case <-tick.C:
				if drip {
					if _, err := conn.Write([]byte("{")); err != nil {
						drip = false // the server cut it off: the read ends next
					}
				}
			}
		}
	}
	t.Run("dripped body", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.BaseURL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer testutil.Close(t, conn)
		if _, err := conn.Write([]byte("POST /v1/errands:lookup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		closed(t, conn, true)
	})
	t.Run("no gRPC preface", func(t *testing.T) {
		conn, err := net.Dial("tcp", s.GRPCAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer testutil.Close(t, conn)
		closed(t, conn, false)
	})
	// Ordinary clients are unaffected.
	if _, err := redpointv1.NewRegionServiceClient(s.GRPC).GetRegion(context.Background(), &redpointv1.GetRegionRequest{Name: "regions/140400000000"}); status.Code(err) == codes.Unavailable {
		t.Errorf("a normal call after the slow clients: %v", err)
	}
}

// TestOversizedMetadataIsRefused: a gRPC call with a megabyte of metadata
// is refused, and the server goes on serving.
func TestOversizedMetadataIsRefused(t *testing.T) {
	s := apptest.Start(t, apptest.Options{})
	regions := redpointv1.NewRegionServiceClient(s.GRPC)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-padding", strings.Repeat("a", 1<<20))
	city := &redpointv1.GetRegionRequest{Name: "regions/140400000000"}
	if _, err := regions.GetRegion(ctx, city); err == nil {
		t.Error("a call with 1 MiB of metadata was served")
	} else {
		t.Logf("1 MiB of metadata: %v", err)
	}
	if _, err := regions.GetRegion(context.Background(), city); status.Code(err) != codes.NotFound { // the database is empty
		t.Errorf("a normal call afterwards: %v", err)
	}
}

// TestControlCharactersAreRefused: NUL, escapes and bidi overrides in
// names, phones and notes are INVALID_ARGUMENT naming the field, over
// gRPC and REST, and nothing is written; line breaks are text only in
// notes and descriptions.
func TestControlCharactersAreRefused(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 10}})
	ctx := context.Background()
	agent := s.As(t, ctx, demo.GuhanAgentPhone)
	errands := redpointv1.NewErrandServiceClient(s.GRPC)
	valid := func() *redpointv1.Errand {
		return &redpointv1.Errand{ErrandType: "errandTypes/SI-PENSION-CERT", ResidentName: "申秀英", ResidentPhone: "13912345678",
			Description: "代办养老保险资格认证", Materials: []string{"居民身份证"}}
	}
	before := s.App.Store.Client.Errand.Query().CountX(ctx)
	cases := []struct {
		name  string
		edit  func(*redpointv1.Errand)
		field string
	}{
		{"NUL in the name", func(e *redpointv1.Errand) { e.ResidentName = "申\x00秀英" }, "errand.resident_name"},
		{"escape sequence in the name", func(e *redpointv1.Errand) { e.ResidentName = "\x1b[31m申秀英" }, "errand.resident_name"},
		{"bidi override in the description", func(e *redpointv1.Errand) { e.Description = "认证\u202e明证" }, "errand.description"},
		{"bidi isolate in a material", func(e *redpointv1.Errand) { e.Materials = []string{"户口本", "\u2067身份证"} }, "errand.materials[1]"},
		{"line break in the phone", func(e *redpointv1.Errand) { e.ResidentPhone = "1391234\n5678" }, "errand.resident_phone"},
		{"C1 control in the name", func(e *redpointv1.Errand) { e.ResidentName = "申\u0085秀英" }, "errand.resident_name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := valid()
			tc.edit(e)
			_, err := errands.CreateErrand(agent, &redpointv1.CreateErrandRequest{Errand: e, RequestId: "ctl-" + tc.name})
			st := status.Convert(err)
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.FieldViolations {
						fields = append(fields, v.Field)
					}
				}
			}
			if st.Code() != codes.InvalidArgument || len(fields) != 1 || fields[0] != tc.field {
				t.Errorf("gRPC: %v %v, want INVALID_ARGUMENT on %s", st.Code(), fields, tc.field)
			}
			body, err := json.Marshal(map[string]any{"residentName": e.ResidentName, "residentPhone": e.ResidentPhone, "description": e.Description,
				"errandType": e.ErrandType, "materials": e.Materials})
			if err != nil {
				t.Fatal(err)
			}
			code, resp := s.Do(t, demo.GuhanAgentPhone, http.MethodPost, "/v1/errands?requestId=ctl-rest-"+strings.ReplaceAll(tc.name, " ", "-"), json.RawMessage(body))
			if _, fields := restReason(t, resp); code != http.StatusBadRequest || len(fields) != 1 || fields[0] != tc.field {
				t.Errorf("REST: %d %v, want 400 on %s", code, fields, tc.field)
			}
		})
	}
	if after := s.App.Store.Client.Errand.Query().CountX(ctx); after != before {
		t.Errorf("%d errands written by refused requests", after-before)
	}
	e := valid()
	e.Description = "第一行\n第二行\t（附注）"
	out, err := errands.CreateErrand(agent, &redpointv1.CreateErrandRequest{Errand: e, RequestId: "ctl-multiline"})
	if err != nil {
		t.Fatalf("a description with line breaks: %v", err)
	}
	if got := s.App.Store.Client.Errand.Query().Where(errand.TrackingCode(strings.ReplaceAll(out.TrackingCode, "-", ""))).OnlyX(ctx).Description; got != e.Description {
		t.Errorf("stored description %q", got)
	}
}

// dial is a raw HTTP/1.1 exchange, for requests net/http won't send.
func dial(t *testing.T, addr, raw string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Close(t, conn)
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("the answer's first line %q: %v", line, err)
	}
	return line
}

// TestOversizedHeadersAre431: REST headers over 64 KiB are refused.
func TestOversizedHeadersAre431(t *testing.T) {
	s := apptest.Start(t, apptest.Options{})
	var b bytes.Buffer
	b.WriteString("GET /v1/regions HTTP/1.1\r\nHost: x\r\n")
	for i := 0; i < 40; i++ {
		b.WriteString("X-Padding: " + strings.Repeat("a", 4000) + "\r\n")
	}
	b.WriteString("\r\n")
	if line := dial(t, strings.TrimPrefix(s.BaseURL, "http://"), b.String()); !strings.Contains(line, "431") {
		t.Errorf("160 KB of headers: %q, want 431", line)
	}
}

// TestStalledGRPCCallIsEnded: a gRPC call whose message never arrives in
// full — a stream held open with part of a message — ends at the call
// deadline instead of holding its buffer for ever.
func TestStalledGRPCCallIsEnded(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Configure: func(a *app.Options) { a.Timeouts = server.Timeouts{Write: 300 * time.Millisecond} }})
	conn, err := net.Dial("tcp", s.GRPCAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Close(t, conn)
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hdr bytes.Buffer
	enc := hpack.NewEncoder(&hdr)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/redpoint.v1.AuthService/Login"},
		{":authority", "x"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hdr.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	// A message announced as 1,000,000 bytes, of which 10 are sent.
	if err := fr.WriteData(1, false, append([]byte{0, 0x00, 0x0f, 0x42, 0x40}, make([]byte, 10)...)); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("the server still held the stalled call after 10 s: %v", err)
		}
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			if f.StreamID == 1 {
				return
			}
		case *http2.HeadersFrame:
			if f.StreamID == 1 && f.StreamEnded() {
				return // trailers: the call was ended with a status
			}
		case *http2.GoAwayFrame:
			return
		}
	}
}
