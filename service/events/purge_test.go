package events_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/outboxevent"
	"github.com/changzhi/redpoint/ent/processedevent"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/store/storetest"
)

// TestPurgeKeepsAWeekByTheInjectedClock: the purge job deletes outbox
// rows relayed and ledger entries written more than a week before its
// clock's now — not the wall clock's — and leaves unsent rows.
func TestPurgeKeepsAWeekByTheInjectedClock(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t).Client
	now := time.Date(2036, 3, 2, 2, 0, 0, 0, time.UTC) // years from the wall clock
	p := outbox.NewErrandChange(outbox.ErrandCreated, &ent.Errand{ID: 1}, 0, "", "", "")
	rows := map[string]int{}
	for name, sent := range map[string]time.Duration{"old": 8 * 24 * time.Hour, "recent": 6 * 24 * time.Hour, "unsent": 0} {
		id := publish(t, db, now.Add(-sent), p)
		rows[name] = id
		if sent > 0 {
			if err := db.OutboxEvent.UpdateOneID(id).SetSentTime(now.Add(-sent)).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if err := db.ProcessedEvent.Create().SetEventID(id).SetHandler("test").SetCreateTime(now.Add(-sent)).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	var alsoAt time.Time
	job := events.NewPurgeJob(db, func() time.Time { return now }, func(_ context.Context, at time.Time) error {
		alsoAt = at
		return nil
	})
	if job.Type != "maintenance:purge" {
		t.Errorf("job type %q: the scheduler's and archived jobs' name is maintenance:purge", job.Type)
	}
	if err := job.Handle(ctx, nil); err != nil {
		t.Fatal(err)
	}
	kept, err := db.OutboxEvent.Query().Order(ent.Asc(outboxevent.FieldID)).IDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ledger, err := db.ProcessedEvent.Query().Select(processedevent.FieldEventID).Ints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantKept := []int{rows["recent"], rows["unsent"]}
	if rows["unsent"] < rows["recent"] {
		wantKept = []int{rows["unsent"], rows["recent"]}
	}
	if fmt.Sprint(kept) != fmt.Sprint(wantKept) || fmt.Sprint(ledger) != fmt.Sprint([]int{rows["recent"]}) {
		t.Errorf("kept outbox %v and ledger %v; want outbox %v and ledger [%d] (rows %v)", kept, ledger, wantKept, rows["recent"], rows)
	}
	if !alsoAt.Equal(now) {
		t.Errorf("the other purges ran at %v, want the job's clock %v", alsoAt, now)
	}
}
