// Package report is the township's oversight: workload figures computed
// in SQL, the overdue list, Excel reports, the quarterly review (季观摩)
// and the stored weekly (周调度), monthly (月通报) and quarterly snapshots.
// It only reads, but for storing those
// snapshots; ReportService's follow-up methods are served by
// service/feedback, which owns follow-ups.
package report

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errandtype"
	"github.com/changzhi/redpoint/ent/rating"
	"github.com/changzhi/redpoint/ent/region"
	"github.com/changzhi/redpoint/ent/servicepoint"
	"github.com/changzhi/redpoint/ent/user"
	"github.com/changzhi/redpoint/service/feedback"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/regioncode"
	"github.com/changzhi/redpoint/service/store"
)

// GroupBy is how workload rows are grouped.
type GroupBy string

// The groupings.
const (
	ByChildRegion  GroupBy = "CHILD_REGION"
	ByServicePoint GroupBy = "SERVICE_POINT"
	ByAgent        GroupBy = "AGENT"
	ByErrandType   GroupBy = "ERRAND_TYPE"
)

// Groupings in report order.
var Groupings = []GroupBy{ByChildRegion, ByServicePoint, ByAgent, ByErrandType}

// Row is one group's figures.
type Row struct {
	Key, Name                                                    string
	Received, Completed, InProgress, NeedsMaterials, Overdue     int
	CompletedLate, Ratings, Satisfied, BadRatings, OpenFollowUps int
	Escalations, Reopened                                        int
	// Consented: errands received in the period with their resident's
	// consent (委托授权) standing.
	Consented           int
	MedianDays, P90Days float64
}

// ConsentRate is consented over received.
func (r Row) ConsentRate() float64 {
	if r.Received == 0 {
		return 0
	}
	return float64(r.Consented) / float64(r.Received)
}

// OnTimeRate is completed on time over completed.
func (r Row) OnTimeRate() float64 {
	if r.Completed == 0 {
		return 0
	}
	return float64(r.Completed-r.CompletedLate) / float64(r.Completed)
}

// ReopenRate is reopenings over completions in the period.
func (r Row) ReopenRate() float64 {
	if r.Completed == 0 {
		return 0
	}
	return float64(r.Reopened) / float64(r.Completed)
}

// SatisfactionRate is 非常满意 + 满意 + 基本满意 over ratings.
func (r Row) SatisfactionRate() float64 {
	if r.Ratings == 0 {
		return 0
	}
	return float64(r.Satisfied) / float64(r.Ratings)
}

// Query is one workload question.
type Query struct {
	Region     regioncode.Code
	Start, End time.Time // [Start, End)
	Now        time.Time
	GroupBy    GroupBy
}

// Workloads answers workload queries with aggregations in the database.
type Workloads struct {
	st *store.Store
	// ent is the primary's client, for the reads by key and the snapshots'
	// writes; the figures are read through reads.
	ent     *ent.Client
	dialect string
	// rd pins one read's queries to one database (on); nil: each public
	// method asks the store's Reads.
	rd *store.Reader
	// boards are the leaderboard's, for the quarterly review's scores and ranks.
	boards *leaderboard.Boards
}

// New returns the workload queries over the store's database: SQL through
// the store, which keeps the statements prepared, and ent for the rest;
// the quarterly review reads scores and ranks from boards.
func New(st *store.Store, boards *leaderboard.Boards) *Workloads {
	return &Workloads{st: st, ent: st.Client, dialect: st.Dialect, boards: boards}
}

// on is w with its figures read through rd, for one read's queries.
func (w *Workloads) on(rd store.Reader) *Workloads {
	c := *w
	c.rd = &rd
	return &c
}

// pinned is w on the store's Reads (a replica within the lag bound, or the
// primary) unless a read pinned it already.
func (w *Workloads) pinned(ctx context.Context) *Workloads {
	if w.rd != nil {
		return w
	}
	return w.on(w.st.Reads(ctx))
}

// childDigits is how many significant digits a child region of r has.
func childDigits(r regioncode.Code) (int, bool) {
	switch r.Level() {
	case regioncode.Province:
		return 4, true
	case regioncode.City:
		return 6, true
	case regioncode.County:
		return 9, true
	case regioncode.Township:
		return 12, true
	}
	return 0, false
}

// groupExpr is the SQL of a grouping key (text), or ” for the total.
func (w *Workloads) groupExpr(q Query, total bool) (string, error) {
	if total {
		return "''", nil
	}
	switch q.GroupBy {
	case ByChildRegion:
		n, ok := childDigits(q.Region)
		if !ok {
			return "", fmt.Errorf("a village has no child regions")
		}
		return "substr(e.region_id, 1, " + strconv.Itoa(n) + ")", nil
	case byCounty:
		return "substr(e.region_id, 1, 6)", nil
	case byTownship:
		return "substr(e.region_id, 1, 9)", nil
	case ByServicePoint:
		return "CAST(e.service_point_id AS TEXT)", nil
	case ByAgent:
		return "CAST(e.agent_id AS TEXT)", nil
	case ByErrandType:
		return "e.errand_type_id", nil
	}
	return "", fmt.Errorf("unknown grouping %q", q.GroupBy)
}

// rebind turns ? placeholders into $1, $2… for PostgreSQL.
func (w *Workloads) rebind(query string) string {
	if w.dialect != dialect.Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

const running = "('ACCEPTED','IN_PROGRESS','FORWARDED')"

// Rows computes the figures per group.
func (w *Workloads) Rows(ctx context.Context, q Query) ([]Row, error) {
	w = w.pinned(ctx)
	rows, err := w.compute(ctx, q, false)
	if err != nil {
		return nil, err
	}
	if err := w.name(ctx, q, rows); err != nil {
		return nil, err
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Received != rows[j].Received {
			return rows[i].Received > rows[j].Received
		}
		return rows[i].Key < rows[j].Key
	})
	return rows, nil
}

// RowsAndTotal computes the groups and the total together: the total's
// counts are the sums of the groups' (every errand is in exactly one
// group), so only its percentiles need their own query.
func (w *Workloads) RowsAndTotal(ctx context.Context, q Query) ([]Row, Row, error) {
	w = w.pinned(ctx)
	rows, err := w.Rows(ctx, q)
	if err != nil {
		return nil, Row{}, err
	}
	var t Row
	for _, r := range rows {
		t.Received += r.Received
		t.Completed += r.Completed
		t.InProgress += r.InProgress
		t.NeedsMaterials += r.NeedsMaterials
		t.Overdue += r.Overdue
		t.CompletedLate += r.CompletedLate
		t.Ratings += r.Ratings
		t.Satisfied += r.Satisfied
		t.BadRatings += r.BadRatings
		t.OpenFollowUps += r.OpenFollowUps
		t.Escalations += r.Escalations
		t.Consented += r.Consented
		t.Reopened += r.Reopened
	}
	pct, err := w.compute(ctx, q, true)
	if err != nil {
		return nil, Row{}, err
	}
	if len(pct) > 0 {
		t.MedianDays, t.P90Days = pct[0].MedianDays, pct[0].P90Days
	}
	return rows, t, nil
}

// compute runs the five aggregations per group; for the total, just the
// percentile one (a total's counts are the sums of its groups' counts).
func (w *Workloads) compute(ctx context.Context, q Query, total bool) ([]Row, error) {
	g, err := w.groupExpr(q, total)
	if err != nil {
		return nil, err
	}
	lo, hi := q.Region.Range()
	start, end, now := q.Start.UTC(), q.End.UTC(), q.Now.UTC()
	byKey := map[string]*Row{}
	get := func(k string) *Row {
		if byKey[k] == nil {
			byKey[k] = &Row{Key: k}
		}
		return byKey[k]
	}
	if total {
		get("")
	}
	run := func(query string, args []any, scan func(rs *sql.Rows) error) error {
		rs, err := w.rd.QueryContext(ctx, w.rebind(query), args...)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		defer func() { _ = rs.Close() }() // a read: rs.Err() below reports what it met
		for rs.Next() {
			if err := scan(rs); err != nil {
				return fmt.Errorf("report: %w", err)
			}
		}
		return rs.Err()
	}
	// count runs a query of one count per group into the field set names.
	count := func(query string, args []any, set func(r *Row, n int)) error {
		return run(query, args, func(rs *sql.Rows) error {
			var k string
			var n int
			if err := rs.Scan(&k, &n); err != nil {
				return err
			}
			set(get(k), n)
			return nil
		})
	}
	// Counts from the errands themselves.
	if !total {
		err = run(`SELECT `+g+` AS g,
		SUM(CASE WHEN e.accept_time >= ? AND e.accept_time < ? THEN 1 ELSE 0 END),
		SUM(CASE WHEN e.accept_time >= ? AND e.accept_time < ? AND e.consent_time IS NOT NULL AND e.consent_revoke_time IS NULL THEN 1 ELSE 0 END),
		SUM(CASE WHEN e.state = 'COMPLETED' AND e.close_time >= ? AND e.close_time < ? THEN 1 ELSE 0 END),
		SUM(CASE WHEN e.state = 'COMPLETED' AND e.close_time >= ? AND e.close_time < ? AND e.close_time > e.due_time THEN 1 ELSE 0 END),
		SUM(CASE WHEN e.state IN `+running+` THEN 1 ELSE 0 END),
		SUM(CASE WHEN e.state = 'NEEDS_MATERIALS' THEN 1 ELSE 0 END),
		SUM(CASE WHEN (e.state IN `+running+` AND e.due_time < ?) OR (e.state = 'NEEDS_MATERIALS' AND e.pause_time > e.due_time) THEN 1 ELSE 0 END)
		FROM errands e
		WHERE e.region_id >= ? AND e.region_id <= ?
		  AND (e.accept_time >= ? OR e.close_time >= ? OR e.state IN ('ACCEPTED','IN_PROGRESS','FORWARDED','NEEDS_MATERIALS'))
		GROUP BY g`,
			[]any{start, end, start, end, start, end, start, end, now, lo, hi, start, start},
			func(rs *sql.Rows) error {
				var k string
				var r Row
				if err := rs.Scan(&k, &r.Received, &r.Consented, &r.Completed, &r.CompletedLate, &r.InProgress, &r.NeedsMaterials, &r.Overdue); err != nil {
					return err
				}
				row := get(k)
				row.Received, row.Consented, row.Completed, row.CompletedLate = r.Received, r.Consented, r.Completed, r.CompletedLate
				row.InProgress, row.NeedsMaterials, row.Overdue = r.InProgress, r.NeedsMaterials, r.Overdue
				return nil
			})
		if err != nil {
			return nil, err
		}
	}
	// Median and 90th percentile of handling time, by window functions.
	// (state || '' keeps the planners off the state index: 23,000
	// completed errands city-wide, against a few hundred in the region.)
	err = run(`SELECT g,
		AVG(CASE WHEN rn = (cnt + 1) / 2 OR rn = (cnt + 2) / 2 THEN wd END),
		MAX(CASE WHEN rn = (cnt * 9 + 9) / 10 THEN wd END)
		FROM (SELECT `+g+` AS g, e.working_days AS wd,
		        ROW_NUMBER() OVER (PARTITION BY `+g+` ORDER BY e.working_days) AS rn,
		        COUNT(*) OVER (PARTITION BY `+g+`) AS cnt
		      FROM errands e
		      WHERE e.region_id >= ? AND e.region_id <= ? AND e.state || '' = 'COMPLETED'
		        AND e.close_time >= ? AND e.close_time < ? AND e.working_days IS NOT NULL) t
		GROUP BY g`,
		[]any{lo, hi, start, end},
		func(rs *sql.Rows) error {
			var k string
			var med, p90 sql.NullFloat64
			if err := rs.Scan(&k, &med, &p90); err != nil {
				return err
			}
			row := get(k)
			row.MedianDays, row.P90Days = med.Float64, p90.Float64
			return nil
		})
	if err != nil {
		return nil, err
	}
	if total {
		out := make([]Row, 0, len(byKey))
		for _, r := range byKey {
			out = append(out, *r)
		}
		return out, nil
	}
	// Ratings given in the period. A rating and a follow-up carry their
	// errand's region (as a notification does, below): filtering on
	// theirs too lets the planner start from their (region_id, …) index
	// instead of every errand of the region, which at national scale are
	// spread over the whole table.
	err = run(`SELECT `+g+` AS g, COUNT(*),
		SUM(CASE WHEN r.level IN (`+satisfiedSQL+`) THEN 1 ELSE 0 END),
		SUM(CASE WHEN r.level IN (`+badSQL+`) THEN 1 ELSE 0 END)
		FROM ratings r JOIN errands e ON e.id = r.errand_id
		WHERE r.region_id >= ? AND r.region_id <= ? AND e.region_id >= ? AND e.region_id <= ?
		  AND r.create_time >= ? AND r.create_time < ?
		GROUP BY g`,
		[]any{lo, hi, lo, hi, start, end},
		func(rs *sql.Rows) error {
			var k string
			var n, good, bad int
			if err := rs.Scan(&k, &n, &good, &bad); err != nil {
				return err
			}
			row := get(k)
			row.Ratings, row.Satisfied, row.BadRatings = n, good, bad
			return nil
		})
	if err != nil {
		return nil, err
	}
	// Follow-ups still open now.
	err = count(`SELECT `+g+` AS g, COUNT(*)
		FROM follow_ups f JOIN errands e ON e.id = f.errand_id
		WHERE f.region_id >= ? AND f.region_id <= ? AND e.region_id >= ? AND e.region_id <= ? AND f.state = 'OPEN'
		GROUP BY g`,
		[]any{lo, hi, lo, hi},
		func(r *Row, n int) { r.OpenFollowUps = n })
	if err != nil {
		return nil, err
	}
	// Errands escalated to the township in the period. A notification
	// carries its errand's region too: without that filter the query read
	// every escalation of the period in the country (12 ms of a township's
	// 18 at national scale).
	err = count(`SELECT `+g+` AS g, COUNT(DISTINCT n.errand_id)
		FROM notifications n JOIN errands e ON e.id = n.errand_id
		WHERE n.region_id >= ? AND n.region_id <= ? AND e.region_id >= ? AND e.region_id <= ?
		  AND n.kind = 'ESCALATION' AND n.create_time >= ? AND n.create_time < ?
		GROUP BY g`,
		[]any{lo, hi, lo, hi, start, end},
		func(r *Row, n int) { r.Escalations = n })
	if err != nil {
		return nil, err
	}
	// Completed errands reopened in the period (a few in a thousand
	// events: the (kind, create_time) index finds them).
	err = count(`SELECT `+g+` AS g, COUNT(*)
		FROM errand_events ev JOIN errands e ON e.id = ev.errand_id
		WHERE e.region_id >= ? AND e.region_id <= ? AND ev.kind = 'REOPENED' AND ev.create_time >= ? AND ev.create_time < ?
		GROUP BY g`,
		[]any{lo, hi, start, end},
		func(r *Row, n int) { r.Reopened = n })
	if err != nil {
		return nil, err
	}
	out := make([]Row, 0, len(byKey))
	for _, r := range byKey {
		out = append(out, *r)
	}
	return out, nil
}

// name fills each row's display name and turns keys into resource names.
func (w *Workloads) name(ctx context.Context, q Query, rows []Row) error {
	names := map[string]string{}
	var keys []string
	for _, r := range rows {
		keys = append(keys, r.Key)
	}
	switch q.GroupBy {
	case ByChildRegion, byCounty, byTownship:
		codes := make([]string, len(keys))
		for i, k := range keys {
			codes[i] = k + strings.Repeat("0", 12-len(k))
		}
		rs, err := w.rd.Client.Region.Query().Where(region.IDIn(codes...)).All(ctx)
		if err != nil {
			return err
		}
		for _, r := range rs {
			names[r.ID] = r.Name
		}
		for i := range rows {
			code := rows[i].Key + strings.Repeat("0", 12-len(rows[i].Key))
			rows[i].Name, rows[i].Key = names[code], "regions/"+code
		}
	case ByServicePoint, ByAgent:
		ids := make([]int, 0, len(keys))
		for _, k := range keys {
			id, _ := strconv.Atoi(k)
			ids = append(ids, id)
		}
		collection := "servicePoints/"
		if q.GroupBy == ByServicePoint {
			rs, err := w.rd.Client.ServicePoint.Query().Where(servicepoint.IDIn(ids...)).All(ctx)
			if err != nil {
				return err
			}
			for _, r := range rs {
				names[strconv.Itoa(r.ID)] = r.Name
			}
		} else {
			collection = "users/"
			rs, err := w.rd.Client.User.Query().Where(user.IDIn(ids...)).All(ctx)
			if err != nil {
				return err
			}
			for _, r := range rs {
				names[strconv.Itoa(r.ID)] = r.DisplayName
			}
		}
		for i := range rows {
			rows[i].Name = names[rows[i].Key]
			rows[i].Key = collection + rows[i].Key
		}
	case ByErrandType:
		rs, err := w.rd.Client.ErrandType.Query().Where(errandtype.IDIn(keys...)).All(ctx)
		if err != nil {
			return err
		}
		for _, r := range rs {
			names[r.ID] = r.Name
		}
		for i := range rows {
			rows[i].Name = names[rows[i].Key]
			rows[i].Key = "errandTypes/" + rows[i].Key
		}
	}
	return nil
}

// The levels feedback counts as satisfied and as bad, as SQL lists.
var satisfiedSQL, badSQL = sqlLevels(feedback.SatisfiedLevels), sqlLevels(feedback.BadLevels)

// sqlLevels writes levels as an SQL list of string literals; they are
// ent's enum values, letters and underscores only.
func sqlLevels(levels []rating.Level) string {
	quoted := make([]string, len(levels))
	for i, l := range levels {
		quoted[i] = "'" + string(l) + "'"
	}
	return strings.Join(quoted, ",")
}
