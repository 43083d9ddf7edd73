package leaderboard

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/changzhi/redpoint/ent"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/period"
	"github.com/changzhi/redpoint/service/regioncode"
	"github.com/changzhi/redpoint/service/resname"
)

// Server implements LeaderboardService.
type Server struct {
	redpointv1.UnimplementedLeaderboardServiceServer
	boards *Boards
	pages  *pagetoken.Signer
	now    func() time.Time
}

var _ redpointv1.LeaderboardServiceServer = (*Server)(nil)

// NewServer returns the leaderboard service; pages signs its page tokens
// and now is the clock that picks the default period.
func NewServer(b *Boards, pages *pagetoken.Signer, now func() time.Time) *Server {
	return &Server{boards: b, pages: pages, now: now}
}

// levels are the spellings of ListLeaderboardEntriesRequest.level: the
// short ones, and for townships and counties also RegionLevel's names, the
// way Region.level spells them to a client that read the region first.
// The OpenAPI document lists the same values (leaderboard.proto).
var levels = map[string]Level{
	"": Points, "SERVICE_POINT": Points,
	"TOWNSHIP": Townships, redpointv1.RegionLevel_REGION_LEVEL_TOWNSHIP.String(): Townships,
	"COUNTY": Counties, redpointv1.RegionLevel_REGION_LEVEL_COUNTY.String(): Counties,
}

func (s *Server) checkPeriod(field, v string) (period.Period, error) {
	if v == "" {
		return period.Of(period.Month, s.now()), nil
	}
	p, err := period.Parse(v)
	if err != nil {
		return period.Period{}, apierr.InvalidField(field, period.FormatHint)
	}
	// Boards are built on demand: only for periods that have begun, and
	// not older than History, so a caller can't make us build hundreds.
	start, end := p.Range()
	if now := s.now(); start.After(now) || end.Before(now.Add(-History)) {
		return period.Period{}, apierr.InvalidField(field, "只能查看已开始且不早于三年前的周期")
	}
	return p, nil
}

// History is how far back boards can be read.
const History = 3 * 366 * 24 * time.Hour

// ListLeaderboardEntries reads one board. It pages by position (offset),
// not by keyset (pagetoken.Page): an entry's rank is its position on the
// board, which a page starting at an offset knows, and a Redis sorted set
// reads a range of positions directly, without walking the ones before it
// as SQL's OFFSET does.
func (s *Server) ListLeaderboardEntries(ctx context.Context, req *redpointv1.ListLeaderboardEntriesRequest) (*redpointv1.ListLeaderboardEntriesResponse, error) {
	bd, err := s.board(req)
	if err != nil {
		return nil, err
	}
	size, err := pagetoken.SizeFrom(ctx)
	if err != nil {
		return nil, err
	}
	query := pagetoken.Query{"leaderboard", fmt.Sprintf("%+v", bd)}
	offset := 0
	if _, err := s.pages.Decode(req.GetPageToken(), query, &offset); err != nil {
		return nil, err
	}
	entries, total, err := s.boards.Top(ctx, bd, offset, size)
	if err != nil {
		return nil, err
	}
	resp := &redpointv1.ListLeaderboardEntriesResponse{TotalSize: int32(total), Period: bd.Period.String()}
	for _, e := range entries {
		resp.Entries = append(resp.Entries, entryProto(bd.Level, e))
	}
	if offset+size < total {
		if resp.NextPageToken, err = s.pages.Encode(query, offset+size); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// board checks a ListLeaderboardEntries request and names the board it
// asks for.
func (s *Server) board(req *redpointv1.ListLeaderboardEntriesRequest) (Board, error) {
	var v apierr.Violations
	parent, err := resname.Region("parent", req.GetParent())
	if err != nil {
		return Board{}, err
	}
	level, ok := levels[req.GetLevel()]
	if !ok {
		v.Add("level", "应为 SERVICE_POINT、TOWNSHIP 或 COUNTY")
	}
	if ok && !below(level, parent.Level()) {
		v.Add("level", "所选级别须低于该地区的级别")
	}
	average := false
	switch req.GetOrderBy() {
	case "", "total":
	case "average":
		average = true
		if level == Points {
			v.Add("order_by", "代办点只按总分排名")
		}
	default:
		v.Add("order_by", "应为 total 或 average")
	}
	p, perr := s.checkPeriod("period", req.GetPeriod())
	if perr != nil {
		return Board{}, perr
	}
	if err := v.Err(); err != nil {
		return Board{}, err
	}
	return Board{Period: p, Scope: parent.Prefix(), Level: level, Average: average}, nil
}

// below reports whether boards of level l exist inside a region of level r.
func below(l Level, r regioncode.Level) bool {
	switch l {
	case Points:
		return r == regioncode.City || r == regioncode.County || r == regioncode.Township
	case Townships:
		return r == regioncode.City || r == regioncode.County
	default:
		return r == regioncode.City
	}
}

func entryProto(l Level, e Entry) *redpointv1.LeaderboardEntry {
	member := resname.Name(resname.Regions, e.Village)
	if l == Points {
		id, _ := strconv.Atoi(e.Member)
		member = resname.Name(resname.ServicePoints, id)
	}
	return &redpointv1.LeaderboardEntry{
		Rank: int32(e.Rank), Score: round(e.Score), TotalScore: round(e.Total), Member: member,
		DisplayName: e.Name, Region: resname.Name(resname.Regions, e.Village),
		ErrandsCompleted: int32(e.Completed), OnTimeRate: round(e.OnTimeRate), SatisfactionRate: round(e.Satisfaction),
		RankChange: int32(e.RankChange),
	}
}

func round(f float64) float64 { return float64(int64(f*1000+0.5*sign(f))) / 1000 }

func sign(f float64) float64 {
	if f < 0 {
		return -1
	}
	return 1
}

var errPointOutside = apierr.InvalidField("scope", "代办点不在该地区内")

// GetServicePointRank reads a point's standing in a region.
func (s *Server) GetServicePointRank(ctx context.Context, req *redpointv1.GetServicePointRankRequest) (*redpointv1.ServicePointRank, error) {
	id, err := resname.IntID("service_point", req.GetServicePoint(), resname.ServicePoints)
	if err != nil {
		return nil, err
	}
	scopeName := req.GetScope()
	if scopeName != "" {
		if _, err := resname.Region("scope", scopeName); err != nil {
			return nil, err
		}
	}
	p, err := s.checkPeriod("period", req.GetPeriod())
	if err != nil {
		return nil, err
	}
	sp, err := s.boards.db.ServicePoint.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apierr.ErrNotFound.WithMessage("未找到该代办点")
	}
	if err != nil {
		return nil, fmt.Errorf("leaderboard.GetServicePointRank: %w", err)
	}
	if scopeName == "" { // the point's own city
		_, _, city := scopes(sp.RegionID)
		scopeName = resname.Name(resname.Regions, city+"00000000")
	}
	scope, err := resname.Region("scope", scopeName)
	if err != nil {
		return nil, err
	}
	if !scope.Contains(regioncode.Code(sp.RegionID)) || scope.Level() == regioncode.Village {
		return nil, errPointOutside
	}
	bd := Board{Period: p, Scope: scope.Prefix(), Level: Points}
	e, total, ok, err := s.boards.RankOf(ctx, bd, strconv.Itoa(id))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, apierr.ErrNotFound.WithMessage("该代办点已停用，不在排行榜上")
	}
	return &redpointv1.ServicePointRank{Entry: entryProto(Points, e), TotalSize: int32(total), Period: p.String(), Scope: scopeName}, nil
}

// RebuildLeaderboard recomputes a period (or today's four) from the database.
func (s *Server) RebuildLeaderboard(ctx context.Context, req *redpointv1.RebuildLeaderboardRequest) (*redpointv1.RebuildLeaderboardResponse, error) {
	periods := period.All(s.now())
	if req.GetPeriod() != "" {
		p, err := s.checkPeriod("period", req.GetPeriod())
		if err != nil {
			return nil, err
		}
		periods = []period.Period{p}
	}
	resp := &redpointv1.RebuildLeaderboardResponse{}
	for _, p := range periods {
		if err := s.boards.Rebuild(ctx, p); err != nil {
			return nil, err
		}
		resp.Periods = append(resp.Periods, p.String())
	}
	return resp, nil
}

// Handler adds each scoring event's effect as it happens: a completion, a
// reopening (which withdraws the completion it undid), a rating, a closed
// follow-up. With the ledger it runs once per event, so the boards equal
// a rebuild.
func (b *Boards) Handler() events.Handler {
	return events.Handler{
		Name:   handlerName,
		Topics: handlerTopics,
		Handle: func(ctx context.Context, tx *ent.Tx, ev events.Event) error {
			db := tx.Client()
			comps, err := effect(ctx, db, ev.Payload)
			if err != nil || len(comps) == 0 {
				return err
			}
			return b.apply(ctx, db, strconv.Itoa(ev.ID), comps)
		},
	}
}

// handlerName is the leaderboard handler's name in job ids and the ledger.
const handlerName = "leaderboard"

// handlerTopics are the events that can score.
var handlerTopics = []string{outbox.TopicErrandTransitioned, outbox.TopicRatingCreated, outbox.TopicFollowUpClosed}

// ReconcileJob compares the current and the previous period's boards with
// the database and repairs any drift (an update applied twice by a
// retried job, a rebuild that raced an update).
const ReconcileJob = "leaderboard:reconcile"

// Job is the reconcile job; drift counts what it repaired.
func (b *Boards) Job(now func() time.Time, drift func(n int)) events.Job {
	return events.Job{Type: ReconcileJob, Handle: func(ctx context.Context, _ []byte) error {
		// The current periods, and the ones just closed: their boards
		// feed the 周调度 and 月通报 and must end exact.
		for _, p := range CurrentPeriods(now()) {
			n, err := b.Reconcile(ctx, p)
			if err != nil {
				return err
			}
			if n > 0 {
				drift(n)
			}
		}
		return nil
	}}
}
