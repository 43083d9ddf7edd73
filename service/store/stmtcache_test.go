package store

import (
	"context"
	"path/filepath"
	"testing"
)

// TestCloseWaitsForWarmup: a statement being prepared in the background
// when the store closes is stopped and waited for, so nothing opens a
// connection (or, on SQLite, a file) after Close returns. The prepare is
// held up by a pool with no free connection, as under load.
func TestCloseWaitsForWarmup(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st.DB.SetMaxOpenConns(2)
	tx, err := st.Client.Tx(ctx) // the pool's first connection
	if err != nil {
		t.Fatal(err)
	}
	held, err := st.DB.Conn(ctx) // and its second
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = held.Close() }()
	// An uncached query in a transaction asks for a background prepare,
	// which now waits for a connection.
	if _, err := tx.Client().Region.Query().Count(ctx); err != nil {
		t.Fatal(err)
	}
	st.stmts.mu.RLock()
	warming := len(st.stmts.warming)
	st.stmts.mu.RUnlock()
	if warming != 1 {
		t.Fatalf("%d statements warming, want 1", warming)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st.stmts.mu.RLock()
	warming = len(st.stmts.warming)
	st.stmts.mu.RUnlock()
	if warming != 0 {
		t.Errorf("%d background prepares still running after Close", warming)
	}
	// And none starts afterwards.
	st.stmts.warm("SELECT 1")
	st.stmts.mu.RLock()
	warming = len(st.stmts.warming)
	st.stmts.mu.RUnlock()
	if warming != 0 {
		t.Errorf("a background prepare started after Close")
	}
}
