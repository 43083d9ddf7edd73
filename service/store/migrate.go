package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"entgo.io/ent/dialect"
	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	migratesqlite "github.com/golang-migrate/migrate/v4/database/sqlite"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

// Migrate applies every pending migration. It is safe to call from several
// replicas at once: golang-migrate takes a lock (an advisory lock on
// PostgreSQL) and applies each version once.
func (s *Store) Migrate(ctx context.Context) (err error) {
	files, err := s.migrationFiles()
	if err != nil {
		return fmt.Errorf("store.Migrate: %w", err)
	}
	src, err := iofs.New(files, ".")
	if err != nil {
		return fmt.Errorf("store.Migrate: %w", err)
	}
	// golang-migrate closes the connection it is given, so it gets its own.
	driverName := "pgx"
	if s.Dialect == dialect.SQLite {
		driverName = "sqlite"
	}
	db, err := sql.Open(driverName, s.dsn)
	if err != nil {
		return fmt.Errorf("store.Migrate: %w", err)
	}
	var target database.Driver
	if s.Dialect == dialect.SQLite {
		target, err = migratesqlite.WithInstance(db, &migratesqlite.Config{})
	} else {
		target, err = migratepgx.WithInstance(db, &migratepgx.Config{})
	}
	if err != nil {
		return fmt.Errorf("store.Migrate: %w", errors.Join(err, db.Close()))
	}
	m, err := migrate.NewWithInstance("iofs", src, s.Dialect, target)
	if err != nil {
		return fmt.Errorf("store.Migrate: %w", errors.Join(err, db.Close()))
	}
	defer func() {
		if srcErr, dbErr := m.Close(); srcErr != nil || dbErr != nil {
			err = errors.Join(err, fmt.Errorf("store.Migrate: closing: %w", errors.Join(srcErr, dbErr)))
		}
	}()
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("store.Migrate: %w", err)
	}
	return nil
}

// MigrationVersion is the version of the last applied migration and whether
// the database was left dirty by a failed one.
func (s *Store) MigrationVersion(ctx context.Context) (version uint, dirty bool, err error) {
	row := s.DB.QueryRowContext(ctx, "SELECT version, dirty FROM schema_migrations LIMIT 1")
	if err := row.Scan(&version, &dirty); err != nil {
		return 0, false, fmt.Errorf("store.MigrationVersion: %w", err)
	}
	return version, dirty, nil
}

// LatestVersion is the newest migration version this binary carries.
func (s *Store) LatestVersion() (uint, error) {
	files, err := s.migrationFiles()
	if err != nil {
		return 0, err
	}
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return 0, err
	}
	var latest uint
	for _, e := range entries {
		v, _, ok := strings.Cut(e.Name(), "_")
		if !ok || !strings.HasSuffix(e.Name(), ".up.sql") {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("store.LatestVersion: %s: %w", e.Name(), err)
		}
		latest = max(latest, uint(n))
	}
	return latest, nil
}

// ErrSchemaBehind reports a database that needs `redpoint migrate`.
var ErrSchemaBehind = errors.New("database schema is behind this binary: run `redpoint migrate`")

// CheckCurrent fails unless every migration this binary carries is applied.
func (s *Store) CheckCurrent(ctx context.Context) error {
	latest, err := s.LatestVersion()
	if err != nil {
		return err
	}
	v, dirty, err := s.MigrationVersion(ctx)
	if err != nil || dirty || v < latest {
		return fmt.Errorf("%w (have %d, dirty %v, want %d)", ErrSchemaBehind, v, dirty, latest)
	}
	return nil
}
