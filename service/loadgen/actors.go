package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/changzhi/redpoint/service/demo"
)

// world is who acts: logged-in agents and secretaries, and residents
// with an errand each, every one from an address of their own.
type world struct {
	cfg         Config
	http        *http.Client
	run         string // tells this run's request ids from another's
	agents      []*staff
	secretaries []*staff
	staffToken  string // any staff token, for the leaderboard
	residents   []*resident
	created     int64
	mu          sync.Mutex
}

type staff struct {
	token, addr, region string
	mu                  sync.Mutex
	open                []string // errands/{id} not yet completed
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

func setUp(ctx context.Context, cfg Config) (*world, error) {
	w := &world{cfg: cfg, http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.MaxInFlight}},
		run: fmt.Sprintf("%x", time.Now().UnixNano())}
	login := func(phone, addr string) (*staff, error) {
		var s struct {
			AccessToken string `json:"accessToken"`
			User        struct {
				Region string `json:"region"`
			} `json:"user"`
		}
		code, err := w.call(ctx, http.MethodPost, "/v1/auth:login", "", addr, "", map[string]string{"phone": phone, "password": demo.Password}, &s)
		if err != nil || code != http.StatusOK {
			return nil, fmt.Errorf("loadgen: login %s: %d %v", phone, code, err)
		}
		return &staff{token: s.AccessToken, addr: addr, region: s.User.Region}, nil
	}
	// Demo agents are 13700000001 on (a few replaced by the named ones).
	for n := 1; len(w.agents) < cfg.Agents && n < cfg.Agents*2+10; n++ {
		a, err := login(fmt.Sprintf("137%08d", n), address(0, n))
		if err == nil {
			w.agents = append(w.agents, a)
		}
	}
	if len(w.agents) == 0 {
		return nil, fmt.Errorf("loadgen: no demo agent could log in at %s (is it serving the demo?)", cfg.Target)
	}
	for i, phone := range secretaries {
		s, err := login(phone, address(1, i))
		if err != nil {
			return nil, err
		}
		w.secretaries = append(w.secretaries, s)
	}
	w.staffToken = w.secretaries[0].token
	for i := 0; i < cfg.Residents; i++ {
		r := &resident{addr: address(2, i), phone: fmt.Sprintf("1990%07d", i)}
		var s struct {
			AccessToken string `json:"accessToken"`
		}
		code, err := w.call(ctx, http.MethodPost, "/v1/residents:wechatLogin", "", r.addr, "", map[string]string{"code": "demo-load-" + r.phone}, &s)
		if err != nil || code != http.StatusOK {
			return nil, fmt.Errorf("loadgen: resident login: %d %v (is the demo WeChat fake running?)", code, err)
		}
		r.token = s.AccessToken
		if code, err := w.call(ctx, http.MethodPost, "/v1/residents/me:bindPhone", r.token, r.addr, "", map[string]string{"phoneCode": "phone-" + r.phone}, nil); err != nil || code != http.StatusOK {
			return nil, fmt.Errorf("loadgen: bind phone: %d %v", code, err)
		}
		// Each resident has an errand to follow from the start.
		code, x, err := w.create(ctx, w.agents[i%len(w.agents)], r)
		if err != nil || code != http.StatusOK {
			return nil, fmt.Errorf("loadgen: seed errand: %d %v", code, err)
		}
		r.code = x
		w.residents = append(w.residents, r)
	}
	return w, nil
}

// create has agent a log an errand for r and returns its tracking code.
func (w *world) create(ctx context.Context, a *staff, r *resident) (int, string, error) {
	w.mu.Lock()
	w.created++
	id := fmt.Sprintf("load-%s-%d", w.run, w.created)
	w.mu.Unlock()
	var x struct {
		Name         string `json:"name"`
		TrackingCode string `json:"trackingCode"`
	}
	body := map[string]string{"errandType": "errandTypes/" + errandTypes[int(w.created)%len(errandTypes)], "residentName": "张三", "residentPhone": r.phone}
	code, err := w.call(ctx, http.MethodPost, "/v1/errands?requestId="+id, a.token, a.addr, "", body, &x)
	if err == nil && code == http.StatusOK {
		a.mu.Lock()
		a.open = append(a.open, x.Name)
		a.mu.Unlock()
	}
	return code, x.TrackingCode, err
}

// call sends one request as the client at addr and decodes a 200's body
// into out; it returns the status.
func (w *world) call(ctx context.Context, method, path, token, addr, etag string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(w.cfg.Target, "/")+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, err
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if out == nil || resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	if e, ok := out.(interface{ setETag(string) }); ok {
		e.setETag(resp.Header.Get("ETag"))
	}
	return resp.StatusCode, nil
}

type runner func(ctx context.Context, w *world, rng *rand.Rand) (int, error)

var runners = map[string]runner{
	OpLookup: func(ctx context.Context, w *world, rng *rand.Rand) (int, error) {
		r := w.residents[rng.IntN(len(w.residents))]
		return w.call(ctx, http.MethodPost, "/v1/errands:lookup", "", r.addr, "", map[string]string{"trackingCode": r.code, "phoneLast4": r.phone[7:]}, nil)
	},
	OpMyErrands: func(ctx context.Context, w *world, rng *rand.Rand) (int, error) {
		r := w.residents[rng.IntN(len(w.residents))]
		r.mu.Lock()
		etag := r.etag
		r.mu.Unlock()
		var page etagged
		code, err := w.call(ctx, http.MethodGet, "/v1/residents/me/errands", r.token, r.addr, etag, nil, &page)
		if code == http.StatusOK {
			r.mu.Lock()
			r.etag = page.etag
			r.mu.Unlock()
		}
		return code, err
	},
	OpGetErrand: func(ctx context.Context, w *world, rng *rand.Rand) (int, error) {
		a := w.agents[rng.IntN(len(w.agents))]
		name, ok := a.pick(rng)
		if !ok {
			return w.call(ctx, http.MethodGet, "/v1/errands?pageSize=1", a.token, a.addr, "", nil, nil)
		}
		return w.call(ctx, http.MethodGet, "/v1/"+name, a.token, a.addr, "", nil, nil)
	},
	OpCreate: func(ctx context.Context, w *world, rng *rand.Rand) (int, error) {
		code, _, err := w.create(ctx, w.agents[rng.IntN(len(w.agents))], w.residents[rng.IntN(len(w.residents))])
		return code, err
	},
	OpTransition: func(ctx context.Context, w *world, rng *rand.Rand) (int, error) {
		a := w.agents[rng.IntN(len(w.agents))]
		name, ok := a.take()
		if !ok {
			return w.call(ctx, http.MethodGet, "/v1/errands?pageSize=1", a.token, a.addr, "", nil, nil)
		}
		var x struct {
			State string `json:"state"`
		}
		code, err := w.call(ctx, http.MethodGet, "/v1/"+name, a.token, a.addr, "", nil, &x)
		if err != nil || code != http.StatusOK {
			return code, err
		}
		verb, body := ":start", map[string]string{"note": "已送县里办理"}
		if x.State == "ERRAND_STATE_IN_PROGRESS" {
			verb, body = ":complete", map[string]string{"result": "已办结"}
		}
		code, err = w.call(ctx, http.MethodPost, "/v1/"+name+verb, a.token, a.addr, "", body, nil)
		if verb == ":start" && code == http.StatusOK {
			a.mu.Lock()
			a.open = append(a.open, name) // to be completed later
			a.mu.Unlock()
		}
		return code, err
	},
	OpWorkload: func(ctx context.Context, w *world, rng *rand.Rand) (int, error) {
		s := w.secretaries[rng.IntN(len(w.secretaries))]
		return w.call(ctx, http.MethodGet, "/v1/"+s.region+"/workload?groupBy=AGENT", s.token, s.addr, "", nil, nil)
	},
	OpLeaderboard: func(ctx context.Context, w *world, rng *rand.Rand) (int, error) {
		return w.call(ctx, http.MethodGet, "/v1/regions/140400000000/leaderboard?pageSize=20", w.staffToken, w.secretaries[0].addr, "", nil, nil)
	},
}

// etagged keeps a poll's ETag for the next one.
type etagged struct{ etag string }

func (e *etagged) setETag(s string) { e.etag = s }

// pick returns one of the agent's open errands; take removes it.
func (s *staff) pick(rng *rand.Rand) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.open) == 0 {
		return "", false
	}
	return s.open[rng.IntN(len(s.open))], true
}

func (s *staff) take() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.open) == 0 {
		return "", false
	}
	name := s.open[0]
	s.open = s.open[1:]
	return name, true
}
