// Package objects keeps blobs — photos of residents' ID cards and the like,
// sealed by the caller (pii.NewSealWriter) before they get here — in
// S3-compatible storage through minio-go: a bucket on MinIO, Aliyun OSS or
// Tencent COS in production, or, in embedded mode, an in-process
// S3-protocol server (gofakes3 on the local file system, under the data
// directory) on a loopback port, so both run the same client code, as the
// embedded mode's in-process Redis does for go-redis.
//
// A production store is named by a URL:
//
//	https://ACCESS_KEY:SECRET_KEY@host[:port]/bucket[/prefix]?region=REGION&lookup=dns|path
//	http://ACCESS_KEY:SECRET_KEY@host[:port]/bucket[/prefix]?lookup=path   (plain HTTP: a MinIO on a private network)
//
// for example
//
//	Aliyun OSS:  https://AK:SK@oss-cn-beijing.aliyuncs.com/redpoint?region=oss-cn-beijing&lookup=dns
//	Tencent COS: https://AK:SK@cos.ap-beijing.myqcloud.com/redpoint-1250000000?region=ap-beijing&lookup=dns
//	MinIO:       http://AK:SK@10.0.0.5:9000/redpoint?lookup=path
//
// The keys are percent-encoded where they hold '/', '+', '@', ':' or '%'.
// The prefix, when given, starts every key the store writes (so several
// deployments or tests can share a bucket). lookup=dns addresses the
// bucket as a host name (bucket.host, virtual-hosted style: OSS and COS
// require it), lookup=path as the path's first segment (MinIO); without
// it minio-go chooses (virtual-hosted for Amazon, Aliyun and Google hosts,
// path otherwise). Without region minio-go asks the server for the
// bucket's location once. A production bucket must exist already: Open
// checks and never creates one.
package objects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// ErrNotFound is Get's answer for a key with no object.
var ErrNotFound = errors.New("objects: no such object")

// maxKeyLen is S3's limit on a key, the prefix included.
const maxKeyLen = 1024

// attempts is how many times minio-go sends a request that failed for a
// reason worth retrying (a connection refused, a 503) before giving up.
// minio-go's default, 10 with back-off, keeps a caller waiting about ten
// seconds for an answer the API gives as 503 anyway; 3 rides out a blip.
// A Put is sent once whatever this says: its body can't be read twice.
const attempts = 3

// Store is a bucket in S3-compatible storage, and the key prefix this
// process owns in it.
type Store struct {
	client    *minio.Client
	transport *http.Transport
	bucket    string
	prefix    string // "" or "a/b/": starts every key
	endpoint  string // for messages
	settings  Settings

	embedded  *http.Server // nil for a production store
	served    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open connects to the bucket rawURL names (the package doc gives the
// form), or, when rawURL is empty, starts the embedded S3-protocol server
// on 127.0.0.1 storing under filepath.Join(dataDir, "objects") (directories
// 0700, files 0600) with its bucket "redpoint". A production bucket must
// exist: Open fails naming it if it does not, and never creates one.
func Open(ctx context.Context, rawURL, dataDir string) (*Store, error) {
	if rawURL == "" {
		return openEmbedded(dataDir)
	}
	set, err := ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("objects.Open: %w", err)
	}
	s, err := newStore(set)
	if err != nil {
		return nil, fmt.Errorf("objects.Open: %w", err)
	}
	checkCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	exists, err := s.client.BucketExists(checkCtx, s.bucket)
	if err != nil {
		s.transport.CloseIdleConnections()
		return nil, fmt.Errorf("objects.Open: bucket %q at %s: %w", s.bucket, s.endpoint, err)
	}
	if !exists {
		s.transport.CloseIdleConnections()
		return nil, fmt.Errorf("objects.Open: bucket %q does not exist at %s: create it (redpoint never creates a production bucket)", s.bucket, s.endpoint)
	}
	return s, nil
}

// newStore makes the client for set; it sends nothing.
func newStore(set Settings) (*Store, error) {
	transport, err := minio.DefaultTransport(set.Secure)
	if err != nil {
		return nil, err
	}
	lookup := minio.BucketLookupAuto
	switch set.Lookup {
	case LookupDNS:
		lookup = minio.BucketLookupDNS
	case LookupPath:
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(set.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(set.AccessKey, set.SecretKey, ""),
		Secure:       set.Secure,
		Region:       set.Region,
		BucketLookup: lookup,
		Transport:    transport,
		MaxRetries:   attempts,
	})
	if err != nil {
		return nil, err
	}
	prefix := set.Prefix
	if prefix != "" {
		prefix += "/"
	}
	return &Store{client: client, transport: transport, bucket: set.Bucket, prefix: prefix, endpoint: set.Endpoint, settings: set}, nil
}

// EmbeddedURL is the URL, secret included, another process can reach the
// embedded server at while this one runs (tests of processes in
// production mode); "" for a production store.
func (s *Store) EmbeddedURL() string {
	if s.embedded == nil {
		return ""
	}
	u := url.URL{Scheme: "http", User: url.UserPassword(s.settings.AccessKey, s.settings.SecretKey), Host: s.settings.Endpoint,
		Path: "/" + s.settings.Bucket, RawQuery: "lookup=" + LookupPath + "&region=" + s.settings.Region}
	return u.String()
}

// Put stores exactly size bytes read from r under key, replacing any
// object there, in one PUT (no multipart upload, whatever the size). r is
// streamed, never held whole, and read to its end: r giving fewer or more
// than size bytes is an error, and the object is then not stored. An error
// from r itself comes back wrapped (Unavailable says false for it).
// Payloads go unsigned (UNSIGNED-PAYLOAD): they are sealed already, and a
// signed stream would cost a second pass or a chunked encoding some
// servers lack.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := s.checkKey(key); err != nil {
		return fmt.Errorf("objects.Put: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("objects.Put %s: size %d", key, size)
	}
	body := &exactReader{r: r, left: size}
	if size == 0 {
		// minio-go sends no body and reads none: check r is empty too.
		if err := body.probe(); err != nil {
			return fmt.Errorf("objects.Put %s: %w", key, err)
		}
	}
	_, err := s.client.PutObject(ctx, s.bucket, s.prefix+key, body, size, minio.PutObjectOptions{
		ContentType:          "application/octet-stream",
		DisableMultipart:     true,
		DisableContentSha256: true,
	})
	if body.err != nil {
		return fmt.Errorf("objects.Put %s: %w", key, body.err) // r's doing, not the store's
	}
	if err != nil {
		return fmt.Errorf("objects.Put %s: %w", key, err)
	}
	return nil
}

// Get opens the object under key for reading, within ctx: cancelling ctx
// cuts the read. The caller closes it. A key with no object is
// ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := s.checkKey(key); err != nil {
		return nil, fmt.Errorf("objects.Get: %w", err)
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("objects.Get %s: %w", key, err)
	}
	// Stat sends the GET and waits for its headers, so a missing object
	// shows here rather than at the first Read.
	if _, err := obj.Stat(); err != nil {
		_ = obj.Close() // the GET failed; its error is the one to report
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil, fmt.Errorf("objects.Get %s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("objects.Get %s: %w", key, err)
	}
	return obj, nil
}

// Remove deletes the object under key; removing a missing key is not an
// error.
func (s *Store) Remove(ctx context.Context, key string) error {
	if err := s.checkKey(key); err != nil {
		return fmt.Errorf("objects.Remove: %w", err)
	}
	err := s.client.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchKey" {
		return fmt.Errorf("objects.Remove %s: %w", key, err)
	}
	return nil
}

// Walk calls fn for every object whose key starts with prefix, in key
// order (byte-wise, as S3 lists), with its last-modified time and size.
// Keys reach fn as Put took them (the store's prefix stripped). An error
// from fn stops the walk and is returned as is.
func (s *Store) Walk(ctx context.Context, prefix string, fn func(key string, modified time.Time, size int64) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing's requests when fn stops the walk
	for obj := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if obj.Err != nil {
			return fmt.Errorf("objects.Walk %s: %w", prefix, obj.Err)
		}
		key, ok := strings.CutPrefix(obj.Key, s.prefix)
		if !ok {
			return fmt.Errorf("objects.Walk %s: listed key %q outside the prefix %q", prefix, obj.Key, s.prefix)
		}
		if err := fn(key, obj.LastModified, obj.Size); err != nil {
			return err
		}
	}
	return ctx.Err() // a listing cut by ctx ends without an error of its own
}

// Ping checks that the bucket answers (one HEAD request), for /healthz.
func (s *Store) Ping(ctx context.Context) error {
	exists, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("objects.Ping: %w", err)
	}
	if !exists {
		return fmt.Errorf("objects.Ping: bucket %q is gone", s.bucket)
	}
	return nil
}

// Embedded reports whether the store is the embedded server's.
func (s *Store) Embedded() bool { return s.embedded != nil }

// Close drops the client's idle connections and stops the embedded server,
// if any, letting requests in flight finish for up to 5 seconds.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.transport.CloseIdleConnections()
		if s.embedded == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.embedded.Shutdown(ctx); err != nil {
			s.closeErr = fmt.Errorf("objects.Close: %w", errors.Join(err, s.embedded.Close()))
		}
		<-s.served
	})
	return s.closeErr
}

// checkKey refuses keys S3 would take but that name no object safely here:
// empty or "." / ".." segments, a leading or trailing '/', a backslash,
// control characters, invalid UTF-8, or past S3's 1024 bytes with the
// prefix. Keys look like "attachments/<uuid>/original".
func (s *Store) checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty key")
	case len(s.prefix)+len(key) > maxKeyLen:
		return fmt.Errorf("key %.40q...: longer than %d bytes with the prefix", key, maxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("key %q: not UTF-8", key)
	case strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }):
		return fmt.Errorf("key %q: control character or backslash", key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("key %q: empty, \".\" or \"..\" segment", key)
		}
	}
	return nil
}

// errSizeMismatch is a Put whose reader held another number of bytes than
// its size said.
var errSizeMismatch = errors.New("reader length differs from size")

// sourceError is an error from the caller's reader, which says nothing of
// the store.
type sourceError struct{ err error }

func (e sourceError) Error() string { return "reading the object: " + e.err.Error() }
func (e sourceError) Unwrap() error { return e.err }

// exactReader passes on exactly left bytes of r and fails unless r ends
// there. The check is made before the last bytes go out, so a server
// never sees a complete body for a wrong-sized object.
type exactReader struct {
	r    io.Reader
	left int64
	err  error // the first failure: r's error or a size mismatch
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case err != nil && !errors.Is(err, io.EOF):
		e.err = sourceError{err}
		return 0, e.err
	case errors.Is(err, io.EOF) && e.left > 0:
		e.err = sourceError{fmt.Errorf("%w: ended %d bytes short", errSizeMismatch, e.left)}
		return 0, e.err
	case e.left == 0:
		if err := e.probe(); err != nil {
			return 0, err // withholds the last bytes: the body stays short
		}
	}
	return n, nil
}

// probe checks that r has nothing left.
func (e *exactReader) probe() error {
	var one [1]byte
	for range 100 {
		n, err := e.r.Read(one[:])
		switch {
		case n > 0:
			e.err = sourceError{fmt.Errorf("%w: more bytes than the size", errSizeMismatch)}
			return e.err
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			e.err = sourceError{err}
			return e.err
		}
	}
	e.err = sourceError{io.ErrNoProgress}
	return e.err
}
