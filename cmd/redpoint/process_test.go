package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/user"
	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/objects/objectstest"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/store"
	"github.com/changzhi/redpoint/service/testutil"
)

// The outage tests run the real redpoint binary as a child process, so a
// crash is a real SIGKILL: nothing in the test process outlives it.
var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		if err := os.RemoveAll(binDir); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

// redpointBinary builds this command once per test binary.
func redpointBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "redpoint-bin-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "redpoint")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/changzhi/redpoint/cmd/redpoint").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// deployment is what a test and its redpoint processes share: the
// database, Redis and keys. The zero Redis URL is the embedded mode's
// in-process Redis, which lives and dies with the process.
type deployment struct {
	cfg app.Config
}

// sqliteDeployment is the embedded mode: an SQLite file and key files in a
// data dir of the test's own.
func sqliteDeployment(t *testing.T, redisURL string) deployment {
	cfg := app.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.RedisURL = redisURL
	return deployment{cfg: cfg}
}

// productionDeployment is PostgreSQL, Redis and an S3 bucket with keys
// from the environment, as README's Production section runs it.
func productionDeployment(t *testing.T, databaseURL, redisURL string) deployment {
	cfg := app.Defaults()
	cfg.DatabaseURL = databaseURL
	cfg.RedisURL = redisURL
	cfg.S3URL = objectstest.URL(t)
	cfg.PIIKey = pii.NewKeyringString()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand: never happens
	}
	cfg.AuthKey = base64.StdEncoding.EncodeToString(key)
	return deployment{cfg: cfg}
}

func (d deployment) env(grpcAddr, httpAddr, adminAddr string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REDPOINT_") {
			env = append(env, kv)
		}
	}
	return append(env, "REDPOINT_GRPC_ADDR="+grpcAddr, "REDPOINT_HTTP_ADDR="+httpAddr, "REDPOINT_ADMIN_ADDR="+adminAddr,
		"REDPOINT_DATA_DIR="+d.cfg.DataDir, "REDPOINT_DATABASE_URL="+d.cfg.DatabaseURL,
		"REDPOINT_REDIS_URL="+d.cfg.RedisURL, "REDPOINT_S3_URL="+d.cfg.S3URL, "REDPOINT_PII_KEY="+d.cfg.PIIKey,
		"REDPOINT_AUTH_KEY="+d.cfg.AuthKey, "REDPOINT_LOG_LEVEL=info")
}

// seed migrates (with the real command in production) and seeds a small
// demo: every region, point and account, and a few hundred errands.
func (d deployment) seed(t *testing.T, errands int) {
	t.Helper()
	ctx := context.Background()
	if d.cfg.DatabaseURL != "" {
		cmd := exec.Command(redpointBinary(t), "migrate")
		cmd.Env = d.env("127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("redpoint migrate: %v\n%s", err, out)
		}
	}
	cfg := d.cfg
	cfg.RedisURL = "" // the seed writes only the database
	a, err := app.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Close(t, a)
	if _, err := demo.Seed(ctx, a.Store.Client, a.Keys, demo.Options{Errands: errands}); err != nil {
		t.Fatal(err)
	}
}

// openStore opens the deployment's database in the test process, for the
// checks: SQLite's WAL lets it read beside a running server.
func (d deployment) openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Target(d.cfg.DatabaseURL, d.cfg.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testutil.Close(t, st) })
	return st
}

// process is one redpoint process of a deployment, on fixed addresses, so
// a restart is where its clients left it.
type process struct {
	t        *testing.T
	args     []string
	env      []string
	base     string // http://host:port
	mu       sync.Mutex
	cmd      *exec.Cmd
	log      *logBuffer
	restarts int
}

// startServe starts `redpoint serve` with flags and waits until /healthz
// is 200.
func (d deployment) startServe(t *testing.T, flags ...string) *process {
	t.Helper()
	httpAddr := freeAddr(t)
	p := &process{t: t, args: append([]string{"serve"}, flags...), env: d.env(freeAddr(t), httpAddr, freeAddr(t)), base: "http://" + httpAddr, log: &logBuffer{}}
	p.start()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("redpoint log (last 32 KiB):\n%s", p.log.tail(32<<10))
		}
	})
	return p
}

func (p *process) start() {
	p.t.Helper()
	p.mu.Lock()
	cmd := exec.Command(redpointBinary(p.t), p.args...)
	cmd.Env = p.env
	fmt.Fprintf(p.log, "--- start %d\n", p.restarts)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		p.t.Fatal(err)
	}
	p.cmd = cmd
	p.restarts++
	p.mu.Unlock()
	testutil.Eventually(p.t, 60*time.Second, "redpoint serves /healthz", func() bool {
		resp, err := http.Get(p.base + "/healthz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// kill ends the process with SIGKILL: no shutdown, no flush, as a crash or
// an OOM kill would.
func (p *process) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
			p.t.Errorf("SIGKILL: %v", err)
		}
		var exit *exec.ExitError
		if err := p.cmd.Wait(); err != nil && !errors.As(err, &exit) { // killed: an exit error
			p.t.Errorf("waiting for the killed process: %v", err)
		}
		p.cmd = nil
	}
}

var embeddedRedisAddr = regexp.MustCompile(`embedded mode: in-process Redis" addr=(\S+)`)

// embeddedRedis is the address of the running process's in-process Redis,
// from its start-up log line.
func (p *process) embeddedRedis() string {
	p.t.Helper()
	m := embeddedRedisAddr.FindAllStringSubmatch(p.log.String(), -1)
	if len(m) == 0 {
		p.t.Fatal("the log does not say where the in-process Redis listens")
	}
	return "redis://" + m[len(m)-1][1] + "/0"
}

// logBuffer is a child's output, with its last lines for failure messages.
type logBuffer struct{ apptest.LogBuffer }

func (l *logBuffer) tail(n int) string {
	str := l.String()
	return str[max(0, len(str)-n):]
}

// reply is one HTTP exchange: the status (0: no answer at all — refused,
// reset, or cut off by a crash) and the error's reason, if any.
type reply struct {
	status int
	reason string
	body   []byte
	err    error
}

func (r reply) String() string {
	if r.status == 0 {
		return fmt.Sprintf("no answer (%v)", r.err)
	}
	if r.reason != "" {
		return fmt.Sprintf("%d %s", r.status, r.reason)
	}
	return fmt.Sprint(r.status)
}

// httpClient bounds every call: a request that hangs past this is a
// failure of its own, not a slow answer.
var httpClient = &http.Client{Timeout: 20 * time.Second}

// call sends one REST request, as the app would.
func call(base, method, path, token string, body any) reply {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return reply{err: err}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{err: err} // cut off mid-answer: not an answer
	}
	r := reply{status: resp.StatusCode, body: b}
	if r.status != http.StatusOK {
		var st struct {
			Details []struct {
				Type   string `json:"@type"`
				Reason string `json:"reason"`
			} `json:"details"`
		}
		if err := json.Unmarshal(b, &st); err == nil { // an answer that is no Status has no reason
			for _, d := range st.Details {
				if strings.HasSuffix(d.Type, "ErrorInfo") {
					r.reason = d.Reason
				}
			}
		}
	}
	return r
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// login returns an access token for a demo account.
func login(t *testing.T, base, phone string) string {
	t.Helper()
	r := call(base, http.MethodPost, "/v1/auth:login", "", map[string]string{"phone": phone, "password": demo.Password})
	if r.status != http.StatusOK {
		t.Fatalf("login %s: %v %s", phone, r, r.body)
	}
	var out struct {
		AccessToken string `json:"accessToken"`
	}
	r.decode(t, &out)
	return out.AccessToken
}

// agentWithWork is a demo agent and open errands at the agent's point that
// were logged long enough ago to score when completed.
type agentWithWork struct {
	phone string
	open  []openErrand
}

type openErrand struct {
	name  string // errands/ID
	state errand.State
}

// agentsWithWork finds up to n agents with open errands logged before the
// quick-completion window, the most first.
func agentsWithWork(t *testing.T, db *ent.Client, n int) []agentWithWork {
	t.Helper()
	ctx := context.Background()
	open, err := db.Errand.Query().Where(
		errand.StateIn(errand.StateACCEPTED, errand.StateIN_PROGRESS, errand.StateFORWARDED, errand.StateNEEDS_MATERIALS),
		errand.AcceptTimeLT(time.Now().Add(-time.Hour)),
	).Order(ent.Asc(errand.FieldID)).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byAgent := map[int][]openErrand{}
	var order []int
	for _, e := range open {
		if byAgent[e.AgentID] == nil {
			order = append(order, e.AgentID)
		}
		byAgent[e.AgentID] = append(byAgent[e.AgentID], openErrand{name: fmt.Sprintf("errands/%d", e.ID), state: e.State})
	}
	var out []agentWithWork
	for _, id := range order {
		u, err := db.User.Query().Where(user.ID(id), user.Active(true)).Only(ctx)
		if err != nil {
			continue
		}
		out = append(out, agentWithWork{phone: u.Phone, open: byAgent[id]})
	}
	// The busiest first, so the burst completes as many as it can.
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].open) > len(out[j].open) })
	if len(out) < n {
		t.Fatalf("the demo has %d agents with open errands, want %d", len(out), n)
	}
	return out[:n]
}
