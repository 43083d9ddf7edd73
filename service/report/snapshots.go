package report

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/region"
	"github.com/changzhi/redpoint/ent/reportsnapshot"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/period"
	"github.com/changzhi/redpoint/service/regioncode"
	"github.com/changzhi/redpoint/service/store"
)

// The snapshot jobs: the weekly dispatch (周调度) on Monday 08:00 covers
// the week before; the monthly report (月通报) on the 1st at 08:00 covers
// the month before; the quarterly review (季观摩) on the 1st of January,
// April, July and October at 08:00 covers the quarter before. All for the
// city, every county and every township.
const (
	WeeklyJob    = "report:weekly"
	MonthlyJob   = "report:monthly"
	QuarterlyJob = "report:quarterly"
)

// Periodic are the snapshot schedules (Asia/Shanghai).
var Periodic = []events.Periodic{
	{Spec: "0 8 * * 1", Type: WeeklyJob, Unique: time.Hour},
	{Spec: "0 8 1 * *", Type: MonthlyJob, Unique: time.Hour},
	{Spec: "0 8 1 1,4,7,10 *", Type: QuarterlyJob, Unique: time.Hour},
}

// Kinds are the snapshot kinds and the periods they cover.
var Kinds = map[reportsnapshot.Kind]period.Kind{
	reportsnapshot.KindWEEKLY_DISPATCH:  period.Week,
	reportsnapshot.KindMONTHLY_REPORT:   period.Month,
	reportsnapshot.KindQUARTERLY_REVIEW: period.Quarter,
}

// Jobs are the snapshot jobs.
func (w *Workloads) Jobs(now func() time.Time) []events.Job {
	return []events.Job{
		{Type: WeeklyJob, Handle: func(ctx context.Context, _ []byte) error {
			return w.Snapshot(ctx, reportsnapshot.KindWEEKLY_DISPATCH, period.Of(period.Week, now()).Previous(), now())
		}},
		{Type: MonthlyJob, Handle: func(ctx context.Context, _ []byte) error {
			return w.Snapshot(ctx, reportsnapshot.KindMONTHLY_REPORT, period.Of(period.Month, now()).Previous(), now())
		}},
		{Type: QuarterlyJob, Handle: func(ctx context.Context, _ []byte) error {
			return w.Snapshot(ctx, reportsnapshot.KindQUARTERLY_REVIEW, period.Of(period.Quarter, now()).Previous(), now())
		}},
	}
}

// Snapshot stores period p's report for the city, every county and every
// township, once: a region that has it already is skipped, so a retried
// job finishes the rest and a stored report never changes.
func (w *Workloads) Snapshot(ctx context.Context, kind reportsnapshot.Kind, p period.Period, now time.Time) error {
	regions, err := w.ent.Region.Query().Where(region.LevelIn(region.LevelCITY, region.LevelCOUNTY, region.LevelTOWNSHIP)).All(ctx)
	if err != nil {
		return fmt.Errorf("report.Snapshot: %w", err)
	}
	return w.snapshot(ctx, kind, p, now, regions, w.st.Reads)
}

// SnapshotRegions is Snapshot for only the regions with the given codes:
// the demo stores past periods' reports for a few regions at seed time,
// where all 141 for every period would take far longer than the seed. It
// reads the primary, which has the rows the seed just wrote.
func (w *Workloads) SnapshotRegions(ctx context.Context, kind reportsnapshot.Kind, p period.Period, now time.Time, codes ...string) error {
	regions, err := w.ent.Region.Query().Where(region.IDIn(codes...)).Order(region.ByID()).All(ctx)
	if err != nil {
		return fmt.Errorf("report.SnapshotRegions: %w", err)
	}
	if len(regions) != len(codes) {
		return fmt.Errorf("report.SnapshotRegions: %d of the regions %v exist", len(regions), codes)
	}
	return w.snapshot(ctx, kind, p, now, regions, func(context.Context) store.Reader { return w.st.Primary() })
}

// RunTime is when the job that stores period p's snapshot runs: 08:00 on
// the day after p ends (a week, month or quarter), as Periodic schedules it.
func RunTime(p period.Period) time.Time {
	_, end := p.Range()
	return end.Add(8 * time.Hour)
}

// snapshot stores the regions' reports, each one's figures read through
// reads (asked again per region, so a long job follows the replica's
// guard); whether a region has its report, and the insert, on the primary.
func (w *Workloads) snapshot(ctx context.Context, kind reportsnapshot.Kind, p period.Period, now time.Time, regions []*ent.Region,
	reads func(context.Context) store.Reader) error {
	if k, ok := Kinds[kind]; !ok || k != p.Kind {
		return fmt.Errorf("report.Snapshot: a %s snapshot of %s", kind, p)
	}
	start, end := p.Range()
	for _, r := range regions {
		exists, err := w.ent.ReportSnapshot.Query().Where(reportsnapshot.RegionID(r.ID), reportsnapshot.KindEQ(kind), reportsnapshot.Period(p.String())).Exist(ctx)
		if err != nil {
			return fmt.Errorf("report.Snapshot: %w", err)
		}
		if exists {
			continue
		}
		code := regioncode.Code(r.ID)
		wl := w.on(reads(ctx))
		var review *Review
		if kind == reportsnapshot.KindQUARTERLY_REVIEW {
			if review, err = wl.Review(ctx, code, p, now); err != nil {
				return err
			}
		}
		data, err := wl.Workbook(ctx, Query{Region: code, Start: start, End: end, Now: now}, r.Name, review)
		if err != nil {
			return err
		}
		// Created "now" by the job's clock, which is also the figures'
		// "now": a report stored later for a past period says when it was
		// as of.
		err = w.ent.ReportSnapshot.Create().SetRegionID(r.ID).SetKind(kind).SetPeriod(p.String()).
			SetFileName(FileName(r.Name, p.String(), start, end)).SetContent(data).SetCreateTime(now.UTC()).
			OnConflictColumns(reportsnapshot.FieldRegionID, reportsnapshot.FieldKind, reportsnapshot.FieldPeriod).DoNothing().Exec(ctx)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("report.Snapshot: %w", err)
		}
	}
	return nil
}
