package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/report"
	"github.com/changzhi/redpoint/service/server"
)

// rawClient leaves answers as they came over the wire: Go's default
// transport would ask for gzip itself and decode it out of sight.
var rawClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// fetch sends a request with the given headers (name, value pairs) and
// returns the answer and its body as sent.
func fetch(t testing.TB, method, url, token string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// decode undoes a Content-Encoding (with the standard library's gzip, not
// the compressing library's).
func decode(t testing.TB, encoding string, body []byte) []byte {
	t.Helper()
	var r io.Reader
	switch encoding {
	case "":
		return body
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("zstd: %v", err)
		}
		defer zr.Close()
		r = zr
	default:
		t.Fatalf("unexpected Content-Encoding %q", encoding)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", encoding, err)
	}
	return out
}

// varies reports whether an answer names Accept-Encoding in Vary.
func varies(resp *http.Response) bool {
	for _, v := range resp.Header.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "Accept-Encoding") {
				return true
			}
		}
	}
	return false
}

func smallDemo(t testing.TB) *apptest.Server {
	t.Helper()
	return apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 200}})
}

// TestAnswersAreCompressedAsTheClientAccepts: a list answer comes in the
// encoding the client's Accept-Encoding prefers by q-value (zstd on a
// tie), with Vary, its Content-Length, and a weak ETag that is the
// identity answer's tag made weak; it decodes to the identity answer.
// Nothing, an unknown coding, q=0 or "*" gets the identity answer.
func TestAnswersAreCompressedAsTheClientAccepts(t *testing.T) {
	s := smallDemo(t)
	token := s.Token(t, demo.CountyAdminPhone)
	url := s.BaseURL + "/v1/errands?pageSize=50"
	plainResp, plain := fetch(t, "GET", url, token)
	plainTag := plainResp.Header.Get("ETag")
	if plainResp.StatusCode != 200 || plainResp.Header.Get("Content-Encoding") != "" || !strings.HasPrefix(plainTag, `"`) || len(plain) < 20<<10 {
		t.Fatalf("GET without Accept-Encoding: %d, Content-Encoding %q, ETag %q, %d bytes; want 200, none, a strong tag, a page of 50",
			plainResp.StatusCode, plainResp.Header.Get("Content-Encoding"), plainTag, len(plain))
	}
	for _, tc := range []struct{ accept, want string }{
		{"", ""},
		{"gzip", "gzip"},
		{"zstd", "zstd"},
		{"gzip, deflate, br, zstd", "zstd"}, // a browser's: a tie, zstd
		{"gzip;q=1, zstd;q=0.5", "gzip"},
		{"zstd;q=0, gzip", "gzip"},
		{"gzip;q=0", ""},
		{"br", ""},
		{"identity", ""},
		{"*", ""},
	} {
		t.Run(tc.accept, func(t *testing.T) {
			var header []string
			if tc.accept != "" {
				header = []string{"Accept-Encoding", tc.accept}
			}
			resp, body := fetch(t, "GET", url, token, header...)
			got := resp.Header.Get("Content-Encoding")
			if resp.StatusCode != 200 || got != tc.want {
				t.Fatalf("%d, Content-Encoding %q; want 200, %q", resp.StatusCode, got, tc.want)
			}
			if !varies(resp) {
				t.Errorf("Vary %q lacks Accept-Encoding", resp.Header.Values("Vary"))
			}
			if !bytes.Equal(decode(t, got, body), plain) {
				t.Errorf("decoded, the answer is not the identity answer")
			}
			wantTag := plainTag
			if tc.want != "" {
				wantTag = "W/" + plainTag
				if resp.ContentLength != int64(len(body)) || len(body) > len(plain)/4 {
					t.Errorf("Content-Length %d for %d bytes (identity %d): want it given, and a quarter of the identity answer at most", resp.ContentLength, len(body), len(plain))
				}
			}
			if tag := resp.Header.Get("ETag"); tag != wantTag {
				t.Errorf("ETag %q, want %q", tag, wantTag)
			}
		})
	}
}

// TestACompressedAnswersETagGives304: the weak tag of a compressed answer,
// sent back, is a 304 with no body that carries that tag and Vary: on the
// list, on the sync, and for a client that sends it without asking for
// compression; a tag from before a change is not.
func TestACompressedAnswersETagGives304(t *testing.T) {
	s := smallDemo(t)
	admin := s.Token(t, demo.CountyAdminPhone)
	for _, path := range []string{"/v1/errands?pageSize=20", "/v1/errands:sync?pageSize=20"} {
		url := s.BaseURL + path
		resp, _ := fetch(t, "GET", url, admin, "Accept-Encoding", "gzip")
		tag := resp.Header.Get("ETag")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || !strings.HasPrefix(tag, `W/"`) {
			t.Fatalf("GET %s: %d, Content-Encoding %q, ETag %q; want 200, gzip, a weak tag", path, resp.StatusCode, resp.Header.Get("Content-Encoding"), tag)
		}
		for _, accept := range []string{"gzip", "zstd", ""} {
			header := []string{"If-None-Match", tag}
			if accept != "" {
				header = append(header, "Accept-Encoding", accept)
			}
			resp, body := fetch(t, "GET", url, admin, header...)
			if resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Header.Get("ETag") != tag || !varies(resp) || resp.Header.Get("Content-Encoding") != "" {
				t.Errorf("GET %s with Accept-Encoding %q, If-None-Match %s: %d, %d bytes, ETag %q, Vary %q, Content-Encoding %q; want 304, none, the same tag, Accept-Encoding, none",
					path, accept, tag, resp.StatusCode, len(body), resp.Header.Get("ETag"), resp.Header.Values("Vary"), resp.Header.Get("Content-Encoding"))
			}
		}
		// The identity answer's strong tag gives a 304 that carries it strong.
		plain, _ := fetch(t, "GET", url, admin)
		strong := plain.Header.Get("ETag")
		if resp, _ := fetch(t, "GET", url, admin, "If-None-Match", strong, "Accept-Encoding", "gzip"); resp.StatusCode != http.StatusNotModified || resp.Header.Get("ETag") != strong {
			t.Errorf("GET %s with If-None-Match %s: %d, ETag %q; want 304 with that tag", path, strong, resp.StatusCode, resp.Header.Get("ETag"))
		}
	}

	// A change: the tag from before it no longer matches.
	agent := s.Token(t, demo.GuhanAgentPhone)
	url := s.BaseURL + "/v1/errands?pageSize=20"
	resp, _ := fetch(t, "GET", url, agent, "Accept-Encoding", "gzip")
	before := resp.Header.Get("ETag")
	if code, body := s.DoToken(t, agent, "POST", "/v1/errands", map[string]string{"errandType": "errandTypes/SI-PENSION-CERT",
		"residentName": "申秀英", "residentPhone": "13900000001", "channel": "ERRAND_CHANNEL_WALK_IN"}); code != 200 {
		t.Fatalf("create an errand: %d %s", code, body)
	}
	if resp, _ := fetch(t, "GET", url, agent, "Accept-Encoding", "gzip", "If-None-Match", before); resp.StatusCode != 200 || resp.Header.Get("ETag") == before {
		t.Errorf("after a change, If-None-Match %s: %d, ETag %q; want 200 and a new tag", before, resp.StatusCode, resp.Header.Get("ETag"))
	}
}

// TestWhatIsNotCompressed: short answers, HEAD and the .xlsx download go
// as they are (with Vary: their selection depended on Accept-Encoding);
// /openapi.json is compressed.
func TestWhatIsNotCompressed(t *testing.T) {
	s := smallDemo(t)
	admin := s.Token(t, demo.CountyAdminPhone)
	secretary := s.Token(t, demo.GuhanSecretaryPhone)
	for _, tc := range []struct {
		name, method, path, token, contentType string
		compressed                             bool
	}{
		{"a short answer", "GET", "/v1/regions/140423000000", admin, "application/json", false},
		{"HEAD", "HEAD", "/v1/errands?pageSize=50", admin, "application/json", false},
		{"the .xlsx download", "GET", "/v1/regions/140423100000/workload:export?period=2026-11", secretary, report.XLSX, false},
		{"the OpenAPI document", "GET", "/openapi.json", "", "application/json", true},
		{"a long answer", "GET", "/v1/errands?pageSize=50", admin, "application/json", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, plain := fetch(t, "GET", s.BaseURL+tc.path, tc.token)
			resp, body := fetch(t, tc.method, s.BaseURL+tc.path, tc.token, "Accept-Encoding", "gzip, zstd")
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.contentType || !varies(resp) {
				t.Fatalf("%s %s: %d, Content-Type %q, Vary %q; want 200, %s, Accept-Encoding", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Values("Vary"), tc.contentType)
			}
			if got := resp.Header.Get("Content-Encoding") != ""; got != tc.compressed {
				t.Errorf("%s %s (%d bytes identity): Content-Encoding %q, want compressed %v", tc.method, tc.path, len(plain), resp.Header.Get("Content-Encoding"), tc.compressed)
			}
			if tc.compressed || tc.method == "HEAD" {
				return
			}
			if tc.contentType == report.XLSX { // a zip archive (made anew on each call)
				if !bytes.HasPrefix(body, []byte("PK\x03\x04")) {
					t.Errorf("%s %s: %.8q…, not a zip archive", tc.method, tc.path, body)
				}
				return
			}
			if !bytes.Equal(body, plain) {
				t.Errorf("%s %s: %d bytes, not the identity answer's %d", tc.method, tc.path, len(body), len(plain))
			}
		})
	}
}

// TestGRPCGzipRoundTrips: a gRPC client that compresses with gzip gets a
// gzip answer, which it decodes. The test does not import grpc's gzip
// itself: the package server's import is what registers it.
func TestGRPCGzipRoundTrips(t *testing.T) {
	s := smallDemo(t)
	payloads := &inPayloads{}
	conn, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithStatsHandler(payloads))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx := s.As(t, context.Background(), demo.CountyAdminPhone)
	resp, err := redpointv1.NewErrandServiceClient(conn).ListErrands(ctx, &redpointv1.ListErrandsRequest{PageSize: 50}, grpc.UseCompressor("gzip"))
	if err != nil {
		t.Fatalf("ListErrands with gzip: %v", err)
	}
	if len(resp.GetErrands()) == 0 || resp.GetErrands()[0].GetName() == "" {
		t.Fatalf("ListErrands with gzip: %v", resp)
	}
	length, compressed := payloads.last()
	if compressed == 0 || compressed >= length/2 {
		t.Errorf("the answer came as %d bytes for %d: not compressed", compressed, length)
	}
}

// inPayloads notes the sizes of the last message a client received.
type inPayloads struct {
	mu                 sync.Mutex
	length, compressed int
}

func (p *inPayloads) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (p *inPayloads) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (p *inPayloads) HandleConn(context.Context, stats.ConnStats)                       {}
func (p *inPayloads) HandleRPC(_ context.Context, s stats.RPCStats) {
	if in, ok := s.(*stats.InPayload); ok {
		p.mu.Lock()
		p.length, p.compressed = in.Length, in.CompressedLength
		p.mu.Unlock()
	}
}

func (p *inPayloads) last() (length, compressed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.length, p.compressed
}

// TestALongCompressedAnswerStreams: the compressed bytes an answer holds
// are bounded; past the bound it streams (no Content-Length) and still
// decodes whole.
func TestALongCompressedAnswerStreams(t *testing.T) {
	random := make([]byte, server.MaxHeldCompressed*3/2)
	_, _ = rand.Read(random)
	text := []byte(hex.EncodeToString(random)) // compresses to about half: past the bound
	srv := httptest.NewServer(server.Compress(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		for b := text; len(b) > 0; b = b[min(len(b), 64<<10):] {
			_, _ = w.Write(b[:min(len(b), 64<<10)])
		}
	})))
	defer srv.Close()
	resp, body := fetch(t, "GET", srv.URL, "", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.ContentLength != -1 {
		t.Errorf("Content-Encoding %q, Content-Length %d for %d compressed bytes; want gzip, streamed", resp.Header.Get("Content-Encoding"), resp.ContentLength, len(body))
	}
	if !bytes.Equal(decode(t, "gzip", body), text) {
		t.Errorf("the streamed answer does not decode to what was written")
	}
}

// TestAFlushSendsWhatIsHeld: a handler that flushes gets its compressed
// bytes to the client then, not when it is done.
func TestAFlushSendsWhatIsHeld(t *testing.T) {
	first := bytes.Repeat([]byte(`{"state":"ERRAND_STATE_ACCEPTED"}`), 100)
	release := make(chan struct{})
	srv := httptest.NewServer(server.Compress(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(first)
		_ = http.NewResponseController(w).Flush()
		<-release
		_, _ = w.Write([]byte("]"))
	})))
	defer srv.Close()
	defer close(release)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	got := make(chan error, 1)
	go func() {
		zr, err := gzip.NewReader(resp.Body)
		if err == nil {
			buf := make([]byte, len(first))
			_, err = io.ReadFull(zr, buf)
			if err == nil && !bytes.Equal(buf, first) {
				err = fmt.Errorf("read %q", buf)
			}
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Errorf("the flushed part: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("the flushed part did not arrive while the handler waited")
	}
}

// BenchmarkCompress: the compression wrapper alone on a captured
// 500-errand list page and a 500-change sync page of the demo, for a
// client that asks for nothing, gzip or zstd: the CPU each answer costs
// (ns/op; the ratio to identity is the cost of compressing) and its bytes
// on the wire (wire-B).
func BenchmarkCompress(b *testing.B) {
	s := apptest.Start(b, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 700}})
	token := s.Token(b, demo.CityAdminPhone)
	for _, page := range []struct{ name, path string }{
		{"list500", "/v1/errands?pageSize=500"},
		{"sync500", "/v1/errands:sync?pageSize=500"},
	} {
		resp, body := fetch(b, "GET", s.BaseURL+page.path, token)
		if resp.StatusCode != 200 || bytes.Count(body, []byte(`"trackingCode"`)) != 500 {
			b.Fatalf("GET %s: %d, %d errands", page.path, resp.StatusCode, bytes.Count(body, []byte(`"trackingCode"`)))
		}
		h := server.Compress(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}))
		for _, accept := range []string{"identity", "gzip", "zstd"} {
			b.Run(page.name+"/"+accept, func(b *testing.B) {
				req := httptest.NewRequest("GET", page.path, nil)
				req.Header.Set("Accept-Encoding", accept)
				w := &wire{header: http.Header{}}
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					w.reset()
					h.ServeHTTP(w, req)
				}
				b.ReportMetric(float64(w.n), "wire-B")
			})
		}
	}
}

// wire is a ResponseWriter that counts what would go on the wire.
type wire struct {
	header http.Header
	n      int
}

func (w *wire) Header() http.Header         { return w.header }
func (w *wire) WriteHeader(int)             {}
func (w *wire) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *wire) reset()                      { clear(w.header); w.n = 0 }
