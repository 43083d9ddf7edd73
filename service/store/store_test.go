package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ariga.io/atlas/sql/sqltool"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"

	"github.com/changzhi/redpoint/ent/migrate"
	"github.com/changzhi/redpoint/service/store"
	"github.com/changzhi/redpoint/service/store/storetest"
	"github.com/changzhi/redpoint/service/testutil"
)

// TestMigrationsMatchSchema proves the committed migrations build exactly
// the ent schema: after applying them, ent finds nothing left to change.
func TestMigrationsMatchSchema(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t)
	dirPath := t.TempDir()
	dir, err := sqltool.NewGolangMigrateDir(dirPath)
	if err != nil {
		t.Fatal(err)
	}
	err = migrate.NewSchema(entsql.OpenDB(st.Dialect, st.DB)).Diff(context.Background(),
		schema.WithDir(dir),
		schema.WithMigrationMode(schema.ModeInspect),
		schema.WithDialect(st.Dialect),
		schema.WithFormatter(sqltool.GolangMigrateFormatter),
		schema.WithDropColumn(true),
		schema.WithDropIndex(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dirPath, "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("schema and migrations disagree on %s; run `make generate`. Pending change:\n%s", st.Dialect, b)
	}
}

func TestMigrateIsIdempotentAndCurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.Open(t) // already migrated once
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if err := st.CheckCurrent(ctx); err != nil {
		t.Fatalf("CheckCurrent after Migrate: %v", err)
	}
	latest, err := st.LatestVersion()
	if err != nil || latest == 0 {
		t.Fatalf("LatestVersion = %d, %v", latest, err)
	}
	if v, dirty, err := st.MigrationVersion(ctx); err != nil || dirty || v != latest {
		t.Errorf("MigrationVersion = %d dirty=%v %v, want %d", v, dirty, err, latest)
	}
}

func TestCheckCurrentRejectsUnmigratedDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "empty.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Close(t, st)
	if err := st.CheckCurrent(ctx); !errors.Is(err, store.ErrSchemaBehind) {
		t.Errorf("CheckCurrent on an empty database = %v, want ErrSchemaBehind", err)
	}
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, dialect string
		err         bool
	}{
		{"postgres://u@h:5432/db", "postgres", false},
		{"postgresql://u@h/db", "postgres", false},
		{"sqlite:/tmp/x.db", "sqlite3", false},
		{"sqlite:", "", true},
		{"mysql://u@h/db", "", true},
		{"", "", true},
	}
	for _, tc := range cases {
		d, dsn, err := store.ParseURL(tc.in)
		if (err != nil) != tc.err || d != tc.dialect {
			t.Errorf("ParseURL(%q) = %q, %v; want %q, err %v", tc.in, d, err, tc.dialect, tc.err)
		}
		if d == "sqlite3" && !strings.Contains(dsn, "foreign_keys(1)") {
			t.Errorf("SQLite DSN %q does not enable foreign keys", dsn)
		}
	}
}
