package storetest

import (
	"database/sql"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/changzhi/redpoint/service/testutil"
)

// Cluster is a PostgreSQL cluster of the test's own: initdb in a temporary
// directory, its own loopback port, trust authentication, no durability
// settings (only the server process is ever killed, never the machine).
// Tests stop and restart it to see what the code does while the database
// is away, which they can't do to the shared server.
type Cluster struct {
	tb   testing.TB
	bin  string // the directory of initdb, pg_ctl and postgres
	dir  string // the cluster's data directory
	port int
	cred *syscall.Credential // the postgres user's, when the test runs as root
}

// StartCluster makes and starts a cluster for tb, removed when tb ends. It
// skips tb when PostgreSQL's server binaries (initdb, pg_ctl) are not
// installed.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bin := serverBinaries()
	if bin == "" {
		tb.Skip("PostgreSQL's initdb and pg_ctl are not installed (Debian: apt-get install postgresql)")
	}
	c := &Cluster{tb: tb, bin: bin}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: run the cluster as postgres.
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Skip("running as root and there is no postgres user for a private PostgreSQL cluster")
		}
		uid, err := strconv.Atoi(u.Uid)
		if err != nil {
			tb.Fatalf("storetest: postgres uid %q: %v", u.Uid, err)
		}
		gid, err := strconv.Atoi(u.Gid)
		if err != nil {
			tb.Fatalf("storetest: postgres gid %q: %v", u.Gid, err)
		}
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not tb.TempDir: its parent is private to root, and the cluster's
	// owner must reach the directory.
	dir, err := os.MkdirTemp("", "redpoint-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			tb.Errorf("storetest: %v", err)
		}
	})
	if c.cred != nil {
		if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			tb.Fatal(err)
		}
	}
	c.dir = filepath.Join(dir, "data")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	testutil.Close(tb, l) // frees the port for postgres
	c.run("initdb", "-D", c.dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	c.Start()
	tb.Cleanup(func() {
		// A test may have stopped it for good: pg_ctl then fails, and that is fine.
		if err := c.command("pg_ctl", "-D", c.dir, "-w", "stop", "-m", "immediate").Run(); err != nil {
			tb.Logf("storetest: stopping the cluster: %v", err)
		}
	})
	return c
}

// serverBinaries finds initdb and pg_ctl: on the PATH, or in Debian's
// /usr/lib/postgresql/VERSION/bin (the newest).
func serverBinaries() string {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			if real, err := filepath.EvalSymlinks(p); err == nil {
				return filepath.Dir(real)
			}
			return filepath.Dir(p)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = os.TempDir()
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

func (c *Cluster) run(name string, args ...string) {
	c.tb.Helper()
	if out, err := c.command(name, args...).CombinedOutput(); err != nil {
		c.tb.Fatalf("storetest: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func (c *Cluster) pgctl(args ...string) {
	c.tb.Helper()
	c.run("pg_ctl", append([]string{"-D", c.dir, "-w", "-t", "60"}, args...)...)
}

// Start starts the cluster (again) and returns once it accepts connections.
func (c *Cluster) Start() {
	c.tb.Helper()
	opts := "-p " + strconv.Itoa(c.port) + " -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" +
		" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB -c max_connections=60"
	c.pgctl("start", "-l", filepath.Join(filepath.Dir(c.dir), "server.log"), "-o", opts)
}

// Stop shuts the cluster down (pg_ctl stop -m fast: open transactions are
// rolled back and every connection is closed); connections are refused
// until Start.
func (c *Cluster) Stop() {
	c.tb.Helper()
	c.pgctl("stop", "-m", "fast")
}

// CreateDatabase creates a database and returns its URL.
func (c *Cluster) CreateDatabase(name string) string {
	c.tb.Helper()
	db, err := sql.Open("pgx", c.URL("postgres"))
	if err != nil {
		c.tb.Fatal(err)
	}
	defer testutil.Close(c.tb, db)
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		c.tb.Fatalf("storetest: create database %s: %v", name, err)
	}
	return c.URL(name)
}

// URL is the postgres:// URL of database name on the cluster.
func (c *Cluster) URL(name string) string {
	return "postgres://postgres@127.0.0.1:" + strconv.Itoa(c.port) + "/" + name + "?sslmode=disable"
}
