package errands

import (
	"testing"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/service/calendar"
)

// shanghai parses "2006-01-02 15:04:05" in Asia/Shanghai. 2026-11-23 is a
// Monday.
func shanghai(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.ParseInLocation(time.DateTime, s, calendar.Location)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func officialCalendar(tb testing.TB) *calendar.Calendar {
	tb.Helper()
	days, err := calendar.Official()
	if err != nil {
		tb.Fatal(err)
	}
	return calendar.New(days)
}

// TestSlaOf: the overdue / due-soon flags the errand view shows, including
// the stopped clock while NEEDS_MATERIALS.
func TestSlaOf(t *testing.T) {
	t.Parallel()
	cal := calendar.New(nil)     // Monday–Friday
	due := "2026-11-26 23:59:59" // Thursday
	cases := []struct {
		name   string
		state  errand.State
		due    string
		paused string // "" when running
		now    string
		want   sla
	}{
		{"two working days left", errand.StateIN_PROGRESS, due, "", "2026-11-24 10:00:00", sla{}},
		{"due by the end of the next working day", errand.StateACCEPTED, due, "", "2026-11-25 10:00:00", sla{dueSoon: true}},
		{"due today", errand.StateFORWARDED, due, "", "2026-11-26 09:00:00", sla{dueSoon: true}},
		{"at the due second, not yet overdue", errand.StateIN_PROGRESS, due, "", due, sla{dueSoon: true}},
		{"a second late", errand.StateIN_PROGRESS, due, "", "2026-11-27 00:00:00", sla{overdue: true}},
		{"due Monday, seen on Friday: the weekend does not count", errand.StateIN_PROGRESS, "2026-11-30 23:59:59", "", "2026-11-27 10:00:00", sla{dueSoon: true}},
		{"due Tuesday, seen on Friday", errand.StateIN_PROGRESS, "2026-12-01 23:59:59", "", "2026-11-27 10:00:00", sla{}},
		{"paused in time stays on time however long it waits", errand.StateNEEDS_MATERIALS, due, "2026-11-25 10:00:00", "2027-01-10 10:00:00", sla{}},
		{"paused in time is not due soon either", errand.StateNEEDS_MATERIALS, due, "2026-11-26 10:00:00", "2026-11-26 11:00:00", sla{}},
		{"paused when already late stays late", errand.StateNEEDS_MATERIALS, due, "2026-11-27 10:00:00", "2026-11-27 11:00:00", sla{overdue: true}},
		{"completed late is not flagged", errand.StateCOMPLETED, due, "", "2026-12-10 10:00:00", sla{}},
		{"cancelled late is not flagged", errand.StateCANCELLED, due, "", "2026-12-10 10:00:00", sla{}},
		{"cancelled while paused late is not flagged", errand.StateCANCELLED, due, "2026-11-27 10:00:00", "2026-12-10 10:00:00", sla{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := &ent.Errand{State: tc.state, DueTime: shanghai(t, tc.due).UTC()}
			if tc.paused != "" {
				p := shanghai(t, tc.paused).UTC()
				e.PauseTime = &p
			}
			if got := slaOf(e, cal, shanghai(t, tc.now)); got != tc.want {
				t.Errorf("slaOf = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestResumeDue: the due time moves later by the working days spent
// waiting for materials, counted like the SLA itself (the day the pause
// began is not counted, the day it ended is).
func TestResumeDue(t *testing.T) {
	t.Parallel()
	plain := calendar.New(nil)
	official := officialCalendar(t)
	cases := []struct {
		name               string
		cal                *calendar.Calendar
		due, pausedAt, now string
		want               string
	}{
		{"resumed the same day", plain, "2026-11-26 23:59:59", "2026-11-24 09:00:00", "2026-11-24 17:00:00", "2026-11-26 23:59:59"},
		{"one working day", plain, "2026-11-26 23:59:59", "2026-11-24 09:00:00", "2026-11-25 09:00:00", "2026-11-27 23:59:59"},
		{"over a weekend counts Monday only", plain, "2026-11-26 23:59:59", "2026-11-27 16:00:00", "2026-11-30 09:00:00", "2026-11-27 23:59:59"},
		{"paused Friday, resumed Sunday: no working day", plain, "2026-11-26 23:59:59", "2026-11-27 16:00:00", "2026-11-29 09:00:00", "2026-11-26 23:59:59"},
		{"a week moves the due over the weekend", plain, "2026-11-26 23:59:59", "2026-11-23 09:00:00", "2026-11-30 09:00:00", "2026-12-03 23:59:59"},
		{"late at night in Shanghai is the next day", plain, "2026-11-26 23:59:59", "2026-11-24 23:30:00", "2026-11-25 00:30:00", "2026-11-27 23:59:59"},
		// National Day 2026: 10-01..07 off, 10-10 (Saturday) worked.
		{"holidays while waiting don't count", official, "2026-10-09 23:59:59", "2026-09-30 10:00:00", "2026-10-08 10:00:00", "2026-10-10 23:59:59"},
		{"the moved due skips holidays", official, "2026-09-30 23:59:59", "2026-09-29 10:00:00", "2026-09-30 10:00:00", "2026-10-08 23:59:59"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			due := shanghai(t, tc.due).UTC()
			got := resumeDue(tc.cal, due, shanghai(t, tc.pausedAt).UTC(), shanghai(t, tc.now).UTC())
			if want := shanghai(t, tc.want); !got.Equal(want) {
				t.Errorf("resumeDue = %s, want %s", got.In(calendar.Location).Format(time.DateTime), tc.want)
			}
			if got.Location() != time.UTC {
				t.Errorf("resumeDue returned %v, want UTC as stored", got.Location())
			}
		})
	}
}

// TestDueFromHistory: replaying the history after a calendar change gives
// acceptance + limit, moved by every finished pause and only those.
func TestDueFromHistory(t *testing.T) {
	t.Parallel()
	cal := calendar.New(nil)
	transition := func(from, to errand.State, at string) *ent.ErrandEvent {
		return &ent.ErrandEvent{Kind: errandevent.KindTRANSITIONED, FromState: string(from), ToState: string(to), CreateTime: shanghai(t, at).UTC()}
	}
	const (
		acc  = errand.StateACCEPTED
		prog = errand.StateIN_PROGRESS
		mat  = errand.StateNEEDS_MATERIALS
		canc = errand.StateCANCELLED
		fwd  = errand.StateFORWARDED
	)
	accepted := "2026-11-23 09:00:00" // Monday; limit 3 → Thursday
	cases := []struct {
		name   string
		events []*ent.ErrandEvent
		want   string
	}{
		{"no history", nil, "2026-11-26 23:59:59"},
		{"transitions without a pause", []*ent.ErrandEvent{
			transition(acc, prog, "2026-11-23 10:00:00"),
			transition(prog, fwd, "2026-11-24 10:00:00"),
		}, "2026-11-26 23:59:59"},
		{"one finished pause of two working days", []*ent.ErrandEvent{
			transition(prog, mat, "2026-11-23 10:00:00"),
			transition(mat, prog, "2026-11-25 10:00:00"),
		}, "2026-11-30 23:59:59"},
		{"a pause still open does not move the due", []*ent.ErrandEvent{
			transition(prog, mat, "2026-11-23 10:00:00"),
		}, "2026-11-26 23:59:59"},
		{"a pause ended by cancelling counts", []*ent.ErrandEvent{
			transition(prog, mat, "2026-11-23 10:00:00"),
			transition(mat, canc, "2026-11-24 10:00:00"),
		}, "2026-11-27 23:59:59"},
		{"two pauses add up", []*ent.ErrandEvent{
			transition(prog, mat, "2026-11-23 10:00:00"),
			transition(mat, prog, "2026-11-24 10:00:00"),
			transition(prog, mat, "2026-11-25 10:00:00"),
			transition(mat, prog, "2026-11-26 10:00:00"),
		}, "2026-11-30 23:59:59"},
		{"other kinds of event are ignored", []*ent.ErrandEvent{
			{Kind: errandevent.KindUPDATED, FromState: string(mat), ToState: string(mat), CreateTime: shanghai(t, "2026-11-23 10:00:00").UTC()},
			{Kind: errandevent.KindUPDATED, FromState: string(mat), CreateTime: shanghai(t, "2026-11-25 10:00:00").UTC()},
		}, "2026-11-26 23:59:59"},
		{"leaving NEEDS_MATERIALS without a recorded pause is ignored", []*ent.ErrandEvent{
			transition(mat, prog, "2026-11-25 10:00:00"),
		}, "2026-11-26 23:59:59"},
		{"a reopening counts the limit again from then, and pauses after it add", []*ent.ErrandEvent{
			transition(prog, mat, "2026-11-23 10:00:00"),
			transition(mat, prog, "2026-11-24 10:00:00"),
			transition(prog, errand.StateCOMPLETED, "2026-11-24 11:00:00"),
			{Kind: errandevent.KindREOPENED, FromState: string(errand.StateCOMPLETED), ToState: string(prog), CreateTime: shanghai(t, "2026-11-30 10:00:00").UTC()},
			transition(prog, mat, "2026-12-01 10:00:00"),
			transition(mat, prog, "2026-12-02 10:00:00"),
		}, "2026-12-04 23:59:59"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := &ent.Errand{AcceptTime: shanghai(t, accepted).UTC()}
			got := dueFromHistory(cal, e, 3, tc.events)
			if want := shanghai(t, tc.want); !got.Equal(want) {
				t.Errorf("dueFromHistory = %s, want %s", got.In(calendar.Location).Format(time.DateTime), tc.want)
			}
		})
	}
}
