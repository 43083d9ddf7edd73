package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"

	"github.com/changzhi/redpoint/service/apierr"
)

// TestAnUnreachableDependencyIsUnavailable: the database or Redis being
// away is 503 UNAVAILABLE, which a client retries, not a 500; a database
// error that is the request's fault stays what it was; and a domain error
// that carries an outage as its cause keeps its own reason and text.
func TestAnUnreachableDependencyIsUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	lookupDown := apierr.ErrUnavailable.WithMessage("查询服务暂不可用，请稍后再试")
	generic := "服务暂不可用，请稍后重试"
	cases := []struct {
		name    string
		err     error
		code    codes.Code
		reason  string
		message string
	}{
		{"database shutting down", fmt.Errorf("errand.nextSeq: %w", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}), codes.Unavailable, "UNAVAILABLE", generic},
		{"database refused", fmt.Errorf("idempotency.lookup: %w", refused), codes.Unavailable, "UNAVAILABLE", generic},
		{"redis refused", fmt.Errorf("leaderboard.Top: %w", refused), codes.Unavailable, "UNAVAILABLE", generic},
		{"a domain 503 with its cause", fmt.Errorf("resident.Lookup: %w: %w", lookupDown, refused), codes.Unavailable, "UNAVAILABLE", "查询服务暂不可用，请稍后再试"},
		{"a domain error with an outage inside", fmt.Errorf("x: %w: %w", apierr.ErrEtagMismatch, refused), codes.Aborted, "ETAG_MISMATCH", apierr.ErrEtagMismatch.Message},
		{"unique violation", fmt.Errorf("errand.insert: %w", &pgconn.PgError{Code: "23505"}), codes.Internal, "INTERNAL", "服务器内部错误，请稍后重试"},
		{"caller gave up", fmt.Errorf("errand.insert: %w", context.Canceled), codes.Canceled, "", "请求已取消"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := apierr.Status(context.Background(), slog.New(slog.DiscardHandler), "/test", markUnavailable(tc.err))
			reason := ""
			for _, d := range st.Details() {
				if info, ok := d.(*errdetails.ErrorInfo); ok {
					reason = info.Reason
				}
			}
			if st.Code() != tc.code || reason != tc.reason || st.Message() != tc.message {
				t.Errorf("Status(markUnavailable(%v)) = %v %q %q, want %v %q %q", tc.err, st.Code(), reason, st.Message(), tc.code, tc.reason, tc.message)
			}
		})
	}
}
