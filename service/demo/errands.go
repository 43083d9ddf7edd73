package demo

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/followup"
	"github.com/changzhi/redpoint/ent/rating"
	"github.com/changzhi/redpoint/ent/sequence"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/feedback"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/trackingcode"
)

// step is one state change in a generated history.
type step struct {
	at       time.Time
	from, to errand.State
	note     string
}

// plan is one generated errand before it is written.
type plan struct {
	point    *point
	agent    int
	typ      errandTypeSpec
	res      resident
	channel  errand.Channel
	accept   time.Time
	due      time.Time
	steps    []step
	rating   *ratingPlan
	code     string
	pausedAt *time.Time
}

type ratingPlan struct {
	at       time.Time
	level    rating.Level
	comment  string
	followUp *followUpPlan
}

type followUpPlan struct {
	closeAt *time.Time
	outcome followup.Outcome
	note    string
}

func (p *plan) state() errand.State {
	if len(p.steps) == 0 {
		return errand.StateACCEPTED
	}
	return p.steps[len(p.steps)-1].to
}

func (p *plan) lastChange() time.Time {
	t := p.accept
	if len(p.steps) > 0 {
		t = p.steps[len(p.steps)-1].at
	}
	if p.rating != nil && p.rating.at.After(t) {
		t = p.rating.at
	}
	return t
}

func (g *generator) errands(ctx context.Context, n int) error {
	plans := make([]*plan, 0, n+8)
	totalWeight := 0.0
	for _, p := range g.points {
		totalWeight += p.weight
	}
	for i := 0; i < n; i++ {
		plans = append(plans, g.randomPlan(g.pickPoint(totalWeight)))
	}
	plans = append(plans, g.fixedResidentPlans()...)
	plans = append(plans, g.overduePlans()...)
	sort.SliceStable(plans, func(i, j int) bool { return plans[i].accept.Before(plans[j].accept) })
	for _, p := range plans {
		code, err := trackingcode.New(g.codes)
		if err != nil {
			return err
		}
		p.code = code
	}
	return g.write(ctx, plans)
}

func (g *generator) pickPoint(total float64) *point {
	x := g.rng.Float64() * total
	for _, p := range g.points {
		x -= p.weight
		if x <= 0 {
			return p
		}
	}
	return g.points[len(g.points)-1]
}

func (g *generator) pickType() errandTypeSpec {
	total := 0
	for _, w := range g.typeWeights {
		total += w
	}
	x := g.rng.IntN(total)
	for i, w := range g.typeWeights {
		if x < w {
			return g.types[i]
		}
		x -= w
	}
	return g.types[0]
}

func (g *generator) newResident(p *point) resident {
	if len(p.residents) > 0 && g.rng.Float64() < residentReuseRate {
		return p.residents[g.rng.IntN(len(p.residents))]
	}
	birth := time.Date(1938+g.rng.IntN(60), time.Month(1+g.rng.IntN(12)), 1+g.rng.IntN(28), 0, 0, 0, 0, time.UTC)
	first17 := fmt.Sprintf("%s%s%03d", p.region[:6], birth.Format("20060102"), g.rng.IntN(1000))
	r := resident{
		name:     personName(g.rng),
		phone:    fmt.Sprintf("1%d%09d", 3+g.rng.IntN(7), g.rng.IntN(1_000_000_000)),
		idNumber: first17 + string(pii.IDCheckChar(first17)),
	}
	p.residents = append(p.residents, r)
	return r
}

var channels = []errand.Channel{errand.ChannelWALK_IN, errand.ChannelWALK_IN, errand.ChannelWALK_IN, errand.ChannelPHONE, errand.ChannelHOME_VISIT}

// randomAccept draws an acceptance time in the last year, in office hours,
// mostly on working days.
func (g *generator) randomAccept() time.Time {
	today := time.Date(g.now.In(calendar.Location).Year(), g.now.In(calendar.Location).Month(), g.now.In(calendar.Location).Day(), 0, 0, 0, 0, calendar.Location)
	for {
		d := today.AddDate(0, 0, -g.rng.IntN(365))
		if !g.cal.IsWorkingDay(d) && g.rng.Float64() < 0.8 {
			continue
		}
		t := d.Add(time.Duration(8*60+g.rng.IntN(10*60)) * time.Minute)
		if t.Before(g.now.Add(-5 * time.Minute)) {
			return t.UTC()
		}
	}
}

func (g *generator) randomPlan(pt *point) *plan { return g.planAt(pt, g.randomAccept) }

// planAt draws an errand at pt accepted at accept's time, and its history
// up to now.
func (g *generator) planAt(pt *point, accept func() time.Time) *plan {
	p := &plan{
		point:   pt,
		agent:   pt.agents[g.rng.IntN(len(pt.agents))],
		typ:     g.pickType(),
		channel: channels[g.rng.IntN(len(channels))],
		accept:  accept(),
	}
	p.res = g.newResident(pt)
	p.due = g.cal.Due(p.accept, p.typ.days)
	late := g.rng.Float64() < 0.08
	var end time.Time
	if late {
		end = g.cal.Due(p.accept, p.typ.days+1+g.rng.IntN(5)).Add(-time.Duration(g.rng.IntN(8)) * time.Hour)
	} else {
		span := p.due.Sub(p.accept)
		end = p.accept.Add(time.Duration(float64(span) * (0.15 + 0.8*g.rng.Float64())))
	}
	span := end.Sub(p.accept)
	var paused time.Duration // a NEEDS_MATERIALS pause delays every later step
	at := func(frac float64) time.Time { return p.accept.Add(time.Duration(float64(span)*frac) + paused) }

	var steps []step
	add := func(t time.Time, to errand.State, note string) {
		from := errand.StateACCEPTED
		if len(steps) > 0 {
			from = steps[len(steps)-1].to
		}
		steps = append(steps, step{at: t, from: from, to: to, note: note})
	}
	switch r := g.rng.Float64(); {
	case r < 0.04: // withdrawn by the resident
		if g.rng.Float64() < 0.5 {
			add(at(0.1), errand.StateIN_PROGRESS, "开始办理")
		}
		add(at(0.4), errand.StateCANCELLED, "群众主动撤回申请")
	case r < 0.18 && p.typ.days <= 5: // done on the spot
		add(p.accept.Add(time.Duration(20+g.rng.IntN(120))*time.Minute), errand.StateCOMPLETED, "当场办结")
	default:
		add(at(0.05), errand.StateIN_PROGRESS, "开始办理")
		if g.rng.Float64() < 0.12 {
			missing := p.typ.materials[g.rng.IntN(len(p.typ.materials))]
			pause := at(0.25)
			resume := pause.Add(time.Duration(24+g.rng.IntN(96)) * time.Hour)
			add(pause, errand.StateNEEDS_MATERIALS, "缺少材料："+missing)
			add(resume, errand.StateIN_PROGRESS, "材料已补齐，继续办理")
			shift := g.cal.WorkingDaysBetween(pause, resume)
			p.due = g.cal.Due(p.accept, p.typ.days+shift)
			paused = resume.Sub(pause)
		}
		if g.rng.Float64() < 0.55 {
			add(at(0.45), errand.StateFORWARDED, "已送交"+p.typ.department)
		}
		add(at(1.0), errand.StateCOMPLETED, "已办结，结果已告知群众")
	}
	// Cut the history at now: recent errands are still under way.
	for i, s := range steps {
		if s.at.After(g.now) {
			steps = steps[:i]
			break
		}
	}
	p.steps = steps
	if p.state() == errand.StateNEEDS_MATERIALS {
		t := steps[len(steps)-1].at
		p.pausedAt = &t
	}
	if p.state() == errand.StateCOMPLETED && g.rng.Float64() < ratingRate {
		done := steps[len(steps)-1].at
		rt := done.Add(time.Duration(2+g.rng.IntN(96)) * time.Hour)
		if rt.Before(g.now) {
			p.rating = g.randomRating(rt, done.After(p.due))
		}
	}
	return p
}

var ratingComments = map[rating.Level][]string{
	rating.LevelVERY_SATISFIED:      {"代办员很负责，不用跑腿了", "办得又快又好，感谢", "上门服务，太方便了", ""},
	rating.LevelSATISFIED:           {"挺好的", "办得不错", ""},
	rating.LevelBASICALLY_SATISFIED: {"还行，就是等得有点久", ""},
	rating.LevelDISSATISFIED:        {"等了很久也没人通知", "材料来回跑了好几趟"},
	rating.LevelVERY_DISSATISFIED:   {"超期了也没有说明", "态度不好"},
}

func (g *generator) randomRating(at time.Time, late bool) *ratingPlan {
	x := g.rng.Float64()
	if late {
		x = x*0.7 + 0.3 // late errands rate worse
	}
	var level rating.Level
	switch {
	case x < 0.60:
		level = rating.LevelVERY_SATISFIED
	case x < 0.85:
		level = rating.LevelSATISFIED
	case x < 0.95:
		level = rating.LevelBASICALLY_SATISFIED
	case x < 0.985:
		level = rating.LevelDISSATISFIED
	default:
		level = rating.LevelVERY_DISSATISFIED
	}
	comments := ratingComments[level]
	rp := &ratingPlan{at: at, level: level, comment: comments[g.rng.IntN(len(comments))]}
	if feedback.BadRating(level) {
		fu := &followUpPlan{}
		closeAt := at.Add(time.Duration(24+g.rng.IntN(48)) * time.Hour)
		if closeAt.Before(g.now) && g.rng.Float64() < followUpCloseRate {
			fu.closeAt = &closeAt
			if g.rng.Float64() < 0.7 {
				fu.outcome, fu.note = followup.OutcomeRESOLVED, "已电话回访，问题已解决，群众表示认可"
			} else {
				fu.outcome, fu.note = followup.OutcomeEXPLAINED, "已上门回访，向群众解释了办理时限和流程"
			}
		}
		rp.followUp = fu
	}
	return rp
}

// fixedResidentPlans are the README's resident 13900000001: six errands at
// the 古韩镇 agent's point, one in each interesting state, two of them
// completed and not yet rated so the rating flow can be tried.
func (g *generator) fixedResidentPlans() []*plan {
	pt, agent := g.guhanAgentPoint()
	res := resident{name: "申秀英", phone: ResidentPhone, idNumber: "14042319560312" + "002"}
	res.idNumber += string(pii.IDCheckChar(res.idNumber))
	byCode := map[string]errandTypeSpec{}
	for _, t := range g.types {
		byCode[t.code] = t
	}
	day := 24 * time.Hour
	mk := func(code string, ago time.Duration, moves ...errand.State) *plan {
		t := byCode[code]
		p := &plan{point: pt, agent: agent, typ: t, res: res, channel: errand.ChannelWALK_IN, accept: g.now.Add(-ago)}
		p.due = g.cal.Due(p.accept, t.days)
		notes := map[errand.State]string{
			errand.StateIN_PROGRESS:     "开始办理",
			errand.StateFORWARDED:       "已送交" + t.department,
			errand.StateNEEDS_MATERIALS: "缺少材料：" + t.materials[len(t.materials)-1],
			errand.StateCOMPLETED:       "已办结，结果已告知群众",
		}
		from := errand.StateACCEPTED
		for i, to := range moves {
			at := p.accept.Add(time.Duration(i+1) * ago / time.Duration(len(moves)+1))
			p.steps = append(p.steps, step{at: at, from: from, to: to, note: notes[to]})
			from = to
		}
		if p.state() == errand.StateNEEDS_MATERIALS {
			at := p.steps[len(p.steps)-1].at
			p.pausedAt = &at
		}
		return p
	}
	rated := mk("SI-PENSION-CERT", 40*day, errand.StateIN_PROGRESS, errand.StateCOMPLETED)
	rated.rating = &ratingPlan{at: rated.steps[1].at.Add(3 * time.Hour), level: rating.LevelVERY_SATISFIED, comment: "不用跑县城了，谢谢小王"}
	return []*plan{
		rated,
		mk("MI-PAYMENT", 6*day, errand.StateIN_PROGRESS, errand.StateCOMPLETED),
		mk("AG-FARMLAND", 9*day, errand.StateIN_PROGRESS, errand.StateCOMPLETED),
		mk("MI-REIMBURSE", 5*day, errand.StateIN_PROGRESS, errand.StateFORWARDED),
		mk("CA-ELDERLY", 3*day, errand.StateIN_PROGRESS, errand.StateNEEDS_MATERIALS),
		mk("PS-HUKOU-CERT", 2*day, errand.StateIN_PROGRESS),
		mk("DP-CARD", 4*time.Hour),
	}
}

// guhanAgentPoint is the 古韩镇 agent's point and the agent: the
// township's first point and its first agent, whom staff gives the
// README's phone number.
func (g *generator) guhanAgentPoint() (*point, int) {
	for _, p := range g.points {
		if p.township == guhanTownship {
			return p, p.agents[0]
		}
	}
	panic("demo: 古韩镇 has no service point")
}

// overduePlans are open errands at the 古韩镇 agent's point that are overdue
// now, so the README's overdue filter and the township's overdue list show
// something on a fresh demo: the random errands rarely leave one open past
// its due time at that one point. Each is accepted so that its time limit
// ran out a few working days before Now.
func (g *generator) overduePlans() []*plan {
	pt, agent := g.guhanAgentPoint()
	byCode := map[string]errandTypeSpec{}
	for _, t := range g.types {
		byCode[t.code] = t
	}
	mk := func(code string, overdueDays int, channel errand.Channel, forwarded bool) *plan {
		t := byCode[code]
		// The working day that many working days before the time limit's
		// last one, at 09:30: the due time is then the end of the
		// overdueDays-th working day before Now's.
		day := g.cal.Before(g.now, t.days+overdueDays).In(calendar.Location)
		accept := time.Date(day.Year(), day.Month(), day.Day(), 9, 30, 0, 0, calendar.Location).UTC()
		p := &plan{point: pt, agent: agent, typ: t, channel: channel, accept: accept, due: g.cal.Due(accept, t.days)}
		p.res = g.newResident(pt)
		p.steps = append(p.steps, step{at: accept.Add(40 * time.Minute), from: errand.StateACCEPTED, to: errand.StateIN_PROGRESS, note: "开始办理"})
		if forwarded {
			p.steps = append(p.steps, step{at: accept.Add(26 * time.Hour), from: errand.StateIN_PROGRESS, to: errand.StateFORWARDED, note: "已送交" + t.department})
		}
		return p
	}
	return []*plan{
		mk("PS-HUKOU-CERT", 2, errand.ChannelWALK_IN, false),
		mk("SI-PENSION-ENROLL", 3, errand.ChannelHOME_VISIT, false),
		mk("MI-REMOTE", 5, errand.ChannelPHONE, false),
		mk("CA-ELDERLY", 4, errand.ChannelWALK_IN, true),
	}
}

// write inserts the errands, then their events, ratings and follow-ups.
func (g *generator) write(ctx context.Context, plans []*plan) error {
	// change_seq follows the order of last change, as live writes assign it.
	byChange := make([]int, len(plans))
	for i := range byChange {
		byChange[i] = i
	}
	sort.SliceStable(byChange, func(a, b int) bool { return plans[byChange[a]].lastChange().Before(plans[byChange[b]].lastChange()) })
	seq := make([]int64, len(plans))
	for rank, i := range byChange {
		seq[i] = int64(rank + 1)
	}

	hs := make([]History, len(plans))
	creates := make([]*ent.ErrandCreate, len(plans))
	for i, p := range plans {
		h, err := g.history(p)
		if err != nil {
			return err
		}
		hs[i] = h
		creates[i] = g.tx.Errand.Create().
			SetTrackingCode(h.TrackingCode).
			SetErrandTypeID(h.ErrandType).
			SetServicePointID(h.ServicePointID).
			SetAgentID(h.AgentID).
			SetRegionID(h.Region).
			SetResidentName(h.ResidentName).
			SetResidentPhoneCipher(h.ResidentPhoneCipher).
			SetResidentPhoneHash(h.ResidentPhoneHash).
			SetResidentPhoneLast4(h.ResidentPhoneLast4).
			SetResidentIDNumberCipher(h.ResidentIDNumberCipher).
			SetResidentIDNumberHash(h.ResidentIDNumberHash).
			SetState(h.State).
			SetChannel(h.Channel).
			SetDescription(h.Description).
			SetMaterials(h.Materials).
			SetMissingMaterials(h.MissingMaterials).
			SetForwardedTo(h.ForwardedTo).
			SetResult(h.Result).
			SetCancelReason(h.CancelReason).
			SetAcceptTime(h.Accept).
			SetDueTime(h.Due).
			SetNillablePauseTime(h.Pause).
			SetNillableCloseTime(h.Close).
			SetNillableFirstCloseTime(h.FirstClose).
			SetNillableWorkingDays(h.WorkingDays).
			SetCreateTime(h.Accept).
			SetUpdateTime(h.Update).
			SetVersion(h.Version).
			SetChangeSeq(seq[i])
	}
	ids := make([]int, 0, len(plans))
	if err := bulk(ctx, creates, func(ctx context.Context, b []*ent.ErrandCreate) error {
		rows, err := g.tx.Errand.CreateBulk(b...).Save(ctx)
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
		return err
	}); err != nil {
		return fmt.Errorf("errands: %w", err)
	}
	g.sum.Errands = len(ids)
	// Live writes continue the change numbers after the seeded ones.
	if err := g.tx.Sequence.Create().SetID(errands.SequenceName).SetValue(int64(len(plans))).
		OnConflictColumns(sequence.FieldID).UpdateNewValues().Exec(ctx); err != nil {
		return fmt.Errorf("sequence: %w", err)
	}

	var events []*ent.ErrandEventCreate
	var ratings []*ent.RatingCreate
	var rated []History
	for i, h := range hs {
		id := ids[i]
		for _, ev := range h.Events {
			events = append(events, g.tx.ErrandEvent.Create().SetErrandID(id).SetKind(ev.Kind).
				SetFromState(ev.From).SetToState(ev.To).SetActorKind(ev.Actor).SetNillableActorUserID(ev.ActorUserID).
				SetNote(ev.Note).SetCreateTime(ev.At))
		}
		if r := h.Rating; r != nil {
			ratings = append(ratings, g.tx.Rating.Create().SetErrandID(id).SetServicePointID(h.ServicePointID).
				SetRegionID(h.Region).SetLevel(r.Level).SetComment(r.Comment).SetCreateTime(r.At))
			rated = append(rated, h)
		}
	}
	if err := bulk(ctx, events, func(ctx context.Context, b []*ent.ErrandEventCreate) error {
		return g.tx.ErrandEvent.CreateBulk(b...).Exec(ctx)
	}); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	g.sum.Events = len(events)

	var ratingRows []*ent.Rating
	if err := bulk(ctx, ratings, func(ctx context.Context, b []*ent.RatingCreate) error {
		rows, err := g.tx.Rating.CreateBulk(b...).Save(ctx)
		ratingRows = append(ratingRows, rows...)
		return err
	}); err != nil {
		return fmt.Errorf("ratings: %w", err)
	}
	g.sum.Ratings = len(ratingRows)

	var followUps []*ent.FollowUpCreate
	for i, h := range rated {
		f := h.Rating.FollowUp
		if f == nil {
			continue
		}
		followUps = append(followUps, g.tx.FollowUp.Create().SetRatingID(ratingRows[i].ID).SetErrandID(ratingRows[i].ErrandID).
			SetRegionID(h.Region).SetState(f.State).SetNillableOutcome(f.Outcome).SetNote(f.Note).
			SetNillableClosedByUserID(f.ClosedBy).SetNillableCloseTime(f.Close).
			SetCreateTime(h.Rating.At).SetUpdateTime(f.Update).SetVersion(f.Version))
	}
	if err := bulk(ctx, followUps, func(ctx context.Context, b []*ent.FollowUpCreate) error {
		return g.tx.FollowUp.CreateBulk(b...).Exec(ctx)
	}); err != nil {
		return fmt.Errorf("follow-ups: %w", err)
	}
	g.sum.FollowUps = len(followUps)
	return nil
}
