package scaleseed_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/ent/region"
	"github.com/changzhi/redpoint/ent/servicepoint"
	"github.com/changzhi/redpoint/ent/user"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/period"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/regioncode"
	"github.com/changzhi/redpoint/service/report"
	"github.com/changzhi/redpoint/service/scaleseed"
	"github.com/changzhi/redpoint/service/store"
	"github.com/changzhi/redpoint/service/store/storetest"
	"github.com/changzhi/redpoint/service/testutil"
)

var fixedNow = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// xiangyuan is the test's subset of the city scale: 襄垣县, home of the
// demo's 古韩镇 secretary the load harness logs in as.
const xiangyuan = "140423"

func seed(t *testing.T, opt scaleseed.Options) (*store.Store, *pii.Keyring, scaleseed.Summary) {
	t.Helper()
	st := storetest.Open(t)
	keys, err := pii.ParseKeyring(pii.NewKeyringString())
	if err != nil {
		t.Fatal(err)
	}
	if opt.Now.IsZero() {
		opt.Now = fixedNow
	}
	sum, err := scaleseed.Seed(context.Background(), st, keys, opt)
	if err != nil {
		t.Fatal(err)
	}
	return st, keys, sum
}

// TestSeedXiangyuan seeds 襄垣县 once and checks what the app relies on;
// the last check writes.
func TestSeedXiangyuan(t *testing.T) {
	t.Parallel()
	st, keys, sum := seed(t, scaleseed.Options{Scale: scaleseed.City, Only: xiangyuan})
	t.Run("tree and density", func(t *testing.T) { checkTreeAndDensity(t, st, sum) })
	t.Run("histories", func(t *testing.T) { checkHistories(t, st, keys, sum) })
	t.Run("vacuumed", func(t *testing.T) { checkVacuumed(t, st) })
	t.Run("app works", func(t *testing.T) { checkAppWorks(t, st, keys) })
}

// checkVacuumed: on PostgreSQL the seed vacuums what it loaded, so that
// the first reads of a freshly seeded database don't write hint bits
// (which the scale measurements would time).
func checkVacuumed(t *testing.T, st *store.Store) {
	if storetest.Dialect() != "postgres" {
		t.Skip("VACUUM is PostgreSQL's")
	}
	testutil.Eventually(t, 10*time.Second, "the errands table vacuumed", func() bool {
		var vacuumed bool
		err := st.DB.QueryRow("SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'errands' AND schemaname = current_schema()").Scan(&vacuumed)
		return err == nil && vacuumed
	})
	// Every page all-visible, or the workloads' covering index is read
	// with a visit to the table for each row. (A streaming replica's
	// horizon, reported late, once held back every page.)
	var pages, visible int
	if err := st.DB.QueryRow("SELECT relpages, relallvisible FROM pg_class WHERE oid = 'errands'::regclass").Scan(&pages, &visible); err != nil {
		t.Fatal(err)
	}
	if pages == 0 || visible < pages {
		t.Errorf("errands: %d of %d pages all-visible after the seed's VACUUM, want all", visible, pages)
	}
}

func checkTreeAndDensity(t *testing.T, st *store.Store, sum scaleseed.Summary) {
	ctx := context.Background()
	db := st.Client
	regions := db.Region.Query().AllX(ctx)
	byID := map[string]*ent.Region{}
	levels := map[region.Level]int{}
	for _, r := range regions {
		byID[r.ID] = r
		levels[r.Level]++
	}
	// 襄垣县 in the 2023 codes: one county, its townships and villages, under 长治市.
	if levels[region.LevelCITY] != 1 || levels[region.LevelCOUNTY] != 1 || levels[region.LevelTOWNSHIP] < 8 || levels[region.LevelVILLAGE] < 200 {
		t.Fatalf("regions by level: %v", levels)
	}
	want := map[region.Level]region.Level{region.LevelCOUNTY: region.LevelCITY, region.LevelTOWNSHIP: region.LevelCOUNTY, region.LevelVILLAGE: region.LevelTOWNSHIP}
	appLevel := map[region.Level]regioncode.Level{region.LevelCITY: regioncode.City, region.LevelCOUNTY: regioncode.County, region.LevelTOWNSHIP: regioncode.Township, region.LevelVILLAGE: regioncode.Village}
	for _, r := range regions {
		c, err := regioncode.Parse(r.ID)
		if err != nil || c.Level() != appLevel[r.Level] {
			t.Fatalf("region %s is a %s, but the app reads its code as level %d (%v)", r.ID, r.Level, c.Level(), err)
		}
		if r.Level == region.LevelCITY {
			continue
		}
		p := byID[r.ParentID]
		if p == nil || p.Level != want[r.Level] || !regioncode.Code(p.ID).Contains(c) {
			t.Fatalf("region %s (%s): parent %q is not the %s above it", r.ID, r.Level, r.ParentID, want[r.Level])
		}
	}

	points := db.ServicePoint.Query().AllX(ctx)
	for _, p := range points {
		if r := byID[p.RegionID]; r == nil || r.Level != region.LevelVILLAGE {
			t.Fatalf("point %d is in %s, not a village of the tree", p.ID, p.RegionID)
		}
	}
	// Changzhi's density: 1,286 points per 2,628 villages and communities.
	villages := levels[region.LevelVILLAGE]
	if wantPoints := int(math.Round(float64(villages) * 1286 / 2628)); abs(len(points)-wantPoints) > levels[region.LevelTOWNSHIP] {
		t.Errorf("%d points for %d villages, want about %d", len(points), villages, wantPoints)
	}
	if wantErrands := int(math.Round(float64(len(points)) * demo.ErrandsPerPoint)); sum.Errands != wantErrands || db.Errand.Query().CountX(ctx) != wantErrands {
		t.Errorf("%d errands (summary %d) at %d points, want %d", db.Errand.Query().CountX(ctx), sum.Errands, len(points), wantErrands)
	}

	// Staff: one agent per point, a secretary per township and per village with a point, an admin per county and city.
	roles := map[user.Role]int{}
	for _, u := range db.User.Query().AllX(ctx) {
		roles[u.Role]++
		if u.Role == user.RoleAGENT {
			sp := db.ServicePoint.GetX(ctx, *u.ServicePointID)
			if sp.RegionID != u.RegionID {
				t.Fatalf("agent %s in %s works at a point in %s", u.Phone, u.RegionID, sp.RegionID)
			}
		}
	}
	distinctVillages := len(db.ServicePoint.Query().GroupBy(servicepoint.FieldRegionID).StringsX(ctx))
	if roles[user.RoleAGENT] != len(points) || roles[user.RoleTOWNSHIP_SECRETARY] != levels[region.LevelTOWNSHIP] ||
		roles[user.RoleVILLAGE_SECRETARY] != distinctVillages || roles[user.RoleCOUNTY_ADMIN] != 1 || roles[user.RoleCITY_ADMIN] != 1 {
		t.Errorf("staff by role %v for %d points in %d villages, %v regions", roles, len(points), distinctVillages, levels)
	}
}

func abs(x int) int { return max(x, -x) }

// checkHistories: every errand's history starts at its creation and ends
// in its state, with the columns the errands service would have written.
func checkHistories(t *testing.T, st *store.Store, keys *pii.Keyring, sum scaleseed.Summary) {
	ctx := context.Background()
	db := st.Client
	all := db.Errand.Query().WithEvents(func(q *ent.ErrandEventQuery) {
		q.Order(ent.Asc(errandevent.FieldCreateTime), ent.Asc(errandevent.FieldID))
	}).WithServicePoint().Order(ent.Asc(errand.FieldID)).AllX(ctx)
	if len(all) != sum.Errands || len(all) == 0 {
		t.Fatalf("%d errands read, %d written", len(all), sum.Errands)
	}
	events := 0
	seqs := map[int64]bool{}
	var lastAccept time.Time
	for i, e := range all {
		ev := e.Edges.Events
		events += len(ev)
		if len(ev) == 0 || ev[0].Kind != errandevent.KindCREATED || !ev[0].CreateTime.Equal(e.AcceptTime) || !e.CreateTime.Equal(e.AcceptTime) {
			t.Fatalf("errand %d: history does not start with its creation at %v", e.ID, e.AcceptTime)
		}
		state := string(errand.StateACCEPTED)
		for _, x := range ev[1:] {
			if x.Kind != errandevent.KindTRANSITIONED {
				continue
			}
			if x.FromState != state {
				t.Fatalf("errand %d: a move from %s while it was %s", e.ID, x.FromState, state)
			}
			state = x.ToState
		}
		if state != string(e.State) {
			t.Fatalf("errand %d: history ends in %s, the errand is %s", e.ID, state, e.State)
		}
		if e.RegionID != e.Edges.ServicePoint.RegionID {
			t.Fatalf("errand %d in %s, its point in %s", e.ID, e.RegionID, e.Edges.ServicePoint.RegionID)
		}
		closed := e.State == errand.StateCOMPLETED || e.State == errand.StateCANCELLED
		if closed != (e.CloseTime != nil) || (e.State == errand.StateCOMPLETED) != (e.FirstCloseTime != nil && e.WorkingDays != nil) {
			t.Fatalf("errand %d (%s): close %v, first close %v, working days %v", e.ID, e.State, e.CloseTime, e.FirstCloseTime, e.WorkingDays)
		}
		if (e.State == errand.StateNEEDS_MATERIALS) != (e.PauseTime != nil) || (e.State == errand.StateNEEDS_MATERIALS) != (len(e.MissingMaterials) > 0) {
			t.Fatalf("errand %d (%s): paused %v, missing %v", e.ID, e.State, e.PauseTime, e.MissingMaterials)
		}
		if !e.DueTime.After(e.AcceptTime) || e.UpdateTime.After(fixedNow) || e.AcceptTime.Before(fixedNow.AddDate(-1, 0, -1)) {
			t.Fatalf("errand %d: accepted %v, due %v, updated %v", e.ID, e.AcceptTime, e.DueTime, e.UpdateTime)
		}
		if i > 0 && e.AcceptTime.Before(lastAccept) {
			t.Fatalf("errand %d accepted before the one before it: ids follow acceptance, as live writes give them", e.ID)
		}
		lastAccept = e.AcceptTime
		if seqs[e.ChangeSeq] || e.ChangeSeq < 1 || e.ChangeSeq > int64(len(all)) {
			t.Fatalf("errand %d: change number %d repeated or outside 1..%d", e.ID, e.ChangeSeq, len(all))
		}
		seqs[e.ChangeSeq] = true
		phone, err := keys.Decrypt(e.ResidentPhoneCipher)
		if err != nil || !pii.ValidMobile(phone) || keys.Hash(pii.KindPhone, phone) != e.ResidentPhoneHash || phone[7:] != e.ResidentPhoneLast4 {
			t.Fatalf("errand %d: resident phone not sealed as the errands service seals it (%v)", e.ID, err)
		}
		id, err := keys.Decrypt(e.ResidentIDNumberCipher)
		if err != nil || !pii.ValidIDNumber(id) || keys.Hash(pii.KindIDNumber, id) != e.ResidentIDNumberHash {
			t.Fatalf("errand %d: resident ID number not sealed as the errands service seals it (%v)", e.ID, err)
		}
	}
	if events != sum.Events {
		t.Errorf("%d events read, %d written", events, sum.Events)
	}
	// Change numbers follow the last change, as live writes assign them,
	// and live writes continue after them.
	byChange := db.Errand.Query().Order(ent.Asc(errand.FieldChangeSeq)).AllX(ctx)
	for i := 1; i < len(byChange); i++ {
		if byChange[i].UpdateTime.Before(byChange[i-1].UpdateTime) {
			t.Fatalf("change %d (errand %d) is older than change %d", byChange[i].ChangeSeq, byChange[i].ID, byChange[i-1].ChangeSeq)
		}
	}
	if v := db.Sequence.GetX(ctx, errands.SequenceName).Value; v != int64(len(all)) {
		t.Errorf("change sequence at %d, want %d", v, len(all))
	}
	if n := db.Rating.Query().CountX(ctx); n != sum.Ratings || n < len(all)/2 {
		t.Errorf("%d ratings (summary %d) for %d errands", n, sum.Ratings, len(all))
	}
}

// checkAppWorks logs an agent in, finds its errands, computes a
// township's workload and rebuilds the boards, through the packages' own
// code, then writes after the seeded rows.
func checkAppWorks(t *testing.T, st *store.Store, keys *pii.Keyring) {
	ctx := context.Background()
	db := st.Client

	agent := db.User.Query().Where(user.Phone("13700000001")).OnlyX(ctx)
	if ok, err := access.VerifyPassword(agent.PasswordHash, demo.Password); !ok || err != nil || agent.Role != user.RoleAGENT {
		t.Fatalf("agent 13700000001 (%s) does not log in with the demo password: %v", agent.Role, err)
	}
	secretary := db.User.Query().Where(user.Phone(demo.GuhanSecretaryPhone)).OnlyX(ctx)
	if ok, err := access.VerifyPassword(secretary.PasswordHash, demo.Password); !ok || err != nil ||
		secretary.Role != user.RoleTOWNSHIP_SECRETARY || secretary.RegionID != "140423100000" {
		t.Fatalf("the 古韩镇 secretary is %s in %s (%v)", secretary.Role, secretary.RegionID, err)
	}

	cal := calendar.NewCache(func(context.Context) ([]calendar.Day, error) { return calendar.Official() }, time.Hour)
	pages, err := pagetoken.NewSigner(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc := errands.New(errands.Config{DB: db, Dialect: st.Dialect, Keys: keys, Calendar: cal, Pages: pages, Now: func() time.Time { return fixedNow }})
	asAgent := pagetoken.WithSize(access.NewContext(ctx, access.Principal{UserID: agent.ID, Role: access.RoleAgent,
		Region: regioncode.Code(agent.RegionID), ServicePointID: *agent.ServicePointID}), 20) // as the server's validation passes it
	list, err := svc.ListErrands(asAgent, &redpointv1.ListErrandsRequest{PageSize: 20})
	mine := db.Errand.Query().Where(errand.AgentID(agent.ID)).CountX(ctx)
	if err != nil || len(list.GetErrands()) != min(20, mine) || mine == 0 {
		t.Fatalf("agent 13700000001's errand list: %d of %d (%v)", len(list.GetErrands()), mine, err)
	}
	if e := list.GetErrands()[0]; e.GetResidentName() == "" || e.GetTrackingCode() == "" || e.GetResidentPhone() == "" {
		t.Errorf("agent 13700000001's first errand reads %v", e)
	}

	boards := leaderboard.New(db, kvtest.Open(t))
	month := period.Of(period.Month, fixedNow).Previous()
	if err := boards.Rebuild(ctx, month); err != nil {
		t.Fatalf("leaderboard rebuild: %v", err)
	}
	top, n, err := boards.Top(ctx, leaderboard.Board{Period: month, Scope: "1404", Level: leaderboard.Points}, 0, 5)
	if err != nil || n == 0 || len(top) == 0 {
		t.Fatalf("the city's board of %s: %d entries (%v)", month, n, err)
	}

	start, end := month.Range()
	rows, total, err := report.New(st, boards).RowsAndTotal(ctx, report.Query{Region: regioncode.Code(secretary.RegionID), Start: start, End: end, Now: fixedNow, GroupBy: report.ByChildRegion})
	if err != nil {
		t.Fatalf("古韩镇's workload: %v", err)
	}
	lo, hi := regioncode.Code(secretary.RegionID).Range()
	received := db.Errand.Query().Where(errand.RegionIDGTE(lo), errand.RegionIDLTE(hi), errand.AcceptTimeGTE(start), errand.AcceptTimeLT(end)).CountX(ctx)
	if len(rows) == 0 || total.Received != received || received == 0 {
		t.Errorf("古韩镇's workload of %s: %d rows, %d received, want %d", month, len(rows), total.Received, received)
	}

	// New rows after the seeded ones: the identity sequences moved on.
	sp := db.ServicePoint.GetX(ctx, *agent.ServicePointID)
	created, err := db.Errand.Create().SetTrackingCode("TESTCODE0000001").SetErrandTypeID("MI-PAYMENT").SetServicePoint(sp).
		SetAgentID(agent.ID).SetRegionID(sp.RegionID).SetResidentName("张三").SetResidentPhoneCipher("x").SetResidentPhoneHash("x").
		SetResidentPhoneLast4("0000").SetState(errand.StateACCEPTED).SetAcceptTime(fixedNow).SetDueTime(fixedNow.Add(time.Hour)).Save(ctx)
	if err != nil {
		t.Fatalf("an errand after the seed: %v", err)
	}
	if last := db.Errand.Query().Where(errand.IDNEQ(created.ID)).Aggregate(ent.Max(errand.FieldID)).IntX(ctx); created.ID <= last {
		t.Errorf("new errand id %d, seeded ones up to %d", created.ID, last)
	}
	if _, err := db.ErrandEvent.Create().SetErrand(created).SetKind(errandevent.KindCREATED).SetActorKind(errandevent.ActorKindSTAFF).Save(ctx); err != nil {
		t.Errorf("an event after the seed: %v", err)
	}
}

func TestSeedIsDeterministic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	opt := scaleseed.Options{Scale: scaleseed.City, Only: "140423100"} // 古韩镇
	a, _, _ := seed(t, opt)
	b, _, _ := seed(t, opt)
	for _, q := range []func(*ent.Client) []string{
		func(db *ent.Client) []string {
			return db.Errand.Query().Order(ent.Asc(errand.FieldID)).Select(errand.FieldTrackingCode).StringsX(ctx)
		},
		func(db *ent.Client) []string {
			return db.ServicePoint.Query().Order(ent.Asc(servicepoint.FieldID)).Select(servicepoint.FieldRegionID).StringsX(ctx)
		},
		func(db *ent.Client) []string {
			return db.User.Query().Order(ent.Asc(user.FieldID)).Select(user.FieldPhone).StringsX(ctx)
		},
	} {
		x, y := q(a.Client), q(b.Client)
		if len(x) == 0 || len(x) != len(y) {
			t.Fatalf("%d vs %d rows", len(x), len(y))
		}
		for i := range x {
			if x[i] != y[i] {
				t.Fatalf("row %d: %s vs %s", i, x[i], y[i])
			}
		}
	}
}

func TestSeedRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, keys, _ := seed(t, scaleseed.Options{Scale: scaleseed.City, Only: "140423100"})
	if _, err := scaleseed.Seed(ctx, st, keys, scaleseed.Options{Scale: scaleseed.City, Only: "140423100", Now: fixedNow}); !errors.Is(err, scaleseed.ErrNotEmpty) {
		t.Errorf("a second seed: %v, want ErrNotEmpty", err)
	}
	if n := st.Client.Region.Query().Where(region.LevelEQ(region.LevelCITY)).CountX(ctx); n != 1 {
		t.Errorf("%d cities after a refused seed", n)
	}
	if _, err := scaleseed.Seed(ctx, st, keys, scaleseed.Options{Scale: scaleseed.City, Only: "1401"}); err == nil {
		t.Error("a subset outside the scale was seeded")
	}
	if _, err := scaleseed.ParseScale("county"); err == nil {
		t.Error("scale county parsed")
	}
	if storetest.Dialect() == "sqlite3" {
		fresh := storetest.Open(t)
		if _, err := scaleseed.Seed(ctx, fresh, keys, scaleseed.Options{Scale: scaleseed.Province}); !errors.Is(err, scaleseed.ErrSQLite) {
			t.Errorf("province on SQLite: %v, want ErrSQLite", err)
		}
	}
}

// TestSeedCityScale seeds all of 长治市: the demo's 1,286 points and
// 23,000 errands in the real 2023 tree.
func TestSeedCityScale(t *testing.T) {
	testutil.SkipIfShort(t, "seeds a whole city")
	t.Parallel()
	ctx := context.Background()
	st, _, sum := seed(t, scaleseed.Options{Scale: scaleseed.City})
	villages := st.Client.Region.Query().Where(region.LevelEQ(region.LevelVILLAGE)).CountX(ctx)
	if villages != 2628 || sum.ServicePoints != 1286 || sum.Errands != 23000 {
		t.Errorf("长治市: %d villages, %d points, %d errands; want 2,628, 1,286 and 23,000", villages, sum.ServicePoints, sum.Errands)
	}
	for _, phone := range []string{demo.CityAdminPhone, demo.CountyAdminPhone, demo.GuhanSecretaryPhone, demo.DanzhuSecretaryPhone, "13700001286"} {
		if !st.Client.User.Query().Where(user.Phone(phone)).ExistX(ctx) {
			t.Errorf("no account %s", phone)
		}
	}
}
