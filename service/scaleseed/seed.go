// Package scaleseed loads the real region tree of Changzhi, Shanxi or all
// of China into an empty database, with service points at Changzhi's
// density, their staff and a year of errands, for measuring redpoint at
// city, province and national scale.
package scaleseed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"golang.org/x/sync/errgroup"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/sequence"
	"github.com/changzhi/redpoint/ent/user"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/store"
)

// Scale is how much of China a seed loads.
type Scale string

// The scales.
const (
	City     Scale = "city"     // 长治市 (1404)
	Province Scale = "province" // 山西省 (14)
	National Scale = "national" // every province
)

// ParseScale reads a --scale value.
func ParseScale(s string) (Scale, error) {
	switch sc := Scale(s); sc {
	case City, Province, National:
		return sc, nil
	}
	return "", fmt.Errorf("scaleseed: unknown scale %q: city, province or national", s)
}

// prefix is the short code the scale's divisions start with.
func (s Scale) prefix() string {
	switch s {
	case City:
		return "1404"
	case Province:
		return "14"
	}
	return ""
}

// DefaultSeed draws the same data every time unless Options say otherwise.
const DefaultSeed = 0x7265647032 // "redp2"

var (
	// ErrNotEmpty refuses a database that already has regions.
	ErrNotEmpty = errors.New("scaleseed: the database is not empty; seed a freshly migrated one")
	// ErrSQLite refuses a province or the country on SQLite.
	ErrSQLite = errors.New("scaleseed: the province and national scales need PostgreSQL (REDPOINT_DATABASE_URL); SQLite takes the city scale only")
)

// Options tune a seed.
type Options struct {
	Scale Scale
	// Only narrows the scale to the divisions under a short code inside
	// it (140423: 襄垣县), for tests; empty: the whole scale.
	Only string
	// Now anchors the year of errands; the same Now and Seed give the same data.
	Now time.Time
	// Seed draws the data; 0: DefaultSeed.
	Seed uint64
	// Log, when set, hears the seed's progress.
	Log *slog.Logger
}

// Summary counts what was written.
type Summary struct {
	Regions, ServicePoints, Users, ErrandTypes, Errands, Events, Ratings, FollowUps int
}

// Seed loads opt's scale into st, which must be migrated and empty, in
// one transaction: all of it, or nothing.
func Seed(ctx context.Context, st *store.Store, keys *pii.Keyring, opt Options) (Summary, error) {
	if _, err := ParseScale(string(opt.Scale)); err != nil {
		return Summary{}, err
	}
	only := opt.Scale.prefix()
	if opt.Only != "" {
		if !strings.HasPrefix(opt.Only, only) {
			return Summary{}, fmt.Errorf("scaleseed: %s is not inside the %s scale", opt.Only, opt.Scale)
		}
		only = opt.Only
	}
	if st.Dialect == dialect.SQLite && opt.Scale != City {
		return Summary{}, ErrSQLite
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	opt.Now = opt.Now.UTC().Truncate(time.Microsecond)
	if opt.Seed == 0 {
		opt.Seed = DefaultSeed
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	t, err := loadTree(only)
	if err != nil {
		return Summary{}, fmt.Errorf("scaleseed: %w", err)
	}
	conn, err := st.DB.Conn(ctx)
	if err != nil {
		return Summary{}, fmt.Errorf("scaleseed: %w", err)
	}
	defer conn.Close() //nolint:errcheck // returned to the pool; the outcome is the transaction's
	s := &seeder{opt: opt, tree: t, keys: keys, out: sink{conn: conn, dialect: st.Dialect},
		db: ent.NewClient(ent.Driver(entsql.NewDriver(st.Dialect, entsql.Conn{ExecQuerier: conn})))}
	begin := "BEGIN"
	if st.Dialect == dialect.SQLite {
		begin = "BEGIN IMMEDIATE"
	}
	if err := s.out.exec(ctx, begin); err != nil {
		return Summary{}, fmt.Errorf("scaleseed: %w", err)
	}
	if st.Dialect == dialect.Postgres {
		if err := s.skipForeignKeyChecks(ctx); err != nil {
			_ = s.out.exec(context.WithoutCancel(ctx), "ROLLBACK")
			return Summary{}, fmt.Errorf("scaleseed: %w", err)
		}
	}
	if err := s.run(ctx); err != nil {
		_ = s.out.exec(context.WithoutCancel(ctx), "ROLLBACK") // the error that stopped it is the one to report
		return Summary{}, fmt.Errorf("scaleseed: %w", err)
	}
	if err := s.out.exec(ctx, "COMMIT"); err != nil {
		return Summary{}, fmt.Errorf("scaleseed: commit: %w", err)
	}
	if st.Dialect == dialect.Postgres {
		// Fresh statistics for the planner's first queries, and the rows'
		// visibility settled now rather than by the first reads: a row
		// never vacuumed has each read that meets it set its hint bits,
		// a write (and WAL for the replica), and no index-only scans.
		if err := s.awaitHorizon(ctx); err != nil {
			return s.sum, fmt.Errorf("scaleseed: vacuum: %w", err)
		}
		if err := s.out.exec(ctx, "VACUUM (ANALYZE)"); err != nil {
			return s.sum, fmt.Errorf("scaleseed: vacuum: %w", err)
		}
	}
	return s.sum, nil
}

// awaitHorizon waits, a minute at most, until no transaction of the
// database and no replication slot still sees the database as it was
// before the seed committed. VACUUM marks a page all-visible (what an
// index-only scan needs) only once every snapshot sees its rows; a
// streaming replica with hot_standby_feedback reports its horizon every
// few seconds, and a VACUUM right after the commit found it from before
// the commit and marked no page of the 5 million errands.
func (s *seeder) awaitHorizon(ctx context.Context) error {
	var after string
	if err := s.out.conn.QueryRowContext(ctx, "SELECT xid(pg_current_xact_id())::text").Scan(&after); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var behind bool
		if err := s.out.conn.QueryRowContext(ctx, horizonBehind, after).Scan(&behind); err != nil || !behind {
			return err
		}
		if time.Now().After(deadline) {
			s.opt.Log.WarnContext(ctx, "scale seed: an older snapshot still holds the rows back; vacuuming anyway, and index-only scans wait for autovacuum")
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// horizonBehind is whether a replication slot or another session of the
// database holds a snapshot older than the transaction $1.
const horizonBehind = `SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE xmin IS NOT NULL AND age(xmin) > age($1::xid))
	OR EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
		AND backend_xmin IS NOT NULL AND age(backend_xmin) > age($1::xid))`

type seeder struct {
	opt  Options
	tree *tree
	keys *pii.Keyring
	out  sink
	db   *ent.Client // on the same connection and transaction
	cal  *calendar.Calendar
	sum  Summary

	points    []demo.YearPoint
	townships []string // each point's township, 12 digits
}

// skipForeignKeyChecks turns off, for the seed's transaction, the
// per-row triggers that check foreign keys, as pg_restore
// --disable-triggers does: they take most of a bulk load's time, and the
// seed writes every reference after its target. It needs a superuser;
// for another role the checks stay on and the seed is slower.
func (s *seeder) skipForeignKeyChecks(ctx context.Context) error {
	if err := s.out.exec(ctx, "SAVEPOINT replica"); err != nil {
		return err
	}
	if err := s.out.exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
		s.opt.Log.InfoContext(ctx, "scale seed: checking foreign keys row by row (not a superuser)", "error", err)
		return s.out.exec(ctx, "ROLLBACK TO SAVEPOINT replica")
	}
	return s.out.exec(ctx, "RELEASE SAVEPOINT replica")
}

func (s *seeder) run(ctx context.Context) error {
	empty, err := demo.IsEmpty(ctx, s.db)
	if err != nil {
		return err
	}
	if !empty {
		return ErrNotEmpty
	}
	for _, step := range []func(context.Context) error{s.calendar, s.regions, s.servicePoints, s.staff, s.catalog, s.withoutIndexes(s.errands), s.counters} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (s *seeder) calendar(ctx context.Context) error {
	days, err := calendar.Official()
	if err != nil {
		return err
	}
	s.cal = calendar.New(days)
	rows := make([][]any, len(days))
	for i, d := range days {
		rows[i] = []any{d.Date, string(d.Kind), d.Name}
	}
	return s.out.copy(ctx, "calendar_days", []string{"id", "kind", "name"}, rows)
}

func (s *seeder) regions(ctx context.Context) error {
	rows := make([][]any, len(s.tree.regions))
	for i, r := range s.tree.regions {
		var parent any
		if r.parent != "" {
			parent = r.parent
		}
		rows[i] = []any{r.id, r.name, string(r.level), parent}
	}
	s.sum.Regions = len(rows)
	s.opt.Log.InfoContext(ctx, "scale seed: regions", "regions", len(rows))
	return s.out.copy(ctx, "regions", []string{"id", "name", "level", "parent_id"}, rows)
}

// since is when the points and accounts were set up: two years before Now.
func (s *seeder) since() time.Time { return s.opt.Now.AddDate(-2, 0, 0) }

func (s *seeder) servicePoints(ctx context.Context) error {
	chosen := s.tree.pointVillages(rand.New(rand.NewPCG(s.opt.Seed, 1)))
	phones := rand.New(rand.NewPCG(s.opt.Seed, 2))
	var rows [][]any
	for _, tw := range s.tree.townships {
		for _, v := range chosen[tw.id] {
			id := len(rows) + 1
			short := shortVillage(v.name)
			county := ""
			if tw.county != tw.city {
				county = s.tree.names[tw.county]
			}
			phone := ""
			if strings.HasPrefix(v.id, "1404") {
				phone = fmt.Sprintf("0355-%07d", 5000000+phones.IntN(4999999))
			}
			rows = append(rows, []any{id, s.since(), s.since(), int64(1), tw.name + short + "红色代办点",
				s.tree.names[tw.city] + county + tw.name + short + "党群服务中心", phone, true, v.id})
			s.points = append(s.points, demo.YearPoint{ID: id, Village: v.id})
			s.townships = append(s.townships, tw.id)
		}
	}
	s.sum.ServicePoints = len(rows)
	s.opt.Log.InfoContext(ctx, "scale seed: service points", "service_points", len(rows))
	return s.out.copy(ctx, "service_points", []string{"id", "create_time", "update_time", "version", "name", "address", "phone", "active", "region_id"}, rows)
}

// The accounts' phones: the demo's fixed ones where the demo has them
// (so the README's logins and the load harness work), numbered ones
// otherwise; agents are 137%08d from 1 in the order of their points, as
// the load harness logs them in.
const (
	provinceAdminPhones = "132000000%s" // the province's two digits: 山西 13200000014
	cityAdminPhones     = "133%08d"
	villageSecPhones    = "134%08d"
	countyAdminPhones   = "135%08d"
	townshipPhones      = "136%08d"
	agentPhones         = "137%08d"
)

var fixedPhones = map[string]string{
	"140400000000": demo.CityAdminPhone,
	"140423000000": demo.CountyAdminPhone,
	"140423100000": demo.GuhanSecretaryPhone,
	"140428100000": demo.DanzhuSecretaryPhone,
}

// staff writes a province admin (a CITY_ADMIN of the province) per
// province, a city admin per city, a county admin per county, a secretary
// per township, an agent per point and a secretary per village with a
// point: every level of access.Role the app has. They share one argon2id
// hash of demo.Password.
func (s *seeder) staff(ctx context.Context) error {
	hash, err := access.HashPassword(demo.Password)
	if err != nil {
		return err
	}
	names := rand.New(rand.NewPCG(s.opt.Seed, 3))
	var rows [][]any
	secretaries := map[string]int{}
	add := func(phone string, role user.Role, regionID string, point any) int {
		id := len(rows) + 1
		rows = append(rows, []any{id, s.since(), s.since(), int64(1), phone, demo.PersonName(names), string(role), regionID, hash, true, point})
		return id
	}
	n := map[user.Role]int{}
	phone := func(role user.Role, format, regionID string) string {
		if p, ok := fixedPhones[regionID]; ok {
			return p
		}
		n[role]++
		return fmt.Sprintf(format, n[role])
	}
	for _, r := range s.tree.regions {
		switch r.level {
		case "PROVINCE":
			add(fmt.Sprintf(provinceAdminPhones, r.id[:2]), user.RoleCITY_ADMIN, r.id, nil)
		case "CITY":
			add(phone(user.RoleCITY_ADMIN, cityAdminPhones, r.id), user.RoleCITY_ADMIN, r.id, nil)
		case "COUNTY":
			add(phone(user.RoleCOUNTY_ADMIN, countyAdminPhones, r.id), user.RoleCOUNTY_ADMIN, r.id, nil)
		case "TOWNSHIP":
			secretaries[r.id] = add(phone(user.RoleTOWNSHIP_SECRETARY, townshipPhones, r.id), user.RoleTOWNSHIP_SECRETARY, r.id, nil)
		}
	}
	for i := range s.points {
		p := &s.points[i]
		p.Agents = []int{add(phone(user.RoleAGENT, agentPhones, ""), user.RoleAGENT, p.Village, p.ID)}
		p.Secretary = secretaries[s.townships[i]]
	}
	seen := map[string]bool{}
	for _, p := range s.points {
		if !seen[p.Village] {
			seen[p.Village] = true
			add(phone(user.RoleVILLAGE_SECRETARY, villageSecPhones, ""), user.RoleVILLAGE_SECRETARY, p.Village, nil)
		}
	}
	s.sum.Users = len(rows)
	s.opt.Log.InfoContext(ctx, "scale seed: staff", "users", len(rows))
	return s.out.copy(ctx, "users", []string{"id", "create_time", "update_time", "version", "phone", "display_name", "role", "region_id", "password_hash", "active", "service_point_id"}, rows)
}

func (s *seeder) catalog(ctx context.Context) error {
	n, err := demo.Catalog(ctx, s.db, s.opt.Now)
	s.sum.ErrandTypes = n
	return err
}

// bulkTables are the tables the year of errands fills.
var bulkTables = []string{"errands", "errand_events", "ratings", "follow_ups"}

// withoutIndexes runs load with the bulk tables' secondary indexes
// dropped, and builds them again after it, on PostgreSQL: building an
// index from the loaded rows is much faster than updating eleven of them
// row by row (as pg_restore does). The indexes behind primary keys and
// unique constraints stay. All of it is in the seed's transaction.
func (s *seeder) withoutIndexes(load func(context.Context) error) func(context.Context) error {
	if s.out.dialect != dialect.Postgres {
		return load
	}
	return func(ctx context.Context) error {
		var names, defs []string
		for _, table := range bulkTables {
			rows, err := s.out.conn.QueryContext(ctx, `SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
				WHERE i.indrelid = $1::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)`, table)
			if err != nil {
				return err
			}
			for rows.Next() {
				var name, def string
				if err := rows.Scan(&name, &def); err != nil {
					_ = rows.Close()
					return err
				}
				names, defs = append(names, name), append(defs, def)
			}
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				return err
			}
		}
		for _, name := range names {
			if err := s.out.exec(ctx, "DROP INDEX "+name); err != nil {
				return err
			}
		}
		if err := load(ctx); err != nil {
			return err
		}
		start := time.Now()
		if err := s.out.exec(ctx, "SET LOCAL maintenance_work_mem = '256MB'"); err != nil {
			return err
		}
		for _, def := range defs {
			if err := s.out.exec(ctx, def); err != nil {
				return fmt.Errorf("index: %w", err)
			}
		}
		s.opt.Log.InfoContext(ctx, "scale seed: indexes built", "indexes", len(defs), "duration_ms", time.Since(start).Milliseconds())
		return nil
	}
}

// errandCols and the others are the columns the errands service writes.
var (
	errandCols = []string{"id", "create_time", "update_time", "version", "tracking_code", "region_id", "resident_name",
		"resident_phone_cipher", "resident_phone_hash", "resident_phone_last4", "resident_id_number_cipher", "resident_id_number_hash",
		"state", "channel", "description", "materials", "forwarded_to", "missing_materials", "result", "cancel_reason",
		"accept_time", "due_time", "pause_time", "close_time", "change_seq", "errand_type_id", "service_point_id", "agent_id",
		"working_days", "reopen_count", "first_close_time"}
	eventCols    = []string{"id", "kind", "from_state", "to_state", "actor_kind", "actor_user_id", "note", "create_time", "errand_id"}
	ratingCols   = []string{"id", "service_point_id", "region_id", "level", "comment", "create_time", "errand_id"}
	followUpCols = []string{"id", "create_time", "update_time", "version", "errand_id", "region_id", "state", "note", "outcome",
		"closed_by_user_id", "close_time", "rating_id"}
)

// batch is a day's rows.
type batch struct{ errands, events, ratings, followUps [][]any }

// errands draws the year twice from the same seed: first only for when
// each errand last changed, whose order gives the change numbers (as live
// writes assign them), then to write them, a day at a time, ids in order
// of acceptance.
func (s *seeder) errands(ctx context.Context) error {
	if len(s.points) == 0 {
		return nil
	}
	total := int(math.Round(float64(len(s.points)) * demo.ErrandsPerPoint))
	year := demo.NewYear(s.opt.Seed, s.opt.Now, s.cal, s.keys, s.points)
	days, shares := year.Days()
	perDay := apportion(total, shares)
	last := make([]int64, 0, total)
	for i, d := range days {
		for _, x := range year.Day(d, perDay[i]) {
			last = append(last, x.LastChange().UnixMicro())
		}
	}
	order := make([]int32, len(last))
	for i := range order {
		order[i] = int32(i)
	}
	sort.SliceStable(order, func(a, b int) bool { return last[order[a]] < last[order[b]] })
	seq := make([]int64, len(last))
	for rank, i := range order {
		seq[i] = int64(rank + 1)
	}

	year = demo.NewYear(s.opt.Seed, s.opt.Now, s.cal, s.keys, s.points)
	batches := make(chan batch, 2)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(batches)
		id, eventID, ratingID, followUpID := 0, 0, 0, 0
		for i, d := range days {
			var b batch
			for _, x := range year.Day(d, perDay[i]) {
				h, err := year.History(x)
				if err != nil {
					return err
				}
				id++
				row, err := errandRow(id, seq[id-1], h)
				if err != nil {
					return err
				}
				b.errands = append(b.errands, row)
				for _, ev := range h.Events {
					eventID++
					b.events = append(b.events, []any{eventID, string(ev.Kind), ev.From, ev.To, string(ev.Actor), nullable(ev.ActorUserID), ev.Note, ev.At, id})
				}
				if r := h.Rating; r != nil {
					ratingID++
					b.ratings = append(b.ratings, []any{ratingID, h.ServicePointID, h.Region, string(r.Level), r.Comment, r.At, id})
					if f := r.FollowUp; f != nil {
						followUpID++
						var outcome any
						if f.Outcome != nil {
							outcome = string(*f.Outcome)
						}
						b.followUps = append(b.followUps, []any{followUpID, r.At, f.Update, f.Version, id, h.Region, string(f.State), f.Note,
							outcome, nullable(f.ClosedBy), nullable(f.Close), ratingID})
					}
				}
			}
			select {
			case batches <- b:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	g.Go(func() error {
		start, day := time.Now(), 0
		for b := range batches {
			for _, t := range []struct {
				table string
				cols  []string
				rows  [][]any
			}{{"errands", errandCols, b.errands}, {"errand_events", eventCols, b.events}, {"ratings", ratingCols, b.ratings}, {"follow_ups", followUpCols, b.followUps}} {
				if err := s.out.copy(gctx, t.table, t.cols, t.rows); err != nil {
					return err
				}
			}
			s.sum.Errands += len(b.errands)
			s.sum.Events += len(b.events)
			s.sum.Ratings += len(b.ratings)
			s.sum.FollowUps += len(b.followUps)
			if day++; day%30 == 0 || day == len(days) {
				secs := time.Since(start).Seconds()
				s.opt.Log.InfoContext(ctx, "scale seed: errands", "days", day, "errands", s.sum.Errands, "events", s.sum.Events,
					"rows_per_s", int(float64(s.sum.Errands+s.sum.Events+s.sum.Ratings+s.sum.FollowUps)/max(secs, 0.001)))
			}
		}
		return nil
	})
	return g.Wait()
}

func errandRow(id int, seq int64, h demo.History) ([]any, error) {
	materials, err := json.Marshal(h.Materials)
	if err != nil {
		return nil, err
	}
	missing, err := json.Marshal(h.MissingMaterials)
	if err != nil {
		return nil, err
	}
	return []any{id, h.Accept, h.Update, h.Version, h.TrackingCode, h.Region, h.ResidentName,
		h.ResidentPhoneCipher, h.ResidentPhoneHash, h.ResidentPhoneLast4, h.ResidentIDNumberCipher, h.ResidentIDNumberHash,
		string(h.State), string(h.Channel), h.Description, materials, h.ForwardedTo, missing, h.Result, h.CancelReason,
		h.Accept, h.Due, nullable(h.Pause), nullable(h.Close), seq, h.ErrandType, h.ServicePointID, h.AgentID,
		nullable(h.WorkingDays), 0, nullable(h.FirstClose)}, nil
}

// apportion splits total over shares by largest remainder.
func apportion(total int, shares []float64) []int {
	sum := 0.0
	for _, w := range shares {
		sum += w
	}
	out := make([]int, len(shares))
	type rem struct {
		i    int
		frac float64
	}
	rems := make([]rem, len(shares))
	given := 0
	for i, w := range shares {
		exact := float64(total) * w / sum
		out[i] = int(exact)
		given += out[i]
		rems[i] = rem{i, exact - float64(out[i])}
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].frac > rems[b].frac })
	for k := 0; given < total; k++ {
		out[rems[k%len(rems)].i]++
		given++
	}
	return out
}

// counters continue what live writes number after the seeded rows: the
// errands' change numbers and, on PostgreSQL, the identity sequences of
// the tables whose ids the seed gave (SQLite's AUTOINCREMENT follows by itself).
func (s *seeder) counters(ctx context.Context) error {
	if err := s.db.Sequence.Create().SetID(errands.SequenceName).SetValue(int64(s.sum.Errands)).
		OnConflictColumns(sequence.FieldID).UpdateNewValues().Exec(ctx); err != nil {
		return fmt.Errorf("sequence: %w", err)
	}
	if s.out.dialect != dialect.Postgres {
		return nil
	}
	for _, table := range []string{"service_points", "users", "errands", "errand_events", "ratings", "follow_ups"} {
		q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%[1]s', 'id'), COALESCE((SELECT max(id) FROM %[1]s), 0) + 1, false)`, table)
		if err := s.out.exec(ctx, q); err != nil {
			return fmt.Errorf("identity of %s: %w", table, err)
		}
	}
	return nil
}
