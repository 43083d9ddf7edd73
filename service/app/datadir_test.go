//go:build unix

package app_test

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/testutil"
)

// TestEmbeddedDataDirIsOwnerOnly starts the embedded mode the way `redpoint
// serve` does, under umask 000: the data dir it makes is 0700, and the
// database (with its -wal and -shm files) and the key files are 0600. A
// data dir that was already there and open to others keeps its mode, and
// the start says so. Not parallel: the umask is the process's.
func TestEmbeddedDataDirIsOwnerOnly(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "redpoint-data")
	cfg := app.Defaults()
	cfg.DataDir = dir
	start := func() string {
		t.Helper()
		var logs apptest.LogBuffer
		old := syscall.Umask(0)
		defer syscall.Umask(old)
		a, err := app.Open(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { testutil.Close(t, a) })
		// A write through the app's pool keeps the -wal and -shm files.
		if _, err := a.Store.DB.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS perm_probe (a INTEGER)"); err != nil {
			t.Fatal(err)
		}
		return logs.String()
	}
	check := func(name string, want fs.FileMode) {
		t.Helper()
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %04o, want %04o", name, got, want)
		}
	}

	if logs := start(); strings.Contains(logs, "data dir is open") {
		t.Errorf("a fresh data dir warned:\n%s", logs)
	}
	check(".", 0o700)
	for _, f := range []string{"redpoint.db", "redpoint.db-wal", "redpoint.db-shm", "pii.key", "auth.key"} {
		check(f, 0o600)
	}

	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if logs := start(); !strings.Contains(logs, "data dir is open to group or others") || !strings.Contains(logs, "mode=0755") {
		t.Errorf("a data dir open to others: no warning in\n%s", logs)
	}
	check(".", 0o755)
}
