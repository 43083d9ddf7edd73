package outbox

import (
	"strconv"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/rating"
	"github.com/changzhi/redpoint/service/resname"
)

// ErrandKind says which change of an errand an ErrandChange reports, and
// so its topic.
type ErrandKind int

// The kinds of ErrandChange.
const (
	ErrandCreated      ErrandKind = iota + 1 // TopicErrandCreated
	ErrandUpdated                            // TopicErrandUpdated
	ErrandTransitioned                       // TopicErrandTransitioned
)

// ErrandChange is the payload of the errand's three topics: the errand as
// it stands after the change.
type ErrandChange struct {
	// Kind is which change this is; the topic says it, not the JSON.
	Kind ErrandKind `json:"-"`
	// Errand is the errand's resource name, errands/{id}.
	Errand   string `json:"errand"`
	ErrandID int    `json:"errand_id"`
	// TrackingCode is the errand's public lookup code. It is empty in
	// version-1 rows written before it was added (commit ad3ebc5, after
	// the first migration): a reader that needs it reads the errand.
	TrackingCode string `json:"tracking_code"`
	// EventID is the errand history entry (errand_events) of the change.
	EventID int `json:"event_id"`
	// State is the errand's state after the change, FromState before it
	// (empty for a created errand).
	State     errand.State `json:"state"`
	FromState errand.State `json:"from_state"`
	// ServicePointID, AgentID and Region are where the errand belongs.
	ServicePointID int       `json:"service_point"`
	AgentID        int       `json:"agent"`
	Region         string    `json:"region"`
	DueTime        time.Time `json:"due_time"`
	// ErrandVersion is the errand's version (its etag) after the change.
	ErrandVersion int64 `json:"version"`
	// At is the errand's update time: when the change happened.
	At time.Time `json:"at"`
	// Method is the method of an update or transition ("errand.start",
	// "errand.recordPaperConsent", "consent.grant", "consent.revoke",
	// "errand.update", ...), or "calendar" for a due time recomputed after the
	// holiday calendar changed; empty for a created errand.
	Method string `json:"method,omitempty"`
	// Note is the history entry's note of an update or transition.
	Note string `json:"note,omitempty"`
	// ReopenedClose and ReopenedDue are, for a reopening (method
	// "errand.reopen" or "resident.reopen"), the completion it undid: its
	// close time and the due time it was measured against. The
	// leaderboard withdraws that completion's points with them.
	ReopenedClose *time.Time `json:"reopened_close_time,omitempty"`
	ReopenedDue   *time.Time `json:"reopened_due_time,omitempty"`
}

// NewErrandReopened describes the reopening of before (the completed
// errand) as after, saved by it: an ErrandTransitioned change carrying the
// completion it undid.
func NewErrandReopened(after *ent.Errand, eventID int, before *ent.Errand, method, note string) ErrandChange {
	c := NewErrandChange(ErrandTransitioned, after, eventID, before.State, method, note)
	due := before.DueTime
	c.ReopenedClose, c.ReopenedDue = before.CloseTime, &due
	return c
}

// Reopening reports whether c is a reopening of a completed errand.
func (c ErrandChange) Reopening() bool {
	return c.Kind == ErrandTransitioned && c.FromState == errand.StateCOMPLETED && c.ReopenedClose != nil && c.ReopenedDue != nil
}

// NewErrandChange describes a change of kind to e, the errand as saved by
// the change: eventID is its history entry, from the state before it
// ("" for a created errand), method and note what the history says.
func NewErrandChange(kind ErrandKind, e *ent.Errand, eventID int, from errand.State, method, note string) ErrandChange {
	return ErrandChange{
		Kind:           kind,
		Errand:         resname.Name(resname.Errands, e.ID),
		ErrandID:       e.ID,
		TrackingCode:   e.TrackingCode,
		EventID:        eventID,
		State:          e.State,
		FromState:      from,
		ServicePointID: e.ServicePointID,
		AgentID:        e.AgentID,
		Region:         e.RegionID,
		DueTime:        e.DueTime,
		ErrandVersion:  e.Version,
		At:             e.UpdateTime,
		Method:         method,
		Note:           note,
	}
}

// Topic is the topic of c's kind; "" for a zero Kind, which Publish refuses.
func (c ErrandChange) Topic() string {
	switch c.Kind {
	case ErrandCreated:
		return TopicErrandCreated
	case ErrandUpdated:
		return TopicErrandUpdated
	case ErrandTransitioned:
		return TopicErrandTransitioned
	}
	return ""
}

// Aggregate is the errand's resource name.
func (c ErrandChange) Aggregate() string { return resname.Name(resname.Errands, c.ErrandID) }

func (ErrandChange) payload() {}

// RatingCreated is the payload of TopicRatingCreated.
type RatingCreated struct {
	ErrandID int          `json:"errand_id"`
	Rating   rating.Level `json:"rating"`
	// Region is the rated errand's region.
	Region string `json:"region"`
}

// NewRatingCreated describes the rating r, as saved.
func NewRatingCreated(r *ent.Rating) RatingCreated {
	return RatingCreated{ErrandID: r.ErrandID, Rating: r.Level, Region: r.RegionID}
}

// Topic is TopicRatingCreated.
func (RatingCreated) Topic() string { return TopicRatingCreated }

// Aggregate is the rated errand's resource name.
func (r RatingCreated) Aggregate() string { return resname.Name(resname.Errands, r.ErrandID) }

func (RatingCreated) payload() {}

// FollowUpClosed is the payload of TopicFollowUpClosed.
type FollowUpClosed struct {
	ErrandID int `json:"errand_id"`
	// FollowUp is the follow-up's id.
	FollowUp int `json:"follow_up"`
	// Region is the follow-up's (its errand's) region.
	Region string `json:"region"`
}

// NewFollowUpClosed describes the closing of the follow-up f.
func NewFollowUpClosed(f *ent.FollowUp) FollowUpClosed {
	return FollowUpClosed{ErrandID: f.ErrandID, FollowUp: f.ID, Region: f.RegionID}
}

// Topic is TopicFollowUpClosed.
func (FollowUpClosed) Topic() string { return TopicFollowUpClosed }

// Aggregate is the follow-up's resource name, followUps/{id}.
func (f FollowUpClosed) Aggregate() string { return "followUps/" + strconv.Itoa(f.FollowUp) }

func (FollowUpClosed) payload() {}

// AttachmentUploaded is the payload of TopicAttachmentUploaded.
type AttachmentUploaded struct {
	ErrandID int `json:"errand_id"`
	// Attachment is the attachment's id.
	Attachment int `json:"attachment"`
	// ContentType is what the bytes were sniffed as.
	ContentType string `json:"content_type"`
}

// NewAttachmentUploaded describes the upload of a, as saved.
func NewAttachmentUploaded(a *ent.Attachment) AttachmentUploaded {
	return AttachmentUploaded{ErrandID: a.ErrandID, Attachment: a.ID, ContentType: a.ContentType}
}

// Topic is TopicAttachmentUploaded.
func (AttachmentUploaded) Topic() string { return TopicAttachmentUploaded }

// Aggregate is the attachment's resource name.
func (a AttachmentUploaded) Aggregate() string {
	return resname.Name(resname.Errands, a.ErrandID) + "/attachments/" + strconv.Itoa(a.Attachment)
}

func (AttachmentUploaded) payload() {}
