package attachments

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/attachment"
	"github.com/changzhi/redpoint/ent/errand"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/audit"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/idempotency"
	"github.com/changzhi/redpoint/service/media"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/server"
	"github.com/changzhi/redpoint/service/store"
)

// The audit log's actions of the signed-URL routes (an RPC's are its full
// method name).
const (
	UploadAction   = "PUT /v1/uploads"
	DownloadAction = "GET /v1/files"
)

// ErrCancelled refuses files on a withdrawn errand.
var ErrCancelled = errands.ErrClosed.WithMessage("事项已撤销，不能再上传附件")

// contentTypes are the types an upload may declare, by their usual names.
var contentTypes = map[string]string{
	media.JPEG: media.JPEG, "image/jpg": media.JPEG, "image/pjpeg": media.JPEG,
	media.PNG:  media.PNG,
	media.HEIC: media.HEIC, "image/heif": media.HEIC,
	media.PDF: media.PDF,
}

// declaredType reads a declared content type: "" when none is declared
// (or only application/octet-stream), false when it is none of ours.
func declaredType(v string) (string, bool) {
	if v == "" {
		return "", true
	}
	t, _, err := mime.ParseMediaType(v)
	if err != nil {
		return "", false
	}
	if t == "application/octet-stream" {
		return "", true
	}
	ct, ok := contentTypes[t]
	return ct, ok
}

// fileName checks an uploader's file name: at most 120 characters, no
// path, no control characters.
func fileName(v *apierr.Violations, name string) string {
	name = strings.TrimSpace(name)
	switch {
	case !utf8.ValidString(name) || strings.ContainsAny(name, `/\`) ||
		strings.IndexFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0:
		// Cf: format characters — a right-to-left override makes
		// "x\u202Egpj.exe" read as "xexe.jpg".
		v.Add("attachment.file_name", "文件名不能含路径、控制字符或格式字符")
	case utf8.RuneCountInString(name) > 120:
		v.Add("attachment.file_name", "文件名不能超过 120 个字")
	}
	return name
}

// CreateAttachmentUpload reserves an attachment and signs its upload URL.
func (s *Server) CreateAttachmentUpload(ctx context.Context, req *redpointv1.CreateAttachmentUploadRequest) (*redpointv1.AttachmentUpload, error) {
	p, err := access.Caller(ctx)
	if err != nil {
		return nil, err
	}
	var v apierr.Violations
	in := req.GetAttachment()
	kind, ok := kinds[in.GetKind()]
	if !ok {
		v.Add("attachment.kind", "请选择附件类别：材料、回执、结果、同意书或其他")
	}
	name := fileName(&v, in.GetFileName())
	if id := req.GetRequestId(); id != "" && !idempotency.ValidRequestID(id) {
		v.Add("request_id", "请求编号应为 1–64 位字母、数字或连字符")
	}
	declared, ok := declaredType(in.GetContentType())
	if !ok {
		v.Add("attachment.content_type", "只接受 JPEG、PNG、HEIC 或 PDF 文件")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	e, err := s.errand(ctx, p, "parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	if !mayUpload(p, e) {
		return nil, ErrNoUpload
	}
	if e.State == errand.StateCANCELLED {
		return nil, ErrCancelled
	}
	a, err := s.reserve(ctx, p, e, kind.kind, name, declared, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	if a.ErrandID != e.ID || a.Kind != kind.kind {
		return nil, apierr.InvalidField("request_id", "该请求编号已用于另一个附件")
	}
	now := time.Now()
	names, err := s.names(ctx, []*ent.Attachment{a})
	if err != nil {
		return nil, err
	}
	out := &redpointv1.AttachmentUpload{Attachment: s.view(a, staffGrant(p), names[a.UploaderID], now), MaxSizeBytes: s.cfg.Limits.MaxBytes}
	if a.State == attachment.StateUPLOADING {
		exp := now.Add(URLLifetime)
		out.UploadUri = s.urls.url(uploadsPath, ticket{Attachment: a.ID, Use: useUpload, User: p.UserID, Role: string(p.Role)}, exp)
		out.ExpireTime = timestamppb.New(exp)
	}
	return out, nil
}

// reserve makes the UPLOADING row, or finds the one an earlier try with
// the same request id made.
func (s *Server) reserve(ctx context.Context, p access.Principal, e *ent.Errand, kind attachment.Kind, name, declared, requestID string) (*ent.Attachment, error) {
	find := func() (*ent.Attachment, error) {
		return s.db.Attachment.Query().Where(attachment.UploaderID(p.UserID), attachment.RequestID(requestID)).Only(ctx)
	}
	if requestID != "" {
		a, err := find()
		if err == nil {
			return a, nil
		}
		if !ent.IsNotFound(err) {
			return nil, fmt.Errorf("attachments.reserve: %w", err)
		}
	}
	var a *ent.Attachment
	err := store.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		c := tx.Attachment.Create().SetErrandID(e.ID).SetRegionID(e.RegionID).SetServicePointID(e.ServicePointID).
			SetKind(kind).SetFileName(name).SetDeclaredType(declared).SetUploaderID(p.UserID)
		if requestID != "" {
			c.SetRequestID(requestID)
		}
		var err error
		if a, err = c.Save(ctx); err != nil {
			return err
		}
		// The audit line names the attachment, which the answer does not
		// carry at its top.
		return audit.InTx(ctx, tx, Name(a), a.RegionID)
	})
	if ent.IsConstraintError(err) && requestID != "" {
		return find() // a concurrent try with the same id made it first
	}
	if err != nil {
		return nil, fmt.Errorf("attachments.reserve: %w", err)
	}
	return a, nil
}

// serveUpload is PUT /v1/uploads/{token}: the bytes of a reserved
// attachment. It answers the READY attachment, or an error with nothing
// stored.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	ctx, t, a, fail, ok := s.ticketed(w, r, UploadAction, useUpload)
	if !ok {
		return
	}
	switch {
	case a.DeleteTime != nil || a.State == attachment.StatePURGED:
		fail(ErrGone)
		return
	case a.State == attachment.StateREADY:
		// A retry of an upload that arrived: the stored attachment, the
		// body unread, and no download URLs — an upload URL must not turn
		// into a way to read the file.
		w.Header().Set("Connection", "close")
		s.answer(ctx, w, a, ticket{})
		return
	}
	if r.ContentLength > s.cfg.Limits.MaxBytes {
		w.Header().Set("Connection", "close")
		fail(tooLarge(s.cfg.Limits.MaxBytes))
		return
	}
	declared, ok := declaredType(r.Header.Get("Content-Type"))
	if !ok {
		fail(apierr.InvalidField("content_type", "只接受 JPEG、PNG、HEIC 或 PDF 文件"))
		return
	}
	if declared == "" {
		declared = a.DeclaredType
	}
	select {
	case s.uploads <- struct{}{}:
		defer func() { <-s.uploads }()
	default:
		fail(ErrBusy)
		return
	}
	// The API's 60-second request deadline is sized for JSON; a 10 MB
	// photo from a village at 20 KB/s needs more.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(TransferTime))
	_ = rc.SetWriteDeadline(time.Now().Add(TransferTime + time.Minute))
	// The body may not run past the limit however it is framed; media.Clean
	// stops at MaxBytes+1, this stops a client that keeps sending.
	body := http.MaxBytesReader(w, r.Body, s.cfg.Limits.MaxBytes+1)
	stored, err := s.store(ctx, a, body, declared)
	if err != nil {
		w.Header().Set("Connection", "close")
		fail(err)
		return
	}
	s.answer(ctx, w, stored, t)
}

// answer writes the attachment as its uploader sees it, with URLs signed
// for t's caller (none for a zero t).
func (s *Server) answer(ctx context.Context, w http.ResponseWriter, a *ent.Attachment, t ticket) {
	names, err := s.names(ctx, []*ent.Attachment{a})
	if err != nil {
		s.cfg.Log.WarnContext(ctx, "attachments: uploader's name", "error", err)
	}
	g := grant{}
	if t.User != 0 {
		g = grant{userID: t.User, role: access.Role(t.Role)}
	}
	server.WriteMessage(w, http.StatusOK, s.view(a, g, names[a.UploaderID], time.Now()))
}

func tooLarge(limit int64) error {
	return apierr.InvalidField("content", "文件不能超过 "+strconv.FormatInt(limit>>20, 10)+" MB")
}

// cleanError says what was wrong with an upload's bytes.
func (s *Server) cleanError(err error) error {
	var ne net.Error
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, media.ErrEmpty):
		return apierr.InvalidField("content", "文件为空")
	case errors.Is(err, media.ErrTooLarge), errors.As(err, &tooBig):
		return tooLarge(s.cfg.Limits.MaxBytes)
	case errors.Is(err, media.ErrUnsupported):
		return apierr.InvalidField("content", "只接受 JPEG、PNG、HEIC 或 PDF 文件（按文件内容判断）")
	case errors.Is(err, media.ErrTooManyPixels):
		return apierr.InvalidField("content", fmt.Sprintf("图片尺寸过大：每边不超过 %d 像素，总像素不超过 %d 万", s.cfg.Limits.MaxSide, s.cfg.Limits.MaxPixels/10000))
	case errors.Is(err, media.ErrCorrupt):
		return apierr.InvalidField("content", "文件已损坏或不完整")
	case errors.As(err, &ne) && ne.Timeout():
		return server.ErrBodyTimeout
	}
	return server.ErrBadBody // the body broke off: a client that hung up, a malformed chunk
}

// store cleans, seals and stores the body of a, then makes a READY in one
// transaction with its audit line and outbox event. Nothing is left behind
// on failure: the spool file is removed, and an object stored before a
// failed commit is removed too (or, after a crash, by the orphan sweep).
func (s *Server) store(ctx context.Context, a *ent.Attachment, body io.Reader, declared string) (*ent.Attachment, error) {
	spool, err := os.CreateTemp(s.cfg.SpoolDir, "redpoint-upload-*")
	if err != nil {
		return nil, fmt.Errorf("attachments.store: spool: %w", err)
	}
	defer func() { _ = spool.Close(); _ = os.Remove(spool.Name()) }()
	key := pii.NewDataKey()
	sealer, err := pii.NewSealWriter(spool, key)
	if err != nil {
		return nil, fmt.Errorf("attachments.store: %w", err)
	}
	spoolErr := &errWriter{w: sealer}
	res, err := media.Clean(spoolErr, body, s.cfg.Limits)
	if spoolErr.err != nil {
		// Our side failed (a full disk): a 500 and a log line, not the
		// client's bad body.
		return nil, fmt.Errorf("attachments.store: spool: %w", spoolErr.err)
	}
	if err != nil {
		return nil, s.cleanError(err)
	}
	if declared != "" && declared != res.ContentType {
		return nil, apierr.InvalidField("content_type", fmt.Sprintf("声明的类型为 %s，文件内容却是 %s", declared, res.ContentType))
	}
	if err := sealer.Close(); err != nil {
		return nil, fmt.Errorf("attachments.store: %w", err)
	}
	size, err := spool.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = spool.Seek(0, io.SeekStart)
	}
	if err != nil {
		return nil, fmt.Errorf("attachments.store: spool: %w", err)
	}
	sealed, err := s.keys.SealDataKey(key)
	if err != nil {
		return nil, fmt.Errorf("attachments.store: %w", err)
	}
	objectKey := objectKey(a.ID, "original")
	// The client's hang-up no longer matters once the bytes are here.
	ctx = context.WithoutCancel(ctx)
	if err := s.objects.Put(ctx, objectKey, spool, size); err != nil {
		return nil, fmt.Errorf("attachments.store: %w", err)
	}
	var saved *ent.Attachment
	now := time.Now()
	err = store.WithTx(ctx, s.db, func(tx *ent.Tx) error {
		n, err := tx.Attachment.Update().Where(attachment.ID(a.ID), attachment.StateEQ(attachment.StateUPLOADING)).
			SetState(attachment.StateREADY).SetObjectKey(objectKey).SetSealedKey(sealed).SetContentType(res.ContentType).
			SetSize(res.Size).SetWidth(res.Width).SetHeight(res.Height).SetOrientation(res.Orientation).
			SetSha256(hex.EncodeToString(res.SHA256[:])).SetUploadTime(now).Save(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return errRaced
		}
		if saved, err = tx.Attachment.Get(ctx, a.ID); err != nil {
			return err
		}
		if err := audit.RecordInTx(ctx, tx, UploadAction, Name(saved), saved.RegionID); err != nil {
			return err
		}
		return outbox.Publish(ctx, tx, now, outbox.NewAttachmentUploaded(saved))
	})
	if err != nil {
		if rerr := s.objects.Remove(ctx, objectKey); rerr != nil {
			s.cfg.Log.WarnContext(ctx, "attachments: an object of a failed upload stays for the sweep", "key", objectKey, "error", rerr)
		}
		if errors.Is(err, errRaced) {
			// Another PUT of the same URL finished first (its result
			// stands), or the abandoned upload was cleaned away.
			got, gerr := s.db.Attachment.Get(ctx, a.ID)
			if ent.IsNotFound(gerr) {
				return nil, ErrGone
			}
			return got, gerr
		}
		return nil, fmt.Errorf("attachments.store: %w", err)
	}
	return saved, nil
}

var errRaced = errors.New("attachments: the upload was finished by another request")

// errWriter remembers the first error of w, to tell the server's write
// failures from the client's read failures.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// objectKey is a fresh key for one stored version of an attachment's
// content (what is "original" or "thumbnail"): every attempt writes its
// own, so two attempts never overwrite each other's bytes.
func objectKey(id int, what string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "attachments/" + strconv.Itoa(id) + "/" + what + "-" + hex.EncodeToString(b)
}
