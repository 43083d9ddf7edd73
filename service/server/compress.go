package server

import (
	"bytes"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzhttp"
	"github.com/klauspost/compress/zstd"
	_ "google.golang.org/grpc/encoding/gzip" // gRPC: a client that sends grpc-encoding: gzip gets its answers in gzip
)

// How REST answers are compressed: CPU matters as much as bytes on the
// weak two-core machines this serves from. BenchmarkCompress measures the
// levels chosen on a 500-errand page; the README has the figures.
const (
	// compressMinSize: shorter answers go as they are. Under a packet
	// compression gains nothing on the wire and still costs a compressor.
	compressMinSize = 1 << 10
	// gzipLevel is klauspost/compress's level 5: a 500-errand page to 12%
	// in about 1.6 ms; level 1 leaves it at 14.5%, level 6 saves another
	// 0.4% for a fifth more CPU, level 9 costs five times as much.
	gzipLevel = 5
	// zstdLevel is zstd's fastest: smaller than gzip at any level up to 9
	// (10.5% of a 500-errand page), in half gzip 5's time. Browsers of
	// 2024 on ask for it; the mini-program and the Android app ask for
	// gzip. Brotli is left out: at a CPU cost like this it is no smaller
	// than zstd, and smaller only at five to ten times the CPU.
	zstdLevel = zstd.SpeedFastest
	// maxHeldCompressed bounds the compressed bytes an answer holds until
	// its handler is done (a 500-errand page is 50–60 KB); past it, the
	// answer streams.
	maxHeldCompressed = 1 << 20
)

// compressed is gzhttp configured as above: it takes the encoding the
// request's Accept-Encoding prefers by q-value (zstd on a tie), compresses
// answers of a compressible type from compressMinSize bytes on, never
// HEAD answers, 206s, bodyless answers (304s) or what already has a
// Content-Encoding, adds Vary: Accept-Encoding to every answer, and takes
// its gzip and zstd writers from per-level pools.
var compressed = func() func(http.Handler) http.HandlerFunc {
	wrap, err := gzhttp.NewWrapper(
		gzhttp.MinSize(compressMinSize),
		gzhttp.CompressionLevel(gzipLevel),
		gzhttp.ZstdCompressionLevel(int(zstdLevel)),
		gzhttp.ContentTypeFilter(compressible),
	)
	if err != nil {
		panic("server: compression options: " + err.Error()) // constants: every test run would see it
	}
	return wrap
}()

// compressible is what is worth compressing: JSON and text. Everything
// else goes as it is, above all the .xlsx downloads (report.XLSX), which
// are zip archives already.
func compressible(contentType string) bool {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mediaType == "application/json" || strings.HasSuffix(mediaType, "+json") || strings.HasPrefix(mediaType, "text/")
}

// compress answers REST calls compressed when the client accepts it (see
// compressed). Two things gzhttp leaves to its caller are done here:
//
//   - The ETag. A compressed answer's ETag is made weak (W/"…"): RFC 9110
//     8.8.3 allows a strong tag for one sequence of bytes only, and the
//     gzip bytes are not the identity bytes, while a weak tag names the
//     content, which both share. If-None-Match compares weakly, so the
//     weak tag sent back still matches the tag withETags computes and
//     gives a 304; that 304 carries the tag as the client holds it (weak
//     when it sent it weak). gzhttp's alternatives break that: a suffixed
//     tag ("…-gzip") never matches again unless every If-None-Match is
//     rewritten, a dropped one never gives a 304.
//   - The compressed bytes are held (up to maxHeldCompressed) until the
//     handler is done, then sent with their Content-Length: the
//     compressor (340 KiB for zstd, 740 KiB for gzip) goes back to its
//     pool after the CPU work, not after a client on a weak link has read
//     the answer.
//
// New puts it outside headAsGet: HEAD is still HEAD here, and goes
// uncompressed.
func compress(next http.Handler) http.Handler {
	inner := compressed(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := &compressedAnswer{ResponseWriter: w, ifNoneMatch: r.Header.Values("If-None-Match")}
		inner.ServeHTTP(a, r)
		_ = a.finish()
	})
}

// compressedAnswer is the ResponseWriter gzhttp writes to. gzhttp sets
// Content-Encoding before it writes the header of an answer it compresses;
// no handler of this server sets one (the gateway sends a handler's
// metadata prefixed), so that is how a compressed answer is told apart.
type compressedAnswer struct {
	http.ResponseWriter
	ifNoneMatch []string
	decided     bool          // the status is known
	status      int           // of a held answer
	held        *bytes.Buffer // the compressed bytes not yet sent; nil once streaming or for an uncompressed answer
}

func (a *compressedAnswer) WriteHeader(code int) {
	if code < http.StatusOK || a.decided {
		if a.held == nil {
			a.ResponseWriter.WriteHeader(code) // 1xx go out at once; net/http reports a second status
		}
		return
	}
	a.decided = true
	h := a.Header()
	if h.Get("Content-Encoding") != "" {
		weakenETag(h)
		a.status = code
		a.held = heldBuffers.Get().(*bytes.Buffer)
		return
	}
	if code == http.StatusNotModified {
		if tag := h.Get("Etag"); strings.HasPrefix(tag, `"`) && listsTag(a.ifNoneMatch, "W/"+tag) {
			weakenETag(h)
		}
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *compressedAnswer) Write(p []byte) (int, error) {
	if !a.decided {
		a.WriteHeader(http.StatusOK)
	}
	if a.held == nil {
		return a.ResponseWriter.Write(p)
	}
	if a.held.Len()+len(p) <= maxHeldCompressed {
		return a.held.Write(p)
	}
	if err := a.send(); err != nil {
		return 0, err
	}
	return a.ResponseWriter.Write(p)
}

// send writes the held status and bytes and lets the rest stream.
func (a *compressedAnswer) send() error {
	held := a.held
	a.held = nil
	a.ResponseWriter.WriteHeader(a.status)
	_, err := a.ResponseWriter.Write(held.Bytes())
	held.Reset()
	heldBuffers.Put(held)
	return err
}

// finish sends a held answer whole, with its Content-Length.
func (a *compressedAnswer) finish() error {
	if a.held == nil {
		return nil
	}
	a.Header().Set("Content-Length", strconv.Itoa(a.held.Len()))
	return a.send()
}

// FlushError sends what is held: a handler that flushes wants its bytes on
// the wire (gzhttp flushes its compressor first).
func (a *compressedAnswer) FlushError() error {
	if a.held != nil {
		if err := a.send(); err != nil {
			return err
		}
	}
	return http.NewResponseController(a.ResponseWriter).Flush()
}

func (a *compressedAnswer) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// heldBuffers keeps the buffers of held answers between answers; none
// holds more than maxHeldCompressed bytes.
var heldBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// weakenETag makes a strong ETag weak; a weak one stays as it is.
func weakenETag(h http.Header) {
	if tag := h.Get("Etag"); strings.HasPrefix(tag, `"`) {
		h.Set("Etag", "W/"+tag)
	}
}

// listsTag reports whether If-None-Match lines list tag exactly.
func listsTag(lines []string, tag string) bool {
	for _, line := range lines {
		for t := range strings.SplitSeq(line, ",") {
			if strings.TrimSpace(t) == tag {
				return true
			}
		}
	}
	return false
}
