package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"

	"github.com/changzhi/redpoint/service/apierr"
)

// TestAnUnreachableDependencyIsUnavailable: the database or Redis being
// away is 503 UNAVAILABLE, which a client retries, not a 500; a database
// error that is the request's fault stays what it was.
func TestAnUnreachableDependencyIsUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	cases := []struct {
		name string
		err  error
		code codes.Code
	}{
		{"database shutting down", fmt.Errorf("errand.nextSeq: %w", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}), codes.Unavailable},
		{"database refused", fmt.Errorf("idempotency.lookup: %w", refused), codes.Unavailable},
		{"redis refused", fmt.Errorf("leaderboard.Top: %w", refused), codes.Unavailable},
		{"unique violation", fmt.Errorf("errand.insert: %w", &pgconn.PgError{Code: "23505"}), codes.Internal},
		{"caller gave up", fmt.Errorf("errand.insert: %w", context.Canceled), codes.Canceled},
		{"domain error", fmt.Errorf("x: %w", apierr.ErrEtagMismatch), codes.Aborted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := apierr.Status(context.Background(), slog.New(slog.DiscardHandler), "/test", markUnavailable(tc.err))
			if st.Code() != tc.code {
				t.Errorf("Status(markUnavailable(%v)) = %v, want %v", tc.err, st.Code(), tc.code)
			}
		})
	}
}
