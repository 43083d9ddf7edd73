package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"time"

	"github.com/changzhi/redpoint/service/benchhttp"
)

// ratios measures the hot reads against a bare reference (benchhttp).
func ratios(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("redpoint-load ratios", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := benchhttp.Config{Progress: stderr}
	fs.StringVar(&cfg.Server, "server", "bin/redpoint", "the redpoint binary to measure (make build)")
	fs.DurationVar(&cfg.Duration, "duration", 5*time.Second, "each load run, in whole seconds")
	fs.IntVar(&cfg.Runs, "runs", 2, "runs of each load; the best counts")
	fs.IntVar(&cfg.Conns, "conns", 32, "wrk connections, and gRPC callers")
	fs.BoolVar(&cfg.Gzip, "gzip", false, "send Accept-Encoding: gzip with every read")
	if err := fs.Parse(args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.Self = self
	return benchhttp.Run(ctx, cfg, stdout)
}

// reference is the harness's own child: the bare server of the captures.
func reference(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("redpoint-load reference", flag.ContinueOnError)
	fs.SetOutput(stderr)
	captures := fs.String("captures", "", "the captured answers (JSON)")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *captures == "" {
		return errors.New("reference: --captures is required")
	}
	return benchhttp.ServeReference(ctx, *captures, *addr)
}

// grpcLoad is the harness's own child: the gRPC caller, printing its rates as JSON.
func grpcLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("redpoint-load grpc-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "the server's gRPC address")
	token := fs.String("token", "", "an agent's access token")
	errand := fs.String("errand", "", "the errand GetErrand reads, errands/{id}")
	callers := fs.Int("callers", 32, "calls at once")
	d := fs.Duration("duration", 5*time.Second, "each run")
	runs := fs.Int("runs", 2, "runs; the best counts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := benchhttp.GRPCLoad(ctx, *addr, *token, *errand, *callers, *d, *runs)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(r)
}
