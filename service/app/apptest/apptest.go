// Package apptest starts the real redpoint server for end-to-end tests, on
// ephemeral loopback ports, over the test's own store and Redis.
package apptest

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/objects/objectstest"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/resident"
	"github.com/changzhi/redpoint/service/server"
	"github.com/changzhi/redpoint/service/store"
	"github.com/changzhi/redpoint/service/store/storetest"
	"github.com/changzhi/redpoint/service/testutil"
	"github.com/changzhi/redpoint/service/wechat"
)

// Options shape the server a test starts.
type Options struct {
	// Demo, when set, seeds the demo with these options before serving.
	Demo *demo.Options
	// KV replaces the test's own Redis (to stop it mid-test, say).
	KV *kv.KV
	// Log receives the server's log; io.Discard when nil.
	Log io.Writer
	// Clock replaces time.Now for SLA tests.
	Clock func() time.Time
	// LoginLimits replaces the default failed-login limits.
	LoginLimits access.LoginLimits
	// Keys replaces a fresh PII keyring; SeedKeys, when set, seals the demo.
	Keys, SeedKeys *pii.Keyring
	// Configure adjusts the App's options before it serves (workers,
	// schedules, handlers, limits).
	Configure func(*app.Options)
	// Replica, when set, gives the store a read replica with these
	// options (storetest.OpenReplicated: the test is skipped without one).
	Replica *store.ReplicaOptions
}

// Server is a running server and clients for it.
type Server struct {
	// WeChat is the fake WeChat server this one talks to.
	WeChat   *wechat.Fake
	stop     func()
	mu       sync.Mutex
	tokens   map[string]string // phone → access token
	App      *app.App
	log      *slog.Logger
	GRPC     *grpc.ClientConn
	BaseURL  string // http://127.0.0.1:port
	AdminURL string // the admin port: /metrics
	GRPCAddr string
}

// Start serves until the test ends.
func Start(tb testing.TB, opt Options) *Server {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var st *store.Store
	if opt.Replica != nil {
		st = storetest.OpenReplicated(tb, *opt.Replica)
	} else {
		st = storetest.Open(tb)
	}
	k := opt.KV
	if k == nil {
		k = kvtest.Open(tb)
	}
	keys := opt.Keys
	if keys == nil {
		var err error
		if keys, err = pii.ParseKeyring(pii.NewKeyringString()); err != nil {
			tb.Fatal(err)
		}
	}
	seedKeys := keys
	if opt.SeedKeys != nil {
		seedKeys = opt.SeedKeys
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	log := slog.New(slog.NewTextHandler(opt.Log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	authKey := make([]byte, 32)
	if _, err := rand.Read(authKey); err != nil {
		tb.Fatal(err)
	}
	fake := wechat.NewFake("wx-test", "test-secret")
	wx := httptest.NewServer(fake)
	tb.Cleanup(wx.Close)
	opts := app.Options{
		Clock:       opt.Clock,
		LoginLimits: opt.LoginLimits,
		WeChat:      wechat.Config{BaseURL: wx.URL, AppID: "wx-test", Secret: "test-secret"},
		Templates:   resident.Templates{Default: "tpl-progress"},
	}
	if opt.Configure != nil {
		opt.Configure(&opts)
	}
	a := app.New(log, st, k, objectstest.Open(tb), keys, authKey, opts)
	if opt.Demo != nil {
		if _, err := demo.Seed(ctx, st.Client, seedKeys, *opt.Demo); err != nil {
			tb.Fatalf("apptest: seed: %v", err)
		}
	}
	s := serve(tb, a, cancel, ctx)
	s.log = log
	s.WeChat = fake
	return s
}

// Join starts a second replica over first's database, Redis and keys, with
// the options a deployment shares (clock, limits, WeChat), as another
// process of the same deployment would be.
// configure, when given, adjusts the options before it serves.
func Join(tb testing.TB, first *Server, configure ...func(*app.Options)) *Server {
	tb.Helper()
	return JoinKV(tb, first, first.App.KV, configure...)
}

// JoinKV is Join with the second replica on its own connection to Redis.
func JoinKV(tb testing.TB, first *Server, k *kv.KV, configure ...func(*app.Options)) *Server {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// What the deployment shares; workers, schedules and extra handlers
	// are each process's own.
	shared := first.App.Options()
	opts := app.Options{Clock: shared.Clock, LoginLimits: shared.LoginLimits, LookupLimits: shared.LookupLimits,
		WeChat: shared.WeChat, Templates: shared.Templates, TrustedProxies: shared.TrustedProxies}
	for _, c := range configure {
		c(&opts)
	}
	a := app.New(first.log, first.App.Store, k, first.App.Objects, first.App.Keys, first.App.AuthKey, opts)
	s := serve(tb, a, cancel, ctx)
	s.log = first.log
	s.WeChat = first.WeChat
	return s
}

func serve(tb testing.TB, a *app.App, cancel context.CancelFunc, ctx context.Context) *Server {
	tb.Helper()
	grpcLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	adminLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, server.Listeners{GRPC: grpcLis, HTTP: httpLis, Admin: adminLis}) }()
	conn, err := grpc.NewClient(grpcLis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{App: a, GRPC: conn, BaseURL: "http://" + httpLis.Addr().String(), AdminURL: "http://" + adminLis.Addr().String(), GRPCAddr: grpcLis.Addr().String(), tokens: map[string]string{}}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			testutil.Close(tb, conn)
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					tb.Errorf("apptest: Serve returned %v", err)
				}
			case <-time.After(20 * time.Second):
				tb.Errorf("apptest: server did not shut down")
			}
		})
	}
	tb.Cleanup(s.stop)
	s.waitHTTP(tb)
	s.waitBoards(tb)
	return s
}

// waitBoards waits for the server's start-up build of the current
// periods' boards to end, and with it for its workers to start: a test's
// own writes and reads of the boards then never race that build.
func (s *Server) waitBoards(tb testing.TB) {
	tb.Helper()
	select {
	case <-s.App.Background().BoardsReady():
	case <-time.After(60 * time.Second):
		tb.Fatal("apptest: the start-up build of the boards did not end")
	}
}

// Stop shuts the server down now, as a crashed or stopped replica.
func (s *Server) Stop() { s.stop() }

func (s *Server) waitHTTP(tb testing.TB) {
	tb.Helper()
	testutil.EventuallyNoError(tb, 10*time.Second, "apptest: the HTTP server answering", func() error {
		resp, err := http.Get(s.BaseURL + "/openapi.json")
		if err == nil {
			_ = resp.Body.Close()
		}
		return err
	})
}
