// Command migrategen writes a new golang-migrate migration for each dialect
// when the ent schema differs from what service/store/migrations already
// builds. It replays the existing migrations on an empty dev database — an
// in-memory SQLite, and a temporary PostgreSQL database — and diffs.
//
//	go run ./tools/migrategen -name add_x
//
// With no schema change it writes nothing, so `make generate` followed by
// `git status` proves the migrations are current.
//
// A generated migration may be edited by hand to move data the schema
// change needs (say, clearing duplicates before a unique index); then
//
//	go run ./tools/migrategen -rehash
//
// rewrites each dialect's atlas.sum to match.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/sqltool"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	entmigrate "github.com/changzhi/redpoint/ent/migrate"
)

func main() {
	name := flag.String("name", "changes", "migration name, snake_case")
	dir := flag.String("dir", "service/store/migrations", "migrations root; one folder per dialect")
	pgURL := flag.String("postgres", envOr("REDPOINT_MIGRATEGEN_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"PostgreSQL server used to create a temporary dev database")
	rehash := flag.Bool("rehash", false, "only rewrite atlas.sum after a hand edit of a migration")
	flag.Parse()
	ctx := context.Background()
	if *rehash {
		if err := rehashAll(*dir); err != nil {
			fmt.Fprintln(os.Stderr, "migrategen:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, *dir, *name, *pgURL); err != nil {
		fmt.Fprintln(os.Stderr, "migrategen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, root, name, pgURL string) error {
	sqliteDB, err := sql.Open("sqlite", "file:migrategen?mode=memory&cache=shared&_pragma=foreign_keys(1)")
	if err != nil {
		return err
	}
	defer func() { _ = sqliteDB.Close() }() // a scratch database in memory
	if err := diff(ctx, entsql.OpenDB(dialect.SQLite, sqliteDB), dialect.SQLite, filepath.Join(root, dialect.SQLite), name); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}

	devURL, drop, err := tempPostgres(ctx, pgURL)
	if err != nil {
		return fmt.Errorf("postgres dev database: %w", err)
	}
	defer drop()
	pgDB, err := sql.Open("pgx", devURL)
	if err != nil {
		return err
	}
	defer func() { _ = pgDB.Close() }() // a scratch database, dropped next
	if err := diff(ctx, entsql.OpenDB(dialect.Postgres, pgDB), dialect.Postgres, filepath.Join(root, dialect.Postgres), name); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

func diff(ctx context.Context, drv *entsql.Driver, dialectName, dir, name string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	d, err := sqltool.NewGolangMigrateDir(dir)
	if err != nil {
		return err
	}
	return entmigrate.NewSchema(drv).NamedDiff(ctx, name,
		schema.WithDir(d),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(dialectName),
		schema.WithFormatter(sqltool.GolangMigrateFormatter),
		schema.WithDropColumn(true),
		schema.WithDropIndex(true),
	)
}

// tempPostgres creates an empty database on the server at serverURL and
// returns its URL and a function that drops it.
func tempPostgres(ctx context.Context, serverURL string) (string, func(), error) {
	admin, err := sql.Open("pgx", serverURL)
	if err != nil {
		return "", nil, err
	}
	dbName := fmt.Sprintf("redpoint_migrategen_%08x", rand.Uint32())
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+dbName); err != nil {
		return "", nil, errors.Join(err, admin.Close())
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", nil, errors.Join(err, admin.Close())
	}
	u.Path = "/" + dbName
	drop := func() {
		_, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+dbName+" WITH (FORCE)")
		_ = admin.Close() // best effort, like the drop
	}
	return u.String(), drop, nil
}

// rehashAll rewrites the checksum file of each dialect's folder.
func rehashAll(root string) error {
	for _, name := range []string{dialect.SQLite, dialect.Postgres} {
		d, err := sqltool.NewGolangMigrateDir(filepath.Join(root, name))
		if err != nil {
			return err
		}
		sum, err := d.Checksum()
		if err != nil {
			return err
		}
		if err := migrate.WriteSumFile(d, sum); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
