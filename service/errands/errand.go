// Package errands is the errand lifecycle: create, read, edit and move
// errands through their states, safely retried from a phone that was
// offline, with working-day SLAs.
package errands

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"entgo.io/ent/dialect/sql"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/sequence"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/answers"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/idempotency"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/regioncode"
	"github.com/changzhi/redpoint/service/resname"
	"github.com/changzhi/redpoint/service/trackingcode"
)

// Server implements ErrandService.
type Server struct {
	redpointv1.UnimplementedErrandServiceServer
	db       *ent.Client
	dialect  string
	keys     *pii.Keyring
	calendar *calendar.Cache
	idem     *idempotency.Keeper
	now      func() time.Time
	names    *nameCache
	audit    Auditor
	pages    *pagetoken.Signer
	changed  func(ctx context.Context, trackingCode string)
	answers  *answers.Cache
}

var _ redpointv1.ErrandServiceServer = (*Server)(nil)

// Config is what the errand service is built from.
type Config struct {
	DB       *ent.Client
	Dialect  string // DB's SQL dialect
	Keys     *pii.Keyring
	Calendar *calendar.Cache
	// Audit records full reads of personal data; required wherever the
	// FULL view can be asked for (a read it can't record is not served).
	Audit Auditor
	// Pages signs page and sync tokens.
	Pages *pagetoken.Signer
	// Changed, when set, is told the tracking code of every errand that
	// changed, after commit (the public lookup drops its cached answer).
	Changed func(ctx context.Context, trackingCode string)
	// Answers keeps the answers of GetErrand and ListErrands, which every
	// change bumps; nil: every read reads the database.
	Answers *answers.Cache
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// New returns the errand service.
func New(c Config) *Server {
	now := c.Now
	if now == nil {
		now = time.Now
	}
	return &Server{
		pages:    c.Pages,
		audit:    c.Audit,
		db:       c.DB,
		dialect:  c.Dialect,
		keys:     c.Keys,
		calendar: c.Calendar,
		changed:  c.Changed,
		answers:  c.Answers,
		idem:     idempotency.New(c.DB, c.Keys),
		now:      now,
		names:    newNameCache(func() uint64 { return c.Answers.Generation(answers.Directory) }),
	}
}

// clock is the current time as stored: UTC, in microseconds. SQLite
// compares times as text, so every stored and compared time is UTC.
func (s *Server) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// The errors of this capability.
var (
	ErrNotFound      = apierr.ErrNotFound.WithMessage("未找到该事项")
	ErrNotAnAgent    = apierr.ErrPermissionDenied.WithMessage("只有代办员可以登记和办理事项")
	ErrOutOfScope    = apierr.ErrPermissionDenied.WithMessage("无权访问该事项")
	ErrClosed        = apierr.New(codes.FailedPrecondition, "ERRAND_CLOSED", "事项已办结或已撤销，不能再修改")
	ErrPointInactive = apierr.New(codes.FailedPrecondition, "SERVICE_POINT_INACTIVE", "代办点已停用，不能登记新事项")
)

// SequenceName is the Sequence row that orders errand changes for sync.
const SequenceName = "errand_changes"

// nextSeq takes the next change number inside tx. The UPDATE holds the
// row's lock until commit, so numbers are visible in the order they were
// taken: a sync that has seen n has seen every change below n.
func nextSeq(ctx context.Context, tx *ent.Tx, dialect string) (int64, error) {
	query, args := sql.Dialect(dialect).Update(sequence.Table).
		Add(sequence.FieldValue, 1).
		Where(sql.EQ(sequence.FieldID, SequenceName)).
		Returning(sequence.FieldValue).Query()
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("errand.nextSeq: %w", err)
	}
	defer func() { _ = rows.Close() }() // on an early return; the end closes and checks
	if !rows.Next() {
		return 0, fmt.Errorf("errand.nextSeq: sequence %q missing", SequenceName)
	}
	var v int64
	if err := rows.Scan(&v); err != nil {
		return 0, fmt.Errorf("errand.nextSeq: %w", err)
	}
	return v, rows.Close()
}

// EnsureSequence creates the change sequence, starting after the highest
// change already stored (the demo seed writes errands directly).
func EnsureSequence(ctx context.Context, db *ent.Client) error {
	exists, err := db.Sequence.Query().Where(sequence.ID(SequenceName)).Exist(ctx)
	if err != nil || exists {
		return err
	}
	var top []struct {
		Max int64 `json:"max"`
	}
	if err := db.Errand.Query().Aggregate(ent.Max(errand.FieldChangeSeq)).Scan(ctx, &top); err != nil {
		return fmt.Errorf("errand.EnsureSequence: %w", err)
	}
	start := int64(0)
	if len(top) > 0 {
		start = top[0].Max
	}
	err = db.Sequence.Create().SetID(SequenceName).SetValue(start).OnConflictColumns(sequence.FieldID).Ignore().Exec(ctx)
	if err != nil {
		return fmt.Errorf("errand.EnsureSequence: %w", err)
	}
	return nil
}

// agent returns the caller if they are an agent with a service point.
func agent(ctx context.Context) (access.Principal, error) {
	p, err := access.Caller(ctx)
	if err != nil {
		return p, err
	}
	if p.Role != access.RoleAgent || p.ServicePointID == 0 {
		return p, ErrNotAnAgent
	}
	return p, nil
}

// CanSee reports whether p may read e: agents their point's errands, the
// others their region's subtree.
func CanSee(p access.Principal, e *ent.Errand) bool {
	if p.Role == access.RoleAgent {
		return e.ServicePointID == p.ServicePointID
	}
	code, err := regioncode.Parse(e.RegionID)
	return err == nil && p.Covers(code)
}

// load reads the errand named name for p, checking permission before
// existence: an errand p may not see and one that does not exist look the
// same (PERMISSION_DENIED) unless p sees everything.
func (s *Server) load(ctx context.Context, db *ent.Client, p access.Principal, field, name string) (*ent.Errand, error) {
	id, err := resname.IntID(field, name, resname.Errands)
	if err != nil {
		return nil, err
	}
	e, err := db.Errand.Get(ctx, id)
	if ent.IsNotFound(err) {
		if p.SeesEverything() {
			return nil, ErrNotFound
		}
		return nil, ErrOutOfScope
	}
	if err != nil {
		return nil, fmt.Errorf("errand.load: %w", err)
	}
	if !CanSee(p, e) {
		return nil, ErrOutOfScope
	}
	return e, nil
}

// view renders e for p: names resolved, SLA flags computed, personal data
// masked unless full.
//
// db is the client to read names with: inside a transaction, the
// transaction's own, so a write never waits for a second connection.
func (s *Server) view(ctx context.Context, db *ent.Client, e *ent.Errand, cal *calendar.Calendar, now time.Time, full bool) (*redpointv1.Errand, error) {
	phone, err := s.keys.Decrypt(e.ResidentPhoneCipher)
	if err != nil {
		return nil, fmt.Errorf("errand.view: %w", err)
	}
	idNumber := ""
	if e.ResidentIDNumberCipher != "" {
		if idNumber, err = s.keys.Decrypt(e.ResidentIDNumberCipher); err != nil {
			return nil, fmt.Errorf("errand.view: %w", err)
		}
	}
	if !full {
		phone = pii.MaskMobile(phone)
		if idNumber != "" {
			idNumber = pii.MaskIDNumber(idNumber)
		}
	}
	n, err := s.names.get(ctx, db, e.ErrandTypeID, e.ServicePointID, e.AgentID)
	if err != nil {
		return nil, err
	}
	sla := slaOf(e, cal, now)
	out := &redpointv1.Errand{
		Name:                    resname.Name(resname.Errands, e.ID),
		TrackingCode:            trackingcode.Format(e.TrackingCode),
		ErrandType:              resname.Name(resname.ErrandTypes, e.ErrandTypeID),
		ErrandTypeDisplayName:   n.typeName,
		ServicePoint:            resname.Name(resname.ServicePoints, e.ServicePointID),
		ServicePointDisplayName: n.pointName,
		Agent:                   resname.Name(resname.Users, e.AgentID),
		AgentDisplayName:        n.agentName,
		Region:                  resname.Name(resname.Regions, e.RegionID),
		ResidentName:            e.ResidentName,
		ResidentPhone:           phone,
		ResidentIdNumber:        idNumber,
		State:                   StateProto(e.State),
		StateDisplayName:        StateName(e.State),
		Channel:                 channelProto[e.Channel],
		Description:             e.Description,
		Materials:               e.Materials,
		ForwardedTo:             e.ForwardedTo,
		MissingMaterials:        e.MissingMaterials,
		Result:                  e.Result,
		CancelReason:            e.CancelReason,
		AcceptTime:              timestamppb.New(e.AcceptTime),
		DueTime:                 timestamppb.New(e.DueTime),
		Overdue:                 sla.overdue,
		DueSoon:                 sla.dueSoon,
		SlaPaused:               e.PauseTime != nil,
		CreateTime:              timestamppb.New(e.CreateTime),
		UpdateTime:              timestamppb.New(e.UpdateTime),
		Etag:                    resname.Etag(e.Version),
		Consent:                 ConsentProto(e),
		ReopenCount:             int32(e.ReopenCount),
	}
	if e.CloseTime != nil {
		out.CloseTime = timestamppb.New(*e.CloseTime)
	}
	if e.LastReopenTime != nil {
		out.LastReopenTime = timestamppb.New(*e.LastReopenTime)
	}
	return out, nil
}

// seesFull reports whether p's role may read residents' full phone and ID
// numbers: the agents who fill in their paperwork and the township
// secretaries who call residents back after a bad rating. County and city
// admins oversee numbers, not people.
func seesFull(p access.Principal) bool {
	return p.Role == access.RoleAgent || p.Role == access.RoleTownshipSecretary
}

// Auditor records full reads of personal data; a read it can't record is
// not served.
type Auditor interface {
	RecordUnmaskedRead(ctx context.Context, action, resource, region string) error
}

// ErrNoFullView denies the FULL view to roles that don't work with residents.
var ErrNoFullView = apierr.ErrPermissionDenied.WithMessage("无权查看群众完整个人信息")

// names resolves display names, cached briefly: they change rarely, and
// a read should cost one query, not four.
type names struct{ typeName, pointName, agentName string }

type nameCache struct {
	mu  sync.Mutex
	m   map[string]cachedName
	ttl time.Duration
	// directory is the directory's generation (answers.Cache.Generation):
	// a rename of a type, point or agent, here or on another replica, moves
	// it, and names cached before are read again.
	directory func() uint64
}

type cachedName struct {
	name    string
	expires time.Time
	gen     uint64
}

func newNameCache(directory func() uint64) *nameCache {
	return &nameCache{m: map[string]cachedName{}, ttl: 5 * time.Minute, directory: directory}
}

func (c *nameCache) get(ctx context.Context, db *ent.Client, typeID string, pointID, agentID int) (names, error) {
	var n names
	var err error
	if n.typeName, err = c.lookup(ctx, "t:"+typeID, func() (string, error) {
		t, err := db.ErrandType.Get(ctx, typeID)
		if err != nil {
			return "", err
		}
		return t.Name, nil
	}); err != nil {
		return n, err
	}
	if n.pointName, err = c.lookup(ctx, "p:"+strconv.Itoa(pointID), func() (string, error) {
		sp, err := db.ServicePoint.Get(ctx, pointID)
		if err != nil {
			return "", err
		}
		return sp.Name, nil
	}); err != nil {
		return n, err
	}
	n.agentName, err = c.user(ctx, db, agentID)
	return n, err
}

func (c *nameCache) user(ctx context.Context, db *ent.Client, id int) (string, error) {
	return c.lookup(ctx, "u:"+strconv.Itoa(id), func() (string, error) {
		u, err := db.User.Get(ctx, id)
		if err != nil {
			return "", err
		}
		return u.DisplayName, nil
	})
}

func (c *nameCache) lookup(_ context.Context, key string, load func() (string, error)) (string, error) {
	now, gen := time.Now(), c.directory()
	c.mu.Lock()
	v, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Before(v.expires) && v.gen == gen {
		return v.name, nil
	}
	name, err := load()
	if err != nil {
		return "", fmt.Errorf("errand.names: %w", err)
	}
	c.mu.Lock()
	if len(c.m) > 100_000 { // bounded: drop everything rather than grow
		c.m = map[string]cachedName{}
	}
	c.m[key] = cachedName{name: name, expires: now.Add(c.ttl), gen: gen}
	c.mu.Unlock()
	return name, nil
}
