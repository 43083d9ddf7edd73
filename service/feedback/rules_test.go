package feedback

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/followup"
	"github.com/changzhi/redpoint/ent/rating"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/apierr"
)

// fields are the fields err complains about, in order.
func fields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var e *apierr.Error
	if !errors.As(err, &e) {
		t.Fatalf("%v is not an apierr.Error", err)
	}
	var out []string
	for _, v := range e.Violations {
		out = append(out, v.Field)
	}
	return out
}

func TestRateable(t *testing.T) {
	t.Parallel()
	closed := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	last := closed.Add(RatingWindow)
	cases := []struct {
		name   string
		rated  bool
		state  errand.State
		closed *time.Time
		now    time.Time
		want   error
	}{
		{"completed, a day later", false, errand.StateCOMPLETED, &closed, closed.Add(24 * time.Hour), nil},
		{"at the window's last instant", false, errand.StateCOMPLETED, &closed, last, nil},
		{"a microsecond past the window", false, errand.StateCOMPLETED, &closed, last.Add(time.Microsecond), ErrTooLate},
		{"rated already", true, errand.StateCOMPLETED, &closed, closed.Add(time.Hour), ErrAlreadyRated},
		{"rated already and late: rated wins", true, errand.StateCOMPLETED, &closed, last.Add(time.Hour), ErrAlreadyRated},
		{"in progress", false, errand.StateIN_PROGRESS, nil, closed, ErrNotCompleted},
		{"cancelled", false, errand.StateCANCELLED, &closed, closed.Add(time.Hour), ErrNotCompleted},
		{"completed without a close time", false, errand.StateCOMPLETED, nil, closed, ErrNotCompleted},
	}
	for _, tc := range cases {
		if got := Rateable(tc.rated, tc.state, tc.closed, tc.now); !errors.Is(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("%s: Rateable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCanRate(t *testing.T) {
	t.Parallel()
	closed := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	last := closed.Add(RatingWindow)
	cases := []struct {
		name   string
		rated  bool
		state  errand.State
		closed *time.Time
		now    time.Time
		want   bool
	}{
		{"completed, a day later", false, errand.StateCOMPLETED, &closed, closed.Add(24 * time.Hour), true},
		{"a microsecond before the window ends", false, errand.StateCOMPLETED, &closed, last.Add(-time.Microsecond), true},
		{"at the window's last instant", false, errand.StateCOMPLETED, &closed, last, false},
		{"past the window", false, errand.StateCOMPLETED, &closed, last.Add(time.Hour), false},
		{"rated already", true, errand.StateCOMPLETED, &closed, closed.Add(time.Hour), false},
		{"needs materials", false, errand.StateNEEDS_MATERIALS, nil, closed, false},
		{"completed without a close time", false, errand.StateCOMPLETED, nil, closed, false},
	}
	for _, tc := range cases {
		if got := CanRate(tc.rated, tc.state, tc.closed, tc.now); got != tc.want {
			t.Errorf("%s: CanRate = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestLevels(t *testing.T) {
	t.Parallel()
	cases := []struct {
		api       redpointv1.RatingLevel
		stored    rating.Level
		name      string
		bad       bool
		satisfied bool
	}{
		{redpointv1.RatingLevel_RATING_LEVEL_VERY_SATISFIED, rating.LevelVERY_SATISFIED, "非常满意", false, true},
		{redpointv1.RatingLevel_RATING_LEVEL_SATISFIED, rating.LevelSATISFIED, "满意", false, true},
		{redpointv1.RatingLevel_RATING_LEVEL_BASICALLY_SATISFIED, rating.LevelBASICALLY_SATISFIED, "基本满意", false, true},
		{redpointv1.RatingLevel_RATING_LEVEL_DISSATISFIED, rating.LevelDISSATISFIED, "不满意", true, false},
		{redpointv1.RatingLevel_RATING_LEVEL_VERY_DISSATISFIED, rating.LevelVERY_DISSATISFIED, "非常不满意", true, false},
	}
	if len(cases) != len(redpointv1.RatingLevel_name)-1 {
		t.Fatalf("the API has %d levels besides UNSPECIFIED, the table %d", len(redpointv1.RatingLevel_name)-1, len(cases))
	}
	for _, tc := range cases {
		if err := rating.LevelValidator(tc.stored); err != nil {
			t.Errorf("%s: not a stored level: %v", tc.stored, err)
		}
		var v apierr.Violations
		if got, _ := ValidateRating(&v, tc.api, ""); got != tc.stored || len(v) != 0 {
			t.Errorf("%v is stored as %q (%v), want %q", tc.api, got, v, tc.stored)
		}
		if got := LevelProto(tc.stored); got != tc.api {
			t.Errorf("%s reads back as %v, want %v", tc.stored, got, tc.api)
		}
		if got := RatingName(tc.stored); got != tc.name {
			t.Errorf("%s: RatingName = %q, want %q", tc.stored, got, tc.name)
		}
		if got := BadRating(tc.stored); got != tc.bad {
			t.Errorf("%s: BadRating = %v, want %v", tc.stored, got, tc.bad)
		}
		if got := SatisfiedRating(tc.stored); got != tc.satisfied {
			t.Errorf("%s: SatisfiedRating = %v, want %v", tc.stored, got, tc.satisfied)
		}
	}
	if len(SatisfiedLevels)+len(BadLevels) != len(cases) {
		t.Errorf("%d satisfied and %d bad levels for %d levels", len(SatisfiedLevels), len(BadLevels), len(cases))
	}
	if got := LevelProto("NO_SUCH_LEVEL"); got != redpointv1.RatingLevel_RATING_LEVEL_UNSPECIFIED {
		t.Errorf("an unknown stored level reads back as %v", got)
	}
}

func TestValidateRating(t *testing.T) {
	t.Parallel()
	good := redpointv1.RatingLevel_RATING_LEVEL_SATISFIED
	cases := []struct {
		name    string
		level   redpointv1.RatingLevel
		comment string
		want    string // the comment kept
		fields  []string
	}{
		{"no comment", good, "", "", nil},
		{"trimmed", good, "  办得好 \n", "办得好", nil},
		{"500 characters", good, strings.Repeat("好", 500), strings.Repeat("好", 500), nil},
		{"500 characters and blanks around", good, " " + strings.Repeat("好", 500) + " ", strings.Repeat("好", 500), nil},
		{"501 characters", good, strings.Repeat("好", 501), strings.Repeat("好", 501), []string{"comment"}},
		{"no level", redpointv1.RatingLevel_RATING_LEVEL_UNSPECIFIED, "", "", []string{"level"}},
		{"an unknown level", redpointv1.RatingLevel(42), "", "", []string{"level"}},
		{"both wrong", redpointv1.RatingLevel_RATING_LEVEL_UNSPECIFIED, strings.Repeat("差", 501), strings.Repeat("差", 501), []string{"level", "comment"}},
	}
	for _, tc := range cases {
		var v apierr.Violations
		_, comment := ValidateRating(&v, tc.level, tc.comment)
		if got := fields(t, v.Err()); !slices.Equal(got, tc.fields) {
			t.Errorf("%s: violations on %v, want %v", tc.name, got, tc.fields)
		}
		if comment != tc.want {
			t.Errorf("%s: comment %q, want %q", tc.name, comment, tc.want)
		}
	}
}

func TestValidateClose(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		req           *redpointv1.CloseFollowUpRequest
		id            int
		note          string
		outcome       followup.Outcome
		invalidFields []string
	}{
		{"resolved", &redpointv1.CloseFollowUpRequest{Name: "followUps/7", Note: " 已电话回访 ", Outcome: "RESOLVED"}, 7, "已电话回访", followup.OutcomeRESOLVED, nil},
		{"explained", &redpointv1.CloseFollowUpRequest{Name: "followUps/12", Note: "x", Outcome: "EXPLAINED"}, 12, "x", followup.OutcomeEXPLAINED, nil},
		{"unresolved, 2000 characters", &redpointv1.CloseFollowUpRequest{Name: "followUps/1", Note: strings.Repeat("访", 2000), Outcome: "UNRESOLVED"}, 1, strings.Repeat("访", 2000), followup.OutcomeUNRESOLVED, nil},
		{"2001 characters", &redpointv1.CloseFollowUpRequest{Name: "followUps/1", Note: strings.Repeat("访", 2001), Outcome: "RESOLVED"}, 0, "", "", []string{"note"}},
		{"a blank note", &redpointv1.CloseFollowUpRequest{Name: "followUps/1", Note: " \n\t", Outcome: "RESOLVED"}, 0, "", "", []string{"note"}},
		{"an outcome in lower case", &redpointv1.CloseFollowUpRequest{Name: "followUps/1", Note: "x", Outcome: "resolved"}, 0, "", "", []string{"outcome"}},
		{"no outcome", &redpointv1.CloseFollowUpRequest{Name: "followUps/1", Note: "x"}, 0, "", "", []string{"outcome"}},
		{"id 0", &redpointv1.CloseFollowUpRequest{Name: "followUps/0", Note: "x", Outcome: "RESOLVED"}, 0, "", "", []string{"name"}},
		{"a negative id", &redpointv1.CloseFollowUpRequest{Name: "followUps/-3", Note: "x", Outcome: "RESOLVED"}, 0, "", "", []string{"name"}},
		{"a bare number", &redpointv1.CloseFollowUpRequest{Name: "7", Note: "x", Outcome: "RESOLVED"}, 0, "", "", []string{"name"}},
		{"another collection", &redpointv1.CloseFollowUpRequest{Name: "errands/7", Note: "x", Outcome: "RESOLVED"}, 0, "", "", []string{"name"}},
		{"everything wrong", &redpointv1.CloseFollowUpRequest{Name: "followUps/x"}, 0, "", "", []string{"name", "note", "outcome"}},
	}
	for _, tc := range cases {
		id, note, outcome, err := validateClose(tc.req)
		if got := fields(t, err); !slices.Equal(got, tc.invalidFields) {
			t.Errorf("%s: violations on %v, want %v", tc.name, got, tc.invalidFields)
		}
		if err == nil && (id != tc.id || note != tc.note || outcome != tc.outcome) {
			t.Errorf("%s: %d %q %q, want %d %q %q", tc.name, id, note, outcome, tc.id, tc.note, tc.outcome)
		}
	}
}
