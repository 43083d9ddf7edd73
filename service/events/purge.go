package events

import (
	"context"
	"fmt"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/outboxevent"
	"github.com/changzhi/redpoint/ent/processedevent"
)

// PurgeJob is the type of the daily job that deletes what no longer needs
// keeping (NewPurgeJob).
const PurgeJob = "maintenance:purge"

// Kept is how long relayed outbox rows and ledger entries are kept: far
// longer than the relay redrives lost jobs (a day), so no event whose
// job may still run loses its row or its ledger entry.
const Kept = 7 * 24 * time.Hour

// Purge deletes the outbox rows relayed, and the ledger entries written,
// more than Kept before now. Unsent rows stay, however old.
func Purge(ctx context.Context, db *ent.Client, now time.Time) error {
	before := now.Add(-Kept)
	if _, err := db.OutboxEvent.Delete().Where(outboxevent.SentTimeLT(before)).Exec(ctx); err != nil {
		return fmt.Errorf("purge outbox: %w", err)
	}
	if _, err := db.ProcessedEvent.Delete().Where(processedevent.CreateTimeLT(before)).Exec(ctx); err != nil {
		return fmt.Errorf("purge ledger: %w", err)
	}
	return nil
}

// NewPurgeJob is the PurgeJob: each of also (other stores' purges, such
// as request ids past their retention), then Purge, all at now() — the
// process's clock, injected so tests can move it.
func NewPurgeJob(db *ent.Client, now func() time.Time, also ...func(ctx context.Context, now time.Time) error) Job {
	return Job{Type: PurgeJob, Handle: func(ctx context.Context, _ []byte) error {
		at := now()
		for _, purge := range also {
			if err := purge(ctx, at); err != nil {
				return err
			}
		}
		return Purge(ctx, db, at)
	}}
}
