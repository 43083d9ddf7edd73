// Package outbox is the event contract: the topics, one Go type per
// topic's payload, the payload's schema version, Publish, which writes an
// event into the outbox table inside the transaction of the change it
// describes, and Decode, which reads a row back as its typed payload.
//
// Producers build payloads with this package's constructors only, and
// handlers (service/events) receive them decoded, so the writer and every
// reader share one definition of each event. The JSON field names are the
// ones rows have carried since the first release: rows already in the
// table, and jobs already in Redis, decode unchanged.
//
// Versions: a payload carries its schema version in a "v" field. Rows
// written before the field existed have none and are version 1. A row of
// a version newer than SchemaVersion (written by a newer release running
// alongside this one) decodes to an *UnknownVersionError, never to a
// guess: the worker archives such a job, and an operator reruns it
// (RetryFailedJob) once this replica is upgraded.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/changzhi/redpoint/ent"
)

// Topics: one per payload type, except that ErrandChange has three (its
// Kind says which).
const (
	// TopicErrandCreated: an errand was logged (ErrandChange, Kind ErrandCreated).
	TopicErrandCreated = "errand.created"
	// TopicErrandUpdated: an errand was edited, or its due time recomputed,
	// without a change of state (ErrandChange, Kind ErrandUpdated).
	TopicErrandUpdated = "errand.updated"
	// TopicErrandTransitioned: an errand moved to another state
	// (ErrandChange, Kind ErrandTransitioned).
	TopicErrandTransitioned = "errand.transitioned"
	// TopicRatingCreated: a resident rated a completed errand (RatingCreated).
	TopicRatingCreated = "rating.created"
	// TopicFollowUpClosed: the township closed a bad rating's follow-up
	// (FollowUpClosed).
	TopicFollowUpClosed = "followup.closed"
	// TopicAttachmentUploaded: an attachment's bytes were stored
	// (AttachmentUploaded); the thumbnail job starts from it.
	TopicAttachmentUploaded = "attachment.uploaded"
)

// SchemaVersion is the payload version this release writes and the
// newest it reads. Raise it, and teach Decode the older shape, when a
// payload changes in a way an older reader would misread (a field
// renamed, its meaning or type changed); adding a field does not need it.
const SchemaVersion = 1

// Payload is the body of one outbox event. Only this package's types
// implement it: ErrandChange, RatingCreated, FollowUpClosed and
// AttachmentUploaded.
type Payload interface {
	// Topic is the topic the payload is published on.
	Topic() string
	// Aggregate is the resource name of what the event is about.
	Aggregate() string
	payload()
}

// ErrMalformed reports a payload that can't be read as its topic's type,
// or a topic this package does not know. It never will be: a job that
// meets it is not retried.
var ErrMalformed = errors.New("outbox: malformed event")

// UnknownVersionError reports a payload written with a schema version
// newer than this release knows (SchemaVersion): a newer release wrote
// it. It is not retried; rerun the job once this replica is upgraded.
type UnknownVersionError struct {
	Topic   string
	Version int
}

func (e *UnknownVersionError) Error() string {
	return fmt.Sprintf("outbox: %s payload of version %d, this release reads up to %d", e.Topic, e.Version, SchemaVersion)
}

// Publish writes p as an outbox row in tx, the transaction of the change
// it describes, so the change and its event commit together or not at
// all. at is when the change happened, on the producer's clock.
func Publish(ctx context.Context, tx *ent.Tx, at time.Time, p Payload) error {
	b, err := Encode(p)
	if err != nil {
		return err
	}
	if at.IsZero() {
		return fmt.Errorf("outbox.Publish: %s without a time", p.Topic())
	}
	if err := tx.OutboxEvent.Create().SetTopic(p.Topic()).SetAggregate(p.Aggregate()).SetPayload(b).SetCreateTime(at).Exec(ctx); err != nil {
		return fmt.Errorf("outbox.Publish %s: %w", p.Topic(), err)
	}
	return nil
}

// Encode is p as an outbox row's payload: its JSON object with the
// schema version, {"v":SchemaVersion,...}.
func Encode(p Payload) ([]byte, error) {
	if p == nil || p.Topic() == "" {
		return nil, fmt.Errorf("outbox.Encode: %T has no topic", p)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("outbox.Encode %s: %w", p.Topic(), err)
	}
	if len(body) < 2 || body[0] != '{' {
		return nil, fmt.Errorf("outbox.Encode %s: %T is not a JSON object", p.Topic(), p)
	}
	out := fmt.Appendf(nil, `{"v":%d`, SchemaVersion)
	if len(body) > 2 { // not {}
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}

// Decode reads a row's payload as the type its topic carries. A payload
// without a version is version 1; one newer than SchemaVersion is an
// *UnknownVersionError; anything unreadable wraps ErrMalformed.
func Decode(topic string, raw []byte) (Payload, error) {
	var head struct {
		V *int `json:"v"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("%w: %s payload: %w", ErrMalformed, topic, err)
	}
	version := 1
	if head.V != nil {
		version = *head.V
	}
	switch {
	case version > SchemaVersion:
		return nil, &UnknownVersionError{Topic: topic, Version: version}
	case version < 1:
		return nil, fmt.Errorf("%w: %s payload of version %d", ErrMalformed, topic, version)
	}
	// Version 1 is the only one so far: every version reads the same.
	switch topic {
	case TopicErrandCreated:
		return decodeErrandChange(topic, raw, ErrandCreated)
	case TopicErrandUpdated:
		return decodeErrandChange(topic, raw, ErrandUpdated)
	case TopicErrandTransitioned:
		return decodeErrandChange(topic, raw, ErrandTransitioned)
	case TopicRatingCreated:
		return decodeAs[RatingCreated](topic, raw)
	case TopicFollowUpClosed:
		return decodeAs[FollowUpClosed](topic, raw)
	case TopicAttachmentUploaded:
		return decodeAs[AttachmentUploaded](topic, raw)
	}
	return nil, fmt.Errorf("%w: unknown topic %q", ErrMalformed, topic)
}

func decodeErrandChange(topic string, raw []byte, kind ErrandKind) (Payload, error) {
	p, err := decodeAs[ErrandChange](topic, raw)
	if err != nil {
		return nil, err
	}
	c := p.(ErrandChange)
	c.Kind = kind
	return c, nil
}

func decodeAs[P Payload](topic string, raw []byte) (Payload, error) {
	var p P
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("%w: %s payload: %w", ErrMalformed, topic, err)
	}
	return p, nil
}
