package wechat

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
)

// Fake is a loopback WeChat server with the same paths and JSON shapes, for
// tests and `serve --demo`. Login code "demo-<x>" is openid "demo-<x>";
// phone code "phone-<11 digits>" is that number; anything else is 40029.
type Fake struct {
	AppID, Secret string

	mu       sync.Mutex
	tokens   map[string]bool
	fail     map[string][]int // path → errcodes to answer next, in order
	refused  map[string]bool  // openids that refuse subscribe messages
	Sent     []SentMessage
	TokenHit int // stable_token calls
}

// SentMessage is a subscribe message the fake accepted.
type SentMessage struct {
	ToUser     string                       `json:"touser"`
	TemplateID string                       `json:"template_id"`
	Page       string                       `json:"page"`
	Data       map[string]map[string]string `json:"data"`
}

// NewFake returns a fake for one mini-program.
func NewFake(appID, secret string) *Fake {
	return &Fake{AppID: appID, Secret: secret, tokens: map[string]bool{}, fail: map[string][]int{}, refused: map[string]bool{}}
}

// FailNext makes the next call to path answer errcode (queued).
func (f *Fake) FailNext(path string, errcode int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[path] = append(f.fail[path], errcode)
}

// Refuse makes subscribe messages to openid answer 43101.
func (f *Fake) Refuse(openid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refused[openid] = true
}

// InvalidateTokens expires every token issued (WeChat then answers 40001).
func (f *Fake) InvalidateTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = map[string]bool{}
}

// Messages returns a copy of what was sent.
func (f *Fake) Messages() []SentMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SentMessage(nil), f.Sent...)
}

// TokenCalls is how many stable_token calls were made.
func (f *Fake) TokenCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.TokenHit
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func errcode(w http.ResponseWriter, code int, msg string) {
	reply(w, map[string]any{"errcode": code, "errmsg": msg})
}

// injected pops a queued failure for path.
func (f *Fake) injected(path string) (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.fail[path]
	if len(q) == 0 {
		return 0, false
	}
	f.fail[path] = q[1:]
	return q[0], true
}

func (f *Fake) validToken(r *http.Request) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens[r.URL.Query().Get("access_token")]
}

// ServeHTTP implements the four endpoints.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if code, ok := f.injected(r.URL.Path); ok {
		errcode(w, code, "injected by the fake")
		return
	}
	switch r.URL.Path {
	case "/sns/jscode2session":
		q := r.URL.Query()
		if q.Get("appid") != f.AppID || q.Get("secret") != f.Secret {
			errcode(w, 40125, "invalid appsecret")
			return
		}
		code := q.Get("js_code")
		if !strings.HasPrefix(code, "demo-") || len(code) > 64 {
			errcode(w, CodeInvalidCode, "invalid code")
			return
		}
		reply(w, map[string]any{"openid": code, "session_key": "fake-session-key", "errcode": 0})
	case "/cgi-bin/stable_token":
		var body struct {
			AppID  string `json:"appid"`
			Secret string `json:"secret"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body.AppID != f.AppID || body.Secret != f.Secret {
			errcode(w, 40125, "invalid appsecret")
			return
		}
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		tok := hex.EncodeToString(b)
		f.mu.Lock()
		f.tokens[tok] = true
		f.TokenHit++
		f.mu.Unlock()
		reply(w, map[string]any{"access_token": tok, "expires_in": 7200})
	case "/cgi-bin/message/subscribe/send":
		if !f.validToken(r) {
			errcode(w, CodeInvalidCredential, "invalid credential, access_token is invalid or not latest")
			return
		}
		var m SentMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.ToUser == "" || m.TemplateID == "" {
			errcode(w, 47003, "argument invalid")
			return
		}
		f.mu.Lock()
		refused := f.refused[m.ToUser]
		if !refused {
			f.Sent = append(f.Sent, m)
		}
		f.mu.Unlock()
		if refused {
			errcode(w, CodeRefused, "user refuse to accept the msg")
			return
		}
		errcode(w, 0, "ok")
	case "/wxa/business/getuserphonenumber":
		if !f.validToken(r) {
			errcode(w, CodeInvalidCredential, "invalid credential, access_token is invalid or not latest")
			return
		}
		var body struct {
			Code string `json:"code"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		phone, ok := strings.CutPrefix(body.Code, "phone-")
		if !ok || len(phone) != 11 {
			errcode(w, CodeInvalidCode, "invalid code")
			return
		}
		reply(w, map[string]any{"errcode": 0, "errmsg": "ok", "phone_info": map[string]any{
			"phoneNumber": phone, "purePhoneNumber": phone, "countryCode": "86",
			"watermark": map[string]any{"appid": f.AppID, "timestamp": 0},
		}})
	default:
		http.NotFound(w, r)
	}
}
