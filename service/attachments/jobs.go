package attachments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/hibiken/asynq"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/attachment"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/predicate"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/media"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/pii"
)

// The attachments' jobs.
const (
	// ThumbnailJob makes one attachment's thumbnail.
	ThumbnailJob = "attachments:thumbnail"
	// PurgeJob removes materials past retention and deleted attachments'
	// content, and sweeps orphan objects; daily.
	PurgeJob = "attachments:purge"
)

// ThumbnailSide is the longer side of a thumbnail, in pixels.
const ThumbnailSide = 256

// OrphanAge is how old an object without a READY row must be before the
// sweep removes it: older than any upload still on its way to its commit.
const OrphanAge = time.Hour

// Periodic is the attachments' schedule, for the scheduler.
var Periodic = []events.Periodic{{Spec: "40 3 * * *", Type: PurgeJob, Unique: time.Hour}}

type thumbnailTask struct {
	Attachment int `json:"attachment"`
}

// Handler queues the thumbnail job of each uploaded image; the job runs
// outside the event's transaction, as decoding takes a while.
func (s *Server) Handler(client *asynq.Client, queue string) events.Handler {
	return events.Handler{
		Name:   "thumbnails",
		Topics: []string{outbox.TopicAttachmentUploaded},
		Handle: func(ctx context.Context, _ *ent.Tx, ev events.Event) error {
			up, ok := ev.Payload.(outbox.AttachmentUploaded)
			if !ok || (up.ContentType != media.JPEG && up.ContentType != media.PNG) {
				return nil
			}
			payload, _ := json.Marshal(thumbnailTask{Attachment: up.Attachment})
			_, err := client.EnqueueContext(ctx, asynq.NewTask(ThumbnailJob, payload), asynq.Queue(queue),
				asynq.TaskID("thumbnail-"+strconv.Itoa(up.Attachment)), asynq.MaxRetry(8), asynq.Retention(24*time.Hour))
			if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
				return fmt.Errorf("attachments: queue thumbnail: %w", err)
			}
			return nil
		},
	}
}

// Jobs are the attachments' job handlers.
func (s *Server) Jobs() []events.Job {
	return []events.Job{
		{Type: ThumbnailJob, Handle: func(ctx context.Context, payload []byte) error {
			var t thumbnailTask
			if err := json.Unmarshal(payload, &t); err != nil {
				return fmt.Errorf("%w: %w", asynq.SkipRetry, err)
			}
			return s.Thumbnail(ctx, t.Attachment)
		}},
		{Type: PurgeJob, Handle: func(ctx context.Context, _ []byte) error {
			_, err := s.Purge(ctx)
			return err
		}},
	}
}

// Thumbnail makes the thumbnail of attachment id, unless it has one or
// is not a stored JPEG or PNG. Idempotent: a second run finds the first's.
func (s *Server) Thumbnail(ctx context.Context, id int) error {
	a, err := s.db.Attachment.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("attachments.Thumbnail: %w", err)
	}
	if a.State != attachment.StateREADY || a.DeleteTime != nil || a.ThumbnailKey != "" || a.ObjectKey == nil ||
		(a.ContentType != media.JPEG && a.ContentType != media.PNG) {
		return nil
	}
	dataKey, err := s.keys.OpenDataKey(a.SealedKey)
	if err != nil {
		return fmt.Errorf("%w: attachments.Thumbnail %d: %w", asynq.SkipRetry, id, err)
	}
	select {
	case s.thumbs <- struct{}{}:
		defer func() { <-s.thumbs }()
	case <-ctx.Done():
		return ctx.Err()
	}
	obj, err := s.objects.Get(ctx, *a.ObjectKey)
	if err != nil {
		return fmt.Errorf("attachments.Thumbnail: %w", err)
	}
	defer func() { _ = obj.Close() }()
	plain, err := pii.NewOpenReader(obj, dataKey)
	if err != nil {
		return fmt.Errorf("attachments.Thumbnail: %w", err)
	}
	var thumb bytes.Buffer
	if _, _, err := media.Thumbnail(&thumb, plain, a.Orientation, ThumbnailSide, s.cfg.Limits); err != nil {
		if errors.Is(err, media.ErrCorrupt) || errors.Is(err, media.ErrTooManyPixels) || errors.Is(err, media.ErrUnsupported) {
			// The bytes passed the upload's checks but don't decode: the
			// list shows no thumbnail; retrying won't change that.
			s.cfg.Log.WarnContext(ctx, "attachments: no thumbnail", "attachment", id, "error", err)
			return nil
		}
		return fmt.Errorf("attachments.Thumbnail: %w", err)
	}
	thumbKey := pii.NewDataKey()
	var sealed bytes.Buffer
	w, err := pii.NewSealWriter(&sealed, thumbKey)
	if err == nil {
		_, err = w.Write(thumb.Bytes())
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return fmt.Errorf("attachments.Thumbnail: %w", err)
	}
	sealedKey, err := s.keys.SealDataKey(thumbKey)
	if err != nil {
		return fmt.Errorf("attachments.Thumbnail: %w", err)
	}
	key := objectKey(id, "thumbnail")
	if err := s.objects.Put(ctx, key, &sealed, int64(sealed.Len())); err != nil {
		return fmt.Errorf("attachments.Thumbnail: %w", err)
	}
	n, err := s.db.Attachment.Update().Where(attachment.ID(id), attachment.ThumbnailKey(""), attachment.StateEQ(attachment.StateREADY)).
		SetThumbnailKey(key).SetThumbnailSealedKey(sealedKey).Save(ctx)
	if err != nil || n == 0 {
		// Another run stored one first, or the save failed: ours goes.
		_ = s.objects.Remove(ctx, key)
	}
	if err != nil {
		return fmt.Errorf("attachments.Thumbnail: %w", err)
	}
	return nil
}

// PurgeResult counts what a purge did.
type PurgeResult struct {
	// Purged attachments: materials past retention, deleted ones past it.
	Purged int
	// Orphans: objects no READY row named, removed.
	Orphans int
	// Abandoned: UPLOADING rows whose URL expired long ago, removed.
	Abandoned int
}

// purgeBatch is how many rows one purge query takes.
const purgeBatch = 200

// Purge removes from storage the content of materials (and other files)
// whose errand closed more than the retention period ago, and of
// attachments deleted more than that ago; the rows stay, PURGED. Then it
// sweeps: objects under attachments/ older than OrphanAge that no READY
// row names are removed, and so are UPLOADING rows a day old.
func (s *Server) Purge(ctx context.Context) (PurgeResult, error) {
	var res PurgeResult
	cutoff := s.now().Add(-s.cfg.Retention)
	due := attachment.Or(
		attachment.And(attachment.KindIn(Purged...), closedBefore(cutoff)),
		attachment.DeleteTimeLT(cutoff),
	)
	for {
		rows, err := s.db.Attachment.Query().Where(attachment.StateEQ(attachment.StateREADY), due).
			Order(ent.Asc(attachment.FieldID)).Limit(purgeBatch).All(ctx)
		if err != nil {
			return res, fmt.Errorf("attachments.Purge: %w", err)
		}
		for _, a := range rows {
			purged, err := s.purgeOne(ctx, a, due)
			if err != nil {
				return res, err
			}
			if purged {
				res.Purged++
			}
		}
		if len(rows) < purgeBatch {
			break
		}
	}
	n, err := s.db.Attachment.Delete().Where(attachment.StateEQ(attachment.StateUPLOADING),
		attachment.CreateTimeLT(time.Now().Add(-24*time.Hour))).Exec(ctx)
	if err != nil {
		return res, fmt.Errorf("attachments.Purge: abandoned uploads: %w", err)
	}
	res.Abandoned = n
	res.Orphans, err = s.Sweep(ctx, OrphanAge)
	if res.Purged+res.Orphans+res.Abandoned > 0 {
		s.cfg.Log.InfoContext(ctx, "attachments purged", "purged", res.Purged, "orphans", res.Orphans, "abandoned_uploads", res.Abandoned)
	}
	return res, err
}

// closedBefore keeps attachments whose errand closed before t (a reopened
// errand has no close time).
func closedBefore(t time.Time) predicate.Attachment {
	return func(s *sql.Selector) {
		e := sql.Table(errand.Table)
		s.Where(sql.In(s.C(attachment.FieldErrandID),
			sql.Select(e.C(errand.FieldID)).From(e).Where(sql.LT(e.C(errand.FieldCloseTime), t))))
	}
}

// purgeOne marks a PURGED if it is still due (an errand reopened since
// the query is not), then removes its objects: a download from then on is
// ATTACHMENT_GONE, never a missing object; a removal that fails leaves an
// object no row names, which the sweep takes.
func (s *Server) purgeOne(ctx context.Context, a *ent.Attachment, due predicate.Attachment) (bool, error) {
	n, err := s.db.Attachment.Update().Where(attachment.ID(a.ID), attachment.StateEQ(attachment.StateREADY), due).
		SetState(attachment.StatePURGED).SetPurgeTime(time.Now()).
		ClearObjectKey().SetSealedKey("").SetThumbnailKey("").SetThumbnailSealedKey("").Save(ctx)
	if err != nil || n == 0 {
		return false, err
	}
	for _, key := range []string{deref(a.ObjectKey), a.ThumbnailKey} {
		if key == "" {
			continue
		}
		if err := s.objects.Remove(ctx, key); err != nil {
			s.cfg.Log.WarnContext(ctx, "attachments: a purged object stays for the sweep", "key", key, "error", err)
		}
	}
	return true, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Sweep removes objects under attachments/ that no READY row names and
// that are older than olderThan (OrphanAge in the daily job): what a crash
// between an upload's store and its commit, or a failed removal, left.
func (s *Server) Sweep(ctx context.Context, olderThan time.Duration) (int, error) {
	var batch []string
	removed := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		known := map[string]bool{}
		rows, err := s.db.Attachment.Query().Where(attachment.Or(attachment.ObjectKeyIn(batch...), attachment.ThumbnailKeyIn(batch...))).
			Select(attachment.FieldObjectKey, attachment.FieldThumbnailKey).All(ctx)
		if err != nil {
			return fmt.Errorf("attachments.sweep: %w", err)
		}
		for _, a := range rows {
			known[deref(a.ObjectKey)], known[a.ThumbnailKey] = true, true
		}
		for _, key := range batch {
			if known[key] {
				continue
			}
			if err := s.objects.Remove(ctx, key); err != nil {
				return fmt.Errorf("attachments.sweep: %w", err)
			}
			removed++
		}
		batch = batch[:0]
		return nil
	}
	old := time.Now().Add(-olderThan)
	err := s.objects.Walk(ctx, "attachments/", func(key string, modified time.Time, _ int64) error {
		if modified.After(old) {
			return nil
		}
		batch = append(batch, "attachments/"+strings.TrimPrefix(key, "attachments/"))
		if len(batch) == purgeBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return removed, err
}
