package access

import (
	"errors"
	"testing"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/user"
	"github.com/changzhi/redpoint/service/testutil"
)

// A token checked once is remembered until it expires, and not after:
// remembering must not make an expired token good again.
func TestVerifiedTokensExpire(t *testing.T) {
	tokens, err := NewTokens(make([]byte, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := testutil.NewClock(time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC))
	tokens.Now = clock.Now
	tok, _, err := tokens.IssueAccess(&ent.User{ID: 7, Role: user.Role(RoleAgent), RegionID: "140423100201", DisplayName: "王五"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // checked, then remembered
		if p, err := tokens.ParseAccess(tok); err != nil || p.UserID != 7 || p.Role != RoleAgent {
			t.Fatalf("fresh token: %+v %v", p, err)
		}
	}
	clock.Advance(AccessTTL + time.Second)
	if _, err := tokens.ParseAccess(tok); !errors.Is(err, ErrBadToken) {
		t.Errorf("expired token: %v, want ErrBadToken", err)
	}
	if _, err := tokens.ParseAccess(tok + "x"); !errors.Is(err, ErrBadToken) {
		t.Errorf("tampered token: %v", err)
	}
}
