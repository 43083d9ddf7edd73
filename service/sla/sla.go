// Package sla reminds agents of errands due within one working day and
// escalates overdue errands to their township secretaries, through timer
// jobs and a periodic sweep of the database that re-derives any timer a
// Redis restart lost.
package sla

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/notification"
	"github.com/changzhi/redpoint/ent/user"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/trackingcode"
)

// Job types.
const (
	TimerJob = "sla:timer"
	SweepJob = "sla:sweep"
)

// Kinds of timer.
const (
	Reminder   = "reminder"
	Escalation = "escalation"
)

// Timers creates the SLA notifications and keeps their timers.
type Timers struct {
	db     *ent.Client
	cal    *calendar.Cache
	client *asynq.Client
	queue  string
	log    *slog.Logger
	now    func() time.Time
	// Horizon is how far ahead the sweep re-arms timers: those that fire
	// within it. A timer further ahead was armed when its errand last
	// changed; if Redis lost it, a later sweep re-arms it in time, and
	// the sweep itself writes whatever is due, a minute late at most.
	Horizon time.Duration
}

// New returns the SLA timers; now is their clock.
func New(db *ent.Client, cal *calendar.Cache, client *asynq.Client, queue string, log *slog.Logger, now func() time.Time) *Timers {
	return &Timers{db: db, cal: cal, client: client, queue: queue, log: log, now: now, Horizon: 15 * time.Minute}
}

type timer struct {
	Errand int    `json:"errand"`
	Kind   string `json:"kind"`
	Due    int64  `json:"due"` // the due time it was set for, Unix seconds
}

// Handler reacts to errand changes by arming the errand's timers.
func (t *Timers) Handler() events.Handler {
	return events.Handler{
		Name:   "sla",
		Topics: []string{outbox.TopicErrandCreated, outbox.TopicErrandTransitioned, outbox.TopicErrandUpdated},
		Handle: events.Typed(func(ctx context.Context, tx *ent.Tx, c outbox.ErrandChange) error {
			e, err := tx.Errand.Get(ctx, c.ErrandID)
			if err != nil {
				return err
			}
			return t.arm(ctx, e, time.Time{}, time.Time{})
		}),
	}
}

// Jobs are the timer and sweep jobs.
func (t *Timers) Jobs() []events.Job {
	return []events.Job{
		{Type: TimerJob, Handle: func(ctx context.Context, payload []byte) error {
			var tm timer
			if err := json.Unmarshal(payload, &tm); err != nil {
				return fmt.Errorf("%w: %w", asynq.SkipRetry, err)
			}
			return t.fire(ctx, tm)
		}},
		{Type: SweepJob, Handle: func(ctx context.Context, _ []byte) error { return t.Sweep(ctx) }},
	}
}

// arm schedules the errand's reminder and escalation for its current due
// time — those that fire between from and until, when they are not zero.
// A timer for an older due time finds the errand moved on and does
// nothing; one for a closed or paused errand likewise.
func (t *Timers) arm(ctx context.Context, e *ent.Errand, from, until time.Time) error {
	if !running(e) {
		return nil
	}
	cal, err := t.cal.Get(ctx)
	if err != nil {
		return err
	}
	for kind, at := range map[string]time.Time{Reminder: cal.Before(e.DueTime, 1), Escalation: e.DueTime} {
		if (!from.IsZero() && at.Before(from)) || (!until.IsZero() && at.After(until)) {
			continue
		}
		tm := timer{Errand: e.ID, Kind: kind, Due: e.DueTime.Unix()}
		payload, _ := json.Marshal(tm)
		id := "sla-" + kind + "-" + strconv.Itoa(e.ID) + "-" + strconv.FormatInt(tm.Due, 10)
		_, err := t.client.EnqueueContext(ctx, asynq.NewTask(TimerJob, payload), asynq.Queue(t.queue),
			asynq.TaskID(id), asynq.ProcessAt(at), asynq.MaxRetry(8), asynq.Retention(24*time.Hour))
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return fmt.Errorf("sla.arm: %w", err)
		}
	}
	return nil
}

func running(e *ent.Errand) bool {
	for _, s := range errands.Running {
		if e.State == s {
			return true
		}
	}
	return false
}

// fire writes the notification of a timer if it still applies.
func (t *Timers) fire(ctx context.Context, tm timer) error {
	e, err := t.db.Errand.Get(ctx, tm.Errand)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !running(e) || e.DueTime.Unix() != tm.Due {
		return nil // closed, paused, or the due time moved: a newer timer exists
	}
	cal, err := t.cal.Get(ctx)
	if err != nil {
		return err
	}
	at := e.DueTime
	if tm.Kind == Reminder {
		at = cal.Before(e.DueTime, 1)
	}
	if t.now().Add(2 * time.Second).Before(at) {
		return nil // early (asynq schedules to the second); the sweep catches it
	}
	return t.notify(ctx, e, tm.Kind)
}

// notify writes the kind's notification for each recipient, once: the
// dedup key includes the due time, so a moved due time notifies again.
func (t *Timers) notify(ctx context.Context, e *ent.Errand, kind string) error {
	to, err := t.recipients(ctx, []*ent.Errand{e}, kind)
	if err != nil {
		return err
	}
	return t.write(ctx, e, kind, to[e.ID])
}

// write writes e's notification of kind to each of to, once.
func (t *Timers) write(ctx context.Context, e *ent.Errand, kind string, to []int) error {
	if len(to) == 0 {
		return nil
	}
	title, body, err := t.texts(ctx, e, kind)
	if err != nil {
		return err
	}
	k := notification.KindSLA_REMINDER
	if kind == Escalation {
		k = notification.KindESCALATION
	}
	// One statement for every recipient, so that a notification written
	// for one means one was written for each (notifyUnsent relies on it).
	creates := make([]*ent.NotificationCreate, 0, len(to))
	for _, uid := range to {
		creates = append(creates, t.db.Notification.Create().SetUserID(uid).SetKind(k).SetErrandID(e.ID).SetRegionID(e.RegionID).
			SetDedupKey(dedupKey(kind, e, uid)).SetTitle(title).SetBody(body).SetCreateTime(t.now().UTC()))
	}
	err = t.db.Notification.CreateBulk(creates...).OnConflictColumns(notification.FieldDedupKey).DoNothing().Exec(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sla.notify: %w", err)
	}
	return nil
}

// dedupKey names the kind's notification of e's current due time to uid.
func dedupKey(kind string, e *ent.Errand, uid int) string {
	return fmt.Sprintf("%s:%d:%d:%d", kind, e.ID, e.DueTime.Unix(), uid)
}

// recipients are who gets the kind's notification of each errand: its
// agent a reminder; its township's active secretaries an escalation.
func (t *Timers) recipients(ctx context.Context, es []*ent.Errand, kind string) (map[int][]int, error) {
	to := make(map[int][]int, len(es))
	if kind == Reminder {
		for _, e := range es {
			to[e.ID] = []int{e.AgentID}
		}
		return to, nil
	}
	township := func(e *ent.Errand) string { return e.RegionID[:9] + "000" }
	secretaries := map[string][]int{}
	for chunk := range slices.Chunk(es, keysPerQuery) {
		var townships []string
		for _, e := range chunk {
			if _, seen := secretaries[township(e)]; !seen {
				secretaries[township(e)] = nil
				townships = append(townships, township(e))
			}
		}
		if len(townships) == 0 {
			continue // met in an earlier chunk
		}
		users, err := t.db.User.Query().Where(user.RoleEQ(user.RoleTOWNSHIP_SECRETARY), user.RegionIDIn(townships...), user.Active(true)).
			Select(user.FieldID, user.FieldRegionID).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("sla.recipients: %w", err)
		}
		for _, u := range users {
			secretaries[u.RegionID] = append(secretaries[u.RegionID], u.ID)
		}
	}
	for _, e := range es {
		to[e.ID] = secretaries[township(e)]
	}
	return to, nil
}

// keysPerQuery bounds the values one query of notifyUnsent or recipients
// carries.
const keysPerQuery = 500

// notifyUnsent writes the notification of kind of those of es that some
// recipient has yet to get for their current due time. The sweep finds
// the same overdue and due-soon errands every minute — thousands in a
// country — and asks about them in a few queries rather than four each.
func (t *Timers) notifyUnsent(ctx context.Context, es []*ent.Errand, kind string) error {
	to, err := t.recipients(ctx, es, kind)
	if err != nil {
		return err
	}
	owner := map[string]*ent.Errand{}
	var keys []string
	for _, e := range es {
		for _, uid := range to[e.ID] {
			k := dedupKey(kind, e, uid)
			owner[k] = e
			keys = append(keys, k)
		}
	}
	for chunk := range slices.Chunk(keys, keysPerQuery) {
		sent, err := t.db.Notification.Query().Where(notification.DedupKeyIn(chunk...)).Select(notification.FieldDedupKey).Strings(ctx)
		if err != nil {
			return fmt.Errorf("sla.notifyUnsent: %w", err)
		}
		for _, k := range sent {
			delete(owner, k)
		}
	}
	for _, e := range es {
		for _, uid := range to[e.ID] {
			if owner[dedupKey(kind, e, uid)] != nil {
				if err := t.write(ctx, e, kind, to[e.ID]); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

func (t *Timers) texts(ctx context.Context, e *ent.Errand, kind string) (string, string, error) {
	typ, err := t.db.ErrandType.Get(ctx, e.ErrandTypeID)
	if err != nil {
		return "", "", err
	}
	due := e.DueTime.In(calendar.Location).Format("1月2日 15:04")
	code := trackingcode.Format(e.TrackingCode)
	if kind == Reminder {
		return "事项即将到期", fmt.Sprintf("「%s」（%s）将于%s到期，请抓紧办理。", typ.Name, code, due), nil
	}
	sp, err := t.db.ServicePoint.Get(ctx, e.ServicePointID)
	if err != nil {
		return "", "", err
	}
	return "事项已超期", fmt.Sprintf("%s的「%s」（%s）已于%s超期，请督促办理。", sp.Name, typ.Name, code, due), nil
}

// Sweep re-derives the timers from the database: it writes every
// reminder and escalation that is due (once, by dedup key) and re-arms
// the timers that fire within Horizon. It runs every minute, so a Redis
// that lost its timers loses nothing. (It re-armed every errand due
// within 48 hours: 11,000 enqueues a minute at national scale, each a
// round trip to Redis.)
func (t *Timers) Sweep(ctx context.Context) error {
	cal, err := t.cal.Get(ctx)
	if err != nil {
		return err
	}
	now := t.now().UTC()
	overdue, err := t.db.Errand.Query().Where(errands.OverduePredicate(now), errand.StateIn(errands.Running...)).All(ctx)
	if err != nil {
		return fmt.Errorf("sla.Sweep: %w", err)
	}
	if err := t.notifyUnsent(ctx, overdue, Escalation); err != nil {
		return err
	}
	// Due by the end of the working day after the horizon's: every
	// errand whose reminder (one working day before its due time, across
	// holidays) or escalation falls before the horizon ends.
	until := now.Add(t.Horizon)
	soon, err := t.db.Errand.Query().Where(errand.StateIn(errands.Running...), errand.DueTimeGTE(now), errand.DueTimeLTE(cal.Due(until, 1))).All(ctx)
	if err != nil {
		return fmt.Errorf("sla.Sweep: %w", err)
	}
	var remind []*ent.Errand
	for _, e := range soon {
		if !now.Before(cal.Before(e.DueTime, 1)) {
			remind = append(remind, e)
		}
	}
	if err := t.notifyUnsent(ctx, remind, Reminder); err != nil {
		return err
	}
	for _, e := range soon {
		if err := t.arm(ctx, e, now, until); err != nil {
			t.log.WarnContext(ctx, "sla timer not re-armed", "errand", e.ID, "error", err)
		}
	}
	return nil
}
