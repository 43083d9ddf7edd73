package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"
)

// ledger is what the run wrote, as the harness saw it: each create and
// transition the server acknowledged, and those whose outcome it never
// learned (no answer even after the retries). CheckWrites compares it with
// what the server holds.
type ledger struct {
	mu      sync.Mutex
	created map[string]bool // errand names acknowledged
	acks    int             // acknowledged creates, a name twice if answered twice
	owner   map[string]*staff
	// unknownCreates counts creates that never got an answer.
	unknownCreates int
	// moved and unknownMoves count transitions by errand and target state.
	moved, unknownMoves map[string]map[string]int
}

func newLedger() *ledger {
	return &ledger{created: map[string]bool{}, owner: map[string]*staff{}, moved: map[string]map[string]int{}, unknownMoves: map[string]map[string]int{}}
}

func (l *ledger) create(by *staff, name string, code int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err == nil && code == http.StatusOK:
		l.created[name] = true
		l.owner[name] = by
		l.acks++
	case retryable(code, err):
		l.unknownCreates++
	}
}

func (l *ledger) move(name, state string, code int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.moved
	switch {
	case err == nil && code == http.StatusOK:
	case retryable(code, err):
		m = l.unknownMoves
	default:
		return
	}
	if m[name] == nil {
		m[name] = map[string]int{}
	}
	m[name][state]++
}

// WriteCheck is the server's holdings held against the ledger. Lost are
// acknowledged writes the server does not have; Duplicated writes it has
// more often than the harness made them (a retry applied twice); Unknown
// writes never answered (each may or may not have landed).
type WriteCheck struct {
	Creates, Transitions         int // acknowledged
	Lost, Duplicated, Unknown    int
	Details                      []string // the first few lost or duplicated
	Errands, TransitionsOnServer int      // what the server holds of the run's
}

// checkWrites lists every errand the run's agents logged since start and
// the history of every errand it moved, and compares.
func (w *world) checkWrites(ctx context.Context, since time.Time) (WriteCheck, error) {
	l := w.ledger
	l.mu.Lock()
	defer l.mu.Unlock()
	out := WriteCheck{Creates: l.acks, Unknown: l.unknownCreates}
	note := func(format string, args ...any) {
		if len(out.Details) < 10 {
			out.Details = append(out.Details, fmt.Sprintf(format, args...))
		}
	}
	onServer := map[string]bool{}
	for _, a := range w.agents {
		token := ""
		for {
			var page struct {
				Errands []struct {
					Name string `json:"name"`
				} `json:"errands"`
				NextPageToken string `json:"nextPageToken"`
			}
			q := url.Values{"pageSize": {"500"}, "pageToken": {token},
				"filter": {fmt.Sprintf(`agent = "%s" AND create_time >= "%s"`, a.user, since.Format(time.RFC3339))}}
			if err := w.expect(ctx, "list the run's errands", http.MethodGet, "/v1/errands?"+q.Encode(), a.token, a.addr, nil, &page); err != nil {
				return out, err
			}
			for _, e := range page.Errands {
				onServer[e.Name] = true
			}
			if token = page.NextPageToken; token == "" {
				break
			}
		}
	}
	out.Errands = len(onServer)
	if merged := l.acks - len(l.created); merged > 0 {
		out.Lost += merged
		note("%d acknowledged creates answered with another create's errand", merged)
	}
	for name := range l.created {
		if !onServer[name] {
			out.Lost++
			note("acknowledged create of %s is not on the server", name)
		}
	}
	if extra := len(onServer) - (len(l.created) - out.Lost); extra > l.unknownCreates {
		out.Duplicated += extra - l.unknownCreates
		note("%d errands on the server that no acknowledged or unanswered create accounts for", extra-l.unknownCreates)
	}

	names := map[string]bool{}
	for name, by := range l.moved {
		names[name] = true
		for _, n := range by {
			out.Transitions += n
		}
	}
	for name, by := range l.unknownMoves {
		names[name] = true
		for _, n := range by {
			out.Unknown += n
		}
	}
	sorted := make([]string, 0, len(names))
	for name := range names {
		sorted = append(sorted, name)
	}
	sort.Strings(sorted)
	for _, name := range sorted {
		got, err := w.transitionsOf(ctx, name)
		if err != nil {
			return out, err
		}
		for state, n := range got {
			out.TransitionsOnServer += n
			acked, unknown := l.moved[name][state], l.unknownMoves[name][state]
			if n > acked+unknown {
				out.Duplicated += n - acked - unknown
				note("%s moved to %s %d times, the harness asked %d", name, state, n, acked+unknown)
			}
		}
		for state, acked := range l.moved[name] {
			if got[state] < acked {
				out.Lost += acked - got[state]
				note("%s: %d acknowledged moves to %s, %d on the server", name, acked, state, got[state])
			}
		}
	}
	return out, nil
}

// transitionsOf counts an errand's state changes by the state reached,
// as its history holds them, read by the agent who logged it.
func (w *world) transitionsOf(ctx context.Context, name string) (map[string]int, error) {
	out := map[string]int{}
	token := ""
	for {
		var page struct {
			Events []struct {
				Kind    string `json:"kind"`
				ToState string `json:"toState"`
			} `json:"events"`
			NextPageToken string `json:"nextPageToken"`
		}
		owner := w.ledger.owner[name]
		q := url.Values{"pageSize": {"500"}, "pageToken": {token}}
		if err := w.expect(ctx, "history of "+name, http.MethodGet, "/v1/"+name+"/events?"+q.Encode(), owner.token, owner.addr, nil, &page); err != nil {
			return nil, err
		}
		for _, e := range page.Events {
			if e.Kind == "ERRAND_EVENT_KIND_TRANSITIONED" {
				out[e.ToState]++
			}
		}
		if token = page.NextPageToken; token == "" {
			return out, nil
		}
	}
}
