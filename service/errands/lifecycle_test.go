package errands_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/grpc/codes"

	"github.com/changzhi/redpoint/ent/errandevent"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/testutil"
)

type st = redpointv1.ErrandState

const (
	accepted       = redpointv1.ErrandState_ERRAND_STATE_ACCEPTED
	inProgress     = redpointv1.ErrandState_ERRAND_STATE_IN_PROGRESS
	forwarded      = redpointv1.ErrandState_ERRAND_STATE_FORWARDED
	needsMaterials = redpointv1.ErrandState_ERRAND_STATE_NEEDS_MATERIALS
	completed      = redpointv1.ErrandState_ERRAND_STATE_COMPLETED
	cancelled      = redpointv1.ErrandState_ERRAND_STATE_CANCELLED
)

// method applies one custom method to the named errand.
type method struct {
	name string
	call func(ctx context.Context, c redpointv1.ErrandServiceClient, name string) (*redpointv1.Errand, error)
}

var methods = []method{
	{"start", func(ctx context.Context, c redpointv1.ErrandServiceClient, n string) (*redpointv1.Errand, error) {
		return c.StartErrand(ctx, &redpointv1.StartErrandRequest{Name: n})
	}},
	{"forward", func(ctx context.Context, c redpointv1.ErrandServiceClient, n string) (*redpointv1.Errand, error) {
		return c.ForwardErrand(ctx, &redpointv1.ForwardErrandRequest{Name: n, Office: "襄垣县人社局"})
	}},
	{"requestMaterials", func(ctx context.Context, c redpointv1.ErrandServiceClient, n string) (*redpointv1.Errand, error) {
		return c.RequestErrandMaterials(ctx, &redpointv1.RequestErrandMaterialsRequest{Name: n, MissingMaterials: []string{"户口簿"}})
	}},
	{"complete", func(ctx context.Context, c redpointv1.ErrandServiceClient, n string) (*redpointv1.Errand, error) {
		return c.CompleteErrand(ctx, &redpointv1.CompleteErrandRequest{Name: n, Result: "认证通过"})
	}},
	{"cancel", func(ctx context.Context, c redpointv1.ErrandServiceClient, n string) (*redpointv1.Errand, error) {
		return c.CancelErrand(ctx, &redpointv1.CancelErrandRequest{Name: n, Reason: "群众撤回"})
	}},
}

func methodByName(n string) method {
	for _, m := range methods {
		if m.name == n {
			return m
		}
	}
	panic(n)
}

// pathTo is how to reach each state from ACCEPTED.
var pathTo = map[st][]string{
	accepted:       nil,
	inProgress:     {"start"},
	forwarded:      {"start", "forward"},
	needsMaterials: {"start", "requestMaterials"},
	completed:      {"complete"},
	cancelled:      {"cancel"},
}

// table is the state table of docs/architecture.md; a missing entry is not allowed.
var table = map[st]map[string]st{
	accepted:       {"start": inProgress, "complete": completed, "cancel": cancelled},
	inProgress:     {"forward": forwarded, "requestMaterials": needsMaterials, "complete": completed, "cancel": cancelled},
	forwarded:      {"start": inProgress, "requestMaterials": needsMaterials, "complete": completed, "cancel": cancelled},
	needsMaterials: {"start": inProgress, "cancel": cancelled},
	completed:      {},
	cancelled:      {},
}

var zhNames = map[st]string{accepted: "已受理", inProgress: "办理中", forwarded: "已转办", needsMaterials: "待补正", completed: "已办结", cancelled: "已撤销"}

func TestEveryTransitionOfTheTable(t *testing.T) {
	e := newEnv(t)
	ctx := e.agent()
	for from, path := range pathTo {
		for _, m := range methods {
			from, path, m := from, path, m
			t.Run(from.String()+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				er := e.create(t)
				for _, step := range path {
					var err error
					if er, err = methodByName(step).call(ctx, e.client, er.Name); err != nil {
						t.Fatalf("reaching %s by %s: %v", from, step, err)
					}
				}
				if er.State != from || er.StateDisplayName != zhNames[from] {
					t.Fatalf("set-up reached %s (%s), want %s", er.State, er.StateDisplayName, from)
				}
				before := er
				got, err := m.call(ctx, e.client, er.Name)
				want, allowed := table[from][m.name]
				if !allowed {
					code, r, _ := reason(err)
					if code != codes.FailedPrecondition || r != "INVALID_STATE_TRANSITION" {
						t.Fatalf("%s from %s: %v, want FAILED_PRECONDITION INVALID_STATE_TRANSITION", m.name, from, err)
					}
					if msg := err.Error(); !strings.Contains(msg, zhNames[from]) {
						t.Errorf("message %q does not name the current state %s", msg, zhNames[from])
					}
					after, err := e.client.GetErrand(ctx, &redpointv1.GetErrandRequest{Name: er.Name})
					if err != nil {
						t.Fatal(err)
					}
					if after.Etag != before.Etag || after.State != from {
						t.Errorf("a refused move changed the errand: %s → %s", before.Etag, after.Etag)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s from %s: %v", m.name, from, err)
				}
				if got.State != want || got.StateDisplayName != zhNames[want] || got.Etag == before.Etag {
					t.Errorf("%s from %s = %s (%s) etag %s, want %s and a new etag", m.name, from, got.State, got.StateDisplayName, got.Etag, want)
				}
				events, err := e.client.ListErrandEvents(ctx, &redpointv1.ListErrandEventsRequest{Parent: er.Name})
				if err != nil {
					t.Fatal(err)
				}
				last := events.Events[len(events.Events)-1]
				if len(events.Events) != len(path)+2 || last.FromState != from || last.ToState != want || last.Actor == "" {
					t.Errorf("history has %d events, last %v; want %d ending %s → %s by the agent", len(events.Events), last, len(path)+2, from, want)
				}
			})
		}
	}
}

func TestTransitionsWriteOneOutboxEventEach(t *testing.T) {
	e := newEnv(t)
	ctx := e.agent()
	er := e.create(t)
	for _, step := range []string{"start", "forward", "start", "requestMaterials", "start", "complete"} {
		var err error
		if er, err = methodByName(step).call(ctx, e.client, er.Name); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	n, err := e.App.Store.Client.OutboxEvent.Query().Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 7 { // created + six transitions
		t.Errorf("outbox has %d events, want 7", n)
	}
	events, err := e.client.ListErrandEvents(ctx, &redpointv1.ListErrandEventsRequest{Parent: er.Name})
	if err != nil {
		t.Fatal(err)
	}
	if len(events.Events) != 7 {
		t.Errorf("history has %d events, want 7", len(events.Events))
	}
	_ = demo.GuhanAgentPhone
}

// TestChineseTextsAtTheirLimitsAreStored: every text of an errand's life
// filled to its limit in Chinese (three bytes a character) is stored, not
// a 500 — the limits are characters, in the handlers and in the schema —
// and a history note made from a full text fits.
func TestChineseTextsAtTheirLimitsAreStored(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	in := validErrand()
	in.ResidentName = strings.Repeat("申", 64)
	in.Description = strings.Repeat("述", 2000)
	x, err := e.client.CreateErrand(e.agent(), &redpointv1.CreateErrandRequest{Errand: in, RequestId: requestID()})
	if err != nil {
		t.Fatalf("a 64-character name and a 2000-character description: %v", err)
	}
	if _, err := e.client.StartErrand(e.agent(), &redpointv1.StartErrandRequest{Name: x.Name}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.ForwardErrand(e.agent(), &redpointv1.ForwardErrandRequest{Name: x.Name, Office: strings.Repeat("局", 128)}); err != nil {
		t.Fatalf("a 128-character office: %v", err)
	}
	if _, err := e.client.CompleteErrand(e.agent(), &redpointv1.CompleteErrandRequest{Name: x.Name, Result: strings.Repeat("结", 2000)}); err != nil {
		t.Fatalf("a 2000-character result: %v", err)
	}
	y, err := e.client.CreateErrand(e.agent(), &redpointv1.CreateErrandRequest{Errand: validErrand(), RequestId: requestID()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CancelErrand(e.agent(), &redpointv1.CancelErrandRequest{Name: y.Name, Reason: strings.Repeat("撤", 2000)}); err != nil {
		t.Fatalf("a 2000-character reason: %v", err)
	}
	for _, name := range []string{x.Name, y.Name} {
		evs := e.App.Store.Client.ErrandEvent.Query().Where(errandevent.ErrandID(testutil.ID(t, name))).AllX(ctx)
		last := evs[len(evs)-1]
		if n := utf8.RuneCountInString(last.Note); n == 0 || n > 2000 {
			t.Errorf("%s: the closing note has %d characters", name, n)
		}
	}
}
