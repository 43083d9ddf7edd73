package app_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/testutil"
)

// TestLoginsRefusedWhileRedisIsAwayDoNotLockTheAccount: a login refused
// with 503 while Redis is down checked no password, so it is no failed
// attempt: once Redis is back, the right password logs in.
func TestLoginsRefusedWhileRedisIsAwayDoNotLockTheAccount(t *testing.T) {
	testutil.SkipIfShort(t, "kills a redis-server and waits for it")
	ctx := context.Background()
	r := kvtest.StartServer(t)
	k, err := kv.Open(ctx, r.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testutil.Close(t, k) })
	s := apptest.Start(t, apptest.Options{KV: k, Demo: smallDemo()})
	auth := redpointv1.NewAuthServiceClient(s.GRPC)
	login := func() error {
		_, err := auth.Login(ctx, &redpointv1.LoginRequest{Phone: demo.GuhanAgentPhone, Password: demo.Password})
		return err
	}
	r.Kill()
	retry := time.NewTicker(70 * time.Millisecond) // an app retrying every 70 ms through the outage
	defer retry.Stop()
	for i := 0; i < 40; i++ {
		<-retry.C
		if err := login(); status.Code(err) != codes.Unavailable {
			t.Fatalf("login %d while Redis is down: %v, want UNAVAILABLE", i+1, err)
		}
	}
	r.Start()
	testutil.Eventually(t, 15*time.Second, "the right password accepted after Redis came back", func() bool { return login() == nil })
}
