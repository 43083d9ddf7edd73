// Package feedback is the residents' ratings (好差评) of their completed
// errands and the follow-ups (回访) a bad rating opens for the township: the
// rules of rating (the levels, the 30-day window, which levels are bad or
// satisfied), recording a rating with its history and follow-up, and
// listing and closing follow-ups. ResidentService.RateMyErrand and
// ReportService's follow-up methods delegate here, so the API is theirs and
// the rules are in one place.
package feedback

import (
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/pagetoken"
)

// Service records ratings and keeps follow-ups.
type Service struct {
	db    *ent.Client
	cal   *calendar.Cache
	pages *pagetoken.Signer
	now   func() time.Time
}

// New returns the feedback service; cal counts a follow-up's open working
// days, pages signs the page tokens of the follow-up list and now is the
// clock of the rating window and of follow-ups' times.
func New(db *ent.Client, cal *calendar.Cache, pages *pagetoken.Signer, now func() time.Time) *Service {
	return &Service{db: db, cal: cal, pages: pages, now: now}
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }
