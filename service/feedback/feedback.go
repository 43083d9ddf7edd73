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
// days and pages signs the page tokens of the follow-up list.
func New(db *ent.Client, cal *calendar.Cache, pages *pagetoken.Signer) *Service {
	return &Service{db: db, cal: cal, pages: pages, now: time.Now}
}

// SetClock replaces the clock (the rating window, follow-ups' times), for tests.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }
