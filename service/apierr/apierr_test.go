package apierr_test

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

// TestStatusOfAnUnreachableDependency: a database or Redis that is away
// is 503 UNAVAILABLE, which a client retries, not a 500.
func TestStatusOfAnUnreachableDependency(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	cases := []struct {
		name   string
		err    error
		code   codes.Code
		reason string
	}{
		{"database shutting down", fmt.Errorf("errand.nextSeq: %w", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}), codes.Unavailable, "UNAVAILABLE"},
		{"database refused", fmt.Errorf("idempotency.lookup: %w", refused), codes.Unavailable, "UNAVAILABLE"},
		{"redis refused", fmt.Errorf("leaderboard.Top: %w", refused), codes.Unavailable, "UNAVAILABLE"},
		{"unique violation", fmt.Errorf("errand.insert: %w", &pgconn.PgError{Code: "23505"}), codes.Internal, "INTERNAL"},
		{"domain error", fmt.Errorf("x: %w", apierr.ErrEtagMismatch), codes.Aborted, "ETAG_MISMATCH"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := apierr.Status(context.Background(), slog.New(slog.DiscardHandler), "/test", tc.err)
			reason := ""
			for _, d := range st.Details() {
				if info, ok := d.(*errdetails.ErrorInfo); ok {
					reason = info.Reason
				}
			}
			if st.Code() != tc.code || reason != tc.reason {
				t.Errorf("Status(%v) = %v %s, want %v %s", tc.err, st.Code(), reason, tc.code, tc.reason)
			}
		})
	}
}
