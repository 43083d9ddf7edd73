package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/changzhi/redpoint/ent"
)

// The bounds of ReplicaOptions.MaxLag a configuration may ask for
// (REDPOINT_DATABASE_REPLICA_MAX_LAG): below a second the guard, which
// measures once a second, could not tell; above ten minutes a report
// would be older than anyone looking at it expects.
const (
	MinReplicaLag     = time.Second
	MaxReplicaLag     = 10 * time.Minute
	DefaultReplicaLag = 10 * time.Second
)

// ReplicaOptions tune UseReplica.
type ReplicaOptions struct {
	// MaxLag is how far behind the primary the replica may be for Reads
	// to use it; DefaultReplicaLag when 0.
	MaxLag time.Duration
	// Refresh is how often the replica's lag is measured; a second when 0.
	Refresh time.Duration
	// Log gets a line on each switch between the replica and the primary;
	// slog.Default() when nil.
	Log *slog.Logger
}

// Reader runs heavy reads (Store.Reads): ent queries through Client, SQL
// through QueryContext, both on the database Reads chose.
type Reader struct {
	// Client runs ent queries, and reads written in SQL through its
	// QueryContext (the reports' aggregations, the leaderboard's facts).
	// Writes and transactions begun through it go to the primary.
	Client *ent.Client
	target string
}

// QueryContext runs a read written in SQL (Client.QueryContext).
func (r Reader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.Client.QueryContext(ctx, query, args...)
}

// Replica reports whether the reads go to the replica (falling back to
// the primary only if it stops answering).
func (r Reader) Replica() bool { return r.target == targetReplica }

// The reads counter's targets.
const targetPrimary, targetReplica = "primary", "replica"

// Reads is where the heavy reads run — the reports, the exports, the
// leaderboard builds: the read replica while its replay lag is within the
// bound (REDPOINT_DATABASE_REPLICA_MAX_LAG) and it answers, otherwise the
// primary; always the primary when no replica is configured (and so in
// the embedded mode). A Reader keeps its choice for the read it serves, so
// one read's queries see one database; a query the replica fails because
// it went away is run again on the primary, and the guard moves the next
// reads there, so a replica that is down costs no caller an error.
//
// A read routed here may be up to the bound behind. Routed:
//   - workloads (report.Workloads: GetWorkload on a cache miss, the
//     quarterly review GetQuarterlyReview, ExportWorkload's workbook and its
//     review sheet, and the scheduled weekly, monthly and quarterly
//     snapshots' figures); GetWorkload fills report.Cache, and an entry is
//     stored under the region version read before the figures, so a fill
//     reads through CurrentReads, which takes the replica only once it has
//     replayed everything committed before the fill began — never figures
//     older than the version they are filed under;
//   - leaderboard rebuilds (leaderboard.Boards.Rebuild: on demand, the
//     cold builds of a first read, Warm at start-up): a rebuild misses the
//     events handled while it runs, until the hourly reconciliation, and on
//     the replica also those of the lag before it; it reads the facts and
//     the events still pending from the same database, as it must.
//
// Kept on the primary:
//   - every read inside a write, and every read that must see the
//     caller's own write: the API's lists and gets that follow a change,
//     the snapshot job's check for a stored snapshot and its insert;
//   - the demo seed's snapshots and boards (demo.Snapshots via
//     SnapshotRegions, RebuildCurrent): they read the rows the seed just
//     wrote;
//   - the hourly reconciliation (leaderboard.Boards.Reconcile): it
//     compares the database with the live boards, which have every event
//     handled up to now; on a lagging replica the events of the lag would
//     count as drift and be rewritten away;
//   - the leaderboard's event handler and its names for entries, the
//     overdue list, follow-ups and stored reports: small reads by key,
//     cheaper than the hop, or reads a user expects to show a change at once.
func (s *Store) Reads(ctx context.Context) Reader {
	if s.replica != nil && s.replica.usable(ctx) {
		return s.replica.reads
	}
	return s.primaryReads
}

// Primary is Reads' primary Reader, for a heavy read that must see the
// caller's own writes (the demo seed's reports and boards).
func (s *Store) Primary() Reader { return s.primaryReads }

// CurrentReads is Reads for a read that must see every transaction
// committed before it was called (a cache fill filed under a version read
// before it): the replica only once it has replayed the primary's WAL up
// to where it was at the call, which it usually has within milliseconds;
// it waits for that catchUpWait at most, then reads the primary.
func (s *Store) CurrentReads(ctx context.Context) Reader {
	if s.replica == nil || !s.replica.usable(ctx) {
		return s.primaryReads
	}
	var lsn string
	if err := s.DB.QueryRowContext(ctx, committedLSN).Scan(&lsn); err != nil {
		return s.primaryReads // the read on the primary reports what this met
	}
	if !s.replica.replayed(ctx, lsn, catchUpWait) {
		s.replica.behind.Inc()
		return s.primaryReads
	}
	return s.replica.reads
}

// committedLSN is where the primary's WAL holds every transaction
// committed so far. With synchronous_commit on (PostgreSQL's default, and
// the app's connections share this one's settings) a commit returns only
// once its WAL is flushed, so the flush position is enough. The insert
// position, which also counts what transactions still running have
// written, ran tens of milliseconds ahead of it while the workers wrote,
// and a computed workload waited for the replica to replay WAL that
// did not matter to it. With synchronous_commit off only the insert
// position is safe.
const committedLSN = `SELECT (CASE WHEN current_setting('synchronous_commit') = 'off'
	THEN pg_current_wal_insert_lsn() ELSE pg_current_wal_flush_lsn() END)::text`

// catchUpWait is how long CurrentReads waits for the replica to replay
// what the primary had: longer than a streaming replica's usual delay,
// short against the read it is for.
const catchUpWait = 50 * time.Millisecond

// ReplicaLag is the replica's last measured replay lag and whether Reads
// uses it now; ok is false with no replica.
func (s *Store) ReplicaLag() (lag time.Duration, usable bool, ok bool) {
	if s.replica == nil {
		return 0, false, false
	}
	st := s.replica.state.Load()
	return st.lag, s.replica.usable(context.Background()), true
}

// Collectors are the store's metrics: reads by target, and with a replica
// its lag and whether it is used.
func (s *Store) Collectors() []prometheus.Collector {
	out := []prometheus.Collector{s.reads}
	if s.replica != nil {
		out = append(out, s.replica.lagGauge, s.replica.usedGauge, s.replica.behind, s.replica.catchUp)
	}
	return out
}

// UseReplica sends Reads to the streaming replica of the store's
// PostgreSQL at replicaURL while its lag is within opts.MaxLag. It does not
// wait for the replica: one that is down or unreachable leaves the reads
// on the primary until it answers. Close stops it.
func (s *Store) UseReplica(replicaURL string, opts ReplicaOptions) error {
	if s.Dialect != dialect.Postgres {
		return errors.New("store.UseReplica: a read replica needs PostgreSQL as the primary")
	}
	if s.replica != nil {
		return errors.New("store.UseReplica: the store has a replica already")
	}
	dialectName, dsn, err := ParseURL(replicaURL)
	if err != nil || dialectName != dialect.Postgres {
		return fmt.Errorf("store.UseReplica: not a PostgreSQL URL: %w", errors.Join(err, errors.New("postgres:// expected")))
	}
	if opts.MaxLag <= 0 {
		opts.MaxLag = DefaultReplicaLag
	}
	if opts.Refresh <= 0 {
		opts.Refresh = time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	db, err := sql.Open("pgx", withConnectTimeout(dsn))
	if err != nil {
		return fmt.Errorf("store.UseReplica: %w", err)
	}
	db.SetMaxOpenConns(s.DB.Stats().MaxOpenConnections)
	db.SetMaxIdleConns(s.DB.Stats().MaxOpenConnections)
	db.SetConnMaxIdleTime(5 * time.Minute)
	r := &replica{
		db: db, maxLag: opts.MaxLag, refresh: opts.Refresh, log: opts.Log, url: MaskURL(replicaURL),
		lagGauge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "redpoint_database_replica_lag_seconds",
			Help: "The read replica's replay lag as last measured; -1 while it does not answer."}),
		usedGauge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "redpoint_database_replica_used",
			Help: "1 while the heavy reads go to the read replica, 0 while they go to the primary."}),
		behind: prometheus.NewCounter(prometheus.CounterOpts{Name: "redpoint_database_replica_behind_total",
			Help: "Reads that had to see the latest commits and went to the primary, the replica not having replayed them in time."}),
		catchUp: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "redpoint_database_replica_catch_up_seconds",
			Help:    "How long reads that had to see the latest commits waited for the replica to replay them, when it did in time.",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05}}),
	}
	r.state.Store(&replicaState{err: errors.New("not measured yet")})
	r.lagGauge.Set(-1)
	primary := s.primaryDriver
	fallback := &fallbackDriver{primary: primary, primaryDB: s.DB, replica: entsql.OpenDB(dialect.Postgres, db), r: r, reads: s.reads}
	r.reads = Reader{Client: ent.NewClient(ent.Driver(fallback)), target: targetReplica}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	r.wg.Add(1)
	go r.monitor(ctx)
	s.replica = r
	r.log.Info("database: read replica configured; heavy reads stay on the primary until it answers within the bound",
		"replica", r.url, "max_lag_ms", r.maxLag.Milliseconds())
	return nil
}

// withConnectTimeout bounds connecting to a replica that is unreachable
// (packets dropped) when the URL does not say: a read waits that long at
// most before it falls back to the primary.
func withConnectTimeout(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Query().Has("connect_timeout") {
		return dsn
	}
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	return u.String()
}

// MaskURL is raw for a log line: its password, if any, masked.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// replica is the read replica and its guard.
type replica struct {
	db      *sql.DB
	reads   Reader
	maxLag  time.Duration
	refresh time.Duration
	log     *slog.Logger
	url     string

	state atomic.Pointer[replicaState]
	// receipts are the monitor's (measure).
	receipts []receipt
	// used is what the guard last decided, to log the switches.
	used atomic.Bool

	lagGauge, usedGauge prometheus.Gauge
	behind              prometheus.Counter
	catchUp             prometheus.Histogram

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// replicaState is one measurement.
type replicaState struct {
	at  time.Time
	lag time.Duration
	err error // the replica did not answer, or is no replica
}

// lagSQL reads what the replay lag is estimated from (replayLag), on the
// replica: whether it is one, whether its WAL receiver runs, the WAL
// positions it has received and replayed, and the seconds since the last
// transaction it replayed committed.
const lagSQL = `SELECT pg_is_in_recovery(), EXISTS (SELECT 1 FROM pg_stat_wal_receiver),
	pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0')::float8, pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::float8,
	EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8`

// receipt is where the replica's received WAL ended at a measurement.
type receipt struct {
	at  time.Time
	lsn float64
}

// measure asks the replica for its lag, within a refresh. Only the
// monitor calls it: it alone keeps the receipts.
func (r *replica) measure(ctx context.Context) *replicaState {
	ctx, cancel := context.WithTimeout(ctx, r.refresh)
	defer cancel()
	var recovering, receiving bool
	var received, replayed, sinceCommit sql.NullFloat64
	if err := r.db.QueryRowContext(ctx, lagSQL).Scan(&recovering, &receiving, &received, &replayed, &sinceCommit); err != nil {
		r.receipts = nil // a replica back from away starts a history anew
		return &replicaState{at: time.Now(), err: err}
	}
	now := time.Now()
	if !recovering {
		return &replicaState{at: now, err: errors.New("the server is not in recovery: no replica (promoted?)")}
	}
	if receiving && received.Valid {
		r.receipts = append(r.receipts, receipt{at: now, lsn: received.Float64})
	} else {
		r.receipts = nil
	}
	span := r.maxLag + 2*r.refresh
	for len(r.receipts) > 1 && now.Sub(r.receipts[1].at) > span {
		r.receipts = r.receipts[1:]
	}
	lag, err := replayLag(now, r.receipts, span, replayed, sinceCommit)
	return &replicaState{at: now, lag: lag, err: err}
}

// replayLag estimates how far behind the replica is from the receipts of
// the last span (oldest first, the latest now; none while its WAL
// receiver does not run): the time since it had received WAL that it has
// yet to replay — what the primary committed then, it can't show yet.
// That is how long replay stands still, paused or blocked, and it is 0
// while replay keeps up with what arrives, through a long transaction
// too. When replay has not passed even the oldest receipt and the
// receipts are younger than span (a history just begun), or there are
// none, the time since the last replayed commit stands in, which
// overstates the lag after the primary was idle — erring towards the
// primary. It measures nothing of the WAL on its way from the primary.
func replayLag(now time.Time, receipts []receipt, span time.Duration, replayed, sinceCommit sql.NullFloat64) (time.Duration, error) {
	if replayed.Valid && len(receipts) > 0 {
		for i, rc := range receipts {
			if rc.lsn <= replayed.Float64 {
				continue
			}
			if i > 0 || now.Sub(rc.at) >= span {
				return now.Sub(rc.at), nil
			}
			break // behind the whole history: how long for, it doesn't tell
		}
		if receipts[0].lsn <= replayed.Float64 {
			return 0, nil
		}
	}
	if !sinceCommit.Valid {
		return 0, errors.New("the replica's lag is unknown: it has replayed no transaction yet")
	}
	return time.Duration(max(0, sinceCommit.Float64) * float64(time.Second)), nil
}

// monitor measures the lag every refresh until ctx is done. Callers never
// wait for it: Reads reads the last measurement.
func (r *replica) monitor(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTicker(r.refresh)
	defer t.Stop()
	for {
		st := r.measure(ctx)
		if ctx.Err() != nil {
			return
		}
		r.state.Store(st)
		if st.err != nil {
			r.lagGauge.Set(-1)
		} else {
			r.lagGauge.Set(st.lag.Seconds())
		}
		r.usable(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// usable decides from the last measurement whether reads may go to the
// replica, and logs when that changes. A measurement older than three
// refreshes (a replica too slow to answer) counts as none.
func (r *replica) usable(ctx context.Context) bool {
	st := r.state.Load()
	age := time.Since(st.at)
	ok := st.err == nil && st.lag <= r.maxLag && age <= 3*r.refresh
	if r.used.CompareAndSwap(!ok, ok) {
		if ok {
			r.usedGauge.Set(1)
			r.log.InfoContext(ctx, "database: heavy reads go to the replica", "replica", r.url, "lag_ms", st.lag.Milliseconds())
		} else {
			r.usedGauge.Set(0)
			attrs := []any{"replica", r.url, "lag_ms", st.lag.Milliseconds(), "max_lag_ms", r.maxLag.Milliseconds()}
			switch {
			case st.err != nil:
				attrs = append(attrs, "error", st.err.Error())
			case age > 3*r.refresh:
				attrs = append(attrs, "error", "lag not measured for "+age.Round(time.Millisecond).String())
			}
			r.log.WarnContext(ctx, "database: heavy reads go to the primary", attrs...)
		}
	}
	return ok
}

// down records that a read found the replica gone, so that the reads
// after it go to the primary until a measurement finds it back.
func (r *replica) down(err error) {
	r.state.Store(&replicaState{at: time.Now(), err: err})
	r.lagGauge.Set(-1)
	r.usable(context.Background())
}

// replayed reports whether the replica has replayed the WAL up to lsn,
// waiting up to wait for it.
func (r *replica) replayed(ctx context.Context, lsn string, wait time.Duration) bool {
	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	pause := firstCatchUpPoll
	for {
		var done bool
		err := r.db.QueryRowContext(ctx, "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", lsn).Scan(&done)
		if err == nil && done {
			r.catchUp.Observe(time.Since(began).Seconds())
			return true
		}
		if err != nil && ctx.Err() == nil && Unavailable(err) {
			r.down(err)
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(pause):
		}
		pause = min(2*pause, wait/10)
	}
}

// firstCatchUpPoll is how long replayed waits before it asks the replica
// again; each wait doubles, up to a tenth of the whole. A streaming
// replica usually replays a commit within a millisecond of its flush: a
// fixed 5 ms between polls made a computed workload wait 5 ms whenever
// the workers had just committed.
const firstCatchUpPoll = 250 * time.Microsecond

// close stops the monitor and closes the replica's connections.
func (r *replica) close() error {
	r.stop()
	r.wg.Wait()
	return r.db.Close()
}

// fallbackDriver is the ent driver of the replica's Reader: queries go to
// the replica, and again to the primary when the replica is unavailable;
// writes and transactions go to the primary.
type fallbackDriver struct {
	primary   dialect.Driver
	primaryDB *sql.DB
	replica   *entsql.Driver
	r         *replica
	reads     *prometheus.CounterVec
}

func (d *fallbackDriver) Exec(ctx context.Context, query string, args, v any) error {
	return d.primary.Exec(ctx, query, args, v)
}

func (d *fallbackDriver) Query(ctx context.Context, query string, args, v any) error {
	err := d.replica.Query(ctx, query, args, v)
	if !d.failed(ctx, err) {
		d.reads.WithLabelValues(targetReplica).Inc()
		return err
	}
	d.reads.WithLabelValues(targetPrimary).Inc()
	return d.primary.Query(ctx, query, args, v)
}

// failed reports whether err means the replica is gone (then marked down).
func (d *fallbackDriver) failed(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || !Unavailable(err) {
		return false
	}
	d.r.down(err)
	return true
}

func (d *fallbackDriver) Tx(ctx context.Context) (dialect.Tx, error) { return d.primary.Tx(ctx) }

// Close leaves both databases open: the Store closes them.
func (d *fallbackDriver) Close() error { return nil }

func (d *fallbackDriver) Dialect() string { return dialect.Postgres }

// QueryContext runs a read written in SQL (ent.Client.QueryContext) on
// the replica, or on the primary when the replica is gone.
func (d *fallbackDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := d.r.db.QueryContext(ctx, query, args...)
	if !d.failed(ctx, err) {
		d.reads.WithLabelValues(targetReplica).Inc()
		return rows, err
	}
	d.reads.WithLabelValues(targetPrimary).Inc()
	return d.primaryDB.QueryContext(ctx, query, args...)
}

// countingDriver counts the queries of the primary's Reader.
type countingDriver struct {
	dialect.Driver
	reads *prometheus.CounterVec
	// query runs a read written in SQL on the primary (Store.QueryContext).
	query func(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// QueryContext runs a read written in SQL (ent.Client.QueryContext).
func (d countingDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	d.reads.WithLabelValues(targetPrimary).Inc()
	return d.query(ctx, query, args...)
}

func (d countingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.reads.WithLabelValues(targetPrimary).Inc()
	return d.Driver.Query(ctx, query, args, v)
}

// Close leaves the database open: the Store closes it.
func (d countingDriver) Close() error { return nil }
