package benchhttp

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// child is a process pinned to a core, logging to a file.
type child struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// startPinned starts name on core with GOMAXPROCS=1, and without the
// REDPOINT_* settings of this shell: the demo's embedded mode, always.
func startPinned(core, log, name string, args ...string) (*child, error) {
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // the child has its own descriptor
	cmd := exec.Command("taskset", append([]string{"-c", core, name}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REDPOINT_") && !strings.HasPrefix(kv, "GOMAXPROCS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GOMAXPROCS=1")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("benchhttp: %s: %w", name, err)
	}
	c := &child{cmd: cmd, log: log, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.exited) }()
	return c, nil
}

// stop ends the process as an operator would, and kills it if it lingers.
func (c *child) stop() {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// waitFor polls url until it answers 200, the process exits or limit passes.
func (c *child) waitFor(ctx context.Context, url string, limit time.Duration) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := setUpClient.Get(url); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.exited:
			return fmt.Errorf("benchhttp: %s exited; its log ends:\n%s", c.cmd.Args[3], c.tail())
		case <-deadline.C:
			return fmt.Errorf("benchhttp: %s did not answer in %v; its log ends:\n%s", url, limit, c.tail())
		case <-tick.C:
		}
	}
}

// tail is the end of the process's log.
func (c *child) tail() string {
	b, _ := os.ReadFile(c.log)
	return string(b[max(0, len(b)-2000):])
}

// vmRSS is the process's resident memory in bytes, from /proc (0 where
// there is none).
func vmRSS(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			_, _ = fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb)
			return kb << 10
		}
	}
	return 0
}

// loopbackAddr is a free loopback port; the first failure sticks in *err.
func loopbackAddr(err *error) string {
	if *err != nil {
		return ""
	}
	l, e := net.Listen("tcp", "127.0.0.1:0")
	if e != nil {
		*err = e
		return ""
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}
