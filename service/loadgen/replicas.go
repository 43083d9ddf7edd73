package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Replicas is a run over several API replicas and a worker of one
// deployment, started here from the server binary on loopback, with one
// replica killed part-way (SIGKILL: no drain, requests cut mid-flight).
// The deployment's stores come from this process's REDPOINT_* variables
// (REDPOINT_DATABASE_URL, REDPOINT_REDIS_URL, REDPOINT_S3_URL, and a
// replica's REDPOINT_DATABASE_REPLICA_URL when set): replicas must share
// them, so the embedded mode can't be used.
type Replicas struct {
	Server    string        // the redpoint binary
	APIs      int           // API replicas; at least 2
	KillAfter time.Duration // when to kill the first replica; 0: never
	DataDir   string        // shared by the processes (key files); logs go there too
	Load      Config        // the load; its Targets are filled in
	Progress  io.Writer
}

// ReplicasReport is the load's report and what happened to the replicas.
type ReplicasReport struct {
	Report
	Killed   string        // the replica killed, by its REST URL
	KilledAt time.Duration // after the load's start
}

// RunReplicas migrates the database and seeds the demo when empty, starts
// the worker and the API replicas, drives them with r.Load (checking the
// writes), kills the first replica at r.KillAfter, and stops the rest.
func RunReplicas(ctx context.Context, r Replicas) (ReplicasReport, error) {
	if r.APIs < 2 {
		return ReplicasReport{}, errors.New("loadgen: replicas: at least 2 API replicas, so one can be killed")
	}
	if os.Getenv("REDPOINT_DATABASE_URL") == "" || os.Getenv("REDPOINT_REDIS_URL") == "" {
		return ReplicasReport{}, errors.New("loadgen: replicas share their stores: set REDPOINT_DATABASE_URL, REDPOINT_REDIS_URL and REDPOINT_S3_URL")
	}
	progress := r.Progress
	if progress == nil {
		progress = io.Discard
	}
	if err := os.MkdirAll(r.DataDir, 0o700); err != nil {
		return ReplicasReport{}, err
	}
	run := func(what string, args ...string) error {
		cmd := exec.CommandContext(ctx, r.Server, append(args, "--data-dir", r.DataDir)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("loadgen: %s: %w\n%s", what, err, out)
		}
		return nil
	}
	fmt.Fprintln(progress, "migrating, and seeding the demo if the database is empty …")
	if err := run("migrate", "migrate"); err != nil {
		return ReplicasReport{}, err
	}
	if err := run("seed", "seed", "--demo"); err != nil {
		return ReplicasReport{}, err
	}
	var procs []*process
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	worker, err := startProcess(r.Server, filepath.Join(r.DataDir, "worker.log"), "worker", "--data-dir", r.DataDir)
	if err != nil {
		return ReplicasReport{}, err
	}
	procs = append(procs, worker)
	var apis []*process
	for i := range r.APIs {
		p, err := startProcess(r.Server, filepath.Join(r.DataDir, fmt.Sprintf("api-%d.log", i+1)),
			"serve", "--demo", "--workers=false", "--trusted-proxies", "1", "--data-dir", r.DataDir)
		if err != nil {
			return ReplicasReport{}, err
		}
		procs = append(procs, p)
		apis = append(apis, p)
	}
	for _, p := range procs {
		if err := p.waitHealthy(ctx, time.Minute); err != nil {
			return ReplicasReport{}, err
		}
	}
	cfg := r.Load
	cfg.Targets = nil
	for _, p := range apis {
		cfg.Targets = append(cfg.Targets, p.rest)
	}
	cfg.CheckWrites = true
	fmt.Fprintf(progress, "%d API replicas (%s) and a worker are up\n", r.APIs, strings.Join(cfg.Targets, ", "))

	out := ReplicasReport{}
	loadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := make(chan time.Time, 1)
	cfg.started = started
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		if r.KillAfter <= 0 {
			return
		}
		var t0 time.Time
		select {
		case t0 = <-started:
		case <-loadCtx.Done():
			return
		}
		select {
		case <-time.After(time.Until(t0.Add(r.KillAfter))):
		case <-loadCtx.Done():
			return
		}
		apis[0].kill()
		out.Killed, out.KilledAt = apis[0].rest, time.Since(t0)
		fmt.Fprintf(progress, "killed %s after %.1f s\n", apis[0].rest, out.KilledAt.Seconds())
	}()
	rep, err := Run(loadCtx, cfg)
	cancel()
	<-killed
	out.Report = rep
	return out, err
}

// process is a redpoint process of the deployment.
type process struct {
	cmd          *exec.Cmd
	rest, health string
	log          string
	exited       chan struct{}
}

// startProcess starts the server binary with args on free loopback ports.
func startProcess(server, log string, args ...string) (*process, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // the child has its own descriptor
	admin := fmt.Sprintf("127.0.0.1:%d", ports[2])
	args = append(args, "--admin-addr", admin)
	p := &process{health: "http://" + admin + "/healthz", log: log, exited: make(chan struct{})}
	if args[0] == "serve" {
		rest := fmt.Sprintf("127.0.0.1:%d", ports[0])
		args = append(args, "--http-addr", rest, "--grpc-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]))
		p.rest = "http://" + rest
	}
	p.cmd = exec.Command(server, args...) //nolint:gosec // the operator's own binary and flags
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("loadgen: %s: %w", server, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	return p, nil
}

// waitHealthy waits until the process's /healthz answers 200.
func (p *process) waitHealthy(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.health, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("loadgen: %s exited while starting; see %s", strings.Join(p.cmd.Args, " "), p.log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("loadgen: %s not healthy after %s; see %s", p.health, limit, p.log)
		}
	}
}

func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// stop ends the process as an operator would, and kills it if it lingers.
func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.kill()
	}
}

func freePorts(n int) ([]int, error) {
	var out []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
