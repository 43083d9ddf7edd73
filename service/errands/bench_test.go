package errands_test

import (
	"context"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
)

// BenchmarkCreateErrand measures CreateErrand through the gRPC server —
// errand, history event, outbox event and request id in one transaction —
// against its baseline: a bare transaction inserting one row into the same
// database. Compare the two ns/op: the target is a rate of at least half
// the baseline's.
func BenchmarkCreateErrand(b *testing.B) {
	e := newEnv(b)
	b.Run("errand", func(b *testing.B) {
		ctx := e.agent()
		for i := 0; i < b.N; i++ {
			if _, err := e.client.CreateErrand(ctx, &redpointv1.CreateErrandRequest{Errand: validErrand(), RequestId: requestID()}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline_insert_tx", func(b *testing.B) {
		db := e.App.Store.DB
		ph := "?"
		if e.App.Store.Dialect == "postgres" {
			ph = "$1"
		}
		ctx := context.Background()
		for i := 0; i < b.N; i++ {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO audit_entries (action, actor_role, resource, region_id, client_ip, unmasked_read, create_time) VALUES ("+ph+", '', '', '', '', false, CURRENT_TIMESTAMP)", "bench"); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGetErrand measures GetErrand through the gRPC server with the
// whole interceptor chain (auth included) against a no-op handler on the
// same server and chain (the health check). Targets: a rate of at least 0.5
// of the no-op's on SQLite, 0.3 on PostgreSQL.
func BenchmarkGetErrand(b *testing.B) {
	e := newEnv(b)
	ctx := e.agent()
	x := e.create(b)
	b.Run("errand", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := e.client.GetErrand(ctx, &redpointv1.GetErrandRequest{Name: x.Name}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline_noop", func(b *testing.B) {
		health := healthpb.NewHealthClient(e.GRPC)
		for i := 0; i < b.N; i++ {
			if _, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
