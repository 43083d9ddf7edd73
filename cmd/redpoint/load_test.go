package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/ent/processedevent"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/period"
	"github.com/changzhi/redpoint/service/testutil"
)

// write is one write an agent's app sends with a request id, and every
// answer it got: a retry resends the same request id and body.
type write struct {
	client    int
	method    string // create, start, forward, complete
	errand    string // errands/ID: the target, or what the create made
	marker    string // a create's description, to find it in the database
	requestID string
	path      string
	body      map[string]any
	replies   []reply
}

func (w *write) String() string { return fmt.Sprintf("%s %s (%s)", w.method, w.errand, w.requestID) }

func (w *write) acked() bool {
	return len(w.replies) > 0 && w.replies[len(w.replies)-1].status == http.StatusOK
}

// send sends w once and records the answer.
func (l *load) send(w *write, token string) reply {
	r := call(l.base, http.MethodPost, w.path, token, w.body)
	l.mu.Lock()
	defer l.mu.Unlock()
	w.replies = append(w.replies, r)
	if r.status == http.StatusOK {
		l.acked++
		if w.method == "create" {
			var e struct{ Name string }
			if err := json.Unmarshal(r.body, &e); err != nil {
				l.t.Errorf("%v: answer %s: %v", w, r.body, err)
			}
			w.errand = e.Name
		}
	}
	return r
}

func newCreate(client, n int, run string) *write {
	rid := fmt.Sprintf("%s-c%d-create-%d", run, client, n)
	marker := fmt.Sprintf("%s 第%d号终端第%d件", run, client, n)
	return &write{client: client, method: "create", marker: marker, requestID: rid,
		path: "/v1/errands?requestId=" + url.QueryEscape(rid),
		body: map[string]any{"errandType": "errandTypes/MI-PAYMENT", "residentName": "断电测试", "residentPhone": "13900007777",
			"description": marker, "channel": "ERRAND_CHANNEL_WALK_IN"}}
}

func newTransition(client int, errandName, method, run string) *write {
	rid := fmt.Sprintf("%s-c%d-%s-%s", run, client, method, strings.TrimPrefix(errandName, "errands/"))
	body := map[string]any{"requestId": rid}
	switch method {
	case "forward":
		body["office"] = "县医保局"
	case "complete":
		body["result"] = "已办结"
	}
	return &write{client: client, method: method, errand: errandName, requestID: rid, path: "/v1/" + errandName + ":" + method, body: body}
}

// load is several agents' apps writing at once: each completes the open
// errands of its point (which score on the board), then logs, starts and
// completes new ones until stopped.
type load struct {
	t    *testing.T
	base string
	run  string // makes request ids and markers unique to the test
	// retry resends a write that got anything but 200 until it is
	// acknowledged (the app's offline queue); without it the client stops
	// at the first write without an answer, as a crash leaves it.
	retry bool
	stop  chan struct{}
	wg    sync.WaitGroup
	// since is the last history event before the load: the load's
	// writes made every later one.
	since int

	mu     sync.Mutex
	writes []*write
	acked  int
}

func newLoad(t *testing.T, base, run string, retry bool, db *ent.Client) *load {
	last, err := db.ErrandEvent.Query().Aggregate(ent.Max(errandevent.FieldID)).Int(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &load{t: t, base: base, run: run, retry: retry, stop: make(chan struct{}), since: last}
}

// start runs one client per agent.
func (l *load) start(agents []agentWithWork, tokens []string) {
	for i, a := range agents {
		l.wg.Add(1)
		go l.client(i, a, tokens[i])
	}
}

// finish stops the clients after their current write and waits for them.
func (l *load) finish() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func (l *load) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// waitAcked waits until n writes were acknowledged in all.
func (l *load) waitAcked(n int, within time.Duration) {
	l.t.Helper()
	testutil.Eventually(l.t, within, fmt.Sprintf("%d writes acknowledged", n), func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.acked >= n
	})
}

func (l *load) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked
}

func (l *load) client(id int, a agentWithWork, token string) {
	defer l.wg.Done()
	// do sends w until it is acknowledged; false: the client stops.
	do := func(w *write) bool {
		l.mu.Lock()
		l.writes = append(l.writes, w)
		l.mu.Unlock()
		for {
			r := l.send(w, token)
			switch {
			case r.status == http.StatusOK:
				return !l.stopped()
			case l.retry:
				// Every answer is counted (statuses); the test says which
				// it allows.
				select { // the app's offline queue waits before it resends
				case <-l.stop:
					return false
				case <-time.After(100 * time.Millisecond):
				}
			case r.status == 0:
				return false
			default:
				l.t.Errorf("client %d: %v: %v %s", id, w, r, r.body)
				return false
			}
		}
	}
	for _, e := range a.open {
		if e.state == errand.StateNEEDS_MATERIALS && !do(newTransition(id, e.name, "start", l.run)) {
			return
		}
		if !do(newTransition(id, e.name, "complete", l.run)) {
			return
		}
	}
	for n := 0; ; n++ {
		c := newCreate(id, n, l.run)
		if !do(c) {
			return
		}
		for _, m := range []string{"start", "forward", "complete"} {
			if !do(newTransition(id, c.errand, m, l.run)) {
				return
			}
		}
	}
}

// unacked are the writes without an answer when the load stopped.
func (l *load) unacked() []*write {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*write
	for _, w := range l.writes {
		if !w.acked() {
			out = append(out, w)
		}
	}
	return out
}

// statuses counts every answer of every write by status and reason.
func (l *load) statuses() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for _, w := range l.writes {
		for _, r := range w.replies {
			out[r.String()]++
		}
	}
	return out
}

// checkExactlyOnce checks that every acknowledged write is in the database
// once: a create is one errand, a transition one history event.
func (l *load) checkExactlyOnce(db *ent.Client) {
	l.t.Helper()
	ctx := context.Background()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.writes {
		if !w.acked() {
			l.t.Errorf("%v was never acknowledged: %v", w, w.replies)
			continue
		}
		var id int
		if _, err := fmt.Sscanf(w.errand, "errands/%d", &id); err != nil {
			l.t.Errorf("%v: %v", w, err)
			continue
		}
		if w.method == "create" {
			ids := db.Errand.Query().Where(errand.Description(w.marker)).IDsX(ctx)
			if len(ids) != 1 || ids[0] != id {
				l.t.Errorf("%v: errands %v in the database, want exactly [%d]", w, ids, id)
			}
			continue
		}
		to := map[string]string{"start": "IN_PROGRESS", "forward": "FORWARDED", "complete": "COMPLETED"}[w.method]
		n := db.ErrandEvent.Query().Where(errandevent.IDGT(l.since), errandevent.ErrandID(id),
			errandevent.KindEQ(errandevent.KindTRANSITIONED), errandevent.ToState(to)).CountX(ctx)
		if n != 1 {
			l.t.Errorf("%v: %d transitions to %s in the history, want 1", w, n, to)
		}
	}
}

// errandEvents are the history events the load's writes made.
func (l *load) errandEvents(db *ent.Client) []*ent.ErrandEvent {
	l.t.Helper()
	return db.ErrandEvent.Query().Where(errandevent.IDGT(l.since),
		errandevent.KindIn(errandevent.KindCREATED, errandevent.KindTRANSITIONED)).AllX(context.Background())
}

// waitProcessed waits until every outbox event of the load's writes was
// relayed and taken effect with every handler that wants its topic, and
// then checks there is one outbox event per history event.
func waitProcessed(t *testing.T, l *load, db *ent.Client, handlers []events.Handler, within time.Duration) {
	t.Helper()
	ctx := context.Background()
	evs := l.errandEvents(db)
	if len(evs) == 0 {
		t.Fatal("the load left no history")
	}
	byEvent := map[int]*ent.OutboxEvent{}
	for _, row := range db.OutboxEvent.Query().AllX(ctx) {
		var p struct {
			EventID int `json:"event_id"`
		}
		if err := json.Unmarshal(row.Payload, &p); err != nil {
			t.Fatalf("outbox event %d: %v", row.ID, err)
		}
		if byEvent[p.EventID] != nil {
			t.Errorf("history event %d has two outbox events", p.EventID)
		}
		byEvent[p.EventID] = row
	}
	var rows []*ent.OutboxEvent
	for _, ev := range evs {
		row := byEvent[ev.ID]
		if row == nil {
			t.Errorf("history event %d (%s of errand %d) has no outbox event", ev.ID, ev.Kind, ev.ErrandID)
			continue
		}
		rows = append(rows, row)
	}
	var missing []string
	start := time.Now()
	testutil.Eventually(t, within, "every outbox event processed by every handler", func() bool {
		missing = missing[:0]
		for _, row := range rows {
			done := db.ProcessedEvent.Query().Where(processedevent.EventID(row.ID)).Select(processedevent.FieldHandler).StringsX(ctx)
			for _, h := range handlers {
				if wants(h, row.Topic) && !contains(done, h.Name) {
					missing = append(missing, fmt.Sprintf("%d/%s", row.ID, h.Name))
				}
			}
		}
		return len(missing) == 0
	})
	t.Logf("%d outbox events of %d history events, each processed by its handlers (waited %v)", len(rows), len(evs), time.Since(start).Round(time.Millisecond))
}

func wants(h events.Handler, topic string) bool { return contains(h.Topics, topic) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkBoards reads the city's boards over REST, as a user would (a board
// Redis lost is rebuilt on that read), then compares every board of every
// current period in the Redis the server uses with a rebuild from the
// database.
func checkBoards(t *testing.T, base, token string, db *ent.Client, redisURL string) {
	t.Helper()
	ctx := context.Background()
	k, err := kv.Open(ctx, redisURL)
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Close(t, k)
	boards := leaderboard.New(db, k)
	if readBoards(t, base, token) == 0 {
		t.Error("no board has a score above 0: the check would compare empty boards")
	}
	for _, p := range period.All(time.Now()) {
		drift, err := boards.Reconcile(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if drift != 0 {
			t.Errorf("%s: the live board differs from a rebuild in %d members", p, drift)
		}
	}
}

// readBoards reads the city's board of every current period over REST and
// returns how many have a score above 0.
func readBoards(t *testing.T, base, token string) int {
	t.Helper()
	scored := 0
	for _, p := range period.All(time.Now()) {
		r := call(base, http.MethodGet, "/v1/regions/140400000000/leaderboard?pageSize=5&period="+p.String(), token, nil)
		if r.status != http.StatusOK {
			t.Fatalf("leaderboard %s: %v %s", p, r, r.body)
		}
		var page struct {
			Entries []struct{ Score float64 }
		}
		r.decode(t, &page)
		if len(page.Entries) > 0 && page.Entries[0].Score > 0 {
			scored++
		}
	}
	return scored
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
