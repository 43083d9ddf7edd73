package kvtest

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/changzhi/redpoint/service/testutil"
)

// Server is a real redis-server of the test's own, on a port of its own,
// that keeps nothing on disk: a restart comes back empty. Tests kill it to
// see what the code does while Redis is away, which they can't do to the
// shared server.
type Server struct {
	tb      testing.TB
	port    int
	cluster bool
	dir     string
	mu      sync.Mutex
	cmd     *exec.Cmd
}

// StartServer starts a redis-server for tb, killed when tb ends. It skips
// tb when redis-server is not installed, and fails it under CI, whose
// script installs it.
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	return startServer(tb, false)
}

// StartClusterNode starts a redis-server for tb as StartServer does, but
// with cluster mode on: a Redis Cluster of one master that serves every
// slot. Commands across slots fail with CROSSSLOT there as on any cluster.
// A restart (Kill, Start) keeps its cluster configuration, not its keys.
func StartClusterNode(tb testing.TB) *Server {
	tb.Helper()
	s := startServer(tb, true)
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Protocol: 2})
	defer testutil.Close(tb, c)
	ctx := context.Background()
	if err := c.ClusterAddSlotsRange(ctx, 0, 16383).Err(); err != nil {
		tb.Fatalf("kvtest: CLUSTER ADDSLOTSRANGE: %v", err)
	}
	s.WaitClusterOK()
	return s
}

// WaitClusterOK returns once the node says cluster_state:ok.
func (s *Server) WaitClusterOK() {
	s.tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Protocol: 2})
	defer testutil.Close(s.tb, c)
	testutil.EventuallyNoError(s.tb, 10*time.Second, "kvtest: cluster_state:ok", func() error {
		info, err := c.ClusterInfo(context.Background()).Result()
		if err == nil && !strings.Contains(info, "cluster_state:ok") {
			err = errors.New(info)
		}
		return err
	})
}

func startServer(tb testing.TB, cluster bool) *Server {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("redis-server is not installed; .ci/run installs it")
		}
		tb.Skip("redis-server is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{tb: tb, port: l.Addr().(*net.TCPAddr).Port, cluster: cluster, dir: tb.TempDir()}
	testutil.Close(tb, l) // frees the port for redis-server
	s.Start()
	tb.Cleanup(s.Kill)
	return s
}

// Start starts the server again after Kill, empty, on the same port, and
// returns once it accepts connections.
func (s *Server) Start() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	args := []string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.dir}
	if s.cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(s.dir, "nodes.conf"))
	}
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("kvtest: redis-server: %v", err)
	}
	s.cmd = cmd
	testutil.EventuallyNoError(s.tb, 10*time.Second, "kvtest: redis-server accepting connections", func() error {
		c, err := net.Dial("tcp", s.Addr())
		if err == nil {
			_ = c.Close() // a probe: it connected, which is all it asks
		}
		return err
	})
}

// Kill stops the server at once (SIGKILL): connections are refused until
// Start.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.tb.Errorf("kvtest: killing redis-server: %v", err)
		}
		var exit *exec.ExitError
		if err := s.cmd.Wait(); err != nil && !errors.As(err, &exit) { // killed: an exit error
			s.tb.Errorf("kvtest: waiting for redis-server: %v", err)
		}
		s.cmd = nil
	}
}

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is the server's redis:// URL, database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }
