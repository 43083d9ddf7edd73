// Package objectstest opens an object store for one test: an embedded
// server of its own in the test's temp dir, or, when REDPOINT_TEST_S3_URL
// is set, that server's bucket under a key prefix of the test's own, whose
// objects are removed afterwards.
package objectstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/changzhi/redpoint/service/objects"
	"github.com/changzhi/redpoint/service/testutil"
)

// EnvS3URL names the S3-compatible server the tests use when set, in
// objects.Open's URL form; scripts/s3-server.sh starts one and prints it.
const EnvS3URL = testutil.EnvS3URL

// Open returns an object store of tb's own. With EnvS3URL set, a server
// that does not answer fails tb: a run asked to use it must not pass on
// the embedded one.
func Open(tb testing.TB) *objects.Store {
	tb.Helper()
	ctx := context.Background()
	raw := os.Getenv(EnvS3URL)
	if raw != "" {
		var err error
		if raw, err = withTestPrefix(raw); err != nil {
			tb.Fatalf("objectstest.Open: %s: %v", EnvS3URL, err)
		}
	}
	s, err := objects.Open(ctx, raw, tb.TempDir())
	if err != nil {
		tb.Fatalf("objectstest.Open: %v", err)
	}
	tb.Cleanup(func() {
		if !s.Embedded() {
			removeAll(tb, s)
		}
		testutil.Close(tb, s)
	})
	return s
}

// URL is the URL of the server the tests share under a fresh prefix of
// tb's own, whose objects are removed when tb ends; when EnvS3URL is
// unset, of an embedded server this test process runs until tb ends: for
// a test that opens stores itself (two on one bucket, a restart, another
// process in production mode).
func URL(tb testing.TB) string {
	tb.Helper()
	raw := os.Getenv(EnvS3URL)
	if raw == "" {
		return Open(tb).EmbeddedURL()
	}
	raw, err := withTestPrefix(raw)
	if err != nil {
		tb.Fatalf("objectstest.URL: %s: %v", EnvS3URL, err)
	}
	tb.Cleanup(func() {
		s, err := objects.Open(context.Background(), raw, "")
		if err != nil {
			tb.Errorf("objectstest: removing the test's objects: %v", err)
			return
		}
		removeAll(tb, s)
		testutil.Close(tb, s)
	})
	return raw
}

// withTestPrefix adds a random segment "rptest-<hex>" to raw's prefix.
func withTestPrefix(raw string) (string, error) {
	if _, err := objects.ParseURL(raw); err != nil {
		return "", err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b) // never fails on supported platforms
	u.Path = strings.TrimSuffix(u.Path, "/") + "/rptest-" + hex.EncodeToString(b)
	u.RawPath = ""
	return u.String(), nil
}

// removeAll removes every object under s's prefix.
func removeAll(tb testing.TB, s *objects.Store) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var keys []string
	if err := s.Walk(ctx, "", func(key string, _ time.Time, _ int64) error {
		keys = append(keys, key)
		return nil
	}); err != nil {
		tb.Errorf("objectstest: listing the test's objects: %v", err)
		return
	}
	for _, key := range keys {
		if err := s.Remove(ctx, key); err != nil {
			tb.Errorf("objectstest: removing %s: %v", key, err)
		}
	}
}
