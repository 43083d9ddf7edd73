//go:build unix

package store_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/changzhi/redpoint/service/store"
	"github.com/changzhi/redpoint/service/testutil"
)

// withUmask runs fn under umask, the loosest a careless service manager
// might set, so the modes checked are the code's and not the umask's. Not
// parallel: the umask is the process's.
func withUmask(t *testing.T, umask int, fn func()) {
	t.Helper()
	old := syscall.Umask(umask)
	defer syscall.Umask(old)
	fn()
}

func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Errorf("%s: %v", filepath.Base(path), err)
		return
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %04o, want %04o", filepath.Base(path), got, want)
	}
}

// TestSQLiteFilesAreOwnerOnly: the database holds staff phones, names and
// password hashes. Under umask 000 a new data dir is 0700 and the database
// and its -wal and -shm files 0600; files a crashed start left readable
// lose group and other access on the next open, and a directory that was
// there before keeps its mode.
func TestSQLiteFilesAreOwnerOnly(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	db := filepath.Join(dir, "redpoint.db")
	withUmask(t, 0, func() {
		st, err := store.Open(ctx, "sqlite:"+db)
		if err != nil {
			t.Fatal(err)
		}
		defer testutil.Close(t, st)
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		// A write through the store's own pool, which keeps the -wal and
		// -shm files open (the migration's connection closed and removed them).
		if _, err := st.DB.ExecContext(ctx, "CREATE TABLE perm_probe (a INTEGER)"); err != nil {
			t.Fatal(err)
		}
		wantMode(t, dir, 0o700)
		for _, f := range []string{db, db + "-wal", db + "-shm"} {
			wantMode(t, f, 0o600)
		}

		// What a crash leaves: the files, opened up by hand or by an
		// older version, and a directory someone else made.
		for _, f := range []string{db, db + "-wal", db + "-shm"} {
			if err := os.Chmod(f, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		again, err := store.Open(ctx, "sqlite:"+db)
		if err != nil {
			t.Fatal(err)
		}
		defer testutil.Close(t, again)
		for _, f := range []string{db, db + "-wal", db + "-shm"} {
			wantMode(t, f, 0o600)
		}
		wantMode(t, dir, 0o755)
	})
}
