package objects_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/changzhi/redpoint/service/objects"
	"github.com/changzhi/redpoint/service/objects/objectstest"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/testutil"
)

// data is n pseudo-random bytes, different for each seed.
func data(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func put(tb testing.TB, s *objects.Store, key string, b []byte) {
	tb.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		tb.Fatalf("Put %s: %v", key, err)
	}
}

func get(tb testing.TB, s *objects.Store, key string) ([]byte, error) {
	tb.Helper()
	r, err := s.Get(context.Background(), key)
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }() // read to the end already, or failed
	return io.ReadAll(r)
}

// walk lists every key under prefix.
func walk(tb testing.TB, s *objects.Store, prefix string) []string {
	tb.Helper()
	var keys []string
	if err := s.Walk(context.Background(), prefix, func(key string, _ time.Time, _ int64) error {
		keys = append(keys, key)
		return nil
	}); err != nil {
		tb.Fatalf("Walk %q: %v", prefix, err)
	}
	return keys
}

func TestPutGetRoundTrip(t *testing.T) {
	t.Parallel()
	s := objectstest.Open(t)
	for i, n := range []int{0, 1, 100 << 10, 10 << 20} {
		t.Run(fmt.Sprintf("%d bytes", n), func(t *testing.T) {
			t.Parallel()
			key := fmt.Sprintf("attachments/%d/original", n)
			want := data(n, uint64(i))
			// Through a reader that is neither a ReaderAt nor a Seeker, as
			// a sealing pipe is.
			if err := s.Put(context.Background(), key, iotest.HalfReader(bytes.NewReader(want)), int64(n)); err != nil {
				t.Fatal(err)
			}
			got, err := get(t, s, key)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Get %s: %d bytes, %v; want the %d put", key, len(got), err, n)
			}
		})
	}
}

func TestPutReplaces(t *testing.T) {
	t.Parallel()
	s := objectstest.Open(t)
	put(t, s, "attachments/u/thumbnail", []byte("first, longer version"))
	put(t, s, "attachments/u/thumbnail", []byte("second"))
	if got, err := get(t, s, "attachments/u/thumbnail"); err != nil || string(got) != "second" {
		t.Fatalf("after a second Put: %q, %v", got, err)
	}
}

func TestSealedObjectRoundTrip(t *testing.T) {
	t.Parallel()
	s := objectstest.Open(t)
	ctx := context.Background()
	key := pii.NewDataKey()
	photo := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, data(300<<10, 9)...)
	// The caller's path: seal into a pipe, Put from it, with the sealed size.
	pr, pw := io.Pipe()
	go func() {
		w, err := pii.NewSealWriter(pw, key)
		if err == nil {
			_, err = w.Write(photo)
		}
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err)
	}()
	if err := s.Put(ctx, "attachments/id-card/original", pr, pii.SealedSize(int64(len(photo)))); err != nil {
		t.Fatal(err)
	}
	stored, err := get(t, s, "attachments/id-card/original")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(stored, []byte{0xFF, 0xD8, 0xFF}) || bytes.Contains(stored, photo[100:200]) {
		t.Fatal("the bucket holds readable bytes")
	}
	r, err := s.Get(ctx, "attachments/id-card/original")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }() // read to the end
	plain, err := pii.NewOpenReader(r, key)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(plain); err != nil || !bytes.Equal(got, photo) {
		t.Fatalf("opened %d bytes, %v; want the photo's %d", len(got), err, len(photo))
	}
}

func TestGetMissingIsErrNotFound(t *testing.T) {
	t.Parallel()
	s := objectstest.Open(t)
	_, err := s.Get(context.Background(), "attachments/nobody/original")
	if !errors.Is(err, objects.ErrNotFound) || objects.Unavailable(err) {
		t.Fatalf("Get of a missing key: %v; want ErrNotFound, not unavailable", err)
	}
	put(t, s, "attachments/somebody/original", []byte("x"))
	if _, err := get(t, s, "attachments/somebody/original"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(context.Background(), "attachments/somebody/original"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), "attachments/somebody/original"); !errors.Is(err, objects.ErrNotFound) {
		t.Fatalf("Get after Remove: %v; want ErrNotFound", err)
	}
}

func TestRemoveIsIdempotent(t *testing.T) {
	t.Parallel()
	s := objectstest.Open(t)
	ctx := context.Background()
	put(t, s, "attachments/u/original", []byte("x"))
	put(t, s, "attachments/u/thumbnail", []byte("y"))
	for i := range 2 {
		if err := s.Remove(ctx, "attachments/u/original"); err != nil {
			t.Fatalf("Remove #%d: %v", i+1, err)
		}
	}
	if err := s.Remove(ctx, "attachments/never/original"); err != nil {
		t.Fatalf("Remove of a key never put: %v", err)
	}
	if got := walk(t, s, ""); !slices.Equal(got, []string{"attachments/u/thumbnail"}) {
		t.Fatalf("after removing the original: %q; want the thumbnail alone", got)
	}
}

func TestWalkListsInKeyOrder(t *testing.T) {
	t.Parallel()
	s := objectstest.Open(t)
	start := time.Now()
	// In key order "a-b/" sorts before "a/" ('-' < '/'), though a walk of
	// directories meets the directory "a" first.
	keys := map[string]int{
		"attachments/a/original":   3,
		"attachments/a/thumbnail":  1,
		"attachments/a-b/original": 2,
		"attachments/b/original":   0,
		"attachmentsX/z":           4,
		"other/attachments/c":      5,
	}
	for key, n := range keys {
		put(t, s, key, data(n, 1))
	}
	type entry struct {
		key  string
		size int64
	}
	var got []entry
	err := s.Walk(context.Background(), "attachments/", func(key string, modified time.Time, size int64) error {
		if modified.Before(start.Add(-time.Minute)) || modified.After(time.Now().Add(time.Minute)) {
			t.Errorf("%s modified %v, put at %v", key, modified, start)
		}
		got = append(got, entry{key, size})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []entry{{"attachments/a-b/original", 2}, {"attachments/a/original", 3}, {"attachments/a/thumbnail", 1}, {"attachments/b/original", 0}}
	if !slices.Equal(got, want) {
		t.Errorf("Walk(attachments/) = %v\nwant %v", got, want)
	}
	all := walk(t, s, "")
	if len(all) != len(keys) || !slices.IsSorted(all) {
		t.Errorf("Walk of everything = %q; want the %d keys in order", all, len(keys))
	}
	if got := walk(t, s, "attachments/a/"); !slices.Equal(got, []string{"attachments/a/original", "attachments/a/thumbnail"}) {
		t.Errorf("Walk(attachments/a/) = %q", got)
	}
	if got := walk(t, s, "nothing/"); len(got) != 0 {
		t.Errorf("Walk(nothing/) = %q; want none", got)
	}
}

func TestWalkStopsOnError(t *testing.T) {
	t.Parallel()
	s := objectstest.Open(t)
	for i := range 5 {
		put(t, s, fmt.Sprintf("attachments/%d/original", i), []byte("x"))
	}
	stop := errors.New("enough")
	calls := 0
	err := s.Walk(context.Background(), "", func(string, time.Time, int64) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Fatalf("Walk with fn failing on the 2nd key: %v after %d calls; want fn's error after 2", err, calls)
	}
}

func TestWalkPages(t *testing.T) {
	t.Parallel()
	testutil.SkipIfShort(t, "puts 1,050 objects to list past one page of 1,000")
	s := objectstest.Open(t)
	const n = 1050
	want := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range n {
		want[i] = fmt.Sprintf("attachments/%04d/original", i)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs <- s.Put(context.Background(), want[i], strings.NewReader("x"), 1)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := walk(t, s, "attachments/"); !slices.Equal(got, want) {
		t.Fatalf("Walk listed %d keys (first %q); want %d in order", len(got), got[:min(3, len(got))], n)
	}
}

func TestPutChecksTheReader(t *testing.T) {
	t.Parallel()
	s := objectstest.Open(t)
	// As a resident's upload the caller streams from fails: a network
	// error, but the caller's, not the store's.
	boom := fmt.Errorf("upload cut: %w", io.ErrUnexpectedEOF)
	cases := []struct {
		name string
		r    io.Reader
		size int64
		is   error // what the error wraps, when not only a mismatch
	}{
		{"fewer bytes than size", strings.NewReader("short"), 100, nil},
		{"more bytes than size", strings.NewReader(strings.Repeat("x", 101)), 100, nil},
		{"bytes, size 0", strings.NewReader("x"), 0, nil},
		{"one byte more after a large body", bytes.NewReader(data(1<<20+1, 2)), 1 << 20, nil},
		{"reader failing midway", io.MultiReader(bytes.NewReader(data(200<<10, 3)), iotest.ErrReader(boom)), 300 << 10, boom},
		{"reader failing at once", iotest.ErrReader(boom), 10, boom},
	}
	for i, tc := range cases {
		key := fmt.Sprintf("attachments/%d/original", i)
		err := s.Put(context.Background(), key, tc.r, tc.size)
		if err == nil {
			t.Errorf("%s: Put succeeded", tc.name)
			continue
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v; want the reader's error", tc.name, err)
		}
		if objects.Unavailable(err) {
			t.Errorf("%s: Unavailable(%v) = true; the reader's fault is not the store's", tc.name, err)
		}
		if _, err := get(t, s, key); !errors.Is(err, objects.ErrNotFound) && !keepsCutUploads(t, s) {
			t.Errorf("%s: Get after the failed Put: %v; want ErrNotFound", tc.name, err)
		}
	}
	if err := s.Put(context.Background(), "attachments/x/original", strings.NewReader(""), -1); err == nil {
		t.Error("Put with size -1 succeeded")
	}
}

func TestFailedPutKeepsTheObject(t *testing.T) {
	t.Parallel()
	s := objectstest.Open(t)
	old := data(200<<10, 4)
	put(t, s, "attachments/u/original", old)
	boom := errors.New("upload cut")
	r := io.MultiReader(bytes.NewReader(data(100<<10, 5)), iotest.ErrReader(boom))
	if err := s.Put(context.Background(), "attachments/u/original", r, 300<<10); !errors.Is(err, boom) {
		t.Fatalf("Put from a failing reader: %v", err)
	}
	if got, err := get(t, s, "attachments/u/original"); (err != nil || !bytes.Equal(got, old)) && !keepsCutUploads(t, s) {
		t.Fatalf("after a failed replacement: %d bytes, %v; want the old %d", len(got), err, len(old))
	}
}

// keepsCutUploads reports whether s's server may store an upload whose
// connection closed before its Content-Length, as if complete. Put stops
// sending when its reader fails or holds the wrong number of bytes, and
// closes the connection: S3 and MinIO then store nothing, nor does the
// embedded server, which receives a body whole before storing it. The
// separately started test server (versitygw's posix backend, like
// s3rver) stores what arrived, so there the check is the embedded
// server's alone; a sealed object cut short fails to open (pii).
func keepsCutUploads(tb testing.TB, s *objects.Store) bool {
	tb.Helper()
	if !s.Embedded() {
		tb.Log("not checked: the test server stores uploads cut short")
	}
	return !s.Embedded()
}

func TestKeysAreChecked(t *testing.T) {
	t.Parallel()
	s := objectstest.Open(t)
	ctx := context.Background()
	for _, key := range []string{"", "/attachments/u", "attachments/u/", "attachments//u", "attachments/../u", "./u", "a\\b", "a\x00b", "a\nb", "\xff", strings.Repeat("k", 1025)} {
		if err := s.Put(ctx, key, strings.NewReader("x"), 1); err == nil {
			t.Errorf("Put(%.40q) succeeded", key)
		}
		if _, err := s.Get(ctx, key); err == nil || errors.Is(err, objects.ErrNotFound) {
			t.Errorf("Get(%.40q): %v; want a bad key", key, err)
		}
		if err := s.Remove(ctx, key); err == nil {
			t.Errorf("Remove(%.40q) succeeded", key)
		}
	}
	if got := walk(t, s, ""); len(got) != 0 {
		t.Errorf("bad keys stored: %q", got)
	}
	put(t, s, "attachments/0b6f-..x/original.jpg", []byte("fine"))
}

// fakeServer is a stand-in production server: gofakes3 in memory, with the
// buckets named, reachable as http://AK:SK@host/.
func fakeServer(t *testing.T, buckets ...string) (base string, backend *s3mem.Backend) {
	t.Helper()
	backend = s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return "http://AK:SK@" + strings.TrimPrefix(srv.URL, "http://"), backend
}

func TestOpenNeedsTheProductionBucket(t *testing.T) {
	t.Parallel()
	base, _ := fakeServer(t, "present")
	urls := []string{base + "/absent-bucket?lookup=path"}
	if os.Getenv(objectstest.EnvS3URL) != "" {
		shared := objectstest.URL(t)
		set, err := objects.ParseURL(shared)
		if err != nil {
			t.Fatal(err)
		}
		urls = append(urls, strings.Replace(shared, "/"+set.Bucket+"/", "/absent-bucket/", 1))
	}
	for _, u := range urls {
		s, err := objects.Open(context.Background(), u, t.TempDir())
		if err == nil {
			testutil.Close(t, s)
			t.Fatalf("Open(%s) succeeded", u)
		}
		if !strings.Contains(err.Error(), `"absent-bucket"`) || objects.Unavailable(err) {
			t.Errorf("Open with a missing bucket: %v; want the bucket named, not unavailable", err)
		}
	}
	// It created nothing: the bucket is still missing.
	if s, err := objects.Open(context.Background(), urls[0], ""); err == nil {
		testutil.Close(t, s)
		t.Error("the second Open found the bucket: the first created it")
	}
}

func TestProductionPrefix(t *testing.T) {
	t.Parallel()
	base, backend := fakeServer(t, "redpoint")
	s, err := objects.Open(context.Background(), base+"/redpoint/deploy/one?region=cn-north-1&lookup=path", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testutil.Close(t, s) })
	if s.Embedded() {
		t.Error("a store opened by URL says it is embedded")
	}
	put(t, s, "attachments/u/original", []byte("sealed"))
	if _, err := backend.HeadObject("redpoint", "deploy/one/attachments/u/original"); err != nil {
		t.Fatalf("the object is not under the prefix: %v", err)
	}
	if err := backend.CreateBucket("other"); err != nil {
		t.Fatal(err)
	}
	if _, err := backend.PutObject("redpoint", "deploy/two/attachments/v/original", nil, strings.NewReader("z"), 1, nil); err != nil {
		t.Fatal(err)
	}
	if got := walk(t, s, ""); !slices.Equal(got, []string{"attachments/u/original"}) {
		t.Errorf("Walk = %q; want the prefix's one key, stripped", got)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestPingNoticesAMissingBucket(t *testing.T) {
	t.Parallel()
	base, backend := fakeServer(t, "redpoint")
	s, err := objects.Open(context.Background(), base+"/redpoint?lookup=path&region=us-east-1", "")
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Close(t, s)
	if err := backend.DeleteBucket("redpoint"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), `"redpoint"`) {
		t.Errorf("Ping with the bucket gone: %v; want an error naming it", err)
	}
}

func TestReopenFindsObjects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	raw := "" // embedded, unless the tests share a server
	if os.Getenv(objectstest.EnvS3URL) != "" {
		raw = objectstest.URL(t)
	}
	ctx := context.Background()
	s, err := objects.Open(ctx, raw, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := data(70<<10, 6)
	put(t, s, "attachments/u/original", want)
	testutil.Close(t, s)
	s, err = objects.Open(ctx, raw, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Close(t, s)
	if got, err := get(t, s, "attachments/u/original"); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after reopening: %d bytes, %v", len(got), err)
	}
	if got := walk(t, s, ""); !slices.Equal(got, []string{"attachments/u/original"}) {
		t.Errorf("Walk after reopening = %q", got)
	}
}

func TestEmbeddedFilesStayUnderTheDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s, err := objects.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Close(t, s)
	if !s.Embedded() {
		t.Fatal("Open(\"\") is not embedded")
	}
	want := data(5000, 7)
	put(t, s, "attachments/u/original", want)
	put(t, s, "attachments/u/thumbnail", []byte("t"))

	file := filepath.Join(dir, "objects", "buckets", objects.EmbeddedBucket, "attachments", "u", "original")
	if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the object's file %s: %d bytes, %v", file, len(got), err)
	}
	files := 0
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel != "." && rel != "objects" && !strings.HasPrefix(rel, "objects"+string(filepath.Separator)) {
			t.Errorf("%s is outside the data dir's objects/", rel)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case rel == ".":
		case d.IsDir() && info.Mode().Perm() != 0o700:
			t.Errorf("directory %s has mode %v; want 0700", rel, info.Mode().Perm())
		case !d.IsDir() && info.Mode().Perm() != 0o600:
			t.Errorf("file %s has mode %v; want 0600", rel, info.Mode().Perm())
		}
		if !d.IsDir() {
			files++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 2 {
		t.Errorf("%d files under %s; want the two objects at least", files, dir)
	}

	// Removing both leaves no empty directories behind.
	for _, key := range []string{"attachments/u/original", "attachments/u/thumbnail"} {
		if err := s.Remove(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	bucketDir := filepath.Join(dir, "objects", "buckets", objects.EmbeddedBucket)
	if entries, err := os.ReadDir(bucketDir); err != nil || len(entries) != 0 {
		t.Errorf("the bucket's directory after removing everything: %v, %v; want it empty", entries, err)
	}
}

// TestEmbeddedConcurrentUse: the embedded store orders its directory
// changes, so writers and removers under one prefix never meet a
// directory pruned under them. It opens the embedded store whatever the
// run's S3 server: the versitygw process of the real-services run does
// not order them, and failed here now and then ("We encountered an
// internal error").
func TestEmbeddedConcurrentUse(t *testing.T) {
	t.Parallel()
	s, err := objects.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer testutil.Close(t, s)
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 10 {
				key := fmt.Sprintf("attachments/%d-%d/original", w, i)
				want := data(1000+i, uint64(w))
				if err := s.Put(context.Background(), key, bytes.NewReader(want), int64(len(want))); err != nil {
					t.Error(err)
					return
				}
				if got, err := get(t, s, key); err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes, %v", key, len(got), err)
				}
				if i%2 == 0 {
					if err := s.Remove(context.Background(), key); err != nil {
						t.Error(err)
					}
				}
				_ = walk(t, s, "attachments/")
			}
		})
	}
	wg.Wait()
	if got := walk(t, s, ""); len(got) != 30 {
		t.Errorf("%d objects left; want 30", len(got))
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := objects.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "attachments/u/original", []byte("x"))
	testutil.Close(t, s) // the embedded server stops
	calls := map[string]error{
		"Put":    s.Put(ctx, "attachments/v/original", strings.NewReader("y"), 1),
		"Remove": s.Remove(ctx, "attachments/u/original"),
		"Ping":   s.Ping(ctx),
		"Walk":   s.Walk(ctx, "", func(string, time.Time, int64) error { return nil }),
	}
	_, calls["Get"] = s.Get(ctx, "attachments/u/original")
	for name, err := range calls {
		if err == nil || !objects.Unavailable(err) {
			t.Errorf("%s on a stopped server: %v; want unavailable", name, err)
		}
	}

	// A production server that is down: Open says so.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	testutil.Close(t, ln)
	_, err = objects.Open(ctx, "http://AK:SK@"+addr+"/redpoint?lookup=path&region=us-east-1", "")
	if err == nil || !objects.Unavailable(err) {
		t.Errorf("Open on a closed port: %v; want unavailable", err)
	}
}

// TestPutStreams puts 10 MiB from a reader that makes its bytes as they
// are read, and measures what the process allocates meanwhile (the
// embedded server included, when the store is embedded): far less than
// the object, so nothing holds it whole.
func TestPutStreams(t *testing.T) {
	s := objectstest.Open(t)
	ctx := context.Background()
	put(t, s, "attachments/warm/original", []byte("connections and buffers made before measuring"))
	const n = 10 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := s.Put(ctx, "attachments/big/original", io.LimitReader(pattern{}, n), n); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	putAlloc := after.TotalAlloc - before.TotalAlloc

	runtime.GC()
	runtime.ReadMemStats(&before)
	r, err := s.Get(ctx, "attachments/big/original")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.Copy(io.Discard, struct{ io.Reader }{r}) // no WriterTo shortcut
	_ = r.Close()                                           // read to the end
	runtime.ReadMemStats(&after)
	getAlloc := after.TotalAlloc - before.TotalAlloc
	if err != nil || got != n {
		t.Fatalf("Get: %d bytes, %v", got, err)
	}
	t.Logf("a %d-byte object: Put allocated %d bytes, Get %d (embedded: %v)", n, putAlloc, getAlloc, s.Embedded())
	if putAlloc > n/8 {
		t.Errorf("Put of %d bytes allocated %d bytes; want under %d", n, putAlloc, n/8)
	}
	if getAlloc > n/8 {
		t.Errorf("Get of %d bytes allocated %d bytes; want under %d", n, getAlloc, n/8)
	}
}

// pattern reads as an endless run of bytes, allocating nothing.
type pattern struct{}

func (pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i)
	}
	return len(p), nil
}
