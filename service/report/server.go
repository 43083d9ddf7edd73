package report

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/reportsnapshot"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/feedback"
	"github.com/changzhi/redpoint/service/leaderboard"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/period"
	"github.com/changzhi/redpoint/service/regioncode"
	"github.com/changzhi/redpoint/service/resname"
	"github.com/changzhi/redpoint/service/trackingcode"
)

// XLSX is the content type of the Excel files.
const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// Server implements ReportService.
type Server struct {
	redpointv1.UnimplementedReportServiceServer
	workloads *Workloads
	cal       *calendar.Cache
	cache     *Cache
	pages     *pagetoken.Signer
	// feedback lists and closes the follow-ups (closing is the only write
	// ReportService makes, and it is feedback's).
	feedback *feedback.Service
	now      func() time.Time
}

var _ redpointv1.ReportServiceServer = (*Server)(nil)

// NewServer returns the report service; workloads are cached in cache, and
// pages signs the page tokens of its lists; follow-ups are listed and
// closed by fb; now is the clock (the default period, "overdue now").
func NewServer(w *Workloads, cal *calendar.Cache, cache *Cache, pages *pagetoken.Signer, fb *feedback.Service, now func() time.Time) *Server {
	return &Server{workloads: w, cal: cal, cache: cache, pages: pages, feedback: fb, now: now}
}

// scoped is access.InScope without the caller.
func scoped(ctx context.Context, field, name string) (regioncode.Code, error) {
	_, code, err := access.InScope(ctx, field, name)
	return code, err
}

func workloadRegion(ctx context.Context, name string) (regioncode.Code, error) {
	region, ok := strings.CutSuffix(name, "/workload")
	if !ok {
		return "", apierr.InvalidField("name", "格式应为 regions/{区划代码}/workload")
	}
	return scoped(ctx, "name", region)
}

// span resolves a period or a custom range into [start, end) and a label.
func (s *Server) span(asked string, start, end *timestamppb.Timestamp) (time.Time, time.Time, string, error) {
	if start != nil || end != nil {
		if start == nil || end == nil || !start.AsTime().Before(end.AsTime()) {
			return time.Time{}, time.Time{}, "", apierr.InvalidField("end_time", "自定义区间需同时给出开始和结束时间，且结束晚于开始")
		}
		return start.AsTime(), end.AsTime(), "custom", nil
	}
	p := period.Of(period.Month, s.now())
	if asked != "" {
		var err error
		if p, err = period.Parse(asked); err != nil {
			return time.Time{}, time.Time{}, "", apierr.InvalidField("period", period.FormatHint)
		}
	}
	a, b := p.Range()
	return a, b, p.String(), nil
}

// GetWorkload returns a region's figures in total and per group.
func (s *Server) GetWorkload(ctx context.Context, req *redpointv1.GetWorkloadRequest) (*redpointv1.Workload, error) {
	code, err := workloadRegion(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	group := GroupBy(req.GetGroupBy())
	if group == "" {
		group = defaultGrouping(code)
	}
	if _, ok := groupSheets[group]; !ok {
		return nil, apierr.InvalidField("group_by", "应为 CHILD_REGION、SERVICE_POINT、AGENT 或 ERRAND_TYPE")
	}
	if _, ok := childDigits(code); group == ByChildRegion && !ok {
		return nil, apierr.InvalidField("group_by", "行政村没有下级地区")
	}
	start, end, label, err := s.span(req.GetPeriod(), req.GetStartTime(), req.GetEndTime())
	if err != nil {
		return nil, err
	}
	q := Query{Region: code, Start: start, End: end, Now: s.now(), GroupBy: group}
	cached, version, ok := s.cache.get(ctx, q)
	if cached != nil {
		cached.Name = req.GetName()
		return cached, nil
	}
	// Figures filed in the cache under version must be no older than it:
	// read where every commit before now is seen (store.CurrentReads).
	reads := s.workloads.st.Reads
	if ok {
		reads = s.workloads.st.CurrentReads
	}
	rows, total, err := s.workloads.on(reads(ctx)).RowsAndTotal(ctx, q)
	if err != nil {
		return nil, err
	}
	name, err := s.workloads.regionName(ctx, code)
	if err != nil {
		return nil, err
	}
	out := &redpointv1.Workload{Name: req.GetName(), DisplayName: name, Period: label, StartTime: timestamppb.New(start),
		EndTime: timestamppb.New(end), GroupBy: string(group), Total: rowProto(total)}
	out.Total.Key, out.Total.DisplayName = "regions/"+code.String(), name
	for _, r := range rows {
		out.Rows = append(out.Rows, rowProto(r))
	}
	if ok {
		s.cache.put(ctx, q, version, out)
	}
	return out, nil
}

// defaultGrouping is a region's rows when none is asked for: its child
// regions, or at a village, which has none, its service points.
func defaultGrouping(code regioncode.Code) GroupBy {
	if _, ok := childDigits(code); ok {
		return ByChildRegion
	}
	return ByServicePoint
}

func (w *Workloads) regionName(ctx context.Context, code regioncode.Code) (string, error) {
	r, err := w.ent.Region.Get(ctx, code.String())
	if ent.IsNotFound(err) {
		return "", apierr.ErrNotFound.WithMessage("未找到该行政区划")
	}
	if err != nil {
		return "", fmt.Errorf("report.regionName: %w", err)
	}
	return r.Name, nil
}

func rowProto(r Row) *redpointv1.WorkloadRow {
	return &redpointv1.WorkloadRow{
		Key: r.Key, DisplayName: r.Name, Received: int32(r.Received), Completed: int32(r.Completed),
		InProgress: int32(r.InProgress), NeedsMaterials: int32(r.NeedsMaterials), Overdue: int32(r.Overdue),
		CompletedLate: int32(r.CompletedLate), OnTimeRate: r.OnTimeRate(), MedianWorkingDays: r.MedianDays,
		P90WorkingDays: r.P90Days, Ratings: int32(r.Ratings), SatisfactionRate: r.SatisfactionRate(),
		BadRatings: int32(r.BadRatings), OpenFollowUps: int32(r.OpenFollowUps), Escalations: int32(r.Escalations),
		Consented: int32(r.Consented), ConsentRate: r.ConsentRate(),
		Reopened: int32(r.Reopened), ReopenRate: r.ReopenRate(),
	}
}

// periodTitle is the Chinese name of a period for titles and file names.
func periodTitle(label string, start, end time.Time) (string, string) {
	p, err := period.Parse(label)
	if err != nil {
		return start.In(calendar.Location).Format("2006-01-02") + "至" + end.In(calendar.Location).AddDate(0, 0, -1).Format("2006-01-02"), "报表"
	}
	return p.Title(), reportKinds[p.Kind]
}

// reportKinds names the report of each period's length.
var reportKinds = map[period.Kind]string{period.Week: "周报", period.Month: "月报", period.Quarter: "季报", period.Year: "年报"}

// FileName is e.g. 古韩镇-2026年11月-代办工作月报.xlsx.
func FileName(region, label string, start, end time.Time) string {
	title, kind := periodTitle(label, start, end)
	return region + "-" + title + "-代办工作" + kind + ".xlsx"
}

// ExportWorkload returns the report as an .xlsx download.
func (s *Server) ExportWorkload(ctx context.Context, req *redpointv1.ExportWorkloadRequest) (*httpbody.HttpBody, error) {
	code, err := workloadRegion(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	start, end, label, err := s.span(req.GetPeriod(), req.GetStartTime(), req.GetEndTime())
	if err != nil {
		return nil, err
	}
	name, err := s.workloads.regionName(ctx, code)
	if err != nil {
		return nil, err
	}
	// A quarter's report has the quarterly review's sheet too, as its
	// snapshot has: for a city, county or township, a quarter that has
	// begun and whose boards may be read (reviewable).
	wl := s.workloads.pinned(ctx) // the review and the figures from one database
	var review *Review
	if p, err := period.Parse(label); err == nil && p.Kind == period.Quarter && reviewable(p, s.now()) && reviewLevel(code) {
		if review, err = wl.Review(ctx, code, p, s.now()); err != nil {
			return nil, err
		}
	}
	data, err := wl.Workbook(ctx, Query{Region: code, Start: start, End: end, Now: s.now()}, name, review)
	if err != nil {
		return nil, err
	}
	attach(ctx, FileName(name, label, start, end))
	return &httpbody.HttpBody{ContentType: XLSX, Data: data}, nil
}

// attach names the download: RFC 6266 with a UTF-8 file name.
func attach(ctx context.Context, file string) {
	_ = grpc.SetHeader(ctx, metadata.Pairs("content-disposition",
		"attachment; filename=\"report.xlsx\"; filename*=UTF-8''"+url.PathEscape(file)))
}

// ListOverdueErrands lists a region's overdue errands, most overdue first.
func (s *Server) ListOverdueErrands(ctx context.Context, req *redpointv1.ListOverdueErrandsRequest) (*redpointv1.ListOverdueErrandsResponse, error) {
	code, err := scoped(ctx, "parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	lo, hi := code.Range()
	base := s.workloads.ent.Errand.Query().Where(errand.RegionIDGTE(lo), errand.RegionIDLTE(hi), errands.OverduePredicate(now))
	total, err := base.Clone().Count(ctx)
	if err != nil {
		return nil, fmt.Errorf("report.ListOverdueErrands: %w", err)
	}
	rows, next, err := pagetoken.Page(ctx, s.pages, req.GetPageToken(), pagetoken.Query{"overdue", code.String()},
		func(w pagetoken.Window) ([]*ent.Errand, error) {
			return base.WithErrandType().WithServicePoint().WithAgent().Where(w.After).Order(w.Order).Limit(w.Limit).All(ctx)
		},
		pagetoken.Asc(errand.FieldDueTime, func(e *ent.Errand) time.Time { return e.DueTime }),
		pagetoken.Asc(errand.FieldID, func(e *ent.Errand) int { return e.ID }))
	if err != nil {
		return nil, fmt.Errorf("report.ListOverdueErrands: %w", err)
	}
	cal, err := s.cal.Get(ctx)
	if err != nil {
		return nil, err
	}
	return &redpointv1.ListOverdueErrandsResponse{TotalSize: int32(total), NextPageToken: next,
		OverdueErrands: pagetoken.Map(rows, func(e *ent.Errand) *redpointv1.OverdueErrand {
			return &redpointv1.OverdueErrand{
				Errand: resname.Name(resname.Errands, e.ID), TrackingCode: trackingcode.Format(e.TrackingCode),
				ErrandTypeDisplayName: e.Edges.ErrandType.Name, ServicePointDisplayName: e.Edges.ServicePoint.Name,
				AgentDisplayName: e.Edges.Agent.DisplayName, StateDisplayName: errands.StateName(e.State),
				DueTime: timestamppb.New(e.DueTime), OverdueWorkingDays: int32(cal.WorkingDaysBetween(e.DueTime, now)),
			}
		})}, nil
}

// ListFollowUps lists a region's follow-ups (feedback keeps them).
func (s *Server) ListFollowUps(ctx context.Context, req *redpointv1.ListFollowUpsRequest) (*redpointv1.ListFollowUpsResponse, error) {
	return s.feedback.ListFollowUps(ctx, req)
}

// ListReportSnapshots lists a region's stored reports, newest first.
func (s *Server) ListReportSnapshots(ctx context.Context, req *redpointv1.ListReportSnapshotsRequest) (*redpointv1.ListReportSnapshotsResponse, error) {
	code, err := scoped(ctx, "parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	rows, next, err := pagetoken.Page(ctx, s.pages, req.GetPageToken(), pagetoken.Query{"snapshots", code.String()},
		func(w pagetoken.Window) ([]*ent.ReportSnapshot, error) {
			return s.workloads.ent.ReportSnapshot.Query().Where(reportsnapshot.RegionID(code.String()), w.After).Order(w.Order).Limit(w.Limit).
				Select(reportsnapshot.FieldID, reportsnapshot.FieldRegionID, reportsnapshot.FieldKind, reportsnapshot.FieldPeriod,
					reportsnapshot.FieldFileName, reportsnapshot.FieldCreateTime).All(ctx)
		},
		pagetoken.Desc(reportsnapshot.FieldID, func(r *ent.ReportSnapshot) int { return r.ID }))
	if err != nil {
		return nil, fmt.Errorf("report.ListReportSnapshots: %w", err)
	}
	sizes, err := s.workloads.snapshotSizes(ctx, rows)
	if err != nil {
		return nil, err
	}
	return &redpointv1.ListReportSnapshotsResponse{NextPageToken: next,
		ReportSnapshots: pagetoken.Map(rows, func(r *ent.ReportSnapshot) *redpointv1.ReportSnapshot {
			return &redpointv1.ReportSnapshot{
				Name: fmt.Sprintf("regions/%s/reportSnapshots/%d", r.RegionID, r.ID), Kind: string(r.Kind), Period: r.Period,
				FileName: r.FileName, SizeBytes: sizes[r.ID], CreateTime: timestamppb.New(r.CreateTime),
			}
		})}, nil
}

// snapshotSizes reads the files' sizes in one query, without the files.
func (w *Workloads) snapshotSizes(ctx context.Context, rows []*ent.ReportSnapshot) (map[int]int64, error) {
	out := map[int]int64{}
	if len(rows) == 0 {
		return out, nil
	}
	ids := make([]any, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	rs, err := w.st.QueryContext(ctx, w.rebind("SELECT id, length(content) FROM report_snapshots WHERE id IN (?"+strings.Repeat(", ?", len(ids)-1)+")"), ids...)
	if err != nil {
		return nil, fmt.Errorf("report.snapshotSizes: %w", err)
	}
	defer func() { _ = rs.Close() }() // a read: rs.Err() below reports what it met
	for rs.Next() {
		var id int
		var n int64
		if err := rs.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("report.snapshotSizes: %w", err)
		}
		out[id] = n
	}
	return out, rs.Err()
}

// DownloadReportSnapshot returns a stored report's file.
func (s *Server) DownloadReportSnapshot(ctx context.Context, req *redpointv1.DownloadReportSnapshotRequest) (*httpbody.HttpBody, error) {
	parent, idPart, ok := strings.Cut(req.GetName(), "/reportSnapshots/")
	if !ok {
		return nil, apierr.InvalidField("name", "格式应为 regions/{区划代码}/reportSnapshots/{编号}")
	}
	code, err := scoped(ctx, "name", parent)
	if err != nil {
		return nil, err
	}
	id, err := strconv.Atoi(idPart)
	if err != nil || id <= 0 {
		return nil, apierr.InvalidField("name", "报表编号应为正整数")
	}
	r, err := s.workloads.ent.ReportSnapshot.Query().Where(reportsnapshot.ID(id), reportsnapshot.RegionID(code.String())).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apierr.ErrNotFound.WithMessage("未找到该报表")
	}
	if err != nil {
		return nil, fmt.Errorf("report.DownloadReportSnapshot: %w", err)
	}
	attach(ctx, r.FileName)
	return &httpbody.HttpBody{ContentType: XLSX, Data: r.Content}, nil
}

// reviewable reports whether quarter q's review may be read at now: the
// quarter has begun and is not older than the boards' history, so a
// caller can't make the leaderboard build boards of any quarter.
func reviewable(q period.Period, now time.Time) bool {
	start, end := q.Range()
	return !start.After(now) && !end.Before(now.Add(-leaderboard.History))
}

// reviewLevel reports whether a region has quarterly reviews.
func reviewLevel(code regioncode.Code) bool {
	switch code.Level() {
	case regioncode.City, regioncode.County, regioncode.Township:
		return true
	}
	return false
}

// GetQuarterlyReview computes a region's quarterly review (季观摩), the
// figures of the quarterly snapshot's 季观摩 sheet (Review makes both).
func (s *Server) GetQuarterlyReview(ctx context.Context, req *redpointv1.GetQuarterlyReviewRequest) (*redpointv1.QuarterlyReview, error) {
	parent, label, ok := strings.Cut(req.GetName(), "/quarterlyReviews/")
	if !ok {
		return nil, apierr.InvalidField("name", "格式应为 regions/{区划代码}/quarterlyReviews/{季度，如 2026-Q3}")
	}
	code, err := scoped(ctx, "name", parent)
	if err != nil {
		return nil, err
	}
	q, err := period.Parse(label)
	if err != nil || q.Kind != period.Quarter {
		return nil, apierr.InvalidField("name", "季度应形如 2026-Q3")
	}
	if !reviewable(q, s.now()) {
		return nil, apierr.InvalidField("name", "只能查看已开始且不早于三年前的季度")
	}
	if !reviewLevel(code) {
		return nil, apierr.InvalidField("name", "季观摩按市、县区、乡镇编制")
	}
	r, err := s.workloads.Review(ctx, code, q, s.now())
	if err != nil {
		return nil, err
	}
	out := &redpointv1.QuarterlyReview{Name: "regions/" + code.String() + "/quarterlyReviews/" + q.String(), DisplayName: r.Name,
		Period: q.String(), PreviousPeriod: q.Previous().String(), StartTime: timestamppb.New(r.Start), EndTime: timestamppb.New(r.End)}
	for _, row := range r.Counties {
		out.Counties = append(out.Counties, reviewRowProto(row))
	}
	for _, row := range r.Townships {
		out.Townships = append(out.Townships, reviewRowProto(row))
	}
	return out, nil
}

func reviewRowProto(r ReviewRow) *redpointv1.QuarterlyReviewRow {
	figures := func(f Figures) *redpointv1.QuarterlyFigures {
		return &redpointv1.QuarterlyFigures{Received: int32(f.Received), Completed: int32(f.Completed), CompletedLate: int32(f.CompletedLate),
			OnTimeRate: f.OnTimeRate, Ratings: int32(f.Ratings), SatisfactionRate: f.SatisfactionRate, Score: f.Score,
			Rank: int32(f.Rank), RankOf: int32(f.RankOf)}
	}
	points := func(ps []ReviewPoint) []*redpointv1.QuarterlyReviewPoint {
		var out []*redpointv1.QuarterlyReviewPoint
		for _, p := range ps {
			out = append(out, &redpointv1.QuarterlyReviewPoint{ServicePoint: resname.Name(resname.ServicePoints, p.ID), DisplayName: p.Name, Score: p.Score})
		}
		return out
	}
	return &redpointv1.QuarterlyReviewRow{Region: "regions/" + r.Code, DisplayName: r.Name, CountyDisplayName: r.County,
		Current: figures(r.Current), Previous: figures(r.Previous), RankChange: int32(r.RankChange),
		ServicePoints: int32(r.Points), IdleServicePoints: int32(r.Idle),
		BestServicePoints: points(r.Best), WeakestServicePoints: points(r.Weakest)}
}

// CloseFollowUp records the township's call-back (feedback keeps follow-ups).
func (s *Server) CloseFollowUp(ctx context.Context, req *redpointv1.CloseFollowUpRequest) (*redpointv1.FollowUp, error) {
	return s.feedback.CloseFollowUp(ctx, req)
}
