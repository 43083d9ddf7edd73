package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/user"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/regioncode"
)

// scheme is the Authorization scheme that carries a test caller's phone,
// over gRPC (metadata "authorization") and REST (the Authorization header,
// which the gateway forwards) alike.
const scheme = "Apptest "

// phoneAuthenticator trusts the phone a test sends. It exists only in this
// test package; the server's real authenticator replaces it.
type phoneAuthenticator struct{ db *ent.Client }

func (a phoneAuthenticator) Authenticate(ctx context.Context, _ string, _ any) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	auth := md.Get("authorization")
	if len(auth) == 0 || !strings.HasPrefix(auth[0], scheme) {
		return ctx, nil
	}
	u, err := a.db.User.Query().Where(user.Phone(strings.TrimPrefix(auth[0], scheme))).Only(ctx)
	if err != nil {
		return ctx, nil
	}
	p := access.Principal{UserID: u.ID, Role: access.Role(u.Role), DisplayName: u.DisplayName, Region: regioncode.Code(u.RegionID)}
	if u.ServicePointID != nil {
		p.ServicePointID = *u.ServicePointID
	}
	return access.NewContext(ctx, p), nil
}

// As returns a context whose gRPC calls act as the staff member with phone.
func (s *Server) As(ctx context.Context, phone string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", scheme+phone)
}

// Do sends a REST request as the staff member with phone (none when
// empty) and returns the status and body. body is marshalled as JSON
// unless it is a string, sent as is.
func (s *Server) Do(tb testing.TB, phone, method, path string, body any) (int, []byte) {
	tb.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewBufferString(b)
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
	if phone != "" {
		req.Header.Set("Authorization", scheme+phone)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, out
}
