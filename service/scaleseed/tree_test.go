package scaleseed

import (
	"testing"

	"github.com/changzhi/redpoint/ent/region"
)

// TestTreeLeavesOutCodesOfAnotherLevel: the app reads a region's level
// from its code, so a row whose padded code reads as another level (the
// one "county" of 东莞市, 金门县's one township) is left out and its
// children hang from the region kept above it.
func TestTreeLeavesOutCodesOfAnotherLevel(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, only      string
		levels          map[region.Level]int
		townshipsParent string
		citiesParent    string
	}{
		{"东莞市 has no counties", "4419", map[region.Level]int{region.LevelCITY: 1, region.LevelCOUNTY: 0}, "441900000000", ""},
		{"金门县's township is the county's code", "350527", map[region.Level]int{region.LevelCITY: 1, region.LevelCOUNTY: 1, region.LevelTOWNSHIP: 0, region.LevelVILLAGE: 0}, "", ""},
		{"长治市: the city on top, as in the demo", "1404", map[region.Level]int{region.LevelPROVINCE: 0, region.LevelCITY: 1, region.LevelCOUNTY: 12, region.LevelTOWNSHIP: 149, region.LevelVILLAGE: 2628}, "", ""},
		{"山西省: the province above its 11 cities", "14", map[region.Level]int{region.LevelPROVINCE: 1, region.LevelCITY: 11, region.LevelTOWNSHIP: 1352}, "", "140000000000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr, err := loadTree(tc.only)
			if err != nil {
				t.Fatal(err)
			}
			got := map[region.Level]int{}
			seen := map[string]bool{}
			for _, r := range tr.regions {
				if seen[r.id] {
					t.Fatalf("region %s twice", r.id)
				}
				seen[r.id] = true
				if r.parent != "" && !seen[r.parent] {
					t.Fatalf("region %s before its parent %s", r.id, r.parent)
				}
				got[r.level]++
				if r.level == region.LevelCITY && r.parent != tc.citiesParent {
					t.Errorf("city %s under %q, want %q", r.id, r.parent, tc.citiesParent)
				}
				if r.level == region.LevelTOWNSHIP && tc.townshipsParent != "" && r.parent != tc.townshipsParent {
					t.Errorf("township %s under %s, want %s", r.id, r.parent, tc.townshipsParent)
				}
			}
			for l, n := range tc.levels {
				if got[l] != n {
					t.Errorf("%s: %d, want %d (all: %v)", l, got[l], n, got)
				}
			}
			if tc.townshipsParent != "" && got[region.LevelTOWNSHIP] == 0 {
				t.Errorf("no townships: %v", got)
			}
		})
	}
}
