package calendardb

import (
	"context"
	"fmt"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/calendarday"
	"github.com/changzhi/redpoint/ent/predicate"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/store"
)

// Server implements CalendarService over the calendar_days table.
type Server struct {
	redpointv1.UnimplementedCalendarServiceServer
	db    *ent.Client
	cache *calendar.Cache
	due   DueRecomputer
}

// DueRecomputer moves open errands' due times onto a changed calendar
// (errands.Server: how a due time follows from the calendar is the
// errand's rule).
type DueRecomputer interface {
	RecomputeDue(ctx context.Context, cal *calendar.Calendar, from time.Time) (int, error)
}

var _ redpointv1.CalendarServiceServer = (*Server)(nil)

// NewServer returns the calendar service. cache is the one the SLAs read,
// reloaded when a year is loaded; due then moves the open errands' due
// times from that year on (required).
func NewServer(db *ent.Client, cache *calendar.Cache, due DueRecomputer) *Server {
	return &Server{db: db, cache: cache, due: due}
}

func checkYear(y int32) error {
	if y < 2000 || y > 2100 {
		return apierr.InvalidField("year", "年份应在 2000–2100 之间")
	}
	return nil
}

// inYear matches the dates of year y.
func inYear(y int32) []predicate.CalendarDay {
	return []predicate.CalendarDay{calendarday.IDGTE(fmt.Sprintf("%04d-01-01", y)), calendarday.IDLTE(fmt.Sprintf("%04d-12-31", y))}
}

// ListCalendarDays lists a year's exceptions.
func (s *Server) ListCalendarDays(ctx context.Context, req *redpointv1.ListCalendarDaysRequest) (*redpointv1.ListCalendarDaysResponse, error) {
	if err := checkYear(req.GetYear()); err != nil {
		return nil, err
	}
	rows, err := s.db.CalendarDay.Query().Where(inYear(req.GetYear())...).Order(ent.Asc(calendarday.FieldID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("calendardb.ListCalendarDays: %w", err)
	}
	return &redpointv1.ListCalendarDaysResponse{CalendarDays: dayProtos(rows)}, nil
}

func dayProtos(rows []*ent.CalendarDay) []*redpointv1.CalendarDay {
	out := make([]*redpointv1.CalendarDay, len(rows))
	for i, r := range rows {
		kind := redpointv1.CalendarDayKind_CALENDAR_DAY_KIND_HOLIDAY
		if r.Kind == calendarday.KindWORKDAY {
			kind = redpointv1.CalendarDayKind_CALENDAR_DAY_KIND_WORKDAY
		}
		out[i] = &redpointv1.CalendarDay{Date: r.ID, Kind: kind, DisplayName: r.Name}
	}
	return out
}

// LoadCalendarYear replaces a year's exceptions in one transaction.
func (s *Server) LoadCalendarYear(ctx context.Context, req *redpointv1.LoadCalendarYearRequest) (*redpointv1.LoadCalendarYearResponse, error) {
	if err := checkYear(req.GetYear()); err != nil {
		return nil, err
	}
	var v apierr.Violations
	seen := map[string]bool{}
	type day struct {
		date, name string
		kind       calendarday.Kind
	}
	days := make([]day, 0, len(req.GetCalendarDays()))
	for i, d := range req.GetCalendarDays() {
		field := fmt.Sprintf("calendar_days[%d]", i)
		t, err := time.ParseInLocation(time.DateOnly, d.GetDate(), calendar.Location)
		if err != nil || t.Year() != int(req.GetYear()) || seen[d.GetDate()] {
			v.Add(field+".date", "日期应为该年内的 YYYY-MM-DD，且不重复")
			continue
		}
		seen[d.GetDate()] = true
		var kind calendarday.Kind
		switch d.GetKind() {
		case redpointv1.CalendarDayKind_CALENDAR_DAY_KIND_HOLIDAY:
			kind = calendarday.KindHOLIDAY
		case redpointv1.CalendarDayKind_CALENDAR_DAY_KIND_WORKDAY:
			kind = calendarday.KindWORKDAY
		default:
			v.Add(field+".kind", "请指定放假或调休上班")
			continue
		}
		days = append(days, day{date: d.GetDate(), kind: kind, name: d.GetDisplayName()})
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	err := store.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		if _, err := tx.CalendarDay.Delete().Where(inYear(req.GetYear())...).Exec(ctx); err != nil {
			return err
		}
		builders := make([]*ent.CalendarDayCreate, len(days))
		for i, d := range days {
			builders[i] = tx.CalendarDay.Create().SetID(d.date).SetKind(d.kind).SetName(d.name)
		}
		return tx.CalendarDay.CreateBulk(builders...).Exec(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("calendardb.LoadCalendarYear: %w", err)
	}
	cal, err := s.cache.Reload(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Date(int(req.GetYear()), 1, 1, 0, 0, 0, 0, calendar.Location)
	if _, err := s.due.RecomputeDue(ctx, cal, start); err != nil {
		return nil, err
	}
	resp, err := s.ListCalendarDays(ctx, &redpointv1.ListCalendarDaysRequest{Year: req.GetYear()})
	if err != nil {
		return nil, err
	}
	return &redpointv1.LoadCalendarYearResponse{CalendarDays: resp.CalendarDays}, nil
}
