package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/changzhi/redpoint/ent/region"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/store"
	"github.com/changzhi/redpoint/service/testutil"
)

func TestBadConfigNamesTheSetting(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"grpc addr flag", []string{"serve", "--grpc-addr", "nonsense"}, nil, "REDPOINT_GRPC_ADDR"},
		{"http addr env", []string{"serve"}, map[string]string{"REDPOINT_HTTP_ADDR": "8080"}, "REDPOINT_HTTP_ADDR"},
		{"database url", []string{"migrate", "--database-url", "mysql://x"}, nil, "REDPOINT_DATABASE_URL"},
		{"redis url", []string{"serve"}, map[string]string{"REDPOINT_REDIS_URL": "localhost:6379"}, "REDPOINT_REDIS_URL"},
		{"log level", []string{"serve", "--log-level", "loud"}, nil, "REDPOINT_LOG_LEVEL"},
		{"bad pii key", []string{"seed", "--demo"}, map[string]string{"REDPOINT_PII_KEY": "k1:short"}, "REDPOINT_PII_KEY"},
		{"production without pii key", []string{"serve"}, map[string]string{"REDPOINT_DATABASE_URL": "postgres://postgres@127.0.0.1:1/none",
			"REDPOINT_S3_URL": "http://ak:sk@127.0.0.1:1/redpoint?lookup=path"}, "REDPOINT_PII_KEY"},
		{"production without a bucket", []string{"serve"}, map[string]string{"REDPOINT_DATABASE_URL": "postgres://postgres@127.0.0.1:1/none"}, "REDPOINT_S3_URL"},
		{"bad s3 url", []string{"serve"}, map[string]string{"REDPOINT_S3_URL": "ftp://ak:sk@host/bucket"}, "REDPOINT_S3_URL"},
		{"s3 url without a secret", []string{"serve"}, map[string]string{"REDPOINT_S3_URL": "https://ak@host/bucket"}, "REDPOINT_S3_URL"},
		{"retention not a number", []string{"serve"}, map[string]string{"REDPOINT_ATTACHMENT_RETENTION_DAYS": "thirty"}, "REDPOINT_ATTACHMENT_RETENTION_DAYS"},
		{"retention within the reopen window", []string{"serve"}, map[string]string{"REDPOINT_ATTACHMENT_RETENTION_DAYS": "7"}, "REDPOINT_ATTACHMENT_RETENTION_DAYS"},
		{"replica with the embedded SQLite", []string{"serve", "--database-replica-url", "postgres://postgres@127.0.0.1:5433/test"}, nil, "REDPOINT_DATABASE_REPLICA_URL"},
		{"replica of a SQLite URL", []string{"migrate"}, map[string]string{"REDPOINT_DATABASE_URL": "sqlite:/tmp/x.db",
			"REDPOINT_DATABASE_REPLICA_URL": "postgres://postgres@127.0.0.1:5433/test"}, "REDPOINT_DATABASE_REPLICA_URL"},
		{"replica not PostgreSQL", []string{"serve"}, map[string]string{"REDPOINT_DATABASE_URL": "postgres://postgres@127.0.0.1:1/none",
			"REDPOINT_DATABASE_REPLICA_URL": "sqlite:/tmp/x.db"}, "REDPOINT_DATABASE_REPLICA_URL"},
		{"replica lag not a duration", []string{"serve"}, map[string]string{"REDPOINT_DATABASE_REPLICA_MAX_LAG": "ten"}, "REDPOINT_DATABASE_REPLICA_MAX_LAG"},
		{"replica lag too long", []string{"serve", "--database-replica-max-lag", "1h"}, nil, "REDPOINT_DATABASE_REPLICA_MAX_LAG"},
		{"unknown command", []string{"frobnicate"}, nil, "unknown command"},
		{"seed needs --demo", []string{"seed"}, nil, "--demo"},
		{"seed demo or scale", []string{"seed", "--demo", "--scale", "city"}, nil, "not both"},
		{"seed unknown scale", []string{"seed", "--scale", "county"}, nil, "--scale"},
		{"seed a province on sqlite", []string{"seed", "--scale", "province"}, nil, "PostgreSQL"},
		{"no command", nil, nil, "no command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("REDPOINT_DATA_DIR", t.TempDir())
			t.Setenv("REDPOINT_GRPC_ADDR", "127.0.0.1:0")
			t.Setenv("REDPOINT_HTTP_ADDR", "127.0.0.1:0")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, strings.NewReader(""), &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run(%v) error = %v, want one naming %s", tc.args, err, tc.want)
			}
		})
	}
}

// TestDemoListensOnLoopbackUnlessTold: serve --demo keeps REST and gRPC on
// 127.0.0.1 unless a flag or variable names an address; without --demo the
// defaults (every interface) stand.
func TestDemoListensOnLoopbackUnlessTold(t *testing.T) {
	cases := []struct {
		name       string
		demo       bool
		args       []string
		env        map[string]string
		http, grpc string
		moved      int // addresses the start-up log names as moved to loopback
	}{
		{"demo, nothing given", true, nil, nil, "127.0.0.1:8080", "127.0.0.1:9090", 2},
		{"demo, http flag", true, []string{"--http-addr", ":8080"}, nil, ":8080", "127.0.0.1:9090", 1},
		{"demo, grpc env", true, nil, map[string]string{"REDPOINT_GRPC_ADDR": "0.0.0.0:9999"}, "127.0.0.1:8080", "0.0.0.0:9999", 1},
		{"demo, both given", true, []string{"--grpc-addr", ":9090"}, map[string]string{"REDPOINT_HTTP_ADDR": ":8080"}, ":8080", ":9090", 0},
		{"production, nothing given", false, nil, nil, ":8080", ":9090", 0},
		{"production, http flag", false, []string{"--http-addr", "10.0.0.5:80"}, nil, "10.0.0.5:80", ":9090", 0},
		{"production, grpc env", false, nil, map[string]string{"REDPOINT_GRPC_ADDR": "127.0.0.1:7000"}, ":8080", "127.0.0.1:7000", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"REDPOINT_HTTP_ADDR", "REDPOINT_GRPC_ADDR"} {
				t.Setenv(k, "") // restored after the test
				if err := os.Unsetenv(k); err != nil {
					t.Fatal(err)
				}
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			fs := flag.NewFlagSet("redpoint serve", flag.ContinueOnError)
			cfg := configFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			moved := keepDemoOnLoopback(cfg, fs, tc.demo)
			if cfg.HTTPAddr != tc.http || cfg.GRPCAddr != tc.grpc {
				t.Errorf("http %q grpc %q, want %q and %q", cfg.HTTPAddr, cfg.GRPCAddr, tc.http, tc.grpc)
			}
			if len(moved) != 2*tc.moved { // name, address pairs
				t.Errorf("log attributes %v, want %d moved addresses", moved, tc.moved)
			}
		})
	}
}

// TestServeMigrateAndShutdown runs the real command: migrate, then serve in
// embedded mode until cancelled, which must shut down cleanly: no error
// returned and no ERROR line, once the scheduler leads as in every demo.
func TestServeMigrateAndShutdown(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("REDPOINT_DATA_DIR", dir)
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"migrate"}, nil, &out, &errOut); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errOut.String())
	}
	httpAddr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs apptest.LogBuffer
	go func() {
		done <- run(ctx, []string{"serve", "--grpc-addr", freeAddr(t), "--http-addr", httpAddr, "--admin-addr", freeAddr(t)}, nil, &out, &logs)
	}()
	// serve stops on every path, and a failure shows its log.
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("serve did not stop after cancel")
		}
	}
	defer func() {
		stop()
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	}()
	testutil.EventuallyNoError(t, 10*time.Second, "the server became healthy", func() error {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/healthz: %d", resp.StatusCode)
		}
		return nil
	})
	testutil.Eventually(t, 10*time.Second, "the scheduler leads", func() bool {
		return strings.Contains(logs.String(), "scheduler leading")
	})
	stop()
	if line := errorLine(logs.String()); line != "" {
		t.Errorf("a clean stop logged an error: %s", line)
	}
	if !strings.Contains(logs.String(), "mode=embedded") {
		t.Errorf("log does not say it runs in embedded mode:\n%s", logs.String())
	}
	if matches, err := filepath.Glob(filepath.Join(dir, "redpoint.db")); err != nil || len(matches) != 1 {
		t.Errorf("no SQLite file in the data dir (%v)", err)
	}
}

// TestServeStopsCleanlyOnSIGINT is Ctrl-C on the real binary: it exits 0
// with no ERROR line, so a demo's stop does not read as a crash.
func TestServeStopsCleanlyOnSIGINT(t *testing.T) {
	testutil.EmbeddedRunOnly(t)
	p := sqliteDeployment(t, "").startServe(t)
	testutil.Eventually(t, 10*time.Second, "the scheduler leads", func() bool {
		return strings.Contains(p.log.String(), "scheduler leading")
	})
	p.mu.Lock()
	cmd := p.cmd
	p.cmd = nil // stopped here, not killed by the cleanup
	p.mu.Unlock()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGINT: %v, want exit status 0", err)
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("serve did not stop after SIGINT")
	}
	if line := errorLine(p.log.String()); line != "" {
		t.Errorf("a clean stop logged an error: %s", line)
	}
}

// errorLine is the first ERROR line of a log, or "".
func errorLine(log string) string {
	for line := range strings.Lines(log) {
		if strings.Contains(line, "level=ERROR") {
			return line
		}
	}
	return ""
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Close(t, l)
	return l.Addr().String()
}

// TestUserCreateBootstrap seeds the demo, then creates a city admin from
// the CLI with the password on standard input, and checks it can't reuse
// a phone.
func TestUserCreateBootstrap(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("REDPOINT_DATA_DIR", dir)
	ctx := context.Background()
	var out, errOut bytes.Buffer
	// A new deployment: migrated, with its city's division and no account
	// yet. (Seeding the whole demo for this took four minutes under -race.)
	if err := run(ctx, []string{"migrate"}, nil, &out, &errOut); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errOut.String())
	}
	st, err := store.Open(ctx, store.Target("", dir))
	if err != nil {
		t.Fatal(err)
	}
	st.Client.Region.Create().SetID("140400000000").SetName("长治市").SetLevel(region.LevelCITY).ExecX(ctx)
	testutil.Close(t, st)
	args := []string{"user", "create", "--role", "CITY_ADMIN", "--region", "140400000000", "--phone", "13811112222", "--name", "王市管", "--password-stdin"}
	if err := run(ctx, args, strings.NewReader("a-strong-password\n"), &out, &errOut); err != nil {
		t.Fatalf("user create: %v", err)
	}
	if !strings.Contains(out.String(), "CITY_ADMIN") || !strings.Contains(out.String(), "13811112222") {
		t.Errorf("output %q", out.String())
	}
	if err := run(ctx, args, strings.NewReader("a-strong-password\n"), &out, &errOut); err == nil || !strings.Contains(err.Error(), "手机号已有账号") {
		t.Errorf("a second account with the phone: %v", err)
	}
	short := []string{"user", "create", "--role", "CITY_ADMIN", "--region", "140400000000", "--phone", "13811113333", "--password-stdin"}
	if err := run(ctx, short, strings.NewReader("short\n"), &out, &errOut); err == nil {
		t.Error("a 5-character password was accepted")
	}
	if err := run(ctx, []string{"user", "create", "--role", "CITY_ADMIN", "--phone", "13811114444"}, nil, &out, &errOut); err == nil || !strings.Contains(err.Error(), "--password-stdin") {
		t.Errorf("no --password-stdin: %v", err)
	}
}
