package wechat_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/wechat"
)

func setup(t *testing.T) (*wechat.Fake, wechat.Config) {
	t.Helper()
	fake := wechat.NewFake("wx-test", "secret")
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, wechat.Config{BaseURL: srv.URL, AppID: "wx-test", Secret: "secret"}
}

func TestLoginAndPhone(t *testing.T) {
	t.Parallel()
	_, cfg := setup(t)
	c := wechat.New(cfg, kvtest.Open(t))
	ctx := context.Background()
	s, err := c.Code2Session(ctx, "demo-grandma")
	if err != nil || s.OpenID != "demo-grandma" {
		t.Fatalf("login: %+v, %v", s, err)
	}
	if _, err := c.Code2Session(ctx, "stolen-code"); wechat.Code(err) != wechat.CodeInvalidCode || !wechat.Permanent(err) {
		t.Errorf("bad code: %v", err)
	}
	phone, err := c.PhoneNumber(ctx, "phone-13900000001")
	if err != nil || phone != "13900000001" {
		t.Errorf("phone: %q, %v", phone, err)
	}
}

// TestReplicasShareOneToken: two clients (two replicas) on one Redis ask
// for the token at once; WeChat is asked once and both use the answer.
func TestReplicasShareOneToken(t *testing.T) {
	t.Parallel()
	fake, cfg := setup(t)
	k := kvtest.Open(t)
	a, b := wechat.New(cfg, k), wechat.New(cfg, k)
	var wg sync.WaitGroup
	toks := make([]string, 10)
	for i := range toks {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := a
			if i%2 == 1 {
				c = b
			}
			tok, err := c.AccessToken(context.Background())
			if err != nil {
				t.Error(err)
			}
			toks[i] = tok
		}(i)
	}
	wg.Wait()
	if n := fake.TokenCalls(); n != 1 {
		t.Errorf("stable_token called %d times, want 1", n)
	}
	for _, tok := range toks {
		if tok != toks[0] {
			t.Fatal("replicas use different tokens")
		}
	}
}

func TestInvalidTokenRefreshesOnceAndRetriesOnce(t *testing.T) {
	t.Parallel()
	fake, cfg := setup(t)
	c := wechat.New(cfg, kvtest.Open(t))
	ctx := context.Background()
	msg := wechat.Message{ToOpenID: "demo-a", TemplateID: "tpl", Data: map[string]string{"thing1": "养老保险资格认证"}}
	if err := c.SendSubscribe(ctx, msg); err != nil {
		t.Fatal(err)
	}
	fake.InvalidateTokens() // WeChat now answers 40001 to the cached token
	if err := c.SendSubscribe(ctx, msg); err != nil {
		t.Fatalf("after 40001: %v", err)
	}
	if n := fake.TokenCalls(); n != 2 {
		t.Errorf("stable_token called %d times, want 2 (one refresh)", n)
	}
	if n := len(fake.Messages()); n != 2 {
		t.Errorf("%d messages delivered, want 2", n)
	}
	// A token that stays invalid is not retried forever: one refresh, one retry.
	fake.FailNext("/cgi-bin/message/subscribe/send", wechat.CodeInvalidCredential)
	fake.FailNext("/cgi-bin/message/subscribe/send", wechat.CodeInvalidCredential)
	if err := c.SendSubscribe(ctx, msg); wechat.Code(err) != wechat.CodeInvalidCredential {
		t.Errorf("twice 40001: %v", err)
	}
}

func TestRefusedIsNotRetried(t *testing.T) {
	t.Parallel()
	fake, cfg := setup(t)
	c := wechat.New(cfg, kvtest.Open(t))
	fake.Refuse("demo-no")
	err := c.SendSubscribe(context.Background(), wechat.Message{ToOpenID: "demo-no", TemplateID: "tpl"})
	if wechat.Code(err) != wechat.CodeRefused || !wechat.Permanent(err) {
		t.Fatalf("refused: %v", err)
	}
	if n := len(fake.Messages()); n != 0 {
		t.Errorf("%d messages delivered to a user who refused", n)
	}
	fake.FailNext("/cgi-bin/message/subscribe/send", wechat.CodeRateLimited)
	err = c.SendSubscribe(context.Background(), wechat.Message{ToOpenID: "demo-yes", TemplateID: "tpl"})
	if wechat.Code(err) != wechat.CodeRateLimited || wechat.Permanent(err) {
		t.Errorf("45011 should be a retryable error: %v", err)
	}
}
