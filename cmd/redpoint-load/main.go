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

	"github.com/changzhi/redpoint/service/loadgen"
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
		}
	}
	fs := flag.NewFlagSet("redpoint-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg loadgen.Config
	var mix string
	fs.StringVar(&cfg.Target, "target", "http://localhost:8080", "the server's REST base URL")
	fs.Float64Var(&cfg.Rate, "rate", 100, "operations started per second")
	fs.DurationVar(&cfg.Duration, "duration", 30e9, "how long to start operations")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", 256, "operations running at once; beyond it a start is dropped and counted")
	fs.IntVar(&cfg.Agents, "agents", 20, "demo agents to log in")
	fs.IntVar(&cfg.Residents, "residents", 300, "simulated residents, each with an errand and a client address")
	fs.StringVar(&mix, "mix", "", "weights, e.g. lookup=40,my_errands=20,create=10 (default: the built-in morning mix)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "the run's random seed")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "drive a server on another machine (the harness logs and moves errands there)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if mix != "" {
		cfg.Mix = map[string]int{}
		for _, part := range strings.Split(mix, ",") {
			op, w, ok := strings.Cut(part, "=")
			n, err := strconv.Atoi(w)
			if !ok || err != nil || n < 0 {
				return fmt.Errorf("--mix: %q is not op=weight", part)
			}
			cfg.Mix[strings.TrimSpace(op)] = n
		}
	}
	cfg.Progress = stderr
	fmt.Fprintf(stderr, "setting up %d agents and %d residents at %s …\n", cfg.Agents, cfg.Residents, cfg.Target)
	r, err := loadgen.Run(ctx, cfg)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	r.Print(stdout)
	if p := r.Problems(); len(p) > 0 {
		return fmt.Errorf("the figures are not to be trusted: %d problems", len(p))
	}
	return nil
}
