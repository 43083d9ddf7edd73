package objects

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"
)

// EmbeddedBucket is the embedded server's bucket.
const EmbeddedBucket = "redpoint"

// embeddedRegion is what the client calls the embedded server's region,
// so it never asks; gofakes3 takes any.
const embeddedRegion = "us-east-1"

// openEmbedded starts gofakes3 on the local file system under
// dataDir/objects:
//
//	objects/buckets/redpoint/<key>       the objects, one file each
//	objects/metadata/redpoint/<...>      gofakes3's metadata (MD5, headers)
//	objects/incoming/                    uploads being received
//
// It listens on a loopback port and takes only requests that carry its
// access key, a random one of this process: other local users can't read
// or change the objects over loopback (they are sealed anyway).
func openEmbedded(dataDir string) (*Store, error) {
	if dataDir == "" {
		return nil, errors.New("objects.Open: the embedded store needs a data directory")
	}
	backend, err := newEmbeddedBackend(filepath.Join(dataDir, "objects"))
	if err != nil {
		return nil, fmt.Errorf("objects.Open: embedded store: %w", err)
	}

	accessKey, secretKey := randomHex(10), randomHex(20)
	faker := gofakes3.New(backend, gofakes3.WithoutVersioning(), gofakes3.WithAutoBucket(false))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("objects.Open: embedded store: %w", err)
	}
	srv := &http.Server{
		Handler:           requireAccessKey(accessKey, faker.Server()),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // clients hanging up mid-request
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln) // always an error; ErrServerClosed after Close
	}()
	s, err := newStore(Settings{
		Endpoint:  ln.Addr().String(),
		AccessKey: accessKey,
		SecretKey: secretKey,
		Bucket:    EmbeddedBucket,
		Region:    embeddedRegion,
		Lookup:    LookupPath,
	})
	if err != nil {
		_ = srv.Close() // nothing was served; the client's error is the one to report
		<-served
		return nil, fmt.Errorf("objects.Open: %w", err)
	}
	s.embedded, s.served = srv, served
	return s, nil
}

// newEmbeddedBackend opens the file system backend under root, making
// root and the bucket on first use.
func newEmbeddedBackend(root string) (*embeddedBackend, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(root, 0o700); err != nil { // made by an older version, or by hand
		return nil, err
	}
	incoming := filepath.Join(root, "incoming")
	if err := os.RemoveAll(incoming); err != nil { // uploads a crash cut short
		return nil, err
	}
	if err := os.Mkdir(incoming, 0o700); err != nil {
		return nil, err
	}
	inner, err := s3afero.MultiBucket(afero.NewBasePathFs(privateFs{afero.NewOsFs()}, root))
	if err != nil {
		return nil, err
	}
	backend := &embeddedBackend{MultiBucketBackend: inner, buckets: filepath.Join(root, "buckets"), incoming: incoming}
	exists, err := backend.BucketExists(EmbeddedBucket)
	if err != nil {
		return nil, err
	}
	if !exists {
		if err := backend.CreateBucket(EmbeddedBucket); err != nil {
			return nil, err
		}
	}
	return backend, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails on supported platforms
	return hex.EncodeToString(b)
}

// requireAccessKey refuses requests not signed with accessKey. The
// signature itself goes unchecked (gofakes3 checks none): the key is the
// secret, known only to this process.
func requireAccessKey(accessKey string, next http.Handler) http.Handler {
	want := "Credential=" + accessKey + "/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Authorization"), want) {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+
				`<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// privateFs makes every directory 0700 and every file 0600, whatever mode
// gofakes3 asks for (it asks 0777 and 0666).
type privateFs struct{ afero.Fs }

func (p privateFs) Create(name string) (afero.File, error) {
	return p.Fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
}

func (p privateFs) OpenFile(name string, flag int, _ os.FileMode) (afero.File, error) {
	return p.Fs.OpenFile(name, flag, 0o600)
}

func (p privateFs) Mkdir(name string, _ os.FileMode) error { return p.Fs.Mkdir(name, 0o700) }

func (p privateFs) MkdirAll(name string, _ os.FileMode) error { return p.Fs.MkdirAll(name, 0o700) }

// embeddedBackend mends what gofakes3's file system backend lacks for this
// use:
//
//   - An upload is received into a file of its own under incoming/ first,
//     and only a complete one is copied into place: s3afero writes into
//     the object's file as the body arrives, holding its one lock, so a
//     slow upload would stall every other request and a cut one would
//     leave a truncated object (or truncate the one it replaced).
//   - Listings come sorted by key and paged, as S3 lists: s3afero walks
//     directories (so "a/b" before "a-b") and ignores paging.
//   - Removing an object removes the directories it leaves empty.
type embeddedBackend struct {
	*s3afero.MultiBucketBackend
	buckets  string // the OS path of the buckets' directory
	incoming string // the OS path of uploads being received

	// mu orders the directory changes: a removal's pruning against a
	// listing's walk (which fails on a directory vanishing under it) and
	// an upload's directory creation. s3afero serializes these calls
	// already; mu adds no waiting.
	mu sync.Mutex
}

// PutObject receives the body into incoming/, then stores it.
func (b *embeddedBackend) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	f, err := os.CreateTemp(b.incoming, "put-*")
	if err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	defer func() {
		_ = f.Close()           // read-only by then, or failed already
		_ = os.Remove(f.Name()) // the object has its own copy
	}()
	n, err := io.Copy(f, input) // gofakes3's reader checks the length and any Content-MD5
	if err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	if n != size {
		return gofakes3.PutObjectResult{}, fmt.Errorf("objects: upload of %d bytes, not %d", n, size)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.MultiBucketBackend.PutObject(bucket, key, meta, f, size, cond)
}

// DeleteObject removes the object and the directories it leaves empty.
func (b *embeddedBackend) DeleteObject(bucket, key string) (gofakes3.ObjectDeleteResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	res, err := b.MultiBucketBackend.DeleteObject(bucket, key)
	if err == nil {
		b.prune(bucket, key)
	}
	return res, err
}

// DeleteMulti removes the objects and the directories they leave empty.
func (b *embeddedBackend) DeleteMulti(bucket string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	res, err := b.MultiBucketBackend.DeleteMulti(bucket, keys...)
	for _, d := range res.Deleted {
		b.prune(bucket, d.Key)
	}
	return res, err
}

// prune removes the empty directories between key and its bucket.
func (b *embeddedBackend) prune(bucket, key string) {
	for dir := path.Dir(key); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if os.Remove(filepath.Join(b.buckets, bucket, filepath.FromSlash(dir))) != nil {
			return // not empty (or gone): the ones above are not empty either
		}
	}
}

// ListBucket lists sorted by key, a page at a time.
func (b *embeddedBackend) ListBucket(bucket string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	b.mu.Lock()
	all, err := b.MultiBucketBackend.ListBucket(bucket, prefix, gofakes3.ListBucketPage{})
	b.mu.Unlock()
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all.Contents, func(x, y *gofakes3.Content) int { return cmp.Compare(x.Key, y.Key) })
	if len(all.CommonPrefixes) > 0 {
		return all, nil // a delimited listing: unpaged, which redpoint never asks for
	}
	contents := all.Contents
	if page.HasMarker {
		start, _ := slices.BinarySearchFunc(contents, page.Marker, func(c *gofakes3.Content, marker string) int {
			if c.Key <= marker {
				return -1
			}
			return 1
		})
		contents = contents[start:]
	}
	list := gofakes3.NewObjectList()
	if page.MaxKeys > 0 && int64(len(contents)) > page.MaxKeys {
		contents = contents[:page.MaxKeys]
		list.IsTruncated = true
		list.NextMarker = contents[len(contents)-1].Key
	}
	for _, c := range contents {
		list.Add(c)
	}
	return list, nil
}
