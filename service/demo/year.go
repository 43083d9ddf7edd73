package demo

import (
	"context"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/trackingcode"
)

// ErrandsPerPoint is how many errands a service point handles in a year
// in the demo: about 23,000 at Changzhi's 1,286 points.
const ErrandsPerPoint = float64(defaultErrands) / servicePointsInCity

// PersonName draws a name as the demo's accounts and residents have.
func PersonName(r *rand.Rand) string { return personName(r) }

// Catalog writes the demo's errand catalog as Seed does, with
// XiangyuanOnlyType admitted for 襄垣县 by the accounts CountyAdminPhone
// and CityAdminPhone, which must exist. It says how many types it wrote.
func Catalog(ctx context.Context, db *ent.Client, now time.Time) (int, error) {
	g := &generator{tx: db, now: now.UTC().Truncate(time.Microsecond)}
	if err := g.catalog(ctx); err != nil {
		return 0, err
	}
	return g.sum.ErrandTypes, nil
}

// YearPoint is a service point a Year draws errands at.
type YearPoint struct {
	ID        int
	Village   string // its 12-digit region
	Agents    []int  // at least one
	Secretary int    // the township's secretary, who closes its follow-ups
}

// Year draws a year of errands the way Seed does — the same catalog,
// states, SLA clocks, residents, ratings and follow-ups — for seeders of
// other region trees, day by day so that a country's year never needs
// to be in memory at once. The same seed, now and points draw the same
// errands.
type Year struct {
	g     *generator
	draw  *rand.Rand // days' times and points, apart from the plans' own stream
	pts   []*point
	cum   []float64 // cumulative point weights
	today time.Time
}

// NewYear readies a Year ending at now over points.
func NewYear(seed uint64, now time.Time, cal *calendar.Calendar, keys *pii.Keyring, points []YearPoint) *Year {
	now = now.UTC().Truncate(time.Microsecond)
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	copy(key[8:], "redpoint-year")
	g := &generator{rng: rand.New(rand.NewPCG(seed, seed2)), codes: rand.NewChaCha8(key), keys: keys, now: now, cal: cal, types: catalog}
	for _, t := range catalog {
		g.typeWeights = append(g.typeWeights, t.weight)
	}
	y := &Year{g: g, draw: rand.New(rand.NewPCG(seed, seed1))}
	total := 0.0
	for _, p := range points {
		pt := &point{id: p.ID, region: p.Village, agents: p.Agents, secretary: p.Secretary, weight: math.Exp(y.draw.NormFloat64() * 0.6)}
		total += pt.weight
		y.pts = append(y.pts, pt)
		y.cum = append(y.cum, total)
	}
	local := now.In(calendar.Location)
	y.today = time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, calendar.Location)
	return y
}

// Days are the year's days, oldest first, each with its share of the
// year's errands: working days 1, other days 0.2 (as Seed draws them),
// today only for its office hours already past.
func (y *Year) Days() (days []time.Time, shares []float64) {
	for back := 364; back >= 0; back-- {
		d := y.today.AddDate(0, 0, -back)
		w := 1.0
		if !y.g.cal.IsWorkingDay(d) {
			w = 0.2
		}
		if back == 0 {
			w *= float64(y.officeMinutes(d)) / 600
		}
		days = append(days, d)
		shares = append(shares, w)
	}
	return days, shares
}

// officeMinutes is how many minutes of day's office hours (8:00–18:00)
// are at least five minutes before now.
func (y *Year) officeMinutes(day time.Time) int {
	open := day.Add(8 * time.Hour)
	m := int(y.g.now.Add(-5*time.Minute).Sub(open) / time.Minute)
	return max(0, min(600, m))
}

// Drawn is an errand drawn but not yet written.
type Drawn struct{ p *plan }

// Accept is when it was accepted.
func (d Drawn) Accept() time.Time { return d.p.accept }

// LastChange is its last change: the time of its change number's order.
func (d Drawn) LastChange() time.Time { return d.p.lastChange() }

// Day draws n errands accepted on day (a midnight of Days), in order of acceptance.
func (y *Year) Day(day time.Time, n int) []Drawn {
	minutes := y.officeMinutes(day)
	out := make([]Drawn, 0, n)
	for range n {
		at := day.Add(time.Duration(8*60+y.draw.IntN(max(1, minutes))) * time.Minute).UTC()
		pt := y.pts[min(len(y.pts)-1, sort.SearchFloat64s(y.cum, y.draw.Float64()*y.cum[len(y.cum)-1]))]
		out = append(out, Drawn{y.g.planAt(pt, func() time.Time { return at })})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].p.accept.Before(out[j].p.accept) })
	return out
}

// History draws d's tracking code and seals its resident: call it in the
// order of the errands' ids, for the same codes each time.
func (y *Year) History(d Drawn) (History, error) {
	code, err := trackingcode.New(y.g.codes)
	if err != nil {
		return History{}, err
	}
	d.p.code = code
	return y.g.history(d.p)
}
