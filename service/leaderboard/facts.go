package leaderboard

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/followup"
	"github.com/changzhi/redpoint/ent/rating"
	"github.com/changzhi/redpoint/service/period"
)

// A build's reads: a period's scoring facts, streamed from the database a
// row at a time and summed as they come, so that a build costs the boards'
// memory, not its period's errands' (a national year is 5.4 million), and
// reads only the columns the score needs. The score itself is computed
// here by Components, as the incremental updater's is: the SQL only finds
// the facts.
//
// The queries are SQL that SQLite and PostgreSQL both take ($1 and $2
// name the period's start and end in both).

// factsQuery reads the errands with a scoring fact in [$1, $2) —
// completed in it, rated in it, or the follow-up of their bad rating
// closed in it — with their rating and its follow-up: the columns
// Components and keyOf read.
const factsQuery = `WITH facts AS (
  SELECT id FROM errands WHERE state = 'COMPLETED' AND close_time >= $1 AND close_time < $2
  UNION SELECT errand_id FROM ratings WHERE create_time >= $1 AND create_time < $2
  UNION SELECT errand_id FROM follow_ups WHERE state = 'CLOSED' AND close_time >= $1 AND close_time < $2)
SELECT e.id, e.service_point_id, e.region_id, e.agent_id, e.resident_phone_hash, e.errand_type_id, e.state,
  e.accept_time, e.due_time, e.close_time, e.first_close_time, e.reopen_count,
  e.consent_time, e.consent_expire_time, e.consent_revoke_time,
  r.id, r.level, r.create_time, f.state, f.close_time
FROM facts JOIN errands e ON e.id = facts.id
  LEFT JOIN ratings r ON r.errand_id = e.id
  LEFT JOIN follow_ups f ON f.rating_id = r.id`

// matesQuery reads the candidates of the one-per-group rule (keyOf):
// the errands ever completed that share their agent, resident and type
// with another errand ever completed. Most errands share them with none,
// so these are a few in a hundred; the day of the group is keyOf's, in Go.
// It reads every errand's three columns once (about 20 s for the
// country's 5.4 million on 2 cores): narrowing it to a period's facts
// first made the planner join the whole table to them, which was slower
// for every period but a week.
const matesQuery = `WITH shared AS (
  SELECT agent_id, resident_phone_hash, errand_type_id FROM errands
  WHERE state = 'COMPLETED' OR first_close_time IS NOT NULL
  GROUP BY agent_id, resident_phone_hash, errand_type_id HAVING COUNT(*) > 1)
SELECT m.id, m.agent_id, m.resident_phone_hash, m.errand_type_id, m.accept_time, m.state, m.close_time, m.first_close_time
FROM errands m
JOIN shared s ON s.agent_id = m.agent_id AND s.resident_phone_hash = m.resident_phone_hash AND s.errand_type_id = m.errand_type_id
WHERE m.state = 'COMPLETED' OR m.first_close_time IS NOT NULL`

// expected hands add period p's components as read from db: the facts'
// (Components), then the events still pending, withdrawn (pending says
// why).
func (b *Boards) expected(ctx context.Context, db *ent.Client, p period.Period, add func(Component)) error {
	start, end := p.Range()
	start, end = start.UTC(), end.UTC()
	dups, err := duplicates(ctx, db)
	if err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, factsQuery, start, end)
	if err != nil {
		return fmt.Errorf("leaderboard.expected: %w", err)
	}
	defer func() { _ = rows.Close() }() // a read: rows.Err() below reports what it met
	for rows.Next() {
		e, r, f, err := scanFact(rows)
		if err != nil {
			return fmt.Errorf("leaderboard.expected: %w", err)
		}
		for _, c := range Components(e, r, f, dups[e.ID]) {
			if !c.At.Before(start) && c.At.Before(end) {
				add(c)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("leaderboard.expected: %w", err)
	}
	// Read after the facts: an event handled since they were read is
	// in them and not pending, so it counts once either way.
	pending, err := b.pending(ctx, db)
	if err != nil {
		return err
	}
	for _, c := range pending {
		if !c.At.Before(start) && c.At.Before(end) {
			add(negated(c))
		}
	}
	return nil
}

// scanFact reads a row of factsQuery.
func scanFact(rows *sql.Rows) (*ent.Errand, *ent.Rating, *ent.FollowUp, error) {
	var (
		e                                                ent.Errand
		state                                            string
		closed, firstClosed, consented, expires, revoked sql.NullTime
		ratingID                                         sql.NullInt64
		level, followUpState                             sql.NullString
		rated, followUpClosed                            sql.NullTime
	)
	if err := rows.Scan(&e.ID, &e.ServicePointID, &e.RegionID, &e.AgentID, &e.ResidentPhoneHash, &e.ErrandTypeID, &state,
		&e.AcceptTime, &e.DueTime, &closed, &firstClosed, &e.ReopenCount,
		&consented, &expires, &revoked,
		&ratingID, &level, &rated, &followUpState, &followUpClosed); err != nil {
		return nil, nil, nil, err
	}
	e.State = errand.State(state)
	e.CloseTime, e.FirstCloseTime = timeOrNil(closed), timeOrNil(firstClosed)
	e.ConsentTime, e.ConsentExpireTime, e.ConsentRevokeTime = timeOrNil(consented), timeOrNil(expires), timeOrNil(revoked)
	if !ratingID.Valid {
		return &e, nil, nil, nil
	}
	r := &ent.Rating{ID: int(ratingID.Int64), ErrandID: e.ID, Level: rating.Level(level.String), CreateTime: rated.Time}
	if !followUpState.Valid {
		return &e, r, nil, nil
	}
	return &e, r, &ent.FollowUp{RatingID: r.ID, ErrandID: e.ID, State: followup.State(followUpState.String), CloseTime: timeOrNil(followUpClosed)}, nil
}

func timeOrNil(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	return &t.Time
}

// duplicates are the errands that a group-mate (keyOf) completed first.
func duplicates(ctx context.Context, db *ent.Client) (map[int]bool, error) {
	rows, err := db.QueryContext(ctx, matesQuery)
	if err != nil {
		return nil, fmt.Errorf("leaderboard.duplicates: %w", err)
	}
	defer func() { _ = rows.Close() }() // a read: rows.Err() below reports what it met
	var mates []*ent.Errand
	for rows.Next() {
		var (
			m                   ent.Errand
			state               string
			closed, firstClosed sql.NullTime
		)
		if err := rows.Scan(&m.ID, &m.AgentID, &m.ResidentPhoneHash, &m.ErrandTypeID, &m.AcceptTime, &state, &closed, &firstClosed); err != nil {
			return nil, fmt.Errorf("leaderboard.duplicates: %w", err)
		}
		m.State, m.CloseTime, m.FirstCloseTime = errand.State(state), timeOrNil(closed), timeOrNil(firstClosed)
		mates = append(mates, &m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("leaderboard.duplicates: %w", err)
	}
	firsts := map[groupKey]*ent.Errand{}
	for _, m := range mates {
		if firstClose(m) == nil {
			continue
		}
		k := keyOf(m)
		if f, ok := firsts[k]; !ok || first(m, f) {
			firsts[k] = m
		}
	}
	dup := map[int]bool{}
	for _, m := range mates {
		if f, ok := firsts[keyOf(m)]; ok && f.ID != m.ID {
			dup[m.ID] = true
		}
	}
	return dup, nil
}
