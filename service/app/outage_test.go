package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
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

// TestARedisClusterDownIsUnavailable: while the Redis Cluster serves no
// slot (CLUSTERDOWN), /healthz answers 503 naming Redis and the API
// answers UNAVAILABLE, not INTERNAL; once it serves them again, both are
// back.
func TestARedisClusterDownIsUnavailable(t *testing.T) {
	ctx := context.Background()
	node := kvtest.StartClusterNode(t)
	k, err := kv.Open(ctx, node.URL())
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
	healthz := func() (int, string) {
		resp, err := http.Get(s.BaseURL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer testutil.Close(t, resp.Body)
		var body struct{ Checks map[string]string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body.Checks["redis"]
	}
	if code, redis := healthz(); code != http.StatusOK || redis != "ok" {
		t.Fatalf("healthz with the cluster up: %d, redis %q", code, redis)
	}
	admin := goredis.NewClient(&goredis.Options{Addr: node.Addr(), Protocol: 2})
	t.Cleanup(func() { testutil.Close(t, admin) })
	if err := admin.ClusterDelSlotsRange(ctx, 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	if code, redis := healthz(); code != http.StatusServiceUnavailable || redis != "unavailable" {
		t.Errorf("healthz with the cluster down: %d, redis %q; want 503, unavailable", code, redis)
	}
	if err := login(); status.Code(err) != codes.Unavailable {
		t.Errorf("login with the cluster down: %v, want UNAVAILABLE", err)
	}
	if err := admin.ClusterAddSlotsRange(ctx, 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	node.WaitClusterOK()
	testutil.Eventually(t, 15*time.Second, "healthz ok and a login accepted once the cluster is back", func() bool {
		code, _ := healthz()
		return code == http.StatusOK && login() == nil
	})
}
