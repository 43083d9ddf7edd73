package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// stmtCache is an ent driver that keeps prepared statements for queries
// run outside transactions. modernc's SQLite re-parses every statement it
// is handed; on a hot read that parsing costs more than running the query.
// (pgx already caches statements per connection, so PostgreSQL doesn't
// need it.) The cache is bounded: queries beyond maxStmts run unprepared.
type stmtCache struct {
	*entsql.Driver
	db      *sql.DB
	mu      sync.RWMutex
	stmts   map[string]*sql.Stmt
	warming map[string]bool
	closed  bool

	// warmers are the background prepares in flight; Close cancels
	// their context and waits for them, so none outlives the database
	// (a late one would open a connection, and SQLite files, after it).
	warmers    sync.WaitGroup
	warmCtx    context.Context
	stopWarmup context.CancelFunc
}

const maxStmts = 512

func newStmtCache(drv *entsql.Driver, db *sql.DB) *stmtCache {
	ctx, cancel := context.WithCancel(context.Background())
	return &stmtCache{Driver: drv, db: db, stmts: map[string]*sql.Stmt{}, warming: map[string]bool{}, warmCtx: ctx, stopWarmup: cancel}
}

func (c *stmtCache) stmt(ctx context.Context, query string) *sql.Stmt {
	c.mu.RLock()
	s, ok := c.stmts[query]
	n := len(c.stmts)
	c.mu.RUnlock()
	if ok || n >= maxStmts {
		return s
	}
	s, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil // let the unprepared path report the error
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.stmts[query]; ok {
		_ = s.Close() // a duplicate of prev, never used
		return prev
	}
	c.stmts[query] = s
	return s
}

// Query runs a read through a cached statement.
func (c *stmtCache) Query(ctx context.Context, query string, args, v any) error {
	rows, ok := v.(*entsql.Rows)
	argv, okArgs := args.([]any)
	if !ok || !okArgs {
		return c.Driver.Query(ctx, query, args, v)
	}
	s := c.stmt(ctx, query)
	if s == nil {
		return c.Driver.Query(ctx, query, args, v)
	}
	r, err := s.QueryContext(ctx, argv...)
	if err != nil {
		return err
	}
	*rows = entsql.Rows{ColumnScanner: r}
	return nil
}

// Close stops the background prepares, then closes the statements and
// the database.
func (c *stmtCache) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.stopWarmup()
	c.warmers.Wait()
	var errs []error
	c.mu.Lock()
	for _, s := range c.stmts {
		errs = append(errs, s.Close())
	}
	c.stmts = map[string]*sql.Stmt{}
	c.mu.Unlock()
	return errors.Join(append(errs, c.Driver.Close())...)
}

// cached returns the statement for query if it was prepared already.
func (c *stmtCache) cached(query string) *sql.Stmt {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.stmts[query]
}

// warm prepares query in the background. A transaction must never wait
// for a second pool connection to prepare a statement: with every other
// connection waiting for the write lock it holds, that would deadlock.
func (c *stmtCache) warm(query string) {
	c.mu.Lock()
	if c.closed || c.warming[query] || len(c.stmts)+len(c.warming) >= maxStmts {
		c.mu.Unlock()
		return
	}
	c.warming[query] = true
	c.warmers.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.warmers.Done()
		ctx, cancel := context.WithTimeout(c.warmCtx, 30*time.Second)
		defer cancel()
		c.stmt(ctx, query)
		c.mu.Lock()
		delete(c.warming, query)
		c.mu.Unlock()
	}()
}

// Tx begins a transaction whose statements reuse the cached ones.
func (c *stmtCache) Tx(ctx context.Context) (dialect.Tx, error) {
	return c.BeginTx(ctx, nil)
}

// BeginTx is Tx with options; ent calls it for client.BeginTx.
func (c *stmtCache) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	tx, err := c.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &cachedTx{Tx: &entsql.Tx{Conn: entsql.Conn{ExecQuerier: tx}, Tx: tx}, sqlTx: tx, cache: c}, nil
}

// cachedTx runs a transaction's statements through tx.StmtContext, which
// reuses a statement already prepared on the transaction's connection.
type cachedTx struct {
	*entsql.Tx
	sqlTx *sql.Tx
	cache *stmtCache
}

func (t *cachedTx) Query(ctx context.Context, query string, args, v any) error {
	rows, ok := v.(*entsql.Rows)
	argv, okArgs := args.([]any)
	s := t.cache.cached(query)
	if !ok || !okArgs || s == nil {
		t.cache.warm(query)
		return t.Tx.Query(ctx, query, args, v)
	}
	r, err := t.sqlTx.StmtContext(ctx, s).QueryContext(ctx, argv...)
	if err != nil {
		return err
	}
	*rows = entsql.Rows{ColumnScanner: r}
	return nil
}

func (t *cachedTx) Exec(ctx context.Context, query string, args, v any) error {
	argv, okArgs := args.([]any)
	s := t.cache.cached(query)
	if !okArgs || s == nil {
		t.cache.warm(query)
		return t.Tx.Exec(ctx, query, args, v)
	}
	res, err := t.sqlTx.StmtContext(ctx, s).ExecContext(ctx, argv...)
	if err != nil {
		return err
	}
	if p, ok := v.(*sql.Result); ok && p != nil {
		*p = res
	}
	return nil
}
