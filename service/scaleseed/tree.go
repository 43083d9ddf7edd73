package scaleseed

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/changzhi/redpoint/ent/region"
	"github.com/changzhi/redpoint/service/regioncode"
)

// data holds China's 2023 statistical divisions (see data/README.md).
//
//go:embed data/*.csv data/*.csv.gz
var data embed.FS

// Changzhi's density: the demo's 1,286 service points among the 2,628
// villages and communities the 2023 codes give the city.
const (
	changzhiPoints   = 1286
	changzhiVillages = 2628
)

func readCSV(name string) ([][]string, error) {
	f, err := data.Open("data/" + name)
	if err != nil {
		return nil, err
	}
	defer f.Close() //nolint:errcheck // an embedded file
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		r = z
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rows[1:], nil
}

// regionRow is one row of the regions table.
type regionRow struct {
	id, name string
	level    region.Level
	parent   string // empty for the top region
}

// village is a village or community of the tree.
type village struct {
	id, name  string
	community bool
}

// township is a township with its villages, and its city and county for
// the names of its points.
type township struct {
	id, name, city, county string
	villages               []village
}

// tree is the part of China's divisions a seed loads: regions with
// parents before children, and the townships in code order.
type tree struct {
	regions   []regionRow
	names     map[string]string // 12-digit code → name
	townships []*township
	cities    []string // 12-digit codes, in code order
}

func pad(short string) string { return short + strings.Repeat("0", 12-len(short)) }

// within says whether a short code belongs in a tree of the divisions
// under only (a short code; empty for all): it is one of them or above them.
func within(code, only string) bool {
	return strings.HasPrefix(code, only) || strings.HasPrefix(only, code)
}

// levelOf is the level the app reads from a code, or 0 for a malformed one.
func levelOf(code string) regioncode.Level {
	c, err := regioncode.Parse(code)
	if err != nil {
		return 0
	}
	return c.Level()
}

// loadTree reads the divisions under only: the provinces when only spans
// more than one city (the province and national scales; a city's tree has
// the city on top, as the demo's), then cities, counties, townships and
// villages.
// A row whose padded code the app would read as another level (a city's
// only "county" of a city without counties, 金门县's township) is left
// out, and its children hang from the nearest region kept.
func loadTree(only string) (*tree, error) {
	provinces, err := readCSV("china-provinces.csv")
	if err != nil {
		return nil, err
	}
	t := &tree{names: map[string]string{}}
	provinceName := map[string]string{}
	for _, r := range provinces {
		provinceName[r[0]] = r[1]
	}
	add := func(short, name string, lvl region.Level, want regioncode.Level, parent string) bool {
		id := pad(short)
		if levelOf(id) != want || t.names[id] != "" {
			return false
		}
		t.names[id] = name
		t.regions = append(t.regions, regionRow{id: id, name: name, level: lvl, parent: parent})
		return true
	}
	for _, r := range provinces {
		if len(only) < 4 && within(r[0], only) {
			add(r[0], r[1], region.LevelPROVINCE, regioncode.Province, "")
		}
	}
	cities, err := readCSV("china-cities.csv")
	if err != nil {
		return nil, err
	}
	for _, r := range cities {
		if !within(r[0], only) {
			continue
		}
		name := r[1]
		if name == "市辖区" || name == "县" || strings.Contains(name, "直辖") {
			name = provinceName[r[2]] + name // 北京市市辖区, 湖北省省直辖县级行政区划
		}
		parent := ""
		if t.names[pad(r[2])] != "" {
			parent = pad(r[2])
		}
		if add(r[0], name, region.LevelCITY, regioncode.City, parent) {
			t.cities = append(t.cities, pad(r[0]))
		}
	}
	counties, err := readCSV("china-counties.csv")
	if err != nil {
		return nil, err
	}
	parentOf := map[string]string{} // a county's or township's 12-digit region, or the region that stands for it
	for _, r := range counties {
		if !within(r[0], only) || t.names[pad(r[2])] == "" {
			continue
		}
		parentOf[r[0]] = pad(r[2])
		if add(r[0], r[1], region.LevelCOUNTY, regioncode.County, pad(r[2])) {
			parentOf[r[0]] = pad(r[0])
		}
	}
	towns, err := readCSV("china-townships.csv.gz")
	if err != nil {
		return nil, err
	}
	byID := map[string]*township{}
	for _, r := range towns {
		parent, ok := parentOf[r[2]]
		if !within(r[0], only) || !ok {
			continue
		}
		if add(r[0], r[1], region.LevelTOWNSHIP, regioncode.Township, parent) {
			tw := &township{id: pad(r[0]), name: r[1], city: pad(r[4]), county: parent}
			t.townships = append(t.townships, tw)
			byID[r[0]] = tw
		}
	}
	villages, err := readCSV("china-villages.csv.gz")
	if err != nil {
		return nil, err
	}
	for _, r := range villages {
		tw, ok := byID[r[2]]
		if !within(r[0], only) || !ok {
			continue
		}
		if add(r[0], r[1], region.LevelVILLAGE, regioncode.Village, tw.id) {
			tw.villages = append(tw.villages, village{id: r[0], name: r[1], community: isCommunity(r[1])})
		}
	}
	sort.SliceStable(t.townships, func(i, j int) bool { return t.townships[i].id < t.townships[j].id })
	return t, nil
}

// isCommunity tells an urban community (社区, 居委会) from a village.
func isCommunity(name string) bool {
	return strings.Contains(name, "居委会") || strings.Contains(name, "居民委员会") || strings.HasSuffix(name, "社区")
}

// shortVillage is how a point's name calls its village: 张家庄村 for
// 张家庄村委会, 东关社区 for 东关社区居委会.
func shortVillage(name string) string {
	for _, s := range []struct{ suffix, short string }{
		{"村民委员会", "村"}, {"村委会", "村"}, {"社区居民委员会", "社区"}, {"社区居委会", "社区"}, {"居民委员会", "社区"}, {"居委会", "社区"},
	} {
		if strings.HasSuffix(name, s.suffix) {
			return strings.TrimSuffix(name, s.suffix) + s.short
		}
	}
	return name
}

// pointVillages chooses the villages that get a service point, at
// Changzhi's density in every city: a city's points are its villages and
// communities times 1,286/2,628, rounded; they are spread over its
// townships in proportion to their villages (largest remainder, one at
// least for a township with any), and within a township go to villages
// before communities, in an order drawn from r.
func (t *tree) pointVillages(r *rand.Rand) map[string][]village {
	byCity := map[string][]*township{}
	for _, tw := range t.townships {
		byCity[tw.city] = append(byCity[tw.city], tw)
	}
	out := map[string][]village{}
	for _, city := range t.cities {
		towns := byCity[city]
		n := 0
		for _, tw := range towns {
			n += len(tw.villages)
		}
		if n == 0 {
			continue
		}
		quota := allocate(towns, max(1, (n*changzhiPoints+changzhiVillages/2)/changzhiVillages))
		for _, tw := range towns {
			vs := append([]village(nil), tw.villages...)
			r.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
			sort.SliceStable(vs, func(i, j int) bool { return !vs[i].community && vs[j].community })
			out[tw.id] = vs[:quota[tw.id]]
		}
	}
	return out
}

// allocate spreads total points over townships in proportion to their
// villages by largest remainder, giving every township with villages one.
func allocate(towns []*township, total int) map[string]int {
	sum := 0
	for _, tw := range towns {
		sum += len(tw.villages)
	}
	type rem struct {
		id   string
		frac float64
	}
	quota := map[string]int{}
	var rems []rem
	given := 0
	for _, tw := range towns {
		n := len(tw.villages)
		exact := float64(n) * float64(total) / float64(sum)
		q := min(n, int(exact))
		if q == 0 && n > 0 {
			q, exact = 1, 1
		}
		quota[tw.id] = q
		given += q
		rems = append(rems, rem{tw.id, exact - float64(q)})
	}
	sort.SliceStable(rems, func(i, j int) bool { return rems[i].frac > rems[j].frac })
	size := map[string]int{}
	for _, tw := range towns {
		size[tw.id] = len(tw.villages)
	}
	for progressed := true; given < total && progressed; {
		progressed = false
		for _, r := range rems {
			if given < total && quota[r.id] < size[r.id] {
				quota[r.id]++
				given++
				progressed = true
			}
		}
	}
	for i := len(rems) - 1; i >= 0 && given > total; i-- { // only if the minimum of one overshot
		if quota[rems[i].id] > 1 {
			quota[rems[i].id]--
			given--
		}
	}
	return quota
}
