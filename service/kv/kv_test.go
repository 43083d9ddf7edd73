package kv_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/testutil"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	type parsed struct {
		Server  string // addr/db of the one-server reading; "" for none
		Cluster []string
		TLS     bool
		User    string
	}
	cases := []struct {
		name    string
		url     string
		want    parsed
		wantErr string
	}{
		{"one server", "redis://127.0.0.1:6379/0", parsed{Server: "127.0.0.1:6379/0", Cluster: []string{"127.0.0.1:6379"}}, ""},
		{"one server, no database", "redis://127.0.0.1:6379", parsed{Server: "127.0.0.1:6379/0", Cluster: []string{"127.0.0.1:6379"}}, ""},
		{"one server, database 2: no cluster reading", "redis://127.0.0.1:6379/2", parsed{Server: "127.0.0.1:6379/2"}, ""},
		{"cluster seeds", "redis://127.0.0.1:7001?addr=127.0.0.1:7002&addr=127.0.0.1:7003",
			parsed{Cluster: []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}}, ""},
		{"cluster seeds, database 0", "redis://127.0.0.1:7001/0?addr=127.0.0.1:7002",
			parsed{Cluster: []string{"127.0.0.1:7001", "127.0.0.1:7002"}}, ""},
		{"cluster over TLS with a user", "rediss://rp:secret@redis.example:7001?addr=redis2.example:7001",
			parsed{Cluster: []string{"redis.example:7001", "redis2.example:7001"}, TLS: true, User: "rp"}, ""},
		{"not redis", "http://127.0.0.1:6379", parsed{}, "must start with redis://"},
		{"no host", "redis:///0", parsed{}, "names no host"},
		{"cluster with a database", "redis://127.0.0.1:7001/3?addr=127.0.0.1:7002", parsed{}, "database 3, but a Redis Cluster has database 0 only"},
		{"cluster with a bad database", "redis://127.0.0.1:7001/x?addr=127.0.0.1:7002", parsed{}, `invalid database "x"`},
		{"bad seed", "redis://127.0.0.1:7001?addr=7002", parsed{}, "addr param: 7002"},
		{"unknown option", "redis://127.0.0.1:7001?addr=127.0.0.1:7002&bogus=1", parsed{}, "unexpected option: bogus"},
		{"one server, bad database", "redis://127.0.0.1:6379/x", parsed{}, `invalid database number: "x"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			set, err := kv.ParseURL(tc.url)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseURL(%q) = %v, want an error with %q", tc.url, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", tc.url, err)
			}
			var got parsed
			if o := set.Server; o != nil {
				got.Server = o.Addr + "/" + string(rune('0'+o.DB))
				got.TLS, got.User = o.TLSConfig != nil, o.Username
			}
			if o := set.Cluster; o != nil {
				got.Cluster = o.Addrs
				got.TLS, got.User = o.TLSConfig != nil, o.Username
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseURL(%q) mismatch (-want +got):\n%s", tc.url, diff)
			}
		})
	}
}

// TestOpenAsksTheServer: one address of a cluster node opens the cluster,
// whose commands across slots fail (CROSSSLOT) and within a tag don't;
// one of a plain server opens that server.
func TestOpenAsksTheServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	node := kvtest.StartClusterNode(t)
	k, err := kv.Open(ctx, node.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Close(t, k)
	if _, ok := k.Client.(*redis.ClusterClient); !ok || !k.Cluster {
		t.Fatalf("Open(%s) = %T (Cluster %v), want a cluster client", node.URL(), k.Client, k.Cluster)
	}
	if got := k.Addr(); got != node.Addr() {
		t.Errorf("Addr() = %q, want %q", got, node.Addr())
	}
	if err := k.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := k.Client.MGet(ctx, k.Key("a"), k.Key("b")).Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Errorf("MGET across slots: %v, want CROSSSLOT (is it a cluster?)", err)
	}
	tag := kv.Tag("t", "1")
	if err := k.Client.MGet(ctx, k.Key(tag, "a"), k.Key(tag, "b")).Err(); err != nil {
		t.Errorf("MGET within a tag: %v", err)
	}
	if kv.Unavailable(k.Client.MGet(ctx, k.Key("a"), k.Key("b")).Err()) {
		t.Error("CROSSSLOT counted as Redis unavailable: it is a bug, not an outage")
	}

	plain := kvtest.StartServer(t)
	p, err := kv.Open(ctx, plain.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Close(t, p)
	if _, ok := p.Client.(*redis.Client); !ok || p.Cluster {
		t.Errorf("Open(%s) = %T (Cluster %v), want one server's client", plain.URL(), p.Client, p.Cluster)
	}
	if got := p.Addr(); got != plain.Addr() {
		t.Errorf("Addr() = %q, want %q", got, plain.Addr())
	}

	// A Redis-protocol server without INFO's cluster section (another
	// process's embedded server, as the outage tests open) is one server.
	embedded, err := kv.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Close(t, embedded)
	e, err := kv.Open(ctx, "redis://"+embedded.Addr()+"/0")
	if err != nil {
		t.Fatalf("Open of an embedded server's URL: %v", err)
	}
	defer testutil.Close(t, e)
	if e.Cluster {
		t.Error("an embedded server read as a cluster")
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	node := kvtest.StartClusterNode(t)
	plain := kvtest.StartServer(t)
	cases := []struct {
		name, url, want string
	}{
		{"a database on a cluster node", "redis://" + node.Addr() + "/1", "database 1, but a Redis Cluster has database 0 only"},
		{"an option of one server only, on a cluster node", "redis://" + node.Addr() + "/0?db=0", "option for one server only"},
		{"cluster seeds naming a plain server", "redis://" + plain.Addr() + "?addr=" + plain.Addr(), "cluster support disabled"},
		{"no seed answers", "redis://127.0.0.1:1?addr=127.0.0.1:2&dial_timeout=1s", "redis cluster unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k, err := kv.Open(ctx, tc.url)
			if err == nil {
				testutil.Close(t, k)
				t.Fatalf("Open(%s) opened", tc.url)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "kv.Open: ") {
				t.Errorf("Open(%s) = %v, want kv.Open: …%s…", tc.url, err, tc.want)
			}
		})
	}
}

// TestClusterDownIsUnavailable: a cluster with slots nobody serves, and
// one whose node is gone, fail /healthz and answer 503, not 500.
func TestClusterDownIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	node := kvtest.StartClusterNode(t)
	k, err := kv.Open(ctx, node.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Close(t, k)
	admin := redis.NewClient(&redis.Options{Addr: node.Addr(), Protocol: 2})
	defer testutil.Close(t, admin)
	if err := admin.ClusterDelSlotsRange(ctx, 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyNoError(t, 10*time.Second, "Ping fails with the slots unserved", func() error {
		if err := k.Ping(ctx); !errors.Is(err, kv.ErrClusterDown) {
			return fmt.Errorf("ping: %w, want ErrClusterDown", err)
		}
		return nil
	})
	down := k.Client.Get(ctx, k.Key("x")).Err()
	if !redis.IsClusterDownError(down) {
		t.Errorf("GET with the slot unserved: %v, want CLUSTERDOWN", down)
	}
	for _, err := range []error{k.Ping(ctx), fmt.Errorf("leaderboard.Top: %w", down)} {
		if !kv.Unavailable(err) {
			t.Errorf("Unavailable(%v) = false", err)
		}
	}

	node.Kill()
	gone := k.Client.Get(ctx, k.Key("x")).Err()
	for _, err := range []error{gone, k.Ping(ctx)} {
		if err == nil || !kv.Unavailable(err) {
			t.Errorf("with the node gone: Unavailable(%v) = false", err)
		}
	}
}
