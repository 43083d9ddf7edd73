package feedback

import (
	"slices"

	"github.com/changzhi/redpoint/ent/rating"
)

// What the 好差评 levels mean. The report's satisfaction rate and the
// leaderboard's count of satisfied ratings read SatisfiedLevels; a rating
// of one of BadLevels opens a follow-up for the township.
var (
	SatisfiedLevels = []rating.Level{rating.LevelVERY_SATISFIED, rating.LevelSATISFIED, rating.LevelBASICALLY_SATISFIED}
	BadLevels       = []rating.Level{rating.LevelDISSATISFIED, rating.LevelVERY_DISSATISFIED}
)

var ratingNames = map[rating.Level]string{
	rating.LevelVERY_SATISFIED: "非常满意", rating.LevelSATISFIED: "满意", rating.LevelBASICALLY_SATISFIED: "基本满意",
	rating.LevelDISSATISFIED: "不满意", rating.LevelVERY_DISSATISFIED: "非常不满意",
}

// RatingName is the zh-CN name of a 好差评 level.
func RatingName(l rating.Level) string { return ratingNames[l] }

// BadRating reports a level that opens a follow-up for the township.
func BadRating(l rating.Level) bool { return slices.Contains(BadLevels, l) }

// SatisfiedRating reports a level counted in the satisfaction rate.
func SatisfiedRating(l rating.Level) bool { return slices.Contains(SatisfiedLevels, l) }

// FollowUpOpenedNote is the history's note when a bad rating opens a follow-up.
const FollowUpOpenedNote = "差评，待乡镇回访"
