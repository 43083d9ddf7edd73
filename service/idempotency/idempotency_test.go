package idempotency_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/region"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/idempotency"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/store/storetest"
)

const method = "/redpoint.v1.ErrandService/CreateErrand"

// fixture is a Keeper over a store of the test's own and a write that
// inserts one row per run, so the rows count the runs.
type fixture struct {
	db     *ent.Client
	keeper *idempotency.Keeper
	runs   atomic.Int32
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	keys, err := pii.ParseKeyring(pii.NewKeyringString())
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.Open(t).Client
	return &fixture{db: db, keeper: idempotency.New(db, keys)}
}

// secret is what every response carries: personal data, as a real
// response may, which the stored copy must not show.
const secret = "申秀英13912345678"

// write is the guarded write: it inserts a row in tx and answers with a
// response that differs on every run, so a replay is told from a rerun.
func (f *fixture) write(ctx context.Context, tx *ent.Tx) (proto.Message, error) {
	n := f.runs.Add(1)
	code := fmt.Sprintf("1404231%05d", n)
	if err := tx.Region.Create().SetID(code).SetName("村").SetLevel(region.LevelVILLAGE).Exec(ctx); err != nil {
		return nil, err
	}
	return &redpointv1.Region{Name: "regions/" + code, DisplayName: secret}, nil
}

// rows counts the writes that committed.
// first makes the first call of request_id "req-1" (request "a") into out
// and returns the key it stored.
func (f *fixture) first(t *testing.T, out *redpointv1.Region) *ent.IdempotencyKey {
	t.Helper()
	ctx := context.Background()
	if _, err := f.keeper.Do(ctx, method, 7, "req-1", request("a"), out, f.write); err != nil {
		t.Fatal(err)
	}
	row, err := f.db.IdempotencyKey.Query().Only(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

func (f *fixture) rows(t *testing.T) int {
	t.Helper()
	n, err := f.db.Region.Query().Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) keys(t *testing.T) int {
	t.Helper()
	n, err := f.db.IdempotencyKey.Query().Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// request is a request without its request_id, as Do takes it.
func request(s string) proto.Message { return &redpointv1.Region{DisplayName: s} }

func TestValidRequestID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		id   string
		want bool
	}{
		{"a", true},
		{"req-2026_11-25-ABC", true},
		{"0123456789", true},
		{strings.Repeat("x", 64), true},
		{"", false},
		{strings.Repeat("x", 65), false},
		{"with space", false},
		{"dot.ted", false},
		{"slash/ed", false},
		{"colon:ed", false}, // the key's separator
		{"中文编号", false},
		{"ｆｕｌｌ", false}, // full-width letters are not letters here
	}
	for _, tc := range cases {
		if got := idempotency.ValidRequestID(tc.id); got != tc.want {
			t.Errorf("ValidRequestID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

// TestRetryGetsFirstResponse: a retry with the same request_id and request
// gets the first response back and does not write again.
func TestRetryGetsFirstResponse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	var first, second redpointv1.Region
	replayed, err := f.keeper.Do(ctx, method, 7, "req-1", request("a"), &first, f.write)
	if err != nil || replayed {
		t.Fatalf("first call: replayed %v, %v; want false, nil", replayed, err)
	}
	replayed, err = f.keeper.Do(ctx, method, 7, "req-1", request("a"), &second, f.write)
	if err != nil || !replayed {
		t.Fatalf("retry: replayed %v, %v; want true, nil", replayed, err)
	}
	if !proto.Equal(&first, &second) {
		t.Errorf("retry got %v, want the first response %v", &second, &first)
	}
	if n := f.rows(t); n != 1 {
		t.Errorf("the write ran %d times, want once", n)
	}
}

// TestStoredResponseIsSealed: the kept response may hold personal data, so
// it is stored encrypted.
func TestStoredResponseIsSealed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var out redpointv1.Region
	row := f.first(t, &out)
	if len(row.Response) == 0 {
		t.Fatal("no response stored")
	}
	if strings.Contains(string(row.Response), "13912345678") || strings.Contains(string(row.Response), out.GetName()) {
		t.Errorf("stored response %q shows the response in clear", row.Response)
	}
}

// TestReuseForAnotherRequestIsRefused: the same request_id with a different
// request is INVALID_ARGUMENT REQUEST_ID_REUSED on request_id, and writes
// nothing.
func TestReuseForAnotherRequestIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	var out redpointv1.Region
	if _, err := f.keeper.Do(ctx, method, 7, "req-1", request("a"), &out, f.write); err != nil {
		t.Fatal(err)
	}
	_, err := f.keeper.Do(ctx, method, 7, "req-1", request("b"), &out, f.write)
	if !errors.Is(err, idempotency.ErrReused) {
		t.Fatalf("reuse: %v, want ErrReused", err)
	}
	var e *apierr.Error
	if !errors.As(err, &e) || e.Code != codes.InvalidArgument || e.Reason != "REQUEST_ID_REUSED" ||
		len(e.Violations) != 1 || e.Violations[0].Field != "request_id" ||
		e.Violations[0].Description != "该请求编号已用于内容不同的另一个请求，请生成新的编号" {
		t.Errorf("reuse error = %#v, want INVALID_ARGUMENT REQUEST_ID_REUSED on request_id", err)
	}
	if _, err := f.keeper.Replay(ctx, method, 7, "req-1", request("b"), &out); !errors.Is(err, idempotency.ErrReused) {
		t.Errorf("Replay of a reuse: %v, want ErrReused", err)
	}
	if n := f.rows(t); n != 1 {
		t.Errorf("the write ran %d times, want once", n)
	}
}

// TestKeyIsPerMethodAndCaller: the same request_id from another caller or
// for another method is a new request.
func TestKeyIsPerMethodAndCaller(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	calls := []struct {
		method string
		caller int
	}{
		{method, 7},
		{method, 8},
		{"/redpoint.v1.ErrandService/BatchCreateErrands", 7},
	}
	for _, c := range calls {
		var out redpointv1.Region
		replayed, err := f.keeper.Do(ctx, c.method, c.caller, "req-1", request("a"), &out, f.write)
		if err != nil || replayed {
			t.Errorf("%s as %d: replayed %v, %v; want a first call", c.method, c.caller, replayed, err)
		}
	}
	if n := f.rows(t); n != len(calls) {
		t.Errorf("%d writes, want %d", n, len(calls))
	}
}

// TestFailedWriteKeepsNothing: a write that fails rolls its key back with
// it, so the retry runs the write again.
func TestFailedWriteKeepsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	boom := errors.New("boom")
	var out redpointv1.Region
	_, err := f.keeper.Do(ctx, method, 7, "req-1", request("a"), &out, func(ctx context.Context, tx *ent.Tx) (proto.Message, error) {
		if _, err := f.write(ctx, tx); err != nil {
			return nil, err
		}
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failed write: %v, want boom", err)
	}
	if n := f.keys(t); n != 0 {
		t.Errorf("%d keys kept after a failed write, want 0", n)
	}
	replayed, err := f.keeper.Do(ctx, method, 7, "req-1", request("a"), &out, f.write)
	if err != nil || replayed {
		t.Fatalf("retry after a failure: replayed %v, %v; want a first call", replayed, err)
	}
	if n := f.rows(t); n != 1 {
		t.Errorf("%d rows, want the retry's 1 (the failed write rolled back)", n)
	}
}

// TestNoRequestID: without a request_id the write runs every time, in a
// transaction, and nothing is kept.
func TestNoRequestID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	for range 2 {
		var out redpointv1.Region
		replayed, err := f.keeper.Do(ctx, method, 7, "", request("a"), &out, f.write)
		if err != nil || replayed {
			t.Fatalf("replayed %v, %v; want false, nil", replayed, err)
		}
		if out.GetDisplayName() != secret {
			t.Errorf("out = %v, want the write's response", &out)
		}
	}
	boom := errors.New("boom")
	var out redpointv1.Region
	_, err := f.keeper.Do(ctx, method, 7, "", request("a"), &out, func(ctx context.Context, tx *ent.Tx) (proto.Message, error) {
		if _, err := f.write(ctx, tx); err != nil {
			return nil, err
		}
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failed write: %v, want boom", err)
	}
	if n := f.rows(t); n != 2 {
		t.Errorf("%d rows, want 2 (each call wrote; the failed one rolled back)", n)
	}
	if n := f.keys(t); n != 0 {
		t.Errorf("%d keys kept without a request_id, want 0", n)
	}
}

// TestMalformedRequestID: a request_id outside the bounds is a field
// violation on request_id and writes nothing; Replay passes it by.
func TestMalformedRequestID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	for _, id := range []string{strings.Repeat("x", 65), "a b", "编号"} {
		var out redpointv1.Region
		_, err := f.keeper.Do(ctx, method, 7, id, request("a"), &out, f.write)
		var e *apierr.Error
		if !errors.As(err, &e) || e.Code != codes.InvalidArgument || len(e.Violations) != 1 ||
			e.Violations[0].Field != "request_id" || e.Violations[0].Description != "请求编号应为 1–64 位字母、数字或连字符" {
			t.Errorf("request_id %q: %v, want a violation on request_id", id, err)
		}
		if found, err := f.keeper.Replay(ctx, method, 7, id, request("a"), &out); found || err != nil {
			t.Errorf("Replay(%q) = %v, %v; want false, nil", id, found, err)
		}
	}
	if n := f.rows(t); n != 0 {
		t.Errorf("%d writes, want none", n)
	}
}

// TestReplay: Replay finds nothing before the first call and the first
// response after it.
func TestReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	var out redpointv1.Region
	if found, err := f.keeper.Replay(ctx, method, 7, "req-1", request("a"), &out); found || err != nil {
		t.Fatalf("Replay before the first call = %v, %v; want false, nil", found, err)
	}
	var first redpointv1.Region
	if _, err := f.keeper.Do(ctx, method, 7, "req-1", request("a"), &first, f.write); err != nil {
		t.Fatal(err)
	}
	found, err := f.keeper.Replay(ctx, method, 7, "req-1", request("a"), &out)
	if err != nil || !found {
		t.Fatalf("Replay after the first call = %v, %v; want true, nil", found, err)
	}
	if !proto.Equal(&out, &first) {
		t.Errorf("Replay = %v, want %v", &out, &first)
	}
}

// TestDoAfterReplayYieldsToCommittedFirst: a call that looked the id up
// before another call with it committed claims the key, finds it taken,
// and returns the committed response without writing.
func TestDoAfterReplayYieldsToCommittedFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	var first, late redpointv1.Region
	if _, err := f.keeper.Do(ctx, method, 7, "req-1", request("a"), &first, f.write); err != nil {
		t.Fatal(err)
	}
	replayed, err := f.keeper.DoAfterReplay(ctx, method, 7, "req-1", request("a"), &late, f.write)
	if err != nil || !replayed {
		t.Fatalf("DoAfterReplay = %v, %v; want true, nil", replayed, err)
	}
	if !proto.Equal(&late, &first) {
		t.Errorf("DoAfterReplay got %v, want %v", &late, &first)
	}
	// The key is claimed before the write runs: the late call never runs
	// it against the state the first one left.
	if n := f.runs.Load(); n != 1 {
		t.Errorf("the write ran %d times, want once", n)
	}
}

// TestConcurrentFirstUse: calls racing with one new request_id write once;
// one of them is the first, the others get its response.
func TestConcurrentFirstUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	const n = 8
	outs := make([]redpointv1.Region, n)
	replayed := make([]bool, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if i%2 == 0 {
				replayed[i], errs[i] = f.keeper.Do(ctx, method, 7, "req-1", request("a"), &outs[i], f.write)
			} else {
				// As a handler does after its own Replay found nothing.
				replayed[i], errs[i] = f.keeper.DoAfterReplay(ctx, method, 7, "req-1", request("a"), &outs[i], f.write)
			}
		}()
	}
	close(start)
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if !replayed[i] {
			winners++
		}
		if !proto.Equal(&outs[i], &outs[0]) {
			t.Errorf("call %d got %v, call 0 %v", i, &outs[i], &outs[0])
		}
	}
	if winners != 1 {
		t.Errorf("%d calls were first, want 1", winners)
	}
	if runs, rows := f.runs.Load(), f.rows(t); runs != 1 || rows != 1 {
		t.Errorf("the write ran %d times and committed %d, want once", runs, rows)
	}
}

// TestPurge: keys older than Retention are deleted, the rest kept.
func TestPurge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	now := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	for i, age := range []time.Duration{idempotency.Retention + time.Second, idempotency.Retention, time.Hour} {
		err := f.db.IdempotencyKey.Create().SetKey(fmt.Sprintf("m:1:old-%d", i)).SetRequestHash("h").
			SetResponse([]byte{}).SetCreateTime(now.Add(-age)).Exec(ctx)
		if err != nil {
			t.Fatal(err)
		}
	}
	n, err := f.keeper.Purge(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("Purge deleted %d keys, want 1 (only the one older than Retention)", n)
	}
	if got := f.keys(t); got != 2 {
		t.Errorf("%d keys left, want 2", got)
	}
}

// TestPurgedRequestIDIsNew: within Retention a request_id is remembered;
// once purged after it, the id is a new request again.
func TestPurgedRequestIDIsNew(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	var out redpointv1.Region
	row := f.first(t, &out)
	if n, err := f.keeper.Purge(ctx, row.CreateTime.Add(idempotency.Retention)); err != nil || n != 0 {
		t.Fatalf("Purge at exactly Retention = %d, %v; want 0, nil", n, err)
	}
	if replayed, err := f.keeper.Do(ctx, method, 7, "req-1", request("b"), &out, f.write); !errors.Is(err, idempotency.ErrReused) {
		t.Fatalf("reuse within Retention: replayed %v, %v; want ErrReused", replayed, err)
	}
	if _, err := f.keeper.Purge(ctx, row.CreateTime.Add(idempotency.Retention+time.Second)); err != nil {
		t.Fatal(err)
	}
	replayed, err := f.keeper.Do(ctx, method, 7, "req-1", request("b"), &out, f.write)
	if err != nil || replayed {
		t.Fatalf("after the purge: replayed %v, %v; want a first call", replayed, err)
	}
	if n := f.rows(t); n != 2 {
		t.Errorf("%d writes, want 2", n)
	}
}
