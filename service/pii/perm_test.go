//go:build unix

package pii

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestSecretFileIsOwnerOnly: under umask 000 a first start makes the data
// dir 0700 and the key file 0600, and a second start reads the same key.
// Not parallel: the umask is the process's.
func TestSecretFileIsOwnerOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "pii.key")
	old := syscall.Umask(0)
	first, err := LoadOrCreateSecretFile(path, NewKeyringString)
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want os.FileMode
	}{{dir, 0o700}, {path, 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.want {
			t.Errorf("%s: mode %04o, want %04o", filepath.Base(c.path), got, c.want)
		}
	}
	// A key file opened up since (an older version, a careless copy) is
	// the owner's alone again after the next start.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateSecretFile(path, func() string { t.Error("a second start made a new secret"); return "" })
	if err != nil || again != first {
		t.Errorf("second start: %q, %v; want the first start's secret", again, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("a 0644 key file after a start: %v %v, want 0600", fi.Mode().Perm(), err)
	}
}
