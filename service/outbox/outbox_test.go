package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/rating"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/store/storetest"
)

var (
	updated = time.Date(2026, 11, 30, 2, 0, 0, 123456000, time.UTC)
	due     = time.Date(2026, 12, 3, 15, 59, 59, 0, time.UTC)
)

func completed() *ent.Errand {
	return &ent.Errand{ID: 42, TrackingCode: "7K3M9Q2X8PW4RT", State: errand.StateCOMPLETED, ServicePointID: 3, AgentID: 7,
		RegionID: "140423100201", DueTime: due, Version: 4, UpdateTime: updated}
}

// The payloads the producers write, one per topic.
func published() []outbox.Payload {
	return []outbox.Payload{
		outbox.NewErrandChange(outbox.ErrandCreated, completed(), 8, "", "", ""),
		outbox.NewErrandChange(outbox.ErrandUpdated, completed(), 9, errand.StateIN_PROGRESS, "calendar", ""),
		outbox.NewErrandChange(outbox.ErrandTransitioned, completed(), 10, errand.StateIN_PROGRESS, "errand.complete", "材料齐全"),
		outbox.NewRatingCreated(&ent.Rating{ErrandID: 42, Level: rating.LevelDISSATISFIED, RegionID: "140423100201"}),
		outbox.NewFollowUpClosed(&ent.FollowUp{ID: 5, ErrandID: 42, RegionID: "140423100201"}),
	}
}

// TestPayloadsDecodeAsTheyWereWritten: every payload reads back as the
// same typed value, on its own topic, with the schema version in "v".
func TestPayloadsDecodeAsTheyWereWritten(t *testing.T) {
	topics := map[string]bool{}
	for _, p := range published() {
		b, err := outbox.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		var head struct{ V int }
		if err := json.Unmarshal(b, &head); err != nil {
			t.Fatal(err)
		}
		if head.V != outbox.SchemaVersion {
			t.Errorf("%s: v = %d, want %d", p.Topic(), head.V, outbox.SchemaVersion)
		}
		got, err := outbox.Decode(p.Topic(), b)
		if err != nil {
			t.Fatalf("%s: %v", p.Topic(), err)
		}
		if diff := cmp.Diff(p, got); diff != "" {
			t.Errorf("%s: decoded differs (-written +read):\n%s", p.Topic(), diff)
		}
		topics[p.Topic()] = true
	}
	if len(topics) != 5 {
		t.Errorf("topics %v, want the five", topics)
	}
}

// TestPayloadFieldNamesAreTheContract: the JSON names are what rows in
// the table and jobs in Redis carry; renaming one would leave them
// unreadable.
func TestPayloadFieldNamesAreTheContract(t *testing.T) {
	want := map[string]string{
		outbox.TopicErrandCreated:      "agent at due_time errand errand_id event_id from_state region service_point state tracking_code v version",
		outbox.TopicErrandUpdated:      "agent at due_time errand errand_id event_id from_state method region service_point state tracking_code v version",
		outbox.TopicErrandTransitioned: "agent at due_time errand errand_id event_id from_state method note region service_point state tracking_code v version",
		outbox.TopicRatingCreated:      "errand_id rating region v",
		outbox.TopicFollowUpClosed:     "errand_id follow_up region v",
	}
	for _, p := range published() {
		b, err := outbox.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		var fields map[string]any
		if err := json.Unmarshal(b, &fields); err != nil {
			t.Fatal(err)
		}
		var names []string
		for k := range fields {
			names = append(names, k)
		}
		sort.Strings(names)
		if got := fmt.Sprint(names); got != "["+want[p.Topic()]+"]" {
			t.Errorf("%s fields %s, want [%s]", p.Topic(), got, want[p.Topic()])
		}
	}
}

// TestRowsWrittenBeforeVersionsAreVersionOne: rows the first releases
// wrote (no "v", built from maps) still decode, as version 1, including
// an errand change from before payloads carried the tracking code.
func TestRowsWrittenBeforeVersionsAreVersionOne(t *testing.T) {
	for _, c := range []struct {
		topic, row string
		want       outbox.Payload
	}{
		{outbox.TopicErrandTransitioned,
			`{"agent":7,"at":"2026-11-30T02:00:00.123456Z","due_time":"2026-12-03T15:59:59Z","errand":"errands/42","errand_id":42,"event_id":10,"from_state":"IN_PROGRESS","method":"errand.complete","note":"材料齐全","region":"140423100201","service_point":3,"state":"COMPLETED","tracking_code":"7K3M9Q2X8PW4RT","version":4}`,
			published()[2]},
		{outbox.TopicErrandCreated, // before commit ad3ebc5: no tracking code
			`{"agent":7,"at":"2026-11-30T02:00:00.123456Z","due_time":"2026-12-03T15:59:59Z","errand":"errands/42","errand_id":42,"event_id":8,"from_state":"","region":"140423100201","service_point":3,"state":"COMPLETED","version":4}`,
			func() outbox.Payload {
				e := completed()
				e.TrackingCode = ""
				return outbox.NewErrandChange(outbox.ErrandCreated, e, 8, "", "", "")
			}()},
		{outbox.TopicRatingCreated, `{"errand_id":42,"rating":"DISSATISFIED","region":"140423100201"}`, published()[3]},
		{outbox.TopicFollowUpClosed, `{"errand_id":42,"follow_up":5,"region":"140423100201"}`, published()[4]},
	} {
		got, err := outbox.Decode(c.topic, []byte(c.row))
		if err != nil {
			t.Fatalf("%s: %v", c.topic, err)
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", c.topic, diff)
		}
	}
}

// TestNewerVersionIsAnExplicitError: a payload a newer release wrote is
// an *UnknownVersionError naming its version, never read as this one.
func TestNewerVersionIsAnExplicitError(t *testing.T) {
	row := fmt.Sprintf(`{"v":%d,"errand_id":42,"rating":"DISSATISFIED","region":"140423100201"}`, outbox.SchemaVersion+1)
	p, err := outbox.Decode(outbox.TopicRatingCreated, []byte(row))
	var newer *outbox.UnknownVersionError
	if !errors.As(err, &newer) || newer.Version != outbox.SchemaVersion+1 || newer.Topic != outbox.TopicRatingCreated {
		t.Fatalf("Decode = %v, %v; want an UnknownVersionError of version %d", p, err, outbox.SchemaVersion+1)
	}
	if errors.Is(err, outbox.ErrMalformed) {
		t.Error("a newer version is not malformed: it reads once this release is upgraded")
	}
}

func TestMalformedPayloads(t *testing.T) {
	for _, c := range []struct{ name, topic, row string }{
		{"not JSON", outbox.TopicRatingCreated, `{"errand_id":`},
		{"version zero", outbox.TopicRatingCreated, `{"v":0,"errand_id":42}`},
		{"a field of the wrong type", outbox.TopicErrandUpdated, `{"errand_id":"42"}`},
		{"an unknown topic", "errand.archived", `{"errand_id":42}`},
	} {
		if p, err := outbox.Decode(c.topic, []byte(c.row)); !errors.Is(err, outbox.ErrMalformed) {
			t.Errorf("%s: Decode = %v, %v; want ErrMalformed", c.name, p, err)
		}
	}
}

// TestPublishWritesInTheCallersTransaction: the row commits, or rolls
// back, with the change; it carries the topic, the aggregate and the time.
func TestPublishWritesInTheCallersTransaction(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t).Client
	p := published()[4]
	for _, commit := range []bool{false, true} {
		tx, err := db.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := outbox.Publish(ctx, tx, updated, p); err != nil {
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.OutboxEvent.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("%d rows, want the committed one", len(rows))
	}
	row := rows[0]
	if row.Topic != outbox.TopicFollowUpClosed || row.Aggregate != "followUps/5" || !row.CreateTime.Equal(updated) {
		t.Errorf("row = %s %s %v", row.Topic, row.Aggregate, row.CreateTime)
	}
	got, err := outbox.Decode(row.Topic, row.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("(-published +stored):\n%s", diff)
	}

	tx, err := db.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := tx.Rollback(); err != nil {
			t.Error(err)
		}
	}()
	if err := outbox.Publish(ctx, tx, updated, outbox.ErrandChange{ErrandID: 42}); err == nil {
		t.Error("published an errand change of no kind")
	}
}

// TestReopeningCarriesTheCompletionItUndid: a reopening is an
// errand.transitioned change from COMPLETED that also names the undone
// completion's close and due times, under JSON names that never change;
// it reads back as written.
func TestReopeningCarriesTheCompletionItUndid(t *testing.T) {
	before := completed()
	closed := updated.Add(-time.Hour)
	before.CloseTime = &closed
	after := completed()
	after.State, after.DueTime, after.Version = errand.StateIN_PROGRESS, due.Add(72*time.Hour), 5
	p := outbox.NewErrandReopened(after, 11, before, "errand.reopen", "重新办理：未办好")
	if !p.Reopening() || p.Topic() != outbox.TopicErrandTransitioned || p.FromState != errand.StateCOMPLETED ||
		!p.ReopenedClose.Equal(closed) || !p.ReopenedDue.Equal(due) || !p.DueTime.Equal(after.DueTime) {
		t.Fatalf("reopening payload %+v", p)
	}
	if outbox.NewErrandChange(outbox.ErrandTransitioned, completed(), 10, errand.StateIN_PROGRESS, "errand.complete", "").Reopening() {
		t.Error("a completion reads as a reopening")
	}
	b, err := outbox.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	want := "[agent at due_time errand errand_id event_id from_state method note region reopened_close_time reopened_due_time service_point state tracking_code v version]"
	if got := fmt.Sprint(names); got != want {
		t.Errorf("fields %s, want %s", got, want)
	}
	got, err := outbox.Decode(p.Topic(), b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(outbox.Payload(p), got); diff != "" {
		t.Errorf("decoded differs (-written +read):\n%s", diff)
	}
}
