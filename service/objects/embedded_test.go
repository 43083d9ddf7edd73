package objects

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func TestEmbeddedRefusesOtherCredentials(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := s.Put(ctx, "attachments/u/original", strings.NewReader("sealed"), 6); err != nil {
		t.Fatal(err)
	}
	endpoint := s.client.EndpointURL()

	// No credentials at all.
	resp, err := http.Get(endpoint.String() + "/" + EmbeddedBucket + "/attachments/u/original")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body) // an error shows as a body that isn't the object
	_ = resp.Body.Close()            // read to the end
	if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), "sealed") {
		t.Errorf("an unsigned GET: %d %q; want 403", resp.StatusCode, body)
	}

	// Signed, with another access key.
	other, err := minio.New(endpoint.Host, &minio.Options{
		Creds:        credentials.NewStaticV4("AKOTHER", "secret", ""),
		Region:       embeddedRegion,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.StatObject(ctx, EmbeddedBucket, "attachments/u/original", minio.StatObjectOptions{}); minio.ToErrorResponse(err).StatusCode != http.StatusForbidden {
		t.Errorf("StatObject with another access key: %v; want 403", err)
	}
	if err := other.RemoveObject(ctx, EmbeddedBucket, "attachments/u/original", minio.RemoveObjectOptions{}); minio.ToErrorResponse(err).StatusCode != http.StatusForbidden {
		t.Errorf("RemoveObject with another access key: %v; want 403", err)
	}
	if _, err := s.Get(ctx, "attachments/u/original"); err != nil {
		t.Errorf("the object after the refused removal: %v", err)
	}
}

// TestEmbeddedListingIsSortedAndPaged asks the backend for pages as
// gofakes3 does for a ListObjectsV2 with max-keys and a continuation.
func TestEmbeddedListingIsSortedAndPaged(t *testing.T) {
	t.Parallel()
	b, err := newEmbeddedBackend(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"x/a/2", "x/a/1", "x/a-b/1", "x/b", "y/1"}
	for _, k := range keys {
		if _, err := b.PutObject(EmbeddedBucket, k, map[string]string{}, strings.NewReader("v"), 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	prefix := &gofakes3.Prefix{HasPrefix: true, Prefix: "x/"}
	var got []string
	page := gofakes3.ListBucketPage{MaxKeys: 2}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatalf("still listing after %d pages: %q", pages, got)
		}
		list, err := b.ListBucket(EmbeddedBucket, prefix, page)
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Contents) > 2 {
			t.Fatalf("page of %d with max-keys 2", len(list.Contents))
		}
		for _, c := range list.Contents {
			got = append(got, c.Key)
		}
		if !list.IsTruncated {
			break
		}
		page = gofakes3.ListBucketPage{MaxKeys: 2, HasMarker: true, Marker: list.NextMarker}
	}
	if want := []string{"x/a-b/1", "x/a/1", "x/a/2", "x/b"}; !slices.Equal(got, want) {
		t.Errorf("listed %q; want %q", got, want)
	}
}

// TestEmbeddedPutIsAllOrNothing: an upload whose body fails leaves no
// object and no file in incoming/.
func TestEmbeddedPutIsAllOrNothing(t *testing.T) {
	t.Parallel()
	b, err := newEmbeddedBackend(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutObject(EmbeddedBucket, "k", map[string]string{}, strings.NewReader("old"), 3, nil); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("cut")
	body := io.MultiReader(strings.NewReader("new, but"), errReader{boom})
	if _, err := b.PutObject(EmbeddedBucket, "k", map[string]string{}, body, 20, nil); !errors.Is(err, boom) {
		t.Fatalf("PutObject with a failing body: %v", err)
	}
	if _, err := b.PutObject(EmbeddedBucket, "short", map[string]string{}, strings.NewReader("ab"), 3, nil); err == nil {
		t.Fatal("PutObject with a short body succeeded")
	}
	obj, err := b.GetObject(EmbeddedBucket, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj.Contents)
	_ = obj.Contents.Close() // read to the end
	if err != nil || string(got) != "old" {
		t.Errorf("after the failed upload: %q, %v; want the old object", got, err)
	}
	if _, err := b.HeadObject(EmbeddedBucket, "short"); err == nil {
		t.Error("the short upload left an object")
	}
	if entries, err := os.ReadDir(b.incoming); err != nil || len(entries) != 0 {
		t.Errorf("incoming/ after the uploads: %q, %v; want it empty", entries, err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestExactReader(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		in    string
		size  int64
		ok    bool
		chunk int // read size
	}{
		{"exact", "hello", 5, true, 2},
		{"exact, one read", "hello", 5, true, 64},
		{"short", "hell", 5, false, 2},
		{"long", "hello!", 5, false, 2},
		{"long, one read", "hello!", 5, false, 64},
		{"empty", "", 0, true, 8},
	}
	for _, tc := range cases {
		e := &exactReader{r: strings.NewReader(tc.in), left: tc.size}
		if tc.size == 0 {
			if err := e.probe(); err != nil {
				t.Errorf("%s: probe: %v", tc.name, err)
			}
		}
		var got []byte
		buf := make([]byte, tc.chunk)
		var err error
		for {
			var n int
			n, err = e.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		if tc.ok && (!errors.Is(err, io.EOF) || string(got) != tc.in) {
			t.Errorf("%s: read %q, %v; want all of it and EOF", tc.name, got, err)
		}
		if !tc.ok && (!errors.Is(err, errSizeMismatch) || int64(len(got)) >= tc.size) {
			t.Errorf("%s: read %q, %v; want a size mismatch before the last byte", tc.name, got, err)
		}
	}
}
