package leaderboard_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2/options"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/leaderboard"
)

// levelSpellings are the values ListLeaderboardEntriesRequest.level takes,
// with the board level each names: the short spellings, and RegionLevel's
// names for townships and counties, as Region.level spells them.
var levelSpellings = []struct {
	level string
	want  leaderboard.Level
}{
	{"SERVICE_POINT", leaderboard.Points},
	{"TOWNSHIP", leaderboard.Townships},
	{"REGION_LEVEL_TOWNSHIP", leaderboard.Townships},
	{"COUNTY", leaderboard.Counties},
	{"REGION_LEVEL_COUNTY", leaderboard.Counties},
}

// checkOnly is a server that gets as far as checking a request: it has no
// boards to read.
func checkOnly() *leaderboard.Server {
	return leaderboard.NewServer(nil, nil, func() time.Time { return time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC) })
}

const city = "regions/140400000000"

// TestLevelSpellings: both spellings of a level name the same board, so
// a page token from one works with the other; no level is the service
// points' board.
func TestLevelSpellings(t *testing.T) {
	s := checkOnly()
	for _, tc := range append(levelSpellings, struct {
		level string
		want  leaderboard.Level
	}{"", leaderboard.Points}) {
		bd, err := s.Board(&redpointv1.ListLeaderboardEntriesRequest{Parent: city, Level: tc.level})
		if err != nil {
			t.Errorf("level %q: %v", tc.level, err)
			continue
		}
		if bd.Level != tc.want {
			t.Errorf("level %q names the %q board, want %q", tc.level, bd.Level, tc.want)
		}
	}
	short, _ := s.Board(&redpointv1.ListLeaderboardEntriesRequest{Parent: city, Level: "COUNTY", OrderBy: "average"})
	long, _ := s.Board(&redpointv1.ListLeaderboardEntriesRequest{Parent: city, Level: "REGION_LEVEL_COUNTY", OrderBy: "average"})
	if short != long {
		t.Errorf("COUNTY names %+v, REGION_LEVEL_COUNTY %+v", short, long)
	}
}

// TestBadLevel: a level that names no board is INVALID_ARGUMENT with a
// violation on level.
func TestBadLevel(t *testing.T) {
	s := checkOnly()
	for _, level := range []string{"VILLAGE", "REGION_LEVEL_VILLAGE", "REGION_LEVEL_CITY", "REGION_LEVEL_UNSPECIFIED", "county"} {
		_, err := s.Board(&redpointv1.ListLeaderboardEntriesRequest{Parent: city, Level: level})
		var e *apierr.Error
		if !errors.As(err, &e) || e.Code != codes.InvalidArgument || len(e.Violations) != 1 || e.Violations[0].Field != "level" {
			t.Errorf("level %q: error = %#v, want INVALID_ARGUMENT with a violation on level", level, err)
		}
	}
}

// TestDocumentedLevels: the OpenAPI document's enum of level (the
// openapiv2_field option in leaderboard.proto) lists exactly the spellings
// the server takes, and the tests above cover each.
func TestDocumentedLevels(t *testing.T) {
	fd := (&redpointv1.ListLeaderboardEntriesRequest{}).ProtoReflect().Descriptor().Fields().ByName("level")
	schema, _ := proto.GetExtension(fd.Options(), options.E_Openapiv2Field).(*options.JSONSchema)
	documented := slices.Sorted(slices.Values(schema.GetEnum()))
	if accepted := leaderboard.LevelSpellings(); !slices.Equal(documented, accepted) {
		t.Errorf("the document lists levels %v; the server takes %v", documented, accepted)
	}
	var tested []string
	for _, tc := range levelSpellings {
		tested = append(tested, tc.level)
	}
	slices.Sort(tested)
	if !slices.Equal(documented, tested) {
		t.Errorf("the document lists levels %v; TestLevelSpellings tries %v", documented, tested)
	}
}
