package store_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/service/store"
)

func TestUnavailable(t *testing.T) {
	t.Parallel()
	// A real refused connection, as store.Open meets it with the database down.
	_, refused := store.Open(context.Background(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=5")
	if refused == nil {
		t.Fatal("opened a database on port 1")
	}
	pg := func(code string) error {
		return fmt.Errorf("errand.nextSeq: %w", &pgconn.PgError{Severity: "FATAL", Code: code})
	}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"terminated by a shutdown", pg("57P01"), true},
		{"server starting up or shutting down", pg("57P03"), true},
		{"too many connections", pg("53300"), true},
		{"connection failure", pg("08006"), true},
		{"bad connection", fmt.Errorf("x: %w", driver.ErrBadConn), true},
		{"unique violation", pg("23505"), false},
		{"serialization failure", pg("40001"), false},
		{"not found", &ent.NotFoundError{}, false},
		{"plain", errors.New("errand.write: boom"), false},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), false},
		{"nil", nil, false},
	}
	for _, tc := range cases {
		if got := store.Unavailable(tc.err); got != tc.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
