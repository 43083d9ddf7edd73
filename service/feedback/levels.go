package feedback

import "github.com/changzhi/redpoint/ent/rating"

var ratingNames = map[rating.Level]string{
	rating.LevelVERY_SATISFIED: "非常满意", rating.LevelSATISFIED: "满意", rating.LevelBASICALLY_SATISFIED: "基本满意",
	rating.LevelDISSATISFIED: "不满意", rating.LevelVERY_DISSATISFIED: "非常不满意",
}

// RatingName is the zh-CN name of a 好差评 level.
func RatingName(l rating.Level) string { return ratingNames[l] }

// BadRating reports a level that opens a follow-up for the township.
func BadRating(l rating.Level) bool {
	return l == rating.LevelDISSATISFIED || l == rating.LevelVERY_DISSATISFIED
}
