package objectstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/changzhi/redpoint/service/objects"
	"github.com/changzhi/redpoint/service/testutil"
)

// TestOpenCleansUp: with a shared server, a test's objects are gone once
// it ends, and two tests' stores don't see each other's.
func TestOpenCleansUp(t *testing.T) {
	raw := os.Getenv(EnvS3URL)
	if raw == "" {
		t.Skip(EnvS3URL + " is not set: the embedded store goes with the test's temp dir")
	}
	ctx := context.Background()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	key := "objectstest-" + hex.EncodeToString(b) + "/original"
	t.Run("writer", func(t *testing.T) {
		s, other := Open(t), Open(t)
		if err := s.Put(ctx, key, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Get(ctx, key); err == nil {
			t.Error("another test's store sees the object")
		}
	})
	whole, err := objects.Open(ctx, raw, "") // the whole bucket, no test prefix
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Close(t, whole)
	if err := whole.Walk(ctx, "", func(k string, _ time.Time, _ int64) error {
		if strings.HasSuffix(k, key) {
			t.Errorf("%s is still there after its test", k)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
