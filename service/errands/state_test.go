package errands

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/changzhi/redpoint/ent/errand"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/apierr"
)

var (
	allStates = []errand.State{
		errand.StateACCEPTED,
		errand.StateIN_PROGRESS,
		errand.StateFORWARDED,
		errand.StateNEEDS_MATERIALS,
		errand.StateCOMPLETED,
		errand.StateCANCELLED,
	}
	allMethods = []Method{Start, Forward, RequestMaterials, Complete, Cancel, Reopen}
)

// TestNextFollowsTheStateTable checks every (state, method) cell against
// the state table of docs/architecture.md, written out here by hand rather
// than derived from transitions so that a changed cell in state.go fails. "" means the move is
// refused with INVALID_STATE_TRANSITION.
func TestNextFollowsTheStateTable(t *testing.T) {
	t.Parallel()
	const (
		acc  = errand.StateACCEPTED
		prog = errand.StateIN_PROGRESS
		fwd  = errand.StateFORWARDED
		mat  = errand.StateNEEDS_MATERIALS
		done = errand.StateCOMPLETED
		canc = errand.StateCANCELLED
		no   = errand.State("")
	)
	// Columns: start, forward, requestMaterials, complete, cancel, reopen.
	table := map[errand.State][6]errand.State{
		acc:  {prog, no, no, done, canc, no},
		prog: {no, fwd, mat, done, canc, no},
		fwd:  {prog, no, mat, done, canc, no},
		mat:  {prog, no, no, no, canc, no},
		done: {no, no, no, no, no, prog},
		canc: {no, no, no, no, no, no},
	}
	if len(table) != len(allStates) {
		t.Fatalf("table has %d rows, want one per state (%d)", len(table), len(allStates))
	}
	for _, from := range allStates {
		row, ok := table[from]
		if !ok {
			t.Fatalf("no table row for %s", from)
		}
		for i, m := range allMethods {
			want := row[i]
			t.Run(string(from)+"/"+string(m), func(t *testing.T) {
				t.Parallel()
				got, err := Next(from, m)
				if want == no {
					if !errors.Is(err, ErrInvalidTransition) {
						t.Fatalf("Next(%s, %s) = %q, %v; want ErrInvalidTransition", from, m, got, err)
					}
					if got != "" {
						t.Errorf("Next(%s, %s) returned state %q with its error", from, m, got)
					}
					return
				}
				if err != nil || got != want {
					t.Fatalf("Next(%s, %s) = %q, %v; want %s", from, m, got, err, want)
				}
			})
		}
	}
}

// TestNextRefusalTellsTheUserBothStates: the refusal is FAILED_PRECONDITION,
// names the current and the aimed-at state in zh-CN, and carries them as
// ErrorInfo metadata for clients.
func TestNextRefusalTellsTheUserBothStates(t *testing.T) {
	t.Parallel()
	_, err := Next(errand.StateCOMPLETED, Forward)
	var e *apierr.Error
	if !errors.As(err, &e) {
		t.Fatalf("Next(COMPLETED, forward) error %v is not an *apierr.Error", err)
	}
	if e.Code != codes.FailedPrecondition || e.Reason != "INVALID_STATE_TRANSITION" {
		t.Errorf("code, reason = %v, %s; want FailedPrecondition, INVALID_STATE_TRANSITION", e.Code, e.Reason)
	}
	for _, name := range []string{"已办结", "已转办"} {
		if !strings.Contains(e.Message, name) {
			t.Errorf("message %q does not name %s", e.Message, name)
		}
	}
	if e.Metadata["from"] != "COMPLETED" || e.Metadata["to"] != "FORWARDED" {
		t.Errorf("metadata = %v, want from=COMPLETED to=FORWARDED", e.Metadata)
	}
	// The declared error is a value other packages share: Next must not
	// have written into it.
	if ErrInvalidTransition.Metadata != nil || ErrInvalidTransition.Message != "当前状态不允许此操作" {
		t.Errorf("ErrInvalidTransition was modified: %+v", ErrInvalidTransition)
	}
}

func TestNextUnknownMethodOrState(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		from errand.State
		m    Method
	}{
		{"unknown method", errand.StateCOMPLETED, Method("undo")},
		{"empty method", errand.StateIN_PROGRESS, Method("")},
		{"method case matters", errand.StateACCEPTED, Method("Start")},
		{"unknown state", errand.State("PAUSED"), Start},
		{"empty state", errand.State(""), Cancel},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got, err := Next(tc.from, tc.m); !errors.Is(err, ErrInvalidTransition) {
				t.Errorf("Next(%q, %q) = %q, %v; want ErrInvalidTransition", tc.from, tc.m, got, err)
			}
		})
	}
}

// TestFinal: exactly the states where no agent's method applies are final
// (COMPLETED still takes :reopen, the township's or the resident's).
func TestFinal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		state errand.State
		want  bool
	}{
		{errand.StateACCEPTED, false},
		{errand.StateIN_PROGRESS, false},
		{errand.StateFORWARDED, false},
		{errand.StateNEEDS_MATERIALS, false},
		{errand.StateCOMPLETED, true},
		{errand.StateCANCELLED, true},
	}
	for _, tc := range cases {
		if got := Final(tc.state); got != tc.want {
			t.Errorf("Final(%s) = %v, want %v", tc.state, got, tc.want)
		}
		// Final and the table must agree.
		anyMove := false
		for _, m := range allMethods {
			if m == Reopen {
				continue
			}
			if _, err := Next(tc.state, m); err == nil {
				anyMove = true
			}
		}
		if anyMove == Final(tc.state) {
			t.Errorf("Final(%s) = %v but some method applies: %v", tc.state, Final(tc.state), anyMove)
		}
	}
}

func TestStateName(t *testing.T) {
	t.Parallel()
	want := map[errand.State]string{
		errand.StateACCEPTED:        "已受理",
		errand.StateIN_PROGRESS:     "办理中",
		errand.StateFORWARDED:       "已转办",
		errand.StateNEEDS_MATERIALS: "待补正",
		errand.StateCOMPLETED:       "已办结",
		errand.StateCANCELLED:       "已撤销",
	}
	for _, s := range allStates {
		if got := StateName(s); got != want[s] {
			t.Errorf("StateName(%s) = %q, want %q", s, got, want[s])
		}
	}
	// Every proto state is shown to users somewhere, so each needs a name.
	for v, name := range redpointv1.ErrandState_name {
		p := redpointv1.ErrandState(v)
		if p == redpointv1.ErrandState_ERRAND_STATE_UNSPECIFIED {
			continue
		}
		s, err := ParseState(name)
		if err != nil || StateName(s) == "" {
			t.Errorf("proto state %s: ParseState = %q, %v; zh-CN name %q", name, s, err, StateName(s))
		}
	}
}

func TestStateProtoAndParseStateRoundTrip(t *testing.T) {
	t.Parallel()
	seen := map[redpointv1.ErrandState]errand.State{}
	for _, st := range allStates {
		if err := errand.StateValidator(st); err != nil {
			t.Fatalf("test state list is stale: %v", err)
		}
		s := string(st)
		p := StateProto(st)
		if p == redpointv1.ErrandState_ERRAND_STATE_UNSPECIFIED {
			t.Errorf("StateProto(%s) = UNSPECIFIED", st)
			continue
		}
		if other, dup := seen[p]; dup {
			t.Errorf("StateProto(%s) = StateProto(%s) = %v", st, other, p)
		}
		seen[p] = st
		if want := "ERRAND_STATE_" + s; p.String() != want {
			t.Errorf("StateProto(%s) = %v, want %s", st, p, want)
		}
		for _, in := range []string{p.String(), s} {
			got, err := ParseState(in)
			if err != nil || got != st {
				t.Errorf("ParseState(%q) = %q, %v; want %s", in, got, err, st)
			}
		}
	}
	// Every proto state except UNSPECIFIED is reachable from a stored one.
	for v, name := range redpointv1.ErrandState_name {
		if p := redpointv1.ErrandState(v); p != redpointv1.ErrandState_ERRAND_STATE_UNSPECIFIED {
			if _, ok := seen[p]; !ok {
				t.Errorf("proto state %s has no stored state", name)
			}
		}
	}
}

func TestParseStateRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"",
		"ERRAND_STATE_UNSPECIFIED",
		"in_progress",
		"errand_state_in_progress",
		" IN_PROGRESS",
		"IN_PROGRESS ",
		"ERRAND_STATE_",
		"STATE_IN_PROGRESS",
		"已受理",
		"1",
	} {
		if got, err := ParseState(in); err == nil {
			t.Errorf("ParseState(%q) = %q, want an error", in, got)
		}
	}
}
