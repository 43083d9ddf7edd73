package resident

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/store/storetest"
	"github.com/changzhi/redpoint/service/trackingcode"
)

// A burst of lookups of a code no cache holds reaches the database once.
func TestLookupBurstQueriesOnce(t *testing.T) {
	st := storetest.Open(t)
	var queries atomic.Int64
	counting := dialect.DebugWithContext(entsql.OpenDB(st.Dialect, st.DB), func(_ context.Context, v ...any) {
		if strings.Contains(fmt.Sprint(v...), "tracking_code") {
			queries.Add(1)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := NewLookup(ctx, ent.NewClient(ent.Driver(counting)), kvtest.Open(t), LookupLimits{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	code, _ := trackingcode.New(nil)
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if m, err := l.load(ctx, code); err != nil || m.entry.Errand != nil {
				t.Errorf("unknown code: %v, %v", m.entry, err)
			}
		}()
	}
	wg.Wait()
	if n := queries.Load(); n != 1 {
		t.Errorf("64 concurrent lookups of one uncached code: %d queries, want 1", n)
	}
	// The memory and Redis answer after that; a change sends it back once.
	l.load(ctx, code)
	l.Invalidate(ctx, code)
	l.load(ctx, code)
	if n := queries.Load(); n != 2 {
		t.Errorf("after an invalidation: %d queries in all, want 2", n)
	}
}
