package server

import (
	"bytes"
	"cmp"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"

	"github.com/changzhi/redpoint/service/apierr"
)

// The bounds on what one client can make the server hold. They are sized
// for agents on weak rural 4G (a 1 MiB body at 20 KB/s still arrives well
// inside the read timeout) and for the largest legitimate request (a full
// batch of offline-logged errands).
const (
	// MaxBody is the largest REST request body; BatchBody the largest of
	// `:batchCreate` (errand.MaxBatch items). Larger: 413 before parsing.
	MaxBody   = 1 << 20
	BatchBody = 4 << 20
	// MaxHeaderBytes bounds a REST request's headers; MaxHeaderList a gRPC
	// call's metadata.
	MaxHeaderBytes = 64 << 10
	MaxHeaderList  = 64 << 10
	// MaxConnections is how many connections each listener holds at once;
	// more wait in the kernel's backlog.
	MaxConnections = 4096
	// MaxStreams is how many calls one gRPC connection runs at once.
	MaxStreams = 256

	// PingMinTime: keepalive pings closer than this end the connection.
	PingMinTime = 10 * time.Second
)

// Timeouts bound how long a client may hold a connection without
// finishing its request. Zero fields take DefaultTimeouts' values.
type Timeouts struct {
	ReadHeader time.Duration // the request line and headers
	Read       time.Duration // the whole request, body included
	Write      time.Duration // the handler and the answer (an Excel export of the city)
	Idle       time.Duration // a kept-alive connection between requests (HTTP and gRPC)
	Handshake  time.Duration // a gRPC connection's preface
}

// DefaultTimeouts are production's.
var DefaultTimeouts = Timeouts{
	ReadHeader: 10 * time.Second,
	Read:       60 * time.Second,
	Write:      120 * time.Second,
	Idle:       120 * time.Second,
	Handshake:  10 * time.Second,
}

func (t Timeouts) orDefault() Timeouts {
	d := DefaultTimeouts
	return Timeouts{ReadHeader: cmp.Or(t.ReadHeader, d.ReadHeader), Read: cmp.Or(t.Read, d.Read), Write: cmp.Or(t.Write, d.Write),
		Idle: cmp.Or(t.Idle, d.Idle), Handshake: cmp.Or(t.Handshake, d.Handshake)}
}

// NewHTTPServer is an HTTP server with the timeouts and header bound above.
func NewHTTPServer(h http.Handler, log *slog.Logger, t Timeouts) *http.Server {
	t = t.orDefault()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// grpcLimits are the gRPC server's bounds: message and metadata size,
// streams per connection, the handshake's deadline, idle connections and
// keepalive abuse.
func grpcLimits(t Timeouts) []grpc.ServerOption {
	t = t.orDefault()
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(BatchBody),
		grpc.MaxHeaderListSize(MaxHeaderList),
		grpc.MaxConcurrentStreams(MaxStreams),
		grpc.ConnectionTimeout(t.Handshake),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: PingMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: t.Idle, Time: time.Minute, Timeout: 20 * time.Second}),
	}
}

// ErrTooLarge refuses a request body over its bound.
var ErrTooLarge = apierr.New(codes.ResourceExhausted, "REQUEST_TOO_LARGE", "请求内容过大")

// limitBody reads at most the path's bound of the body before anything
// parses it, and answers a larger one 413 with ErrorInfo: a client can't
// make the server hold more, not even on the public lookup before its
// rate limit.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		limit := int64(MaxBody)
		if strings.HasSuffix(r.URL.Path, ":batchCreate") {
			limit = BatchBody
		}
		if r.ContentLength > limit {
			tooLarge(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		switch {
		case err != nil:
			// The client went away, or dripped the body past ReadTimeout.
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusRequestTimeout)
			return
		case int64(len(body)) > limit:
			tooLarge(w, r)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

func tooLarge(w http.ResponseWriter, r *http.Request) {
	body, _ := jsonMarshaler.Marshal(ErrTooLarge.GRPCStatus().Proto())
	w.Header().Set("Content-Type", "application/json")
	// The rest of the body is not read: close rather than drain it.
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	_, _ = w.Write(body)
}
