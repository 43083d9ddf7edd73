// Package store opens the database through ent — PostgreSQL in production,
// SQLite (pure Go) embedded — and applies the versioned migrations.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/prometheus/client_golang/prometheus"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/changzhi/redpoint/ent"
)

// Migrations holds the generated golang-migrate files, one folder per dialect.
//
//go:embed migrations
var Migrations embed.FS

// Store is an open database.
type Store struct {
	Client  *ent.Client
	DB      *sql.DB
	Dialect string // dialect.Postgres or dialect.SQLite
	url     string
	dsn     string
	stmts   *stmtCache // SQLite only

	primaryDriver dialect.Driver // Client's
	primaryReads  Reader
	replica       *replica               // UseReplica's; nil without
	reads         *prometheus.CounterVec // by target
}

// Target is where Open connects: a postgres:// URL, a sqlite:PATH URL, or,
// when empty, a SQLite file in the data dir.
func Target(databaseURL, dataDir string) string {
	if databaseURL != "" {
		return databaseURL
	}
	return "sqlite:" + filepath.Join(dataDir, "redpoint.db")
}

// ParseURL checks a database URL and returns its dialect and the driver DSN.
func ParseURL(raw string) (dialectName, dsn string, err error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if _, err := url.Parse(raw); err != nil {
			return "", "", fmt.Errorf("invalid PostgreSQL URL: %w", err)
		}
		return dialect.Postgres, raw, nil
	case strings.HasPrefix(raw, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(raw, "sqlite:"), "//")
		if path == "" {
			return "", "", errors.New("sqlite URL has no file path")
		}
		return dialect.SQLite, sqliteDSN(path), nil
	default:
		return "", "", errors.New("database URL must start with postgres://, postgresql:// or sqlite:") //nolint:staticcheck // ST1005: the colon is the scheme "sqlite:", not punctuation
	}
}

// sqliteDSN sets what the embedded mode relies on: foreign keys, WAL so
// readers don't block the writer, a busy timeout instead of SQLITE_BUSY, and
// BEGIN IMMEDIATE so a read-then-write transaction can't deadlock.
func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// privateSQLiteFiles readies the database file so only its owner can read
// it: it holds staff phones, names and password hashes. SQLite would create
// it 0644 less the umask, and it gives the -wal, -shm and -journal files
// the database file's mode, so the file is made here first, 0600. A missing
// directory is made 0700. Files an earlier start left lose group and other
// access; an existing directory keeps its mode, as it may not be only ours.
func privateSQLiteFiles(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("database file: %w", err)
	}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		fi, err := os.Stat(path + suffix)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil && fi.Mode().Perm()&0o077 != 0 {
			err = os.Chmod(path+suffix, fi.Mode().Perm()&^0o077)
		}
		if err != nil {
			return fmt.Errorf("database file: %w", err)
		}
	}
	return nil
}

// Open connects to the database at databaseURL (see Target). It does not
// migrate; call Migrate.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	dialectName, dsn, err := ParseURL(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store.Open: %w", err)
	}
	driverName := "pgx"
	if dialectName == dialect.SQLite {
		driverName = "sqlite"
		path := strings.TrimPrefix(strings.SplitN(dsn, "?", 2)[0], "file:")
		if err := privateSQLiteFiles(path); err != nil {
			return nil, fmt.Errorf("store.Open: %w", err)
		}
	}
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("store.Open: %w", err)
	}
	if dialectName == dialect.SQLite {
		db.SetMaxOpenConns(max(4, runtime.NumCPU()*2))
	} else {
		db.SetMaxOpenConns(max(8, runtime.NumCPU()*4))
		db.SetMaxIdleConns(max(8, runtime.NumCPU()*4))
		db.SetConnMaxIdleTime(5 * time.Minute)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		return nil, fmt.Errorf("store.Open: %s unreachable: %w", dialectName, errors.Join(err, db.Close()))
	}
	drv := entsql.OpenDB(dialectName, db)
	st := &Store{DB: db, Dialect: dialectName, url: databaseURL, dsn: dsn}
	st.primaryDriver = drv
	if dialectName == dialect.SQLite {
		st.stmts = newStmtCache(drv, db)
		st.primaryDriver = st.stmts
	}
	st.Client = ent.NewClient(ent.Driver(st.primaryDriver))
	st.reads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "redpoint_database_reads_total",
		Help: "Queries of the heavy reads (reports, exports, leaderboard builds), by the database that answered: primary or replica."},
		[]string{"target"})
	for _, t := range []string{targetPrimary, targetReplica} {
		st.reads.WithLabelValues(t) // at zero from the start
	}
	st.primaryReads = Reader{Client: ent.NewClient(ent.Driver(countingDriver{Driver: st.primaryDriver, reads: st.reads, query: st.QueryContext})),
		target: targetPrimary}
	return st, nil
}

// QueryContext runs a read written in SQL (the reports' aggregations),
// through the same prepared statements as ent's reads on SQLite.
func (s *Store) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s.stmts != nil {
		if stmt := s.stmts.stmt(ctx, query); stmt != nil {
			return stmt.QueryContext(ctx, args...)
		}
	}
	return s.DB.QueryContext(ctx, query, args...)
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.DB.PingContext(ctx) }

// Close closes the database, and the replica's connections.
func (s *Store) Close() error {
	var err error
	if s.replica != nil {
		err = s.replica.close()
	}
	return errors.Join(err, s.Client.Close())
}

// migrationFiles is the folder of the store's dialect inside Migrations.
func (s *Store) migrationFiles() (fs.FS, error) {
	return fs.Sub(Migrations, "migrations/"+s.Dialect)
}

// WithTx runs fn in a transaction of db: committed when fn returns nil,
// rolled back otherwise.
func WithTx(ctx context.Context, db *ent.Client, fn func(*ent.Tx) error) error {
	tx, err := db.Tx(ctx)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}
