// Package attachments keeps the photos and scans of errands' paperwork in
// S3-compatible object storage, sealed like the rest of residents' data.
//
// The bytes never travel as JSON or through the bucket directly:
// CreateAttachmentUpload checks scope and reserves a row (UPLOADING) with
// a signed upload URL on this server; the PUT to it streams the body
// through media.Clean (type sniffed from the bytes, metadata stripped,
// dimensions bounded) into pii's sealed stream, spooled to a temporary
// file (ciphertext only), then into the bucket under a key of its own;
// one transaction then makes the row READY with the data key sealed by
// the PII keyring, writes the audit line and publishes
// attachment.uploaded, from which a job makes the thumbnail. Reads hand
// out signed download and thumbnail URLs to those allowed to open the
// file; each download is audited. A daily job purges materials a
// retention period after their errand closed, and sweeps objects no READY
// row names.
package attachments

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/attachment"
	"github.com/changzhi/redpoint/ent/user"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/audit"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/media"
	"github.com/changzhi/redpoint/service/objects"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/resname"
)

// Config is what the attachments need from the process.
type Config struct {
	DB      *ent.Client
	Objects *objects.Store
	Keys    *pii.Keyring
	Audit   *audit.Log
	Pages   *pagetoken.Signer
	Log     *slog.Logger
	// URLKey signs upload and download URLs (at least 32 bytes).
	URLKey []byte
	// Limits bound an upload; media.DefaultLimits when zero.
	Limits media.Limits
	// Retention is how long materials are kept after their errand
	// closes; DefaultRetention when zero.
	Retention time.Duration
	// SpoolDir holds uploads' sealed bytes until they are stored; the
	// system's temporary directory when empty.
	SpoolDir string
	// TrustedProxies is how many load balancers front the REST port.
	TrustedProxies int
	// Now is the domain's clock (retention); time.Now when nil.
	Now func() time.Time
}

// DefaultRetention is how long materials outlive their errand's close.
const DefaultRetention = 30 * 24 * time.Hour

// URLLifetime is how long an upload or download URL works.
const URLLifetime = 10 * time.Minute

// TransferTime is how long an upload's body or a download's answer may
// take: 10 MB at 20 KB/s, a village's mobile link on a bad day.
const TransferTime = 9 * time.Minute

// MaxUploadsInFlight bounds the uploads one replica processes at once;
// past it, an upload is told to retry.
const MaxUploadsInFlight = 8

// MaxThumbnailsInFlight bounds the thumbnails one replica decodes at
// once: a decoded 40-megapixel image holds up to a few hundred MB, so
// the job workers' concurrency alone would not bound the memory.
const MaxThumbnailsInFlight = 2

// Server is the attachments' API, their signed-URL routes and jobs.
type Server struct {
	redpointv1.UnimplementedAttachmentServiceServer
	cfg     Config
	db      *ent.Client
	objects *objects.Store
	keys    *pii.Keyring
	urls    signer
	now     func() time.Time
	uploads chan struct{} // MaxUploadsInFlight slots
	thumbs  chan struct{} // MaxThumbnailsInFlight slots
}

var _ redpointv1.AttachmentServiceServer = (*Server)(nil)

// New makes the attachments' server.
func New(c Config) *Server {
	if c.Limits == (media.Limits{}) {
		c.Limits = media.DefaultLimits
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return &Server{cfg: c, db: c.DB, objects: c.Objects, keys: c.Keys, urls: signer{key: c.URLKey}, now: c.Now,
		uploads: make(chan struct{}, MaxUploadsInFlight), thumbs: make(chan struct{}, MaxThumbnailsInFlight)}
}

// The attachments' errors.
var (
	ErrNotFound   = apierr.ErrNotFound.WithMessage("未找到该附件")
	ErrOutOfScope = apierr.ErrPermissionDenied.WithMessage("无权访问该事项的附件")
	ErrNoUpload   = apierr.ErrPermissionDenied.WithMessage("只有本代办点的代办员和本乡镇书记可以上传或删除附件")
	ErrGone       = apierr.New(codes.FailedPrecondition, "ATTACHMENT_GONE", "该附件已删除或已按期清除")
	ErrBadURL     = apierr.New(codes.PermissionDenied, "URL_EXPIRED", "链接无效或已过期，请重新获取")
	ErrBusy       = apierr.ErrUnavailable.WithMessage("上传繁忙，请稍后重试")
)

// kinds maps the API's kinds to the schema's, with their Chinese names.
var kinds = map[redpointv1.AttachmentKind]struct {
	kind attachment.Kind
	name string
}{
	redpointv1.AttachmentKind_ATTACHMENT_KIND_MATERIAL:     {attachment.KindMATERIAL, "材料"},
	redpointv1.AttachmentKind_ATTACHMENT_KIND_RECEIPT:      {attachment.KindRECEIPT, "回执"},
	redpointv1.AttachmentKind_ATTACHMENT_KIND_RESULT:       {attachment.KindRESULT, "结果"},
	redpointv1.AttachmentKind_ATTACHMENT_KIND_CONSENT_FORM: {attachment.KindCONSENT_FORM, "同意书"},
	redpointv1.AttachmentKind_ATTACHMENT_KIND_OTHER:        {attachment.KindOTHER, "其他"},
}

// kindsBack maps the schema's kinds back to the API's.
var kindsBack = func() map[attachment.Kind]redpointv1.AttachmentKind {
	m := make(map[attachment.Kind]redpointv1.AttachmentKind, len(kinds))
	for pk, v := range kinds {
		m[v.kind] = pk
	}
	return m
}()

func kindProto(k attachment.Kind) (redpointv1.AttachmentKind, string) {
	pk := kindsBack[k]
	return pk, kinds[pk].name
}

// Purged are the kinds the retention period removes; receipts, results
// and consent forms are the errand's record and stay.
var Purged = []attachment.Kind{attachment.KindMATERIAL, attachment.KindOTHER}

// ForResidents are the kinds a resident sees of their own errand.
var ForResidents = []attachment.Kind{attachment.KindRECEIPT, attachment.KindRESULT}

// mayUpload reports whether p may add files to e, or delete them: its
// point's agents and its township's secretary.
func mayUpload(p access.Principal, e *ent.Errand) bool {
	switch p.Role {
	case access.RoleAgent:
		return p.ServicePointID == e.ServicePointID
	case access.RoleTownshipSecretary:
		return errands.CanSee(p, e)
	}
	return false
}

// mayOpen reports whether p may open e's files: those who may upload, the
// village's secretary and the county's admins. City admins see the list
// only: ID-card images stay as close to the errand as the work allows.
func mayOpen(p access.Principal, e *ent.Errand) bool {
	switch p.Role {
	case access.RoleVillageSecretary, access.RoleCountyAdmin:
		return errands.CanSee(p, e)
	}
	return mayUpload(p, e)
}

// errand loads the errand parent names for p, checking scope before
// existence as the errands do.
func (s *Server) errand(ctx context.Context, p access.Principal, field, name string) (*ent.Errand, error) {
	id, err := resname.IntID(field, name, resname.Errands)
	if err != nil {
		return nil, err
	}
	e, err := s.db.Errand.Get(ctx, id)
	if ent.IsNotFound(err) {
		if p.SeesEverything() {
			return nil, errands.ErrNotFound
		}
		return nil, errands.ErrOutOfScope
	}
	if err != nil {
		return nil, fmt.Errorf("attachments: %w", err)
	}
	if !errands.CanSee(p, e) {
		return nil, errands.ErrOutOfScope
	}
	return e, nil
}

// parseName splits errands/{e}/attachments/{a}.
func parseName(field, name string) (errandID, id int, err error) {
	bad := apierr.InvalidField(field, "格式应为 errands/{id}/attachments/{id}")
	parent, rest, ok := strings.Cut(name, "/attachments/")
	if !ok {
		if name == "" {
			return 0, 0, apierr.InvalidField(field, "不能为空，格式为 errands/{id}/attachments/{id}")
		}
		return 0, 0, bad
	}
	errandID, err = resname.IntID(field, parent, resname.Errands)
	if err != nil {
		return 0, 0, bad
	}
	id, err = strconv.Atoi(rest)
	if err != nil || id <= 0 {
		return 0, 0, bad
	}
	return errandID, id, nil
}

// Name is an attachment's resource name.
func Name(a *ent.Attachment) string {
	return resname.Name(resname.Errands, a.ErrandID) + "/attachments/" + strconv.Itoa(a.ID)
}

// load reads the attachment named name, with its errand, for p.
func (s *Server) load(ctx context.Context, p access.Principal, name string) (*ent.Attachment, *ent.Errand, error) {
	errandID, id, err := parseName("name", name)
	if err != nil {
		return nil, nil, err
	}
	e, err := s.errand(ctx, p, "name", resname.Name(resname.Errands, errandID))
	if err != nil {
		return nil, nil, err
	}
	a, err := s.db.Attachment.Query().Where(attachment.ID(id), attachment.ErrandID(e.ID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("attachments.load: %w", err)
	}
	return a, e, nil
}

// grant is who a view's URLs are signed for; zero: no URLs.
type grant struct {
	userID, residentID int
	role               access.Role
}

func staffGrant(p access.Principal) grant {
	return grant{userID: p.UserID, role: p.Role}
}

// view renders a for the API; with a non-zero g it carries URLs, signed
// for g, while the content is stored. uploader is the uploader's name, ""
// to leave the uploader out (residents).
func (s *Server) view(a *ent.Attachment, g grant, uploader string, now time.Time) *redpointv1.Attachment {
	kind, kindName := kindProto(a.Kind)
	v := &redpointv1.Attachment{
		Name: Name(a), Kind: kind, KindDisplayName: kindName, FileName: a.FileName, ContentType: a.ContentType,
		SizeBytes: a.Size, Width: int32(a.Width), Height: int32(a.Height), Sha256: a.Sha256, //nolint:gosec // bounded by media.Limits.MaxSide
		State:      redpointv1.AttachmentState(redpointv1.AttachmentState_value["ATTACHMENT_STATE_"+string(a.State)]),
		CreateTime: timestamppb.New(a.CreateTime),
	}
	if uploader != "" {
		v.Uploader = resname.Name(resname.Users, a.UploaderID)
		v.UploaderDisplayName = uploader
	}
	if a.UploadTime != nil {
		v.UploadTime = timestamppb.New(*a.UploadTime)
	}
	if a.DeleteTime != nil {
		v.DeleteTime = timestamppb.New(*a.DeleteTime)
	}
	if a.PurgeTime != nil {
		v.PurgeTime = timestamppb.New(*a.PurgeTime)
	}
	if g != (grant{}) && a.State == attachment.StateREADY && a.DeleteTime == nil {
		exp := now.Add(URLLifetime)
		v.DownloadUri = s.urls.url(filesPath, ticket{Attachment: a.ID, Use: useOriginal, User: g.userID, Resident: g.residentID, Role: string(g.role)}, exp)
		if a.ThumbnailKey != "" {
			v.ThumbnailUri = s.urls.url(filesPath, ticket{Attachment: a.ID, Use: useThumbnail, User: g.userID, Resident: g.residentID, Role: string(g.role)}, exp)
		}
		v.UriExpireTime = timestamppb.New(exp)
	}
	return v
}

// names reads the display names of users by id.
func (s *Server) names(ctx context.Context, rows []*ent.Attachment) (map[int]string, error) {
	ids := make([]int, 0, len(rows))
	for _, a := range rows {
		ids = append(ids, a.UploaderID)
	}
	users, err := s.db.User.Query().Where(user.IDIn(ids...)).Select(user.FieldID, user.FieldDisplayName).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("attachments: names: %w", err)
	}
	out := make(map[int]string, len(users))
	for _, u := range users {
		out[u.ID] = u.DisplayName
	}
	return out, nil
}

// ListAttachments lists an errand's uploaded attachments, oldest first.
func (s *Server) ListAttachments(ctx context.Context, req *redpointv1.ListAttachmentsRequest) (*redpointv1.ListAttachmentsResponse, error) {
	p, err := access.Caller(ctx)
	if err != nil {
		return nil, err
	}
	e, err := s.errand(ctx, p, "parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	query := pagetoken.Query{"attachments", req.GetParent(), strconv.FormatBool(req.GetShowDeleted())}
	rows, next, err := pagetoken.Page(ctx, s.cfg.Pages, req.GetPageToken(), query, func(w pagetoken.Window) ([]*ent.Attachment, error) {
		q := s.db.Attachment.Query().Where(attachment.ErrandID(e.ID), attachment.StateNEQ(attachment.StateUPLOADING))
		if !req.GetShowDeleted() {
			q.Where(attachment.DeleteTimeIsNil())
		}
		return q.Where(w.After).Order(w.Order).Limit(w.Limit).All(ctx)
	}, pagetoken.Asc(attachment.FieldID, func(a *ent.Attachment) int { return a.ID }))
	if err != nil {
		return nil, fmt.Errorf("attachments.ListAttachments: %w", err)
	}
	names, err := s.names(ctx, rows)
	if err != nil {
		return nil, err
	}
	g := grant{}
	if mayOpen(p, e) {
		g = staffGrant(p)
	}
	now := time.Now()
	resp := &redpointv1.ListAttachmentsResponse{NextPageToken: next}
	for _, a := range rows {
		resp.Attachments = append(resp.Attachments, s.view(a, g, names[a.UploaderID], now))
	}
	return resp, nil
}

// GetAttachment returns one attachment.
func (s *Server) GetAttachment(ctx context.Context, req *redpointv1.GetAttachmentRequest) (*redpointv1.Attachment, error) {
	p, err := access.Caller(ctx)
	if err != nil {
		return nil, err
	}
	a, e, err := s.load(ctx, p, req.GetName())
	if err != nil {
		return nil, err
	}
	names, err := s.names(ctx, []*ent.Attachment{a})
	if err != nil {
		return nil, err
	}
	g := grant{}
	if mayOpen(p, e) {
		g = staffGrant(p)
	}
	return s.view(a, g, names[a.UploaderID], time.Now()), nil
}

// DeleteAttachment soft-deletes an attachment.
func (s *Server) DeleteAttachment(ctx context.Context, req *redpointv1.DeleteAttachmentRequest) (*redpointv1.Attachment, error) {
	p, err := access.Caller(ctx)
	if err != nil {
		return nil, err
	}
	reason := strings.TrimSpace(req.GetReason())
	switch {
	case reason == "":
		return nil, apierr.InvalidField("reason", "请说明删除原因")
	case len([]rune(reason)) > 2000:
		return nil, apierr.InvalidField("reason", "不能超过 2000 个字")
	}
	a, e, err := s.load(ctx, p, req.GetName())
	if err != nil {
		return nil, err
	}
	if !mayUpload(p, e) {
		return nil, ErrNoUpload
	}
	if a.State == attachment.StateUPLOADING {
		return nil, ErrNotFound
	}
	if a.DeleteTime == nil {
		now := time.Now()
		n, err := s.db.Attachment.Update().Where(attachment.ID(a.ID), attachment.DeleteTimeIsNil()).
			SetDeleteTime(now).SetDeleterID(p.UserID).SetDeleteReason(reason).Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("attachments.DeleteAttachment: %w", err)
		}
		if n == 1 {
			a.DeleteTime, a.DeleterID, a.DeleteReason = &now, &p.UserID, reason
		} else if a, err = s.db.Attachment.Get(ctx, a.ID); err != nil {
			return nil, fmt.Errorf("attachments.DeleteAttachment: %w", err)
		}
	}
	names, err := s.names(ctx, []*ent.Attachment{a})
	if err != nil {
		return nil, err
	}
	return s.view(a, grant{}, names[a.UploaderID], time.Now()), nil
}

// ForResident lists the receipts and results of e, the resident's own
// errand (the caller checked), with URLs signed for them.
func (s *Server) ForResident(ctx context.Context, residentID int, e *ent.Errand) ([]*redpointv1.Attachment, error) {
	rows, err := s.db.Attachment.Query().Where(attachment.ErrandID(e.ID), attachment.KindIn(ForResidents...),
		attachment.StateNEQ(attachment.StateUPLOADING), attachment.DeleteTimeIsNil()).
		Order(ent.Asc(attachment.FieldID)).Limit(pagetoken.MaxSize).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("attachments.ForResident: %w", err)
	}
	now := time.Now()
	out := make([]*redpointv1.Attachment, 0, len(rows))
	for _, a := range rows {
		out = append(out, s.view(a, grant{residentID: residentID, role: access.RoleResident}, "", now))
	}
	return out, nil
}
