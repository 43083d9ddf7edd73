package errands

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/errandevent"
	"github.com/changzhi/redpoint/ent/predicate"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/answers"
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
	if !full { // a full read is audited every time: never from memory
		// The caller's scope is in the key: the check load makes is made
		// for every scope that gets the answer.
		return answers.Read(ctx, s.answers, "errand|"+listScope(p)+"|"+req.GetName(), func(w *answers.Watch) (*redpointv1.Errand, time.Time, error) {
			if id, err := resname.IntID("name", req.GetName(), resname.Errands); err == nil {
				w.Scopes(ctx, answers.Errand(id), answers.Directory, answers.Calendar)
			}
			e, err := s.load(ctx, s.db, p, "name", req.GetName())
			if err != nil {
				return nil, time.Time{}, err
			}
			cal, err := s.calendar.Get(ctx)
			if err != nil {
				return nil, time.Time{}, err
			}
			now := s.clock()
			out, err := s.view(ctx, s.db, e, cal, now, false)
			return out, slaChanges(e, now), err
		})
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

// ListErrands lists what the caller may see, filtered and ordered.
func (s *Server) ListErrands(ctx context.Context, req *redpointv1.ListErrandsRequest) (*redpointv1.ListErrandsResponse, error) {
	p, err := access.Caller(ctx)
	if err != nil {
		return nil, err
	}
	order, err := parseOrder(req.GetOrderBy())
	if err != nil {
		return nil, err
	}
	size, err := pagetoken.SizeFrom(ctx)
	if err != nil {
		return nil, err
	}
	key := listKey(p, size, req.GetFilter(), req.GetOrderBy(), req.GetPageToken())
	return answers.Read(ctx, s.answers, key, func(w *answers.Watch) (*redpointv1.ListErrandsResponse, time.Time, error) {
		w.Scopes(ctx, listScope(p), answers.Directory, answers.Calendar)
		return s.listErrands(ctx, p, req, order)
	})
}

// listErrands reads a page of ListErrands, and the first instant at which
// time alone changes it.
func (s *Server) listErrands(ctx context.Context, p access.Principal, req *redpointv1.ListErrandsRequest, order ordering) (*redpointv1.ListErrandsResponse, time.Time, error) {
	cal, err := s.calendar.Get(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	now := s.clock()
	preds, err := s.parseFilter(p, req.GetFilter(), cal, now)
	if err != nil {
		return nil, time.Time{}, err
	}
	var changes time.Time
	if usesNow(req.GetFilter()) {
		if changes, err = s.membershipChanges(ctx, scope(p), now); err != nil {
			return nil, time.Time{}, fmt.Errorf("errand.ListErrands: %w", err)
		}
	}
	preds = append(preds, scope(p)...)
	query := pagetoken.Query{"errands", strconv.Itoa(p.UserID), req.GetFilter(), req.GetOrderBy()}
	rows, next, err := pagetoken.Page(ctx, s.pages, req.GetPageToken(), query, func(w pagetoken.Window) ([]*ent.Errand, error) {
		return s.db.Errand.Query().Where(preds...).Where(w.After).Order(w.Order).Limit(w.Limit).All(ctx)
	}, order.keys()...)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("errand.ListErrands: %w", err)
	}
	resp := &redpointv1.ListErrandsResponse{NextPageToken: next}
	for _, e := range rows {
		v, err := s.view(ctx, s.db, e, cal, now, false)
		if err != nil {
			return nil, time.Time{}, err
		}
		resp.Errands = append(resp.Errands, v)
		changes = earliest(changes, slaChanges(e, now))
	}
	return resp, changes, nil
}

// SyncErrands returns the errands changed after the sync token, in the
// order their changes committed, each errand once in its current state.
func (s *Server) SyncErrands(ctx context.Context, req *redpointv1.SyncErrandsRequest) (*redpointv1.SyncErrandsResponse, error) {
	p, err := access.Caller(ctx)
	if err != nil {
		return nil, err
	}
	size, err := pagetoken.SizeFrom(ctx)
	if err != nil {
		return nil, err
	}
	query := pagetoken.Query{"sync", strconv.Itoa(p.UserID)}
	var since int64
	if _, err := s.pages.Decode(req.GetSyncToken(), query, &since); err != nil {
		// A token an app kept from before the v2 token format.
		if _, errV1 := s.pages.DecodeSyncV1(req.GetSyncToken(), fmt.Sprintf("sync?u=%d", p.UserID), &since); errV1 != nil {
			return nil, apierr.InvalidField("sync_token", "同步令牌无效，请重新全量同步")
		}
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
	if resp.NextSyncToken, err = s.pages.Encode(query, since); err != nil {
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
	e, err := s.load(ctx, s.db, p, "parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	rows, next, err := pagetoken.Page(ctx, s.pages, req.GetPageToken(), pagetoken.Query{"events", req.GetParent()},
		func(w pagetoken.Window) ([]*ent.ErrandEvent, error) {
			return s.db.ErrandEvent.Query().Where(errandevent.ErrandID(e.ID), w.After).Order(w.Order).Limit(w.Limit).All(ctx)
		},
		pagetoken.Asc(errandevent.FieldID, func(ev *ent.ErrandEvent) int { return ev.ID }))
	if err != nil {
		return nil, fmt.Errorf("errand.ListErrandEvents: %w", err)
	}
	resp := &redpointv1.ListErrandEventsResponse{NextPageToken: next}
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
	errandevent.KindCONSENT_GRANTED:  redpointv1.ErrandEventKind_ERRAND_EVENT_KIND_CONSENT_GRANTED,
	errandevent.KindCONSENT_REVOKED:  redpointv1.ErrandEventKind_ERRAND_EVENT_KIND_CONSENT_REVOKED,
	errandevent.KindREOPENED:         redpointv1.ErrandEventKind_ERRAND_EVENT_KIND_REOPENED,
}

var eventTexts = map[errandevent.Kind]string{
	errandevent.KindCREATED:          "已受理",
	errandevent.KindUPDATED:          "修改了事项信息",
	errandevent.KindRATED:            "群众已评价",
	errandevent.KindFOLLOW_UP_OPENED: "差评待回访",
	errandevent.KindFOLLOW_UP_CLOSED: "乡镇已回访",
	errandevent.KindCONSENT_GRANTED:  "群众已委托授权",
	errandevent.KindCONSENT_REVOKED:  "群众撤回授权",
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
	switch ev.Kind {
	case errandevent.KindTRANSITIONED:
		out.DisplayText = StateName(errand.State(ev.FromState)) + " → " + StateName(errand.State(ev.ToState))
	case errandevent.KindREOPENED:
		out.DisplayText = "重新办理：" + StateName(errand.State(ev.FromState)) + " → " + StateName(errand.State(ev.ToState))
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
