package errands

import (
	"context"
	"fmt"
	"time"

	"entgo.io/ent/dialect/sql"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/ent/predicate"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/resname"
)

// GetErrand returns one errand.
func (s *Server) GetErrand(ctx context.Context, req *redpointv1.GetErrandRequest) (*redpointv1.Errand, error) {
	p, err := access.Caller(ctx)
	if err != nil {
		return nil, err
	}
	full := req.GetView() == redpointv1.ErrandView_ERRAND_VIEW_FULL
	if full && !seesFull(p) {
		return nil, ErrNoFullView
	}
	e, err := s.load(ctx, s.db, p, "name", req.GetName())
	if err != nil {
		return nil, err
	}
	cal, err := s.calendar.Get(ctx)
	if err != nil {
		return nil, err
	}
	if full {
		if err := s.audit.RecordUnmaskedRead(ctx, "/redpoint.v1.ErrandService/GetErrand", req.GetName(), e.RegionID); err != nil {
			return nil, err
		}
	}
	return s.view(ctx, s.db, e, cal, s.clock(), full)
}

// scope restricts a query to what p may see.
func scope(p access.Principal) []predicate.Errand {
	if p.Role == access.RoleAgent {
		return []predicate.Errand{errand.ServicePointID(p.ServicePointID)}
	}
	lo, hi := p.Region.Range()
	return []predicate.Errand{errand.RegionIDGTE(lo), errand.RegionIDLTE(hi)}
}

type listCursor struct {
	T  int64 `json:"t"` // order value, Unix microseconds
	ID int   `json:"i"`
}

// ListErrands lists what the caller may see, filtered and ordered.
func (s *Server) ListErrands(ctx context.Context, req *redpointv1.ListErrandsRequest) (*redpointv1.ListErrandsResponse, error) {
	p, err := access.Caller(ctx)
	if err != nil {
		return nil, err
	}
	size, err := pagetoken.Size(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	order, err := parseOrder(req.GetOrderBy())
	if err != nil {
		return nil, err
	}
	query := fmt.Sprintf("errands?u=%d&f=%s&o=%s", p.UserID, req.GetFilter(), req.GetOrderBy())
	var cur listCursor
	hasCursor, err := pagetoken.Decode(req.GetPageToken(), query, &cur)
	if err != nil {
		return nil, err
	}
	cal, err := s.calendar.Get(ctx)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	preds, err := s.parseFilter(p, req.GetFilter(), cal, now)
	if err != nil {
		return nil, err
	}
	preds = append(preds, scope(p)...)
	if hasCursor {
		preds = append(preds, after(order, cur))
	}
	dir := sql.OrderAsc()
	if order.desc {
		dir = sql.OrderDesc()
	}
	rows, err := s.db.Errand.Query().Where(preds...).
		Order(orderBy[order.field](dir), errand.ByID(dir)).
		Limit(size + 1).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("errand.ListErrands: %w", err)
	}
	resp := &redpointv1.ListErrandsResponse{}
	if rows, resp.NextPageToken, err = pagetoken.Page(query, rows, size, func(e *ent.Errand) any {
		return listCursor{T: order.value(e).UnixMicro(), ID: e.ID}
	}); err != nil {
		return nil, err
	}
	for _, e := range rows {
		v, err := s.view(ctx, s.db, e, cal, now, false)
		if err != nil {
			return nil, err
		}
		resp.Errands = append(resp.Errands, v)
	}
	return resp, nil
}

var orderBy = map[string]func(...sql.OrderTermOption) errand.OrderOption{
	errand.FieldUpdateTime: errand.ByUpdateTime,
	errand.FieldDueTime:    errand.ByDueTime,
	errand.FieldCreateTime: errand.ByCreateTime,
}

// after is the keyset predicate for rows past the cursor in the order.
func after(o ordering, c listCursor) predicate.Errand {
	t := time.UnixMicro(c.T).UTC()
	return predicate.Errand(func(s *sql.Selector) {
		col, id := s.C(o.field), s.C(errand.FieldID)
		if o.desc {
			s.Where(sql.Or(sql.LT(col, t), sql.And(sql.EQ(col, t), sql.LT(id, c.ID))))
		} else {
			s.Where(sql.Or(sql.GT(col, t), sql.And(sql.EQ(col, t), sql.GT(id, c.ID))))
		}
	})
}

// SyncErrands returns the errands changed after the sync token, in the
// order their changes committed, each errand once in its current state.
func (s *Server) SyncErrands(ctx context.Context, req *redpointv1.SyncErrandsRequest) (*redpointv1.SyncErrandsResponse, error) {
	p, err := access.Caller(ctx)
	if err != nil {
		return nil, err
	}
	size, err := pagetoken.Size(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	query := fmt.Sprintf("sync?u=%d", p.UserID)
	var since int64
	if _, err := pagetoken.Decode(req.GetSyncToken(), query, &since); err != nil {
		return nil, apierr.InvalidField("sync_token", "同步令牌无效，请重新全量同步")
	}
	rows, err := s.db.Errand.Query().Where(append(scope(p), errand.ChangeSeqGT(since))...).
		Order(ent.Asc(errand.FieldChangeSeq)).Limit(size + 1).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("errand.SyncErrands: %w", err)
	}
	resp := &redpointv1.SyncErrandsResponse{}
	if len(rows) > size {
		rows, resp.HasMore = rows[:size], true
	}
	cal, err := s.calendar.Get(ctx)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	for _, e := range rows {
		v, err := s.view(ctx, s.db, e, cal, now, false)
		if err != nil {
			return nil, err
		}
		resp.Errands = append(resp.Errands, v)
		since = e.ChangeSeq
	}
	if resp.NextSyncToken, err = pagetoken.Encode(query, since); err != nil {
		return nil, err
	}
	return resp, nil
}

// ListErrandEvents returns an errand's history, oldest first.
func (s *Server) ListErrandEvents(ctx context.Context, req *redpointv1.ListErrandEventsRequest) (*redpointv1.ListErrandEventsResponse, error) {
	p, err := access.Caller(ctx)
	if err != nil {
		return nil, err
	}
	size, err := pagetoken.Size(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	e, err := s.load(ctx, s.db, p, "parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	query := "events?parent=" + req.GetParent()
	var afterID int
	if _, err := pagetoken.Decode(req.GetPageToken(), query, &afterID); err != nil {
		return nil, err
	}
	rows, err := s.db.ErrandEvent.Query().Where(errandevent.ErrandID(e.ID), errandevent.IDGT(afterID)).
		Order(ent.Asc(errandevent.FieldID)).Limit(size + 1).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("errand.ListErrandEvents: %w", err)
	}
	resp := &redpointv1.ListErrandEventsResponse{}
	if rows, resp.NextPageToken, err = pagetoken.Page(query, rows, size, func(ev *ent.ErrandEvent) any { return ev.ID }); err != nil {
		return nil, err
	}
	for _, ev := range rows {
		v, err := s.eventView(ctx, e.ID, ev)
		if err != nil {
			return nil, err
		}
		resp.Events = append(resp.Events, v)
	}
	return resp, nil
}

var eventKinds = map[errandevent.Kind]redpointv1.ErrandEventKind{
	errandevent.KindCREATED:          redpointv1.ErrandEventKind_ERRAND_EVENT_KIND_CREATED,
	errandevent.KindUPDATED:          redpointv1.ErrandEventKind_ERRAND_EVENT_KIND_UPDATED,
	errandevent.KindTRANSITIONED:     redpointv1.ErrandEventKind_ERRAND_EVENT_KIND_TRANSITIONED,
	errandevent.KindRATED:            redpointv1.ErrandEventKind_ERRAND_EVENT_KIND_RATED,
	errandevent.KindFOLLOW_UP_OPENED: redpointv1.ErrandEventKind_ERRAND_EVENT_KIND_FOLLOW_UP_OPENED,
	errandevent.KindFOLLOW_UP_CLOSED: redpointv1.ErrandEventKind_ERRAND_EVENT_KIND_FOLLOW_UP_CLOSED,
}

var eventTexts = map[errandevent.Kind]string{
	errandevent.KindCREATED:          "已受理",
	errandevent.KindUPDATED:          "修改了事项信息",
	errandevent.KindRATED:            "群众已评价",
	errandevent.KindFOLLOW_UP_OPENED: "差评待回访",
	errandevent.KindFOLLOW_UP_CLOSED: "乡镇已回访",
}

func (s *Server) eventView(ctx context.Context, errandID int, ev *ent.ErrandEvent) (*redpointv1.ErrandEvent, error) {
	out := &redpointv1.ErrandEvent{
		Name:        fmt.Sprintf("errands/%d/events/%d", errandID, ev.ID),
		Kind:        eventKinds[ev.Kind],
		Note:        ev.Note,
		CreateTime:  timestamppb.New(ev.CreateTime),
		DisplayText: eventTexts[ev.Kind],
	}
	if ev.FromState != "" {
		out.FromState = StateProto(errand.State(ev.FromState))
	}
	if ev.ToState != "" {
		out.ToState = StateProto(errand.State(ev.ToState))
	}
	if ev.Kind == errandevent.KindTRANSITIONED {
		out.DisplayText = StateName(errand.State(ev.FromState)) + " → " + StateName(errand.State(ev.ToState))
	}
	switch ev.ActorKind {
	case errandevent.ActorKindRESIDENT:
		out.ActorDisplayName = "群众"
	case errandevent.ActorKindSYSTEM:
		out.ActorDisplayName = "系统"
	default:
		if ev.ActorUserID != nil {
			out.Actor = resname.Name(resname.Users, *ev.ActorUserID)
			name, err := s.names.user(ctx, s.db, *ev.ActorUserID)
			if err != nil {
				return nil, err
			}
			out.ActorDisplayName = name
		}
	}
	return out, nil
}
