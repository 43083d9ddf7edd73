package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/changzhi/redpoint/service/demo"
)

// world is who acts: logged-in agents and secretaries, and residents
// with an errand each, every one from an address of their own.
type world struct {
	cfg         Config
	http        *http.Client
	lb          *balancer
	ledger      *ledger
	run         string // tells this run's request ids from another's
	agents      []*staff
	secretaries []*staff
	residents   []*resident
	mu          sync.Mutex
	created     int64
	moves       int64
}

type staff struct {
	token, addr, region string
	user                string // users/{id}
	point               string // an agent's servicePoints/{id}
	mu                  sync.Mutex
	open                []openErrand // not yet completed
}

type openErrand struct {
	name    string // errands/{id}
	started bool
}

type resident struct {
	token, addr, phone string
	mu                 sync.Mutex
	code, etag         string
}

// the errand types the agents log, as the demo catalog names them
var errandTypes = []string{"SI-PENSION-CERT", "MI-PAYMENT", "SI-PENSION-ENROLL"}

// address gives actor n an address of its own (TEST-NET-2 and 3).
func address(kind, n int) string {
	return fmt.Sprintf("198.%d.%d.%d", 51+kind, n/250%250, 1+n%250)
}

// httpError is an answer the set-up did not expect, with what the server said.
type httpError struct {
	what string
	code int
	body string
}

func (e *httpError) Error() string { return fmt.Sprintf("%s: HTTP %d %s", e.what, e.code, e.body) }

func setUp(ctx context.Context, cfg Config, progress io.Writer) (*world, error) {
	w := &world{cfg: cfg, http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.MaxInFlight}},
		lb: newBalancer(cfg.Targets), ledger: newLedger(), run: fmt.Sprintf("%x", time.Now().UnixNano())}
	// Demo agents are 13700000001 on; a few of those numbers went to the
	// named demo agents, so some logins fail.
	var lastErr error
	for n := 1; len(w.agents) < cfg.Agents && n <= cfg.Agents*2+10; n++ {
		a, err := w.login(ctx, fmt.Sprintf("137%08d", n), address(0, n))
		if err != nil {
			lastErr = err
			var he *httpError
			if !errors.As(err, &he) || he.code != http.StatusUnauthorized {
				break // not a missing account: the server is away or refusing
			}
			continue
		}
		w.agents = append(w.agents, a)
	}
	if len(w.agents) < cfg.Agents {
		return nil, fmt.Errorf("loadgen: %d of %d demo agents logged in at %s (is it serving the demo?): %w", len(w.agents), cfg.Agents, strings.Join(cfg.Targets, ", "), lastErr)
	}
	for i, phone := range secretaries {
		s, err := w.login(ctx, phone, address(1, i))
		if err != nil {
			return nil, fmt.Errorf("loadgen: %w", err)
		}
		w.secretaries = append(w.secretaries, s)
	}
	w.residents = make([]*resident, cfg.Residents)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range w.residents {
		g.Go(func() error {
			r, err := w.newResident(gctx, i)
			w.residents[i] = r
			if (i+1)%500 == 0 && progress != nil {
				fmt.Fprintf(progress, "  %d residents ready\n", i+1)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("loadgen: residents: %w", err)
	}
	return w, nil
}

// login logs a staff member in with the demo password, from addr.
func (w *world) login(ctx context.Context, phone, addr string) (*staff, error) {
	var s struct {
		AccessToken string `json:"accessToken"`
		User        struct {
			Name         string `json:"name"`
			Region       string `json:"region"`
			ServicePoint string `json:"servicePoint"`
		} `json:"user"`
	}
	if err := w.expect(ctx, "login "+phone, http.MethodPost, "/v1/auth:login", "", addr, map[string]string{"phone": phone, "password": demo.Password}, &s); err != nil {
		return nil, err
	}
	return &staff{token: s.AccessToken, addr: addr, region: s.User.Region, user: s.User.Name, point: s.User.ServicePoint}, nil
}

// newResident logs resident n in through the demo WeChat fake, binds a
// phone and has an agent log an errand for them to follow.
func (w *world) newResident(ctx context.Context, n int) (*resident, error) {
	r := &resident{addr: address(2, n), phone: fmt.Sprintf("1990%07d", n)}
	var s struct {
		AccessToken string `json:"accessToken"`
	}
	if err := w.expect(ctx, "resident login (is the demo WeChat fake running?)", http.MethodPost, "/v1/residents:wechatLogin", "", r.addr,
		map[string]string{"code": "demo-load-" + r.phone}, &s); err != nil {
		return nil, err
	}
	r.token = s.AccessToken
	if err := w.expect(ctx, "bind phone", http.MethodPost, "/v1/residents/me:bindPhone", r.token, r.addr, map[string]string{"phoneCode": "phone-" + r.phone}, nil); err != nil {
		return nil, err
	}
	code, x, err := w.create(ctx, w.agents[n%len(w.agents)], r)
	if err != nil {
		return nil, fmt.Errorf("seed errand: HTTP %d %w", code, err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("seed errand: HTTP %d", code)
	}
	r.code = x
	return r, nil
}

// expect makes a set-up call that must succeed.
func (w *world) expect(ctx context.Context, what, method, path, token, addr string, body, out any) error {
	code, msg, err := w.do(ctx, method, path, token, addr, "", body, out)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if code != http.StatusOK {
		return &httpError{what: what, code: code, body: msg}
	}
	return nil
}

// create has agent a log an errand for r and returns its tracking code.
func (w *world) create(ctx context.Context, a *staff, r *resident) (int, string, error) {
	w.mu.Lock()
	w.created++
	n := w.created
	w.mu.Unlock()
	var x struct {
		Name         string `json:"name"`
		TrackingCode string `json:"trackingCode"`
	}
	body := map[string]string{"errandType": "errandTypes/" + errandTypes[int(n)%len(errandTypes)], "residentName": "张三", "residentPhone": r.phone}
	code, _, err := w.do(ctx, http.MethodPost, fmt.Sprintf("/v1/errands?requestId=load-%s-%d", w.run, n), a.token, a.addr, "", body, &x)
	w.ledger.create(a, x.Name, code, err)
	if err == nil && code == http.StatusOK {
		a.mu.Lock()
		a.open = append(a.open, openErrand{name: x.Name})
		a.mu.Unlock()
	}
	return code, x.TrackingCode, err
}

// timed runs one request of op, retries included, and records it, unless
// the run was cut short under it.
func (w *world) timed(ctx context.Context, rec *recorder, op string, call func(ctx context.Context) (int, error)) int {
	began := time.Now()
	var retries int
	code, err := call(withRetryCount(ctx, &retries))
	if ctx.Err() == nil {
		rec.add(op, time.Since(began), code, err, retries)
	}
	return code
}

type runner func(ctx context.Context, w *world, rng *rand.Rand, rec *recorder)

var runners = map[string]runner{
	OpLookup: func(ctx context.Context, w *world, rng *rand.Rand, rec *recorder) {
		r := w.residents[rng.IntN(len(w.residents))]
		w.timed(ctx, rec, OpLookup, func(ctx context.Context) (int, error) {
			code, _, err := w.do(ctx, http.MethodPost, "/v1/errands:lookup", "", r.addr, "", map[string]string{"trackingCode": r.code, "phoneLast4": r.phone[7:]}, nil)
			return code, err
		})
	},
	OpMyErrands: func(ctx context.Context, w *world, rng *rand.Rand, rec *recorder) {
		r := w.residents[rng.IntN(len(w.residents))]
		r.mu.Lock()
		etag := r.etag
		r.mu.Unlock()
		var page etagged
		if w.timed(ctx, rec, OpMyErrands, func(ctx context.Context) (int, error) {
			code, _, err := w.do(ctx, http.MethodGet, "/v1/residents/me/errands", r.token, r.addr, etag, nil, &page)
			return code, err
		}) == http.StatusOK {
			r.mu.Lock()
			r.etag = page.etag
			r.mu.Unlock()
		}
	},
	OpGetErrand: func(ctx context.Context, w *world, rng *rand.Rand, rec *recorder) {
		a := w.agents[rng.IntN(len(w.agents))]
		e, ok := a.pick(rng)
		if !ok {
			w.listErrands(ctx, rec, a)
			return
		}
		w.timed(ctx, rec, OpGetErrand, func(ctx context.Context) (int, error) {
			code, _, err := w.do(ctx, http.MethodGet, "/v1/"+e.name, a.token, a.addr, "", nil, nil)
			return code, err
		})
	},
	OpCreate: func(ctx context.Context, w *world, rng *rand.Rand, rec *recorder) {
		a, r := w.agents[rng.IntN(len(w.agents))], w.residents[rng.IntN(len(w.residents))]
		w.timed(ctx, rec, OpCreate, func(ctx context.Context) (int, error) {
			code, _, err := w.create(ctx, a, r)
			return code, err
		})
	},
	OpTransition: func(ctx context.Context, w *world, rng *rand.Rand, rec *recorder) {
		a := w.agents[rng.IntN(len(w.agents))]
		e, ok := a.take()
		if !ok {
			w.listErrands(ctx, rec, a)
			return
		}
		w.mu.Lock()
		w.moves++
		id := fmt.Sprintf("load-%s-m%d", w.run, w.moves)
		w.mu.Unlock()
		verb, state, body := ":start", "ERRAND_STATE_IN_PROGRESS", map[string]string{"note": "已送县里办理", "requestId": id}
		if e.started {
			verb, state, body = ":complete", "ERRAND_STATE_COMPLETED", map[string]string{"result": "已办结", "requestId": id}
		}
		if w.timed(ctx, rec, OpTransition, func(ctx context.Context) (int, error) {
			code, _, err := w.do(ctx, http.MethodPost, "/v1/"+e.name+verb, a.token, a.addr, "", body, nil)
			w.ledger.move(e.name, state, code, err)
			return code, err
		}) == http.StatusOK && !e.started {
			a.mu.Lock()
			a.open = append(a.open, openErrand{name: e.name, started: true}) // to be completed later
			a.mu.Unlock()
		}
	},
	OpWorkload: func(ctx context.Context, w *world, rng *rand.Rand, rec *recorder) {
		s := w.secretaries[rng.IntN(len(w.secretaries))]
		w.timed(ctx, rec, OpWorkload, func(ctx context.Context) (int, error) {
			code, _, err := w.do(ctx, http.MethodGet, "/v1/"+s.region+"/workload?groupBy=AGENT", s.token, s.addr, "", nil, nil)
			return code, err
		})
	},
	OpLeaderboard: func(ctx context.Context, w *world, rng *rand.Rand, rec *recorder) {
		s := w.secretaries[rng.IntN(len(w.secretaries))]
		w.timed(ctx, rec, OpLeaderboard, func(ctx context.Context) (int, error) {
			code, _, err := w.do(ctx, http.MethodGet, "/v1/regions/140400000000/leaderboard?pageSize=20", s.token, s.addr, "", nil, nil)
			return code, err
		})
	},
}

func (w *world) listErrands(ctx context.Context, rec *recorder, a *staff) {
	w.timed(ctx, rec, OpListErrands, func(ctx context.Context) (int, error) {
		code, _, err := w.do(ctx, http.MethodGet, "/v1/errands?pageSize=20", a.token, a.addr, "", nil, nil)
		return code, err
	})
}

// etagged keeps a poll's ETag for the next one.
type etagged struct{ etag string }

// pick returns one of the agent's open errands; take removes it.
func (s *staff) pick(rng *rand.Rand) (openErrand, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.open) == 0 {
		return openErrand{}, false
	}
	return s.open[rng.IntN(len(s.open))], true
}

func (s *staff) take() (openErrand, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.open) == 0 {
		return openErrand{}, false
	}
	e := s.open[0]
	s.open = s.open[1:]
	return e, true
}
