package loadgen_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/loadgen"
)

// A short run against a demo server: every operation of the mix is
// served, none fails, and the report prints them all.
func TestRunAgainstDemo(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 200},
		Configure: func(a *app.Options) { a.TrustedProxies = 1 }})
	r, err := loadgen.Run(context.Background(), loadgen.Config{Target: s.BaseURL, Rate: 60, Duration: 2 * time.Second,
		Agents: 3, Residents: 8, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r.Print(&out)
	served := map[string]int{}
	for _, op := range r.Ops {
		served[op.Op] = op.Served
	}
	for op := range loadgen.DefaultMix {
		if served[op] == 0 {
			t.Errorf("%s never served\n%s", op, out.String())
		}
		if !strings.Contains(out.String(), op) {
			t.Errorf("the report leaves out %s\n%s", op, out.String())
		}
	}
	if p := r.Problems(); len(p) != 0 {
		t.Errorf("problems %q\n%s", p, out.String())
	}
}

// Without the server trusting its X-Forwarded-For, every resident is one
// address: the limits refuse most lookups, and the report says so.
func TestReportSaysWhenLimitsSkewIt(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 20}})
	r, err := loadgen.Run(context.Background(), loadgen.Config{Target: s.BaseURL, Rate: 100, Duration: time.Second,
		Agents: 2, Residents: 4, Mix: map[string]int{loadgen.OpLookup: 1}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if p := r.Problems(); len(p) != 1 || !strings.Contains(p[0], "refused by rate limits") {
		t.Errorf("problems %q, want the lookups refused by rate limits", p)
	}
}

func TestRefusesAnotherMachineUnlessAllowed(t *testing.T) {
	for _, target := range []string{"http://10.1.2.3:8080", "https://redpoint.example.cn", "localhost:8080"} {
		if _, err := loadgen.Run(context.Background(), loadgen.Config{Target: target}); err == nil {
			t.Errorf("%s: driven without --allow-remote", target)
		}
	}
}

func TestUnknownOperation(t *testing.T) {
	if _, err := loadgen.Run(context.Background(), loadgen.Config{Target: "http://127.0.0.1:1", Mix: map[string]int{"dance": 1}}); err == nil {
		t.Error("a mix naming an unknown operation ran")
	}
}
