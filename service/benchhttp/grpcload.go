package benchhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
)

// GRPCRates is what the gRPC caller measured: GetErrand and the health
// check, the cheapest call the server has, per second.
type GRPCRates struct {
	GetErrand, Health float64
}

// GRPCLoad calls GetErrand(errand) as the agent whose token it holds, and
// then Health/Check, each from callers at once for d, runs times, and
// returns the best rate of each. The harness runs it as a process of its
// own pinned to core 1, where wrk runs for the REST reads.
func GRPCLoad(ctx context.Context, addr, token, errand string, callers int, d time.Duration, runs int) (GRPCRates, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return GRPCRates{}, err
	}
	defer func() { _ = conn.Close() }()
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	errands, health := redpointv1.NewErrandServiceClient(conn), healthpb.NewHealthClient(conn)
	getErrand := func() error {
		_, err := errands.GetErrand(authed, &redpointv1.GetErrandRequest{Name: errand})
		return err
	}
	check := func() error {
		_, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	var best GRPCRates
	for range runs {
		for _, m := range []struct {
			call func() error
			rate *float64
			name string
		}{{getErrand, &best.GetErrand, "GetErrand"}, {check, &best.Health, "Health/Check"}} {
			r, err := callRate(callers, d, m.call)
			if err != nil {
				return best, fmt.Errorf("%s: %w", m.name, err)
			}
			*m.rate = max(*m.rate, r)
		}
	}
	return best, nil
}

// callRate runs call from callers goroutines for d and returns the calls
// answered per second; the first failure ends it.
func callRate(callers int, d time.Duration, call func() error) (float64, error) {
	if err := call(); err != nil { // a refusal shows here, not as a rate
		return 0, err
	}
	var done atomic.Int64
	var stop atomic.Bool
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	for range callers {
		wg.Go(func() {
			for !stop.Load() {
				if err := call(); err != nil {
					once.Do(func() { firstErr = err })
					stop.Store(true)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds(), firstErr
}

// grpcRates runs this program's grpc-load on core 1 and reads its rates.
func grpcRates(ctx context.Context, cfg Config, addr, token, errand string) (GRPCRates, error) {
	cmd := exec.CommandContext(ctx, "taskset", "-c", "1", cfg.Self, "grpc-load", "--addr", addr, "--token", token, "--errand", errand,
		"--callers", fmt.Sprint(cfg.Conns), "--duration", cfg.Duration.String(), "--runs", fmt.Sprint(cfg.Runs))
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return GRPCRates{}, fmt.Errorf("benchhttp: grpc-load: %w\n%s", err, stderr.Bytes())
	}
	var r GRPCRates
	return r, json.Unmarshal(b, &r)
}
