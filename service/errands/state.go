package errands

import (
	"fmt"

	"google.golang.org/grpc/codes"

	"github.com/changzhi/redpoint/ent/errand"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/apierr"
)

// Method is a state-changing custom method.
type Method string

// The custom methods of the lifecycle.
const (
	Start            Method = "start"
	Forward          Method = "forward"
	RequestMaterials Method = "requestMaterials"
	Complete         Method = "complete"
	Cancel           Method = "cancel"
	// Reopen takes a completed errand back to work (a dispute): the
	// township secretary from a follow-up, or its resident (reopen.go).
	Reopen Method = "reopen"
)

// transitions is the state table of docs/architecture.md: for each method, the state it
// moves each allowed state to. Anything else is INVALID_STATE_TRANSITION.
var transitions = map[Method]map[errand.State]errand.State{
	Start: {
		errand.StateACCEPTED:        errand.StateIN_PROGRESS,
		errand.StateFORWARDED:       errand.StateIN_PROGRESS,
		errand.StateNEEDS_MATERIALS: errand.StateIN_PROGRESS,
	},
	Forward: {
		errand.StateIN_PROGRESS: errand.StateFORWARDED,
	},
	RequestMaterials: {
		errand.StateIN_PROGRESS: errand.StateNEEDS_MATERIALS,
		errand.StateFORWARDED:   errand.StateNEEDS_MATERIALS,
	},
	Complete: {
		errand.StateACCEPTED:    errand.StateCOMPLETED,
		errand.StateIN_PROGRESS: errand.StateCOMPLETED,
		errand.StateFORWARDED:   errand.StateCOMPLETED,
	},
	Cancel: {
		errand.StateACCEPTED:        errand.StateCANCELLED,
		errand.StateIN_PROGRESS:     errand.StateCANCELLED,
		errand.StateFORWARDED:       errand.StateCANCELLED,
		errand.StateNEEDS_MATERIALS: errand.StateCANCELLED,
	},
	Reopen: {
		errand.StateCOMPLETED: errand.StateIN_PROGRESS,
	},
}

// methodTarget is the state each method aims at, for error messages.
var methodTarget = map[Method]errand.State{
	Start:            errand.StateIN_PROGRESS,
	Forward:          errand.StateFORWARDED,
	RequestMaterials: errand.StateNEEDS_MATERIALS,
	Complete:         errand.StateCOMPLETED,
	Cancel:           errand.StateCANCELLED,
	Reopen:           errand.StateIN_PROGRESS,
}

// ErrInvalidTransition reports a move the state table does not allow.
var ErrInvalidTransition = apierr.New(codes.FailedPrecondition, "INVALID_STATE_TRANSITION", "当前状态不允许此操作")

// Next returns the state method moves from to, or ErrInvalidTransition
// with a zh-CN message naming both states.
func Next(from errand.State, m Method) (errand.State, error) {
	to, ok := transitions[m][from]
	if !ok && m == Reopen {
		return "", ErrInvalidTransition.WithMessage("事项当前为「%s」，只有已办结的事项才能重新打开", StateName(from)).
			WithMetadata("from", string(from), "to", string(methodTarget[m]))
	}
	if !ok {
		return "", ErrInvalidTransition.WithMessage("事项当前为「%s」，不能变更为「%s」", StateName(from), StateName(methodTarget[m])).
			WithMetadata("from", string(from), "to", string(methodTarget[m]))
	}
	return to, nil
}

// Final reports whether the errand is closed: no agent's method applies
// any more and it can't be edited. (A completed one can still be reopened
// by :reopen, which is not the agent's.)
func Final(s errand.State) bool { return s == errand.StateCOMPLETED || s == errand.StateCANCELLED }

var stateNames = map[errand.State]string{
	errand.StateACCEPTED:        "已受理",
	errand.StateIN_PROGRESS:     "办理中",
	errand.StateFORWARDED:       "已转办",
	errand.StateNEEDS_MATERIALS: "待补正",
	errand.StateCOMPLETED:       "已办结",
	errand.StateCANCELLED:       "已撤销",
}

// StateName is the zh-CN display name of a state.
func StateName(s errand.State) string { return stateNames[s] }

var stateProto = map[errand.State]redpointv1.ErrandState{
	errand.StateACCEPTED:        redpointv1.ErrandState_ERRAND_STATE_ACCEPTED,
	errand.StateIN_PROGRESS:     redpointv1.ErrandState_ERRAND_STATE_IN_PROGRESS,
	errand.StateFORWARDED:       redpointv1.ErrandState_ERRAND_STATE_FORWARDED,
	errand.StateNEEDS_MATERIALS: redpointv1.ErrandState_ERRAND_STATE_NEEDS_MATERIALS,
	errand.StateCOMPLETED:       redpointv1.ErrandState_ERRAND_STATE_COMPLETED,
	errand.StateCANCELLED:       redpointv1.ErrandState_ERRAND_STATE_CANCELLED,
}

// StateProto converts a stored state.
func StateProto(s errand.State) redpointv1.ErrandState { return stateProto[s] }

// ParseState accepts ERRAND_STATE_IN_PROGRESS or IN_PROGRESS.
func ParseState(s string) (errand.State, error) {
	for st, p := range stateProto {
		if s == p.String() || s == string(st) {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown state %q", s)
}

var channelProto = map[errand.Channel]redpointv1.ErrandChannel{
	errand.ChannelWALK_IN:    redpointv1.ErrandChannel_ERRAND_CHANNEL_WALK_IN,
	errand.ChannelPHONE:      redpointv1.ErrandChannel_ERRAND_CHANNEL_PHONE,
	errand.ChannelHOME_VISIT: redpointv1.ErrandChannel_ERRAND_CHANNEL_HOME_VISIT,
}

func channelFromProto(c redpointv1.ErrandChannel) (errand.Channel, bool) {
	if c == redpointv1.ErrandChannel_ERRAND_CHANNEL_UNSPECIFIED {
		return errand.ChannelWALK_IN, true
	}
	for ch, p := range channelProto {
		if p == c {
			return ch, true
		}
	}
	return "", false
}
