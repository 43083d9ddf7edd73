package leaderboard_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/outboxevent"
	"github.com/changzhi/redpoint/ent/rating"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/testutil"
)

// effects are the effects of the scoring events written so far (with an
// outbox row id above after), each as its job would add it if it ran now,
// by outbox row id.
func (e *env) effects(after int) map[int]string {
	e.t.Helper()
	ctx := context.Background()
	rows, err := e.App.Store.Client.OutboxEvent.Query().Where(outboxevent.IDGT(after),
		outboxevent.TopicIn(outbox.TopicErrandTransitioned, outbox.TopicRatingCreated, outbox.TopicFollowUpClosed)).
		Order(ent.Asc(outboxevent.FieldID)).All(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[int]string{}
	for _, row := range rows {
		p, err := outbox.Decode(row.Topic, row.Payload)
		if err != nil {
			e.t.Fatal(err)
		}
		comps, err := e.boards.Effect(ctx, p)
		if err != nil {
			e.t.Fatal(err)
		}
		var s []string
		for _, c := range comps {
			s = append(s, fmt.Sprintf("errand %d source %d at %s: %+v points, %+d completed, %+d on time, %+d rated",
				c.ErrandID, c.Source, c.At.UTC().Format(time.RFC3339Nano), c.Points, c.Completed, c.OnTime, c.Rated))
		}
		slices.Sort(s)
		out[row.ID] = strings.Join(s, "; ")
	}
	return out
}

// effectsSeen records each event's effect the first time it is seen and
// checks it has not changed since.
type effectsSeen map[int]string

func (seen effectsSeen) check(t testing.TB, label string, now map[int]string) {
	t.Helper()
	for id, eff := range now {
		was, ok := seen[id]
		if !ok {
			seen[id] = eff
			continue
		}
		if was != eff {
			t.Errorf("%s: event %d's effect changed: was [%s], now [%s]", label, id, was, eff)
		}
	}
}

// TestAnEventsEffectDoesNotDependOnWhenItsJobRuns: an event's job may
// run late (a Redis outage, a backlog), after the errand changed again;
// what it adds must not depend on that, else the boards drift from a
// rebuild. A confirmed quick completion is judged by the consent as it
// held at that completion — not by a revocation after a reopening, nor
// by a consent given only after one.
func TestAnEventsEffectDoesNotDependOnWhenItsJobRuns(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	agent := demo.GuhanAgentPhone
	rs := redpointv1.NewResidentServiceClient(e.GRPC)
	periods := []string{"2027-03", "2027-W10", "2027-Q1"}
	for _, p := range periods { // the boards exist before the run
		if err := e.boards.Rebuild(ctx, mustPeriod(p)); err != nil {
			t.Fatal(err)
		}
	}
	seen := effectsSeen{}
	step := func(t *testing.T, at, label string, do func()) {
		t.Helper()
		e.clock.Set(testutil.At(at))
		do()
		seen.check(t, label, e.effects(0))
	}
	mine := func(x *redpointv1.Errand) string {
		return "residents/me/errands/" + fmt.Sprint(testutil.ID(t, x.Name))
	}

	t.Run("consent revoked after a reopening", func(t *testing.T) {
		me := e.resident("demo-eff1", "13955550001")
		var x *redpointv1.Errand
		step(t, "2027-03-10 09:00", "logged", func() { x = e.create(agent, "13955550001", "errandTypes/MI-PAYMENT") })
		step(t, "2027-03-10 09:01", "paper consent", func() { e.consent(agent, x.Name) })
		step(t, "2027-03-10 09:03", "confirmed quick completion", func() { e.complete(agent, x.Name) })
		step(t, "2027-03-10 10:00", "reopened by the resident", func() {
			if _, err := rs.ReopenMyErrand(me, &redpointv1.ReopenMyErrandRequest{Name: mine(x), Reason: "没有办好"}); err != nil {
				t.Fatal(err)
			}
		})
		step(t, "2027-03-10 10:30", "consent revoked", func() {
			if _, err := rs.RevokeConsent(me, &redpointv1.RevokeConsentRequest{Name: mine(x), Reason: "不办了"}); err != nil {
				t.Fatal(err)
			}
		})
	})

	t.Run("consent given after a reopening", func(t *testing.T) {
		me := e.resident("demo-eff2", "13955550002")
		var x *redpointv1.Errand
		step(t, "2027-03-11 09:00", "logged", func() { x = e.create(agent, "13955550002", "errandTypes/MI-PAYMENT") })
		step(t, "2027-03-11 09:03", "unconfirmed quick completion", func() { e.complete(agent, x.Name) })
		step(t, "2027-03-11 09:30", "rated", func() { e.rate(x.Name, rating.LevelSATISFIED) })
		step(t, "2027-03-11 10:00", "reopened by the resident", func() {
			if _, err := rs.ReopenMyErrand(me, &redpointv1.ReopenMyErrandRequest{Name: mine(x), Reason: "没有办好"}); err != nil {
				t.Fatal(err)
			}
		})
		step(t, "2027-03-11 10:30", "paper consent on the reopened errand", func() { e.consent(agent, x.Name) })
		step(t, "2027-03-11 11:00", "completed again", func() { e.complete(agent, x.Name) })
	})

	e.settle()
	for _, p := range periods {
		if drift, err := e.boards.Reconcile(ctx, mustPeriod(p)); err != nil {
			t.Fatal(err)
		} else if drift != 0 {
			t.Errorf("%s: %d members drifted from a rebuild", p, drift)
		}
	}
}
