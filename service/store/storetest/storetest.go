// Package storetest opens a migrated, empty store for one test: an SQLite
// file in the test's temp dir, or, when REDPOINT_TEST_DATABASE_URL is set,
// a fresh database on that PostgreSQL server, dropped afterwards.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/changzhi/redpoint/service/store"
	"github.com/changzhi/redpoint/service/testutil"
)

// EnvDatabaseURL names the PostgreSQL server the tests use when set.
const EnvDatabaseURL = testutil.EnvDatabaseURL

// Open returns a migrated store of its own for tb.
func Open(tb testing.TB) *store.Store {
	tb.Helper()
	ctx := context.Background()
	target := "sqlite:" + filepath.Join(tb.TempDir(), "test.db")
	if server := os.Getenv(EnvDatabaseURL); server != "" {
		target = tempDatabase(tb, server)
	}
	st, err := store.Open(ctx, target)
	if err != nil {
		tb.Fatalf("storetest.Open: %v", err)
	}
	tb.Cleanup(func() { testutil.Close(tb, st) })
	if err := st.Migrate(ctx); err != nil {
		tb.Fatalf("storetest.Open: migrate: %v", err)
	}
	return st
}

// Dialect is the dialect the tests run on, for test names and skips.
func Dialect() string {
	if os.Getenv(EnvDatabaseURL) != "" {
		return "postgres"
	}
	return "sqlite3"
}

func tempDatabase(tb testing.TB, server string) string {
	tb.Helper()
	admin, err := sql.Open("pgx", server)
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	name := "redpoint_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		testutil.Close(tb, admin)
		tb.Fatalf("storetest: create database: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			tb.Errorf("storetest: drop database %s: %v", name, err)
		}
		testutil.Close(tb, admin)
	})
	u, err := url.Parse(server)
	if err != nil {
		tb.Fatalf("storetest: %s: %v", EnvDatabaseURL, err)
	}
	u.Path = "/" + name
	return u.String()
}
