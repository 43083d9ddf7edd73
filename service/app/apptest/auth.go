package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"google.golang.org/grpc/metadata"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/demo"
)

// Token logs in as the staff member with phone (demo password) once and
// returns the access token.
func (s *Server) Token(tb testing.TB, phone string) string {
	tb.Helper()
	s.mu.Lock()
	tok, ok := s.tokens[phone]
	s.mu.Unlock()
	if ok {
		return tok
	}
	sess, err := redpointv1.NewAuthServiceClient(s.GRPC).Login(context.Background(), &redpointv1.LoginRequest{Phone: phone, Password: demo.Password})
	if err != nil {
		tb.Fatalf("apptest: login %s: %v", phone, err)
	}
	s.mu.Lock()
	s.tokens[phone] = sess.AccessToken
	s.mu.Unlock()
	return sess.AccessToken
}

// As returns a context whose gRPC calls carry phone's access token.
func (s *Server) As(tb testing.TB, ctx context.Context, phone string) context.Context {
	tb.Helper()
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.Token(tb, phone))
}

// Do sends a REST request as the staff member with phone (anonymous when
// empty) and returns the status and body. body is marshalled as JSON
// unless it is a string, sent as is.
func (s *Server) Do(tb testing.TB, phone, method, path string, body any) (int, []byte) {
	tb.Helper()
	token := ""
	if phone != "" {
		token = s.Token(tb, phone)
	}
	return s.DoToken(tb, token, method, path, body)
}

// DoToken is Do with an explicit bearer token (none when empty).
func (s *Server) DoToken(tb testing.TB, token, method, path string, body any) (int, []byte) {
	tb.Helper()
	resp, out := s.Send(tb, token, method, path, body)
	return resp.StatusCode, out
}

// Send is DoToken returning the whole answer (its headers too), with extra
// request headers given as name, value pairs.
func (s *Server) Send(tb testing.TB, token, method, path string, body any, header ...string) (*http.Response, []byte) {
	tb.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewBufferString(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.BaseURL+path, r)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, out
}
