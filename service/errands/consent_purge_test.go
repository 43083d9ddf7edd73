package errands_test

import (
	"context"
	"testing"
	"time"

	"github.com/changzhi/redpoint/ent/consentcode"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/store/storetest"
)

// TestPurgeConsentCodes: the nightly purge drops codes a day past their
// expiry that were never used, and keeps the rest.
func TestPurgeConsentCodes(t *testing.T) {
	db := storetest.Open(t).Client
	ctx := context.Background()
	now := time.Date(2027, 3, 2, 2, 0, 0, 0, time.UTC)
	used := now.Add(-48 * time.Hour)
	for _, c := range []struct {
		hash   string
		expire time.Time
		used   *time.Time
	}{
		{"old-unused", now.Add(-errands.ConsentCodeRetention - time.Second), nil},
		{"old-used", now.Add(-48 * time.Hour), &used},
		{"recent-unused", now.Add(-errands.ConsentCodeRetention + time.Second), nil},
		{"live", now.Add(5 * time.Minute), nil},
	} {
		db.ConsentCode.Create().SetCodeHash(c.hash).SetErrandID(1).SetAgentID(1).SetExpireTime(c.expire).SetNillableUsedTime(c.used).ExecX(ctx)
	}
	n, err := errands.PurgeConsentCodes(ctx, db, now)
	if err != nil || n != 1 {
		t.Fatalf("purged %d, %v; want 1", n, err)
	}
	left := db.ConsentCode.Query().Order(consentcode.ByCodeHash()).Select(consentcode.FieldCodeHash).StringsX(ctx)
	if len(left) != 3 || left[0] != "live" || left[1] != "old-used" || left[2] != "recent-unused" {
		t.Errorf("left: %v", left)
	}
}
