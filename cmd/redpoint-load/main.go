// Command redpoint-load drives a running redpoint demo over REST with a
// township's mix of work at a fixed rate and prints each operation's
// throughput and latency percentiles.
//
//	redpoint serve --demo --trusted-proxies 1 &
//	redpoint-load --rate 200 --duration 60s
//
// `redpoint-load ratios` instead measures the hot reads against a bare
// net/http server sending the same bytes, on a demo server of its own:
//
//	redpoint-load ratios --server bin/redpoint [--gzip]
//
// `redpoint-load replicas` starts a deployment of its own over the stores
// the REDPOINT_* variables name (PostgreSQL, Redis or a Redis Cluster, S3,
// and a read replica): a worker and --replicas API servers, drives them in
// turn as a load balancer would, kills the first replica part-way, and
// checks no acknowledged write was lost or applied twice:
//
//	redpoint-load replicas --server bin/redpoint --replicas 3 --kill-after 20s --duration 60s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/loadgen"
	"github.com/changzhi/redpoint/service/report"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "redpoint-load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "ratios":
			return ratios(ctx, args[1:], stdout, stderr)
		case "reference": // the ratios harness's children
			return reference(ctx, args[1:], stderr)
		case "grpc-load":
			return grpcLoad(ctx, args[1:], stdout, stderr)
		case "replicas":
			return replicas(ctx, args[1:], stdout, stderr)
		case "reads":
			return reads(ctx, args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("redpoint-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var target string
	fs.StringVar(&target, "target", "http://localhost:8080", "the server's REST base URL; several, comma-separated, are used in turn as a load balancer would")
	cfg, mix := loadFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Targets = strings.Split(target, ",")
	if err := parseMix(cfg, *mix); err != nil {
		return err
	}
	cfg.Progress = stderr
	fmt.Fprintf(stderr, "setting up %d agents and %d residents at %s …\n", cfg.Agents, cfg.Residents, target)
	r, err := loadgen.Run(ctx, *cfg)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	r.Print(stdout)
	if p := r.Problems(); len(p) > 0 {
		return fmt.Errorf("the figures are not to be trusted: %d problems", len(p))
	}
	return nil
}

// loadFlags binds the load's settings, shared by a run and `replicas`.
func loadFlags(fs *flag.FlagSet) (*loadgen.Config, *string) {
	var cfg loadgen.Config
	var mix string
	fs.Float64Var(&cfg.Rate, "rate", 100, "operations started per second")
	fs.DurationVar(&cfg.Duration, "duration", 30e9, "how long to start operations")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", 256, "operations running at once; beyond it a start is dropped and counted")
	fs.IntVar(&cfg.Agents, "agents", 20, "demo agents to log in")
	fs.IntVar(&cfg.Residents, "residents", 300, "simulated residents, each with an errand and a client address")
	fs.StringVar(&mix, "mix", "", "weights, e.g. lookup=40,my_errands=20,create=10 (default: the built-in morning mix)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "the run's random seed")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "drive a server on another machine (the harness logs and moves errands there)")
	fs.BoolVar(&cfg.CheckWrites, "check-writes", false, "after the run, check the server holds every acknowledged create and transition once")
	return &cfg, &mix
}

// parseMix reads --mix into cfg.Mix.
func parseMix(cfg *loadgen.Config, mix string) error {
	if mix == "" {
		return nil
	}
	cfg.Mix = map[string]int{}
	for _, part := range strings.Split(mix, ",") {
		op, w, ok := strings.Cut(part, "=")
		n, err := strconv.Atoi(w)
		if !ok || err != nil || n < 0 {
			return fmt.Errorf("--mix: %q is not op=weight", part)
		}
		cfg.Mix[strings.TrimSpace(op)] = n
	}
	return nil
}

// replicas runs the load over API replicas and a worker it starts, and
// kills one of the replicas part-way (loadgen.RunReplicas).
func replicas(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("redpoint-load replicas", flag.ContinueOnError)
	fs.SetOutput(stderr)
	r := loadgen.Replicas{Progress: stderr}
	fs.StringVar(&r.Server, "server", "bin/redpoint", "the redpoint binary (make build)")
	fs.IntVar(&r.APIs, "replicas", 3, "API replicas to start")
	fs.DurationVar(&r.KillAfter, "kill-after", 10e9, "when to kill the first replica (SIGKILL); 0: never")
	fs.StringVar(&r.DataDir, "data-dir", "redpoint-replicas", "the processes' shared data dir (key files) and their logs")
	cfg, mix := loadFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := parseMix(cfg, *mix); err != nil {
		return err
	}
	cfg.Progress = stderr
	r.Load = *cfg
	out, err := loadgen.RunReplicas(ctx, r)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	out.Print(stdout)
	if out.Killed != "" {
		fmt.Fprintf(stdout, "killed %s after %.1f s of load\n", out.Killed, out.KilledAt.Seconds())
	}
	if p := out.Problems(); len(p) > 0 {
		return fmt.Errorf("%d problems", len(p))
	}
	return nil
}

// reads times the repeated reads one at a time (loadgen.MeasureReads).
func reads(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("redpoint-load reads", flag.ContinueOnError)
	fs.SetOutput(stderr)
	r := loadgen.Reads{}
	fs.StringVar(&r.Target, "target", "http://localhost:8080", "the server's REST base URL")
	fs.IntVar(&r.Samples, "samples", 30, "calls of each read, after two to warm up")
	fs.StringVar(&r.Township, "township", demo.GuhanSecretaryPhone, "a township secretary's phone")
	fs.StringVar(&r.County, "county", demo.CountyAdminPhone, "a county admin's phone")
	fs.StringVar(&r.City, "city", demo.CityAdminPhone, "a city admin's phone")
	fs.StringVar(&r.Province, "province", "", "a province admin's phone (a CITY_ADMIN of a province); empty: no province workload")
	fs.StringVar(&r.Agent, "agent", "13700000001", "an agent's phone")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if u := os.Getenv("REDPOINT_REDIS_URL"); u != "" {
		k, err := kv.Open(ctx, u)
		if err != nil {
			return err
		}
		defer func() { _ = k.Close() }()
		cache := report.NewCache(k, nil)
		r.Stale = cache.Changed
	} else {
		fmt.Fprintln(stderr, "REDPOINT_REDIS_URL is not set: the workloads are timed cached only")
	}
	stats, err := loadgen.MeasureReads(ctx, r)
	loadgen.PrintReads(stdout, stats)
	return err
}
