package attachments

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/attachment"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/media"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/server"
)

// Routes are the signed-URL routes, for server.Config.Files.
func (s *Server) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"PUT " + uploadsPath + "{token}": http.HandlerFunc(s.serveUpload),
		"GET " + filesPath + "{token}":   http.HandlerFunc(s.serveFile),
	}
}

// extensions are the file name endings of the stored types.
var extensions = map[string]string{media.JPEG: ".jpg", media.PNG: ".png", media.HEIC: ".heic", media.PDF: ".pdf"}

// downloadName is the uploader's file name with the extension of what
// the bytes are: a PDF named 回执.html is saved as 回执.pdf, never as a
// page that would run from disk.
func downloadName(a *ent.Attachment) string {
	name := a.FileName
	if name == "" {
		name = "attachment-" + strconv.Itoa(a.ID)
	}
	ext := extensions[a.ContentType]
	if ext == "" || strings.EqualFold(filepath.Ext(name), ext) {
		return name
	}
	return strings.TrimSuffix(name, filepath.Ext(name)) + ext
}

// ticketed opens the ticket in r's path, which must be for one of uses,
// and reads its attachment; it returns the context the request runs in
// from then on (the ticket's caller and the client's address, for the
// audit log) and how to fail. Not ok: the error is answered.
func (s *Server) ticketed(w http.ResponseWriter, r *http.Request, action string, uses ...string) (
	ctx context.Context, t ticket, a *ent.Attachment, fail func(error), ok bool) {
	ctx = r.Context()
	fail = func(err error) { server.WriteError(ctx, s.cfg.Log, w, r, action, err) }
	t, ok = s.urls.open(r.PathValue("token"), time.Now())
	if !ok || !slices.Contains(uses, t.Use) {
		fail(ErrBadURL)
		return ctx, t, nil, fail, false
	}
	p := access.Principal{UserID: t.User, ResidentID: t.Resident, Role: access.Role(t.Role)}
	ctx = access.WithClientIP(access.NewContext(ctx, p), access.RequestIP(r, s.cfg.TrustedProxies))
	a, err := s.db.Attachment.Get(ctx, t.Attachment)
	switch {
	case ent.IsNotFound(err):
		fail(ErrNotFound)
		return ctx, t, nil, fail, false
	case err != nil:
		fail(fmt.Errorf("attachments: %s: %w", action, err))
		return ctx, t, nil, fail, false
	}
	return ctx, t, a, fail, true
}

// serveFile is GET /v1/files/{token}: an attachment's content or its
// thumbnail, decrypted on the way out, after the download is audited.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	ctx, t, a, fail, ok := s.ticketed(w, r, DownloadAction, useOriginal, useThumbnail)
	if !ok {
		return
	}
	if a.State != attachment.StateREADY || a.DeleteTime != nil {
		fail(ErrGone)
		return
	}
	key, sealed, contentType, action := a.ObjectKey, a.SealedKey, a.ContentType, DownloadAction
	if t.Use == useThumbnail {
		if a.ThumbnailKey == "" {
			fail(ErrNotFound)
			return
		}
		key, sealed, contentType, action = &a.ThumbnailKey, a.ThumbnailSealedKey, media.JPEG, DownloadAction+" (thumbnail)"
	}
	if r.Method == http.MethodHead {
		// What a GET would answer, without fetching, decrypting or
		// auditing a read that sends nothing.
		fileHeaders(w, r, a, t, contentType)
		return
	}
	dataKey, err := s.keys.OpenDataKey(sealed)
	if err != nil || key == nil {
		fail(fmt.Errorf("attachments.download: %d: data key: %w", a.ID, err))
		return
	}
	obj, err := s.objects.Get(ctx, *key)
	if err != nil {
		fail(fmt.Errorf("attachments.download: %w", err))
		return
	}
	defer func() { _ = obj.Close() }()
	plain, err := pii.NewOpenReader(obj, dataKey)
	if err != nil {
		fail(fmt.Errorf("attachments.download: %w", err))
		return
	}
	// No byte goes out unless its reading is on record.
	if err := s.cfg.Audit.RecordUnmaskedRead(ctx, action, Name(a), a.RegionID); err != nil {
		fail(err)
		return
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(TransferTime))
	fileHeaders(w, r, a, t, contentType)
	if _, err := io.Copy(w, plain); err != nil {
		// The status is sent: cut the response short so the client sees a
		// broken download, never a complete-looking wrong file.
		s.cfg.Log.ErrorContext(ctx, "attachments: download broke off", "attachment", a.ID, "error", err)
		panic(http.ErrAbortHandler)
	}
}

// fileHeaders are a file answer's headers, for GET and HEAD alike.
func fileHeaders(w http.ResponseWriter, r *http.Request, a *ent.Attachment, t ticket, contentType string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'")
	if t.Use == useOriginal {
		h.Set("Content-Length", strconv.FormatInt(a.Size, 10))
		disposition := "inline"
		if r.URL.Query().Get("download") != "" {
			disposition = "attachment"
		}
		h.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": downloadName(a)}))
	}
}
