package demo

import (
	"time"

	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/ent/followup"
	"github.com/changzhi/redpoint/ent/rating"
	"github.com/changzhi/redpoint/service/feedback"
	"github.com/changzhi/redpoint/service/pii"
)

// History is one generated errand as the app's own writes would have left
// it: the row's columns, its events in order, and its rating. Seed writes
// it through ent; service/scaleseed copies it in bulk. The database
// assigns nothing but ids: the writer gives the change number.
type History struct {
	TrackingCode, ErrandType                                   string
	ServicePointID, AgentID                                    int
	Region                                                     string // the point's village
	ResidentName                                               string
	ResidentPhoneCipher, ResidentPhoneHash, ResidentPhoneLast4 string
	ResidentIDNumberCipher, ResidentIDNumberHash               string
	State                                                      errand.State
	Channel                                                    errand.Channel
	Description                                                string
	Materials, MissingMaterials                                []string
	ForwardedTo, Result, CancelReason                          string
	Accept, Due, Update                                        time.Time
	Pause, Close, FirstClose                                   *time.Time
	WorkingDays                                                *int
	Version                                                    int64
	Events                                                     []Event
	Rating                                                     *Rating
}

// Event is one entry of a History's events.
type Event struct {
	Kind        errandevent.Kind
	From, To    string
	Actor       errandevent.ActorKind
	ActorUserID *int
	Note        string
	At          time.Time
}

// Rating is a History's rating, with its follow-up after a bad one.
type Rating struct {
	Level    rating.Level
	Comment  string
	At       time.Time
	FollowUp *FollowUp
}

// FollowUp is a bad Rating's call-back: open, or closed by the township's secretary.
type FollowUp struct {
	State    followup.State
	Outcome  *followup.Outcome
	Note     string
	ClosedBy *int
	Close    *time.Time
	Update   time.Time
	Version  int64
}

// history seals p's resident as the errands service does and works out
// the columns and events its steps leave, as the service's transitions
// would have: the close time and working days on completion, the missing
// materials only while they are missing, the due time moved only once the
// clock resumed.
func (g *generator) history(p *plan) (History, error) {
	phoneC, err := g.keys.Encrypt(p.res.phone)
	if err != nil {
		return History{}, err
	}
	idC, err := g.keys.Encrypt(p.res.idNumber)
	if err != nil {
		return History{}, err
	}
	h := History{
		TrackingCode: p.code, ErrandType: p.typ.code,
		ServicePointID: p.point.id, AgentID: p.agent, Region: p.point.region,
		ResidentName:        p.res.name,
		ResidentPhoneCipher: phoneC, ResidentPhoneHash: g.keys.Hash(pii.KindPhone, p.res.phone), ResidentPhoneLast4: p.res.phone[7:],
		ResidentIDNumberCipher: idC, ResidentIDNumberHash: g.keys.Hash(pii.KindIDNumber, p.res.idNumber),
		State: p.state(), Channel: p.channel, Description: "代办" + p.typ.name,
		Materials: p.typ.materials, MissingMaterials: []string{},
		Accept: p.accept, Due: p.due, Update: p.lastChange(), Pause: p.pausedAt,
		Version: int64(1 + len(p.steps)),
	}
	if h.State == errand.StateNEEDS_MATERIALS {
		h.Due = g.cal.Due(p.accept, p.typ.days) // moves on when the clock resumes
	}
	agent := p.agent
	h.Events = append(h.Events, Event{Kind: errandevent.KindCREATED, To: string(errand.StateACCEPTED),
		Actor: errandevent.ActorKindSTAFF, ActorUserID: &agent, Note: "受理：" + p.typ.name, At: p.accept})
	for _, s := range p.steps {
		switch s.to {
		case errand.StateFORWARDED:
			h.ForwardedTo = p.typ.department
		case errand.StateNEEDS_MATERIALS:
			h.MissingMaterials = []string{s.note[len("缺少材料："):]}
		case errand.StateIN_PROGRESS:
			h.MissingMaterials = []string{}
		case errand.StateCOMPLETED:
			at, days := s.at, g.cal.WorkingDaysBetween(p.accept, s.at)
			h.Result, h.Close, h.FirstClose, h.WorkingDays = "已办结，结果已告知群众", &at, &at, &days
		case errand.StateCANCELLED:
			at := s.at
			h.CancelReason, h.Close = s.note, &at
		}
		h.Events = append(h.Events, Event{Kind: errandevent.KindTRANSITIONED, From: string(s.from), To: string(s.to),
			Actor: errandevent.ActorKindSTAFF, ActorUserID: &agent, Note: s.note, At: s.at})
	}
	r := p.rating
	if r == nil {
		return h, nil
	}
	h.Rating = &Rating{Level: r.level, Comment: r.comment, At: r.at}
	h.Events = append(h.Events, Event{Kind: errandevent.KindRATED, Actor: errandevent.ActorKindRESIDENT, Note: string(r.level), At: r.at})
	fu := r.followUp
	if fu == nil {
		return h, nil
	}
	f := &FollowUp{State: followup.StateOPEN, Update: r.at, Version: 1}
	h.Rating.FollowUp = f
	h.Events = append(h.Events, Event{Kind: errandevent.KindFOLLOW_UP_OPENED, Actor: errandevent.ActorKindSYSTEM, Note: feedback.FollowUpOpenedNote, At: r.at})
	if fu.closeAt != nil {
		secretary, outcome := p.point.secretary, fu.outcome
		f.State, f.Outcome, f.Note, f.ClosedBy, f.Close, f.Update, f.Version = followup.StateCLOSED, &outcome, fu.note, &secretary, fu.closeAt, *fu.closeAt, 2
		h.Events = append(h.Events, Event{Kind: errandevent.KindFOLLOW_UP_CLOSED, Actor: errandevent.ActorKindSTAFF, ActorUserID: &secretary,
			Note: fu.note, At: *fu.closeAt})
	}
	return h, nil
}
