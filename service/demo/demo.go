// Package demo seeds the deterministic Changzhi demo: the real divisions,
// 1,286 service points, their staff, the errand catalog and about 23,000
// errands of the last twelve months with histories and ratings.
package demo

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/calendarday"
	"github.com/changzhi/redpoint/ent/errandtype"
	"github.com/changzhi/redpoint/ent/errandtypeadmission"
	"github.com/changzhi/redpoint/ent/region"
	"github.com/changzhi/redpoint/ent/user"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/pii"
)

// Password is every demo account's password.
const Password = "redpoint-demo"

// The fixed demo accounts and resident the README lists.
const (
	CityAdminPhone       = "13800000001" // 长治市
	CountyAdminPhone     = "13800000002" // 襄垣县
	GuhanSecretaryPhone  = "13800000003" // 古韩镇
	DanzhuSecretaryPhone = "13800000004" // 丹朱镇
	GuhanAgentPhone      = "13800000005" // a point in 古韩镇
	DanzhuAgentPhone     = "13800000006" // a point in 丹朱镇
	GuhanVillagePhone    = "13800000007" // the village secretary of GuhanAgentPhone's point's village
	ResidentPhone        = "13900000001" // several errands at the 古韩镇 agent's point
	xiangyuanCounty      = "140423"
	guhanTownship        = "140423100"
	danzhuTownship       = "140428100"
	cityCode             = "140400"
	servicePointsInCity  = 1286
	defaultErrands       = 23000
	seed1, seed2         = 0x7265647031, 0x636861 // "redp1", "cha"
	residentReuseRate    = 0.35
	ratingRate           = 0.72
	followUpCloseRate    = 0.85
	batchSize            = 400
)

// Options tune a seed. The zero value seeds the full demo as of time.Now().
type Options struct {
	// Now anchors the twelve months of errands; the same Now gives the same data.
	Now time.Time
	// Errands is how many generated errands (the fixed resident's come on top).
	Errands int
}

// Summary counts what was written.
type Summary struct {
	Regions, ServicePoints, Users, ErrandTypes, Errands, Events, Ratings, FollowUps int
}

// IsEmpty reports whether the database has no regions, i.e. was never seeded.
func IsEmpty(ctx context.Context, db *ent.Client) (bool, error) {
	n, err := db.Region.Query().Count(ctx)
	if err != nil {
		return false, fmt.Errorf("demo.IsEmpty: %w", err)
	}
	return n == 0, nil
}

// Seed writes the demo in one transaction: all of it, or nothing.
func Seed(ctx context.Context, db *ent.Client, keys *pii.Keyring, opt Options) (Summary, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	if opt.Errands == 0 {
		opt.Errands = defaultErrands
	}
	opt.Now = opt.Now.UTC().Truncate(time.Microsecond) // every stored time is UTC
	g := &generator{
		rng:  rand.New(rand.NewPCG(seed1, seed2)),
		keys: keys,
		now:  opt.Now,
	}
	g.codes = rand.NewChaCha8([32]byte{'r', 'e', 'd', 'p', 'o', 'i', 'n', 't'})
	tx, err := db.Tx(ctx)
	if err != nil {
		return Summary{}, fmt.Errorf("demo.Seed: %w", err)
	}
	g.tx = tx.Client()
	if err := g.run(ctx, opt); err != nil {
		_ = tx.Rollback()
		return Summary{}, fmt.Errorf("demo.Seed: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Summary{}, fmt.Errorf("demo.Seed: %w", err)
	}
	return g.sum, nil
}

type point struct {
	id        int
	region    string // village code
	township  string // 9-digit
	agents    []int
	secretary int // the township's, who closes the point's follow-ups
	weight    float64
	residents []resident
}

type resident struct {
	name, phone, idNumber string
}

type generator struct {
	tx    *ent.Client
	rng   *rand.Rand
	codes *rand.ChaCha8
	keys  *pii.Keyring
	now   time.Time
	cal   *calendar.Calendar
	sum   Summary

	points      []*point
	secretaries map[string]int // township (9 digits) → user id
	types       []errandTypeSpec
	typeWeights []int
}

func (g *generator) run(ctx context.Context, opt Options) error {
	steps := []func(context.Context) error{g.calendar, g.regionsAndPoints, g.staff, g.catalog}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return g.errands(ctx, opt.Errands)
}

func (g *generator) calendar(ctx context.Context) error {
	days, err := calendar.Official()
	if err != nil {
		return err
	}
	g.cal = calendar.New(days)
	builders := make([]*ent.CalendarDayCreate, len(days))
	for i, d := range days {
		builders[i] = g.tx.CalendarDay.Create().SetID(d.Date).SetKind(calendarday.Kind(d.Kind)).SetName(d.Name)
	}
	return g.tx.CalendarDay.CreateBulk(builders...).Exec(ctx)
}

func pad(short string) string { return short + strings.Repeat("0", 12-len(short)) }

func (g *generator) regionsAndPoints(ctx context.Context) error {
	divs, err := divisions()
	if err != nil {
		return err
	}
	counts, err := villageCounts()
	if err != nil {
		return err
	}
	var regions []*ent.RegionCreate
	var townships []division
	names := map[string]string{}
	for _, d := range divs {
		names[d.code] = d.name
		c := g.tx.Region.Create().SetID(pad(d.code)).SetName(d.name)
		switch d.level {
		case "city":
			c.SetLevel(region.LevelCITY)
		case "county":
			c.SetLevel(region.LevelCOUNTY).SetParentID(pad(d.parent))
		case "township":
			c.SetLevel(region.LevelTOWNSHIP).SetParentID(pad(d.parent))
			townships = append(townships, d)
		default:
			return fmt.Errorf("division %s: unknown level %q", d.code, d.level)
		}
		regions = append(regions, c)
	}
	quota := allocate(townships, counts, servicePointsInCity)
	type villageRow struct{ code, name, township string }
	var withPoints []villageRow
	for _, t := range townships {
		n := counts[t.code]
		vnames := villageNames(g.rng, n)
		order := g.rng.Perm(n)
		for i, name := range vnames {
			code := fmt.Sprintf("%s%03d", t.code, 201+i)
			regions = append(regions, g.tx.Region.Create().SetID(code).SetName(name).SetLevel(region.LevelVILLAGE).SetParentID(pad(t.code)))
			names[code] = name
			if order[i] < quota[t.code] {
				withPoints = append(withPoints, villageRow{code, name, t.code})
			}
		}
	}
	if err := bulk(ctx, regions, func(ctx context.Context, b []*ent.RegionCreate) error {
		return g.tx.Region.CreateBulk(b...).Exec(ctx)
	}); err != nil {
		return fmt.Errorf("regions: %w", err)
	}
	g.sum.Regions = len(regions)

	creates := make([]*ent.ServicePointCreate, len(withPoints))
	for i, v := range withPoints {
		county := v.township[:6]
		creates[i] = g.tx.ServicePoint.Create().
			SetName(names[v.township] + v.name + "红色代办点").
			SetRegionID(v.code).
			SetAddress(names[cityCode] + names[county] + names[v.township] + v.name + "党群服务中心").
			SetPhone(fmt.Sprintf("0355-%07d", 5000000+g.rng.IntN(4999999))).
			SetCreateTime(g.now.AddDate(-2, 0, 0)).SetUpdateTime(g.now.AddDate(-2, 0, 0))
	}
	var created []*ent.ServicePoint
	if err := bulk(ctx, creates, func(ctx context.Context, b []*ent.ServicePointCreate) error {
		rows, err := g.tx.ServicePoint.CreateBulk(b...).Save(ctx)
		created = append(created, rows...)
		return err
	}); err != nil {
		return fmt.Errorf("service points: %w", err)
	}
	for i, sp := range created {
		// A few points are much busier than most (log-normal workloads).
		g.points = append(g.points, &point{id: sp.ID, region: sp.RegionID, township: withPoints[i].township, weight: math.Exp(g.rng.NormFloat64() * 0.6)})
	}
	g.sum.ServicePoints = len(created)
	return nil
}

// allocate spreads total points over townships in proportion to their
// villages (largest remainder), giving every township with villages one.
func allocate(townships []division, villages map[string]int, total int) map[string]int {
	sumV := 0
	for _, t := range townships {
		sumV += villages[t.code]
	}
	type rem struct {
		code string
		frac float64
	}
	quota := map[string]int{}
	var rems []rem
	given := 0
	for _, t := range townships {
		exact := float64(villages[t.code]) * float64(total) / float64(sumV)
		q := int(exact)
		if q == 0 && villages[t.code] > 0 {
			q = 1
			exact = 1
		}
		quota[t.code] = q
		given += q
		rems = append(rems, rem{t.code, exact - float64(q)})
	}
	sort.SliceStable(rems, func(i, j int) bool { return rems[i].frac > rems[j].frac })
	for i := 0; given < total; i = (i + 1) % len(rems) {
		if quota[rems[i].code] < villages[rems[i].code] {
			quota[rems[i].code]++
			given++
		}
	}
	for given > total { // only if the minimum of one overshot
		for i := len(rems) - 1; i >= 0 && given > total; i-- {
			if quota[rems[i].code] > 1 {
				quota[rems[i].code]--
				given--
			}
		}
	}
	return quota
}

func (g *generator) staff(ctx context.Context) error {
	// Every demo account shares one argon2id hash, computed once: hashing
	// ~2,700 passwords one by one would take minutes. Real accounts each get
	// their own salt.
	hash, err := access.HashPassword(Password)
	if err != nil {
		return err
	}
	var creates []*ent.UserCreate
	newUser := func(phone, name string, role user.Role, regionCode string) *ent.UserCreate {
		c := g.tx.User.Create().SetPhone(phone).SetDisplayName(name).SetRole(role).SetRegionID(regionCode).SetPasswordHash(hash)
		creates = append(creates, c)
		return c
	}
	newUser(CityAdminPhone, personName(g.rng), user.RoleCITY_ADMIN, pad(cityCode))
	divs, err := divisions()
	if err != nil {
		return err
	}
	countyN, townN := 0, 0
	var townshipOrder []string
	for _, d := range divs {
		switch d.level {
		case "county":
			countyN++
			phone := fmt.Sprintf("135%08d", countyN)
			if d.code == xiangyuanCounty {
				phone = CountyAdminPhone
			}
			newUser(phone, personName(g.rng), user.RoleCOUNTY_ADMIN, pad(d.code))
		case "township":
			townN++
			phone := fmt.Sprintf("136%08d", townN)
			switch d.code {
			case guhanTownship:
				phone = GuhanSecretaryPhone
			case danzhuTownship:
				phone = DanzhuSecretaryPhone
			}
			newUser(phone, personName(g.rng), user.RoleTOWNSHIP_SECRETARY, pad(d.code))
			townshipOrder = append(townshipOrder, d.code)
		}
	}
	secretaryStart := 1 + countyN
	agentStart := len(creates)
	type agentOf struct{ point *point }
	var owners []agentOf
	agentN := 0
	fixed := map[string]string{guhanTownship: GuhanAgentPhone, danzhuTownship: DanzhuAgentPhone}
	for _, p := range g.points {
		n := 1 + g.rng.IntN(3)
		for i := 0; i < n; i++ {
			agentN++
			phone := fmt.Sprintf("137%08d", agentN)
			if f, ok := fixed[p.township]; ok && i == 0 {
				phone = f
				delete(fixed, p.township)
			}
			newUser(phone, personName(g.rng), user.RoleAGENT, p.region).SetServicePointID(p.id)
			owners = append(owners, agentOf{p})
		}
	}
	// One village secretary per village with a point, named from a stream
	// of their own so that the rest of the demo stays as it was.
	names := rand.New(rand.NewPCG(seed1, seed2+1))
	guhanVillage := ""
	for _, p := range g.points {
		if p.township == guhanTownship {
			guhanVillage = p.region // the first 古韩镇 point is GuhanAgentPhone's
			break
		}
	}
	villageN := 0
	seen := map[string]bool{}
	for _, p := range g.points {
		if seen[p.region] {
			continue
		}
		seen[p.region] = true
		villageN++
		phone := fmt.Sprintf("134%08d", villageN)
		if p.region == guhanVillage {
			phone = GuhanVillagePhone
		}
		newUser(phone, personName(names), user.RoleVILLAGE_SECRETARY, p.region)
	}
	var created []*ent.User
	if err := bulk(ctx, creates, func(ctx context.Context, b []*ent.UserCreate) error {
		rows, err := g.tx.User.CreateBulk(b...).Save(ctx)
		created = append(created, rows...)
		return err
	}); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	g.secretaries = map[string]int{}
	for i, code := range townshipOrder {
		g.secretaries[code] = created[secretaryStart+i].ID
	}
	for i, o := range owners {
		o.point.agents = append(o.point.agents, created[agentStart+i].ID)
	}
	for _, p := range g.points {
		p.secretary = g.secretaries[p.township]
	}
	g.sum.Users = len(created)
	return nil
}

func (g *generator) catalog(ctx context.Context) error {
	creates := make([]*ent.ErrandTypeCreate, len(catalog))
	for i, t := range catalog {
		creates[i] = g.tx.ErrandType.Create().SetID(t.code).SetName(t.name).SetDepartment(t.department).
			SetTimeLimitDays(t.days).SetRequiredMaterials(t.materials).
			SetDescription(t.name + "（由村代办员代为受理、代为送达）").
			SetCreateTime(g.now.AddDate(-2, 0, 0)).SetUpdateTime(g.now.AddDate(-2, 0, 0))
		g.typeWeights = append(g.typeWeights, t.weight)
	}
	g.types = catalog
	g.sum.ErrandTypes = len(creates) + 1
	if err := g.tx.ErrandType.CreateBulk(creates...).Exec(ctx); err != nil {
		return err
	}
	return g.countyOnlyType(ctx)
}

// XiangyuanOnlyType is the demo's one county-only catalog entry: admitted
// for 襄垣县 (动态准入), so 襄垣县's agents may log it and others may not.
// The demo's errands never use it.
const XiangyuanOnlyType = "XY-MILLET-SUBSIDY"

// countyOnlyType adds XiangyuanOnlyType as 襄垣县's admin proposed it a
// month before seeding and the city admin admitted it a day later.
func (g *generator) countyOnlyType(ctx context.Context) error {
	admins, err := g.tx.User.Query().Where(user.PhoneIn(CountyAdminPhone, CityAdminPhone)).All(ctx)
	if err != nil {
		return err
	}
	ids := map[string]int{}
	for _, u := range admins {
		ids[u.Phone] = u.ID
	}
	proposed, admitted := g.now.AddDate(0, -1, 0), g.now.AddDate(0, -1, 1)
	name, dept, days := "襄垣县谷子种植补贴申报", "襄垣县农业农村局", 15
	materials := []string{"居民身份证", "一卡通", "谷子种植面积确认表"}
	desc := "襄垣县对种植谷子的农户按面积给予补贴（由村代办员代为受理、代为送达）"
	if err := g.tx.ErrandType.Create().SetID(XiangyuanOnlyType).SetName(name).SetDepartment(dept).
		SetTimeLimitDays(days).SetRequiredMaterials(materials).SetDescription(desc).
		SetAvailability(errandtype.AvailabilityADMITTED_COUNTIES).SetCreateTime(admitted).SetUpdateTime(admitted).Exec(ctx); err != nil {
		return err
	}
	return g.tx.ErrandTypeAdmission.Create().SetErrandTypeID(XiangyuanOnlyType).SetRegionID(pad(xiangyuanCounty)).
		SetState(errandtypeadmission.StateADMITTED).SetLive(true).SetNewType(true).
		SetTypeName(name).SetTypeDepartment(dept).SetTypeTimeLimitDays(days).SetTypeRequiredMaterials(materials).SetTypeDescription(desc).
		SetReason("本县谷子种植面积大，农户申报补贴需求集中").SetProposerUserID(ids[CountyAdminPhone]).
		SetDeciderUserID(ids[CityAdminPhone]).SetDecideTime(admitted).SetDecisionNote("同意在襄垣县准入").
		SetCreateTime(proposed).SetUpdateTime(admitted).SetVersion(2).Exec(ctx)
}

// bulk inserts builders in batches small enough for either database's
// parameter limit.
func bulk[B any](ctx context.Context, all []B, insert func(context.Context, []B) error) error {
	for lo := 0; lo < len(all); lo += batchSize {
		if err := insert(ctx, all[lo:min(lo+batchSize, len(all))]); err != nil {
			return err
		}
	}
	return nil
}
