package app

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/period"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/store/storetest"
)

// TestDemoSeedRebuildsTheCurrentBoards: a seeded demo's current boards,
// and the ones before them, are in Redis before it serves, equal to a
// rebuild from the database, even where the Redis held boards of an
// earlier database.
func TestDemoSeedRebuildsTheCurrentBoards(t *testing.T) {
	ctx := context.Background()
	st, k := storetest.Open(t), kvtest.Open(t)
	keys, err := pii.ParseKeyring(pii.NewKeyringString())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	a := New(slog.New(slog.NewTextHandler(io.Discard, nil)), st, k, nil, keys, nil, Options{Clock: func() time.Time { return now }})
	// The Redis outlived the database that was here before: this month's
	// city board has a point the new demo has not.
	month := period.Of(period.Month, now)
	k.Client.Set(ctx, k.Key(kv.Tag("lb", month.String()), "built"), "2025-01-01T00:00:00Z", 0)
	k.Client.ZAdd(ctx, k.Key(kv.Tag("lb", month.String()), "1404", "sp"), redis.Z{Score: 1e6, Member: "999999"})
	// So has the board of the quarter before last, which no current period
	// rebuilds but the stored 季观摩 of last quarter compares with.
	q2 := period.Of(period.Quarter, now).Previous().Previous()
	k.Client.Set(ctx, k.Key(kv.Tag("lb", q2.String()), "built"), "2025-01-01T00:00:00Z", 0)
	k.Client.ZAdd(ctx, k.Key(kv.Tag("lb", q2.String()), "140423", "tw"), redis.Z{Score: 1e6, Member: "140423999"})

	if err := a.seedDemo(ctx, demo.Options{Now: now, Errands: 100}); err != nil {
		t.Fatal(err)
	}
	boards := leaderboard.New(st.Client, k)
	for _, cur := range period.All(now) {
		for _, p := range []period.Period{cur, cur.Previous()} {
			if n, err := k.Client.Exists(ctx, k.Key(kv.Tag("lb", p.String()), "built")).Result(); err != nil || n != 1 {
				t.Errorf("%s: not built by the seed (%v)", p, err)
				continue
			}
			if drift, err := boards.Reconcile(ctx, p); err != nil || drift != 0 {
				t.Errorf("%s: the seeded boards differ from a rebuild in %d members (%v)", p, drift, err)
			}
		}
	}
	if drift, err := boards.Reconcile(ctx, q2); err != nil || drift != 0 {
		t.Errorf("%s: the boards the 季观摩 read differ from a rebuild in %d members (%v)", q2, drift, err)
	}
}
