package demo_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/ent/region"
	"github.com/changzhi/redpoint/ent/reportsnapshot"
	"github.com/changzhi/redpoint/ent/servicepoint"
	"github.com/changzhi/redpoint/ent/user"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/kv/kvtest"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/report"
	"github.com/changzhi/redpoint/service/store"
	"github.com/changzhi/redpoint/service/store/storetest"
)

var fixedNow = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func seed(t testing.TB, errands int) (*ent.Client, *pii.Keyring, demo.Summary) {
	t.Helper()
	st, keys, sum := seedStore(t, errands)
	return st.Client, keys, sum
}

func seedStore(t testing.TB, errands int) (*store.Store, *pii.Keyring, demo.Summary) {
	t.Helper()
	st := storetest.Open(t)
	keys, err := pii.ParseKeyring(pii.NewKeyringString())
	if err != nil {
		t.Fatal(err)
	}
	sum, err := demo.Seed(context.Background(), st.Client, keys, demo.Options{Now: fixedNow, Errands: errands})
	if err != nil {
		t.Fatal(err)
	}
	return st, keys, sum
}

func TestSeedShape(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, keys, sum := seed(t, 2000)

	counts := map[region.Level]int{}
	var rows []struct {
		Level region.Level `json:"level"`
		Count int          `json:"count"`
	}
	if err := db.Region.Query().GroupBy(region.FieldLevel).Aggregate(ent.Count()).Scan(ctx, &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		counts[r.Level] = r.Count
	}
	want := map[region.Level]int{region.LevelCITY: 1, region.LevelCOUNTY: 12, region.LevelTOWNSHIP: 128, region.LevelVILLAGE: 2406}
	for l, n := range want {
		if counts[l] != n {
			t.Errorf("%s regions = %d, want %d", l, counts[l], n)
		}
	}
	if sum.ServicePoints != 1286 {
		t.Errorf("service points = %d, want 1286", sum.ServicePoints)
	}
	if sum.ErrandTypes < 20 {
		t.Errorf("errand types = %d, want at least 20", sum.ErrandTypes)
	}
	// Every point sits in a village and has 1–3 agents.
	points, err := db.ServicePoint.Query().WithAgents().WithRegion().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range points {
		if n := len(p.Edges.Agents); n < 1 || n > 3 {
			t.Fatalf("%s has %d agents", p.Name, n)
		}
		if p.Edges.Region.Level != region.LevelVILLAGE {
			t.Fatalf("%s is in a %s", p.Name, p.Edges.Region.Level)
		}
	}
	if n, err := db.User.Query().Where(user.RoleEQ(user.RoleTOWNSHIP_SECRETARY)).Count(ctx); err != nil || n != 128 {
		t.Errorf("secretaries = %d (%v), want 128", n, err)
	}
	if n, err := db.User.Query().Where(user.RoleEQ(user.RoleCOUNTY_ADMIN)).Count(ctx); err != nil || n != 12 {
		t.Errorf("county admins = %d (%v), want 12", n, err)
	}

	fixed := []struct {
		phone  string
		role   user.Role
		region string // exact scope, or the township prefix for agents
	}{
		{demo.CityAdminPhone, user.RoleCITY_ADMIN, "140400000000"},
		{demo.CountyAdminPhone, user.RoleCOUNTY_ADMIN, "140423000000"},
		{demo.GuhanSecretaryPhone, user.RoleTOWNSHIP_SECRETARY, "140423100000"},
		{demo.DanzhuSecretaryPhone, user.RoleTOWNSHIP_SECRETARY, "140428100000"},
		{demo.GuhanAgentPhone, user.RoleAGENT, "140423100"},
		{demo.DanzhuAgentPhone, user.RoleAGENT, "140428100"},
	}
	for _, f := range fixed {
		u, err := db.User.Query().Where(user.Phone(f.phone)).Only(ctx)
		if err != nil {
			t.Fatalf("account %s: %v", f.phone, err)
		}
		okRegion := u.RegionID == f.region || (f.role == user.RoleAGENT && u.RegionID[:9] == f.region && u.ServicePointID != nil)
		if u.Role != f.role || !okRegion {
			t.Errorf("account %s = %s in %s, want %s in %s", f.phone, u.Role, u.RegionID, f.role, f.region)
		}
		if ok, err := access.VerifyPassword(u.PasswordHash, demo.Password); !ok || err != nil {
			t.Errorf("account %s does not take the demo password (%v)", f.phone, err)
		}
	}
	// One village secretary per village with a point, scoped to it; the
	// README's one to the village of the 古韩镇 agent's point.
	villages := map[string]bool{}
	for _, p := range points {
		villages[p.RegionID] = true
	}
	vsecs, err := db.User.Query().Where(user.RoleEQ(user.RoleVILLAGE_SECRETARY)).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range vsecs {
		if !villages[u.RegionID] || u.ServicePointID != nil {
			t.Errorf("village secretary %s in %s (point %v): not a village with a point", u.Phone, u.RegionID, u.ServicePointID)
		}
		delete(villages, u.RegionID)
	}
	if len(villages) != 0 || len(vsecs) == 0 {
		t.Errorf("%d village secretaries; %d villages with a point have none", len(vsecs), len(villages))
	}
	agent := db.User.Query().Where(user.Phone(demo.GuhanAgentPhone)).OnlyX(ctx)
	vsec, err := db.User.Query().Where(user.Phone(demo.GuhanVillagePhone)).Only(ctx)
	if err != nil {
		t.Fatalf("account %s: %v", demo.GuhanVillagePhone, err)
	}
	if vsec.Role != user.RoleVILLAGE_SECRETARY || vsec.RegionID != agent.RegionID {
		t.Errorf("account %s = %s in %s, want %s in %s", vsec.Phone, vsec.Role, vsec.RegionID, user.RoleVILLAGE_SECRETARY, agent.RegionID)
	}
	if ok, err := access.VerifyPassword(vsec.PasswordHash, demo.Password); !ok || err != nil {
		t.Errorf("account %s does not take the demo password (%v)", vsec.Phone, err)
	}

	// The README's resident has errands in several states at the 古韩镇 agent's point.
	mine, err := db.Errand.Query().Where(errand.ResidentPhoneHash(keys.Hash(pii.KindPhone, demo.ResidentPhone))).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	states := map[errand.State]bool{}
	for _, e := range mine {
		if e.ServicePointID != *agent.ServicePointID {
			t.Errorf("resident errand %d at point %d, want %d", e.ID, e.ServicePointID, *agent.ServicePointID)
		}
		states[e.State] = true
		if phone, err := keys.Decrypt(e.ResidentPhoneCipher); err != nil || phone != demo.ResidentPhone {
			t.Errorf("resident phone decrypts to %q, %v", phone, err)
		}
	}
	if len(mine) < 5 || len(states) < 4 {
		t.Errorf("resident %s has %d errands in %d states, want ≥5 in ≥4", demo.ResidentPhone, len(mine), len(states))
	}
}

// The README's examples show something on a fresh demo: the 古韩镇
// agent's overdue errands, the township's overdue list and its stored
// weekly, monthly and quarterly reports.
func TestSeedShowsTheReadmeExamples(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _, _ := seedStore(t, 300)
	db := st.Client
	agent := db.User.Query().Where(user.Phone(demo.GuhanAgentPhone)).OnlyX(ctx)
	overdue := db.Errand.Query().Where(errand.ServicePointID(*agent.ServicePointID), errands.OverduePredicate(fixedNow)).AllX(ctx)
	states := map[errand.State]int{}
	for _, e := range overdue {
		states[e.State]++
		if days := fixedNow.Sub(e.DueTime).Hours() / 24; days < 1 || days > 14 {
			t.Errorf("errand %d (%s) due %v, want a few working days before %v", e.ID, e.State, e.DueTime, fixedNow)
		}
	}
	if states[errand.StateIN_PROGRESS] < 2 || states[errand.StateFORWARDED]+states[errand.StateNEEDS_MATERIALS] < 1 {
		t.Errorf("overdue errands at the 古韩镇 agent's point by state: %v, want ≥2 IN_PROGRESS and a FORWARDED or NEEDS_MATERIALS", states)
	}

	boards := leaderboard.New(st.Client, kvtest.Open(t))
	n, err := demo.Snapshots(ctx, report.New(st, boards), boards, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if stored := db.ReportSnapshot.Query().CountX(ctx); stored != n || n == 0 {
		t.Errorf("%d snapshots stored, Snapshots says %d", stored, n)
	}
	// Wednesday 2026-11-25: last week's dispatch ran on Monday, last
	// month's report on 1 November.
	var got []string
	for _, r := range db.ReportSnapshot.Query().Where(reportsnapshot.RegionID("140423100000")).Order(ent.Desc(reportsnapshot.FieldID)).AllX(ctx) {
		got = append(got, string(r.Kind)+" "+r.Period)
		if len(r.Content) == 0 {
			t.Errorf("%s %s is empty", r.Kind, r.Period)
		}
	}
	want := []string{"WEEKLY_DISPATCH 2026-W47", "WEEKLY_DISPATCH 2026-W46", "WEEKLY_DISPATCH 2026-W45", "WEEKLY_DISPATCH 2026-W44",
		"MONTHLY_REPORT 2026-10", "QUARTERLY_REVIEW 2026-Q3", "MONTHLY_REPORT 2026-09", "MONTHLY_REPORT 2026-08"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("古韩镇's snapshots, newest first:\n%v\nwant\n%v", got, want)
	}
}

func TestSeedHistoriesAreConsistent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, keys, sum := seed(t, 1500)
	errands, err := db.Errand.Query().WithEvents(func(q *ent.ErrandEventQuery) {
		q.Where(errandevent.KindIn(errandevent.KindCREATED, errandevent.KindTRANSITIONED)).Order(ent.Asc(errandevent.FieldCreateTime), ent.Asc(errandevent.FieldID))
	}).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(errands) != sum.Errands {
		t.Fatalf("%d errands read, %d written", len(errands), sum.Errands)
	}
	byState := map[errand.State]int{}
	for _, e := range errands {
		byState[e.State]++
		ev := e.Edges.Events
		if len(ev) == 0 || ev[0].Kind != errandevent.KindCREATED {
			t.Fatalf("errand %d history does not start with CREATED", e.ID)
		}
		state := "ACCEPTED"
		for _, x := range ev[1:] {
			if x.FromState != state {
				t.Fatalf("errand %d: event from %s, but state was %s", e.ID, x.FromState, state)
			}
			state = x.ToState
		}
		if state != string(e.State) {
			t.Fatalf("errand %d: history ends in %s, errand is %s", e.ID, state, e.State)
		}
		if e.UpdateTime.After(fixedNow) || e.AcceptTime.Before(fixedNow.AddDate(-1, 0, -1)) {
			t.Fatalf("errand %d outside the last year: %v..%v", e.ID, e.AcceptTime, e.UpdateTime)
		}
		id, err := keys.Decrypt(e.ResidentIDNumberCipher)
		if err != nil || !pii.ValidIDNumber(id) {
			t.Fatalf("errand %d: resident ID number invalid (%v)", e.ID, err)
		}
	}
	if byState[errand.StateCOMPLETED] < len(errands)*8/10 {
		t.Errorf("only %d of %d errands completed: %v", byState[errand.StateCOMPLETED], len(errands), byState)
	}
	for _, s := range []errand.State{errand.StateACCEPTED, errand.StateIN_PROGRESS, errand.StateCANCELLED} {
		if byState[s] == 0 {
			t.Errorf("no errand in state %s: %v", s, byState)
		}
	}
	if sum.Ratings < sum.Errands/2 {
		t.Errorf("%d ratings for %d errands", sum.Ratings, sum.Errands)
	}
}

func TestSeedIsDeterministic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, _, _ := seed(t, 300)
	b, _, _ := seed(t, 300)
	codesA := a.Errand.Query().Order(ent.Asc(errand.FieldID)).Select(errand.FieldTrackingCode).StringsX(ctx)
	codesB := b.Errand.Query().Order(ent.Asc(errand.FieldID)).Select(errand.FieldTrackingCode).StringsX(ctx)
	if len(codesA) == 0 || len(codesA) != len(codesB) {
		t.Fatalf("%d vs %d errands", len(codesA), len(codesB))
	}
	for i := range codesA {
		if codesA[i] != codesB[i] {
			t.Fatalf("errand %d: tracking code %s vs %s", i, codesA[i], codesB[i])
		}
	}
	namesA := a.ServicePoint.Query().Order(ent.Asc(servicepoint.FieldID)).Select(servicepoint.FieldName).StringsX(ctx)
	namesB := b.ServicePoint.Query().Order(ent.Asc(servicepoint.FieldID)).Select(servicepoint.FieldName).StringsX(ctx)
	for i := range namesA {
		if namesA[i] != namesB[i] {
			t.Fatalf("point %d: %s vs %s", i, namesA[i], namesB[i])
		}
	}
}

// BenchmarkSeedDemo seeds the full demo (about 23,000 errands) once per
// iteration into a fresh database: the figure behind "seeding takes ≤ 30 s".
func BenchmarkSeedDemo(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st := storetest.Open(b)
		keys, err := pii.ParseKeyring(pii.NewKeyringString())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := demo.Seed(context.Background(), st.Client, keys, demo.Options{Now: fixedNow}); err != nil {
			b.Fatal(err)
		}
	}
}
