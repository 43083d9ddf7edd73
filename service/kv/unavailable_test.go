package kv_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/testutil"
)

func TestUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	k, err := kv.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Close(t, k)
	k.Client.Set(ctx, "s", "x", 0)
	wrongType := k.Client.ZIncrBy(ctx, "s", 1, "m").Err()
	missing := k.Client.Get(ctx, "missing").Err()
	// A real refused connection, as a call meets it with Redis down.
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer testutil.Close(t, down)
	refused := down.Ping(ctx).Err()
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", fmt.Errorf("leaderboard.Top: %w", refused), true},
		{"client closed", redis.ErrClosed, true},
		{"pool timeout", redis.ErrPoolTimeout, true},
		{"wrong type", wrongType, false},
		{"nil reply", missing, false},
		{"plain", errors.New("boom"), false},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), false},
		{"nil", nil, false},
	}
	if wrongType == nil || refused == nil {
		t.Fatalf("setup: wrong type %v, refused %v", wrongType, refused)
	}
	for _, tc := range cases {
		if got := kv.Unavailable(tc.err); got != tc.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
