package storetest

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/changzhi/redpoint/service/store"
	"github.com/changzhi/redpoint/service/testutil"
)

// EnvReplicaURL names the streaming replica of EnvDatabaseURL's server
// (scripts/pg-replica.sh starts one and prints its URL).
const EnvReplicaURL = "REDPOINT_TEST_DATABASE_REPLICA_URL"

// replayWait bounds the waits for the replica: the base of a test's
// database streams in well under a second, but another package's test may
// hold replay paused (PauseReplay) for a few seconds.
const replayWait = 2 * time.Minute

// OpenReplicated is Open with a read replica: the test's database, made
// on EnvDatabaseURL's server, is waited for on EnvReplicaURL's (it arrives
// by streaming), and the store's Reads go there while opts allow. It skips
// tb when either variable is unset. The tests that use it assert what the
// reads see on the replica; the other tests use Open, whose reads, all on
// the primary, see every write at once.
func OpenReplicated(tb testing.TB, opts store.ReplicaOptions) *store.Store {
	tb.Helper()
	replicaServer := ReplicaServer(tb)
	st := Open(tb)
	u, err := url.Parse(replicaServer)
	if err != nil {
		tb.Fatalf("storetest: %s: %v", EnvReplicaURL, err)
	}
	u.Path = "/" + strings.TrimPrefix(databaseName(tb, st), "/")
	WaitReplayed(tb, st)
	if err := st.UseReplica(u.String(), opts); err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	return st
}

// ReplicaServer is EnvReplicaURL, skipping tb when it or EnvDatabaseURL
// is unset.
func ReplicaServer(tb testing.TB) string {
	tb.Helper()
	replica := os.Getenv(EnvReplicaURL)
	if os.Getenv(EnvDatabaseURL) == "" || replica == "" {
		tb.Skipf("needs a PostgreSQL primary and its streaming replica: set %s and %s (scripts/pg-replica.sh starts one)", EnvDatabaseURL, EnvReplicaURL)
	}
	return replica
}

func databaseName(tb testing.TB, st *store.Store) string {
	tb.Helper()
	var name string
	if err := st.DB.QueryRow("SELECT current_database()").Scan(&name); err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	return name
}

// replicaAdmin connects to the replica server's own database.
func replicaAdmin(tb testing.TB) *sql.DB {
	tb.Helper()
	db, err := sql.Open("pgx", ReplicaServer(tb))
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	tb.Cleanup(func() { testutil.Close(tb, db) })
	return db
}

// WaitReplayed waits until the replica has replayed everything the
// primary of st had written when it was called.
func WaitReplayed(tb testing.TB, st *store.Store) {
	tb.Helper()
	var lsn string
	if err := st.DB.QueryRow("SELECT pg_current_wal_insert_lsn()::text").Scan(&lsn); err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	replica := replicaAdmin(tb)
	testutil.EventuallyNoError(tb, replayWait, "the replica replays the primary's WAL to "+lsn, func() error {
		var done bool
		if err := replica.QueryRow("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", lsn).Scan(&done); err != nil {
			return err
		}
		if !done {
			return errNotReplayed
		}
		return nil
	})
}

var errNotReplayed = errors.New("not replayed yet")

// pauseLock is the advisory lock, on the primary, that the tests pausing
// the shared replica's replay take: one pause at a time, across the test
// binaries of every package.
const pauseLock = 0x7265706c // "repl"

// PauseReplay stops the replica replaying the primary's WAL until tb
// ends: what is written from now on reaches the replica (its lag grows)
// but no read there sees it. Every other test using the replica sees it
// stand still meanwhile, so a test pauses for as short a time as it can;
// PauseReplay waits for any other test's pause to end first, and first
// waits for the replica to have replayed what st's primary had written.
// resume resumes replay before tb ends (the cleanup then does nothing).
func PauseReplay(tb testing.TB, st *store.Store) (resume func()) {
	tb.Helper()
	ctx := context.Background()
	primary, err := sql.Open("pgx", os.Getenv(EnvDatabaseURL))
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	tb.Cleanup(func() { testutil.Close(tb, primary) })
	lock, err := primary.Conn(ctx)
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	lockCtx, cancel := context.WithTimeout(ctx, replayWait)
	defer cancel()
	if _, err := lock.ExecContext(lockCtx, "SELECT pg_advisory_lock($1)", pauseLock); err != nil {
		testutil.Close(tb, lock)
		tb.Fatalf("storetest: waiting for another test's pause of the replica: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := lock.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", pauseLock); err != nil {
			tb.Errorf("storetest: %v", err)
		}
		testutil.Close(tb, lock)
	})
	WaitReplayed(tb, st)
	replica := replicaAdmin(tb)
	var once sync.Once
	resume = func() {
		once.Do(func() {
			if _, err := replica.Exec("SELECT pg_wal_replay_resume()"); err != nil {
				tb.Errorf("storetest: resuming the replica's replay: %v (resume it by hand: SELECT pg_wal_replay_resume())", err)
			}
		})
	}
	tb.Cleanup(resume)
	if _, err := replica.Exec("SELECT pg_wal_replay_pause()"); err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	testutil.Eventually(tb, replayWait, "the replica's replay pauses", func() bool {
		var state string
		return replica.QueryRow("SELECT pg_get_wal_replay_pause_state()").Scan(&state) == nil && state == "paused"
	})
	return resume
}
