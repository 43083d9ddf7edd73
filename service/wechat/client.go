// Package wechat speaks WeChat's mini-program server API over HTTP:
// code-to-session login, the stable access token (one refresher at a time
// across replicas, through a Redis lock), subscribe messages and the phone
// number exchange. fake.go is a loopback stand-in with the same paths.
package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/changzhi/redpoint/service/kv"
)

// Error codes the client treats specially.
const (
	CodeInvalidCredential = 40001 // the access token is invalid
	CodeInvalidCode       = 40029 // a login or phone code is invalid or used
	CodeTokenExpired      = 42001
	CodeRefused           = 43101 // the user refused (or used up) subscribe messages
	CodeRateLimited       = 45011
)

// APIError is an errcode WeChat answered with.
type APIError struct {
	Code int
	Msg  string
}

func (e *APIError) Error() string { return fmt.Sprintf("wechat: errcode %d: %s", e.Code, e.Msg) }

// Code reports the WeChat errcode of err, or 0.
func Code(err error) int {
	var e *APIError
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// Permanent reports whether retrying err can't help: a bad code, or a
// user who refused messages.
func Permanent(err error) bool {
	switch Code(err) {
	case CodeInvalidCode, CodeRefused:
		return true
	}
	return false
}

// Config is where and who: REDPOINT_WECHAT_BASE_URL, _APP_ID, _APP_SECRET.
type Config struct {
	BaseURL string // https://api.weixin.qq.com in production
	AppID   string
	Secret  string
}

// Client calls the WeChat server API.
type Client struct {
	cfg  Config
	http *http.Client
	kv   *kv.KV
}

// New returns a client that shares its access token through k.
func New(cfg Config, k *kv.KV) *Client {
	return &Client{cfg: cfg, http: &http.Client{Timeout: 10 * time.Second}, kv: k}
}

// call POSTs (or GETs when body is nil) and decodes the answer into out;
// an errcode other than 0 is an *APIError.
func (c *Client) call(ctx context.Context, path string, query url.Values, body, out any) error {
	u := strings.TrimRight(c.cfg.BaseURL, "/") + path + "?" + query.Encode()
	method, reader := http.MethodGet, io.Reader(nil)
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		method, reader = http.MethodPost, bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, reader)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("wechat %s: %w", path, err)
	}
	defer func() { _ = resp.Body.Close() }() // read to the end or the limit; nothing to report
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("wechat %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("wechat %s: HTTP %d", path, resp.StatusCode)
	}
	var status struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(raw, &status); err != nil {
		return fmt.Errorf("wechat %s: %w", path, err)
	}
	if status.ErrCode != 0 {
		return &APIError{Code: status.ErrCode, Msg: status.ErrMsg}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("wechat %s: %w", path, err)
		}
	}
	return nil
}

// Session is a mini-program login.
type Session struct {
	OpenID  string `json:"openid"`
	UnionID string `json:"unionid"`
}

// Code2Session trades a wx.login code for the user's openid.
func (c *Client) Code2Session(ctx context.Context, code string) (Session, error) {
	var s Session
	err := c.call(ctx, "/sns/jscode2session", url.Values{
		"appid": {c.cfg.AppID}, "secret": {c.cfg.Secret}, "js_code": {code}, "grant_type": {"authorization_code"},
	}, nil, &s)
	return s, err
}

func (c *Client) tokenKey() string { return c.kv.Key("wechat", "token", c.cfg.AppID) }
func (c *Client) lockKey() string  { return c.kv.Key("wechat", "token-lock", c.cfg.AppID) }

// AccessToken returns the shared access token. When none is cached, one
// replica (the holder of a Redis lock) fetches it and the others wait for
// it to appear, as WeChat asks: one refresher at a time.
func (c *Client) AccessToken(ctx context.Context) (string, error) {
	return c.token(ctx, "")
}

// token returns the cached token unless it is stale (the one a call just
// found invalid), in which case it is refreshed with force_refresh.
func (c *Client) token(ctx context.Context, stale string) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		tok, err := c.kv.Client.Get(ctx, c.tokenKey()).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return "", fmt.Errorf("wechat: token cache: %w", err)
		}
		if tok != "" && tok != stale {
			return tok, nil
		}
		me := kv.Token()
		ok, err := c.kv.Lock(ctx, c.lockKey(), me, 15*time.Second)
		if err != nil {
			return "", fmt.Errorf("wechat: token lock: %w", err)
		}
		if ok {
			tok, err := c.refreshLocked(ctx, stale)
			_ = c.kv.Unlock(ctx, c.lockKey(), me)
			return tok, err
		}
		if time.Now().After(deadline) {
			return "", errors.New("wechat: timed out waiting for another replica's token refresh")
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// refreshLocked runs while holding the refresh lock. Another replica may
// have refreshed between our read and taking the lock, so the cache is
// read again before WeChat is asked.
func (c *Client) refreshLocked(ctx context.Context, stale string) (string, error) {
	tok, err := c.kv.Client.Get(ctx, c.tokenKey()).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("wechat: token cache: %w", err)
	}
	if tok != "" && tok != stale {
		return tok, nil
	}
	return c.fetch(ctx, stale != "")
}

// fetch asks for the stable access token and caches it until five
// minutes before it expires.
func (c *Client) fetch(ctx context.Context, force bool) (string, error) {
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	err := c.call(ctx, "/cgi-bin/stable_token", url.Values{}, map[string]any{
		"grant_type": "client_credential", "appid": c.cfg.AppID, "secret": c.cfg.Secret, "force_refresh": force,
	}, &out)
	if err != nil {
		return "", err
	}
	ttl := time.Duration(out.ExpiresIn)*time.Second - 5*time.Minute
	if ttl <= 0 {
		ttl = time.Minute
	}
	if err := c.kv.Client.Set(ctx, c.tokenKey(), out.AccessToken, ttl).Err(); err != nil {
		return "", fmt.Errorf("wechat: token cache: %w", err)
	}
	return out.AccessToken, nil
}

// withToken runs call with the access token; when WeChat says the token
// is invalid or expired (40001, 42001) it refreshes once and retries once.
func (c *Client) withToken(ctx context.Context, call func(token string) error) error {
	tok, err := c.AccessToken(ctx)
	if err != nil {
		return err
	}
	err = call(tok)
	if code := Code(err); code != CodeInvalidCredential && code != CodeTokenExpired {
		return err
	}
	if tok, err = c.token(ctx, tok); err != nil {
		return err
	}
	return call(tok)
}

// Message is a subscribe message: data keys are the template's fields
// (thing1, character_string2, phrase3…).
type Message struct {
	ToOpenID   string
	TemplateID string
	Page       string
	Data       map[string]string
}

// SendSubscribe sends a subscribe message. A 43101 (refused or quota used)
// is Permanent: don't retry it.
func (c *Client) SendSubscribe(ctx context.Context, m Message) error {
	data := map[string]map[string]string{}
	for k, v := range m.Data {
		data[k] = map[string]string{"value": v}
	}
	return c.withToken(ctx, func(tok string) error {
		return c.call(ctx, "/cgi-bin/message/subscribe/send", url.Values{"access_token": {tok}}, map[string]any{
			"touser": m.ToOpenID, "template_id": m.TemplateID, "page": m.Page, "data": data, "lang": "zh_CN",
		}, nil)
	})
}

// PhoneNumber trades a getPhoneNumber code for the user's mainland number.
func (c *Client) PhoneNumber(ctx context.Context, code string) (string, error) {
	var out struct {
		PhoneInfo struct {
			PurePhoneNumber string `json:"purePhoneNumber"`
		} `json:"phone_info"`
	}
	err := c.withToken(ctx, func(tok string) error {
		return c.call(ctx, "/wxa/business/getuserphonenumber", url.Values{"access_token": {tok}}, map[string]any{"code": code}, &out)
	})
	return out.PhoneInfo.PurePhoneNumber, err
}
