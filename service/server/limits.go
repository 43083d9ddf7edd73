package server

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/tap"

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
	// MaxBodyBytesInFlight is how much request body all REST calls
	// together may hold at once.
	MaxBodyBytesInFlight = 256 << 20
	// MaxConnections is how many connections each listener holds at once;
	// more wait in the kernel's backlog.
	MaxConnections = 4096
	// MaxStreams is how many calls one gRPC connection runs at once.
	MaxStreams = 100

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
func grpcLimits(t Timeouts, unary map[string]unaryMethod) []grpc.ServerOption {
	t = t.orDefault()
	return []grpc.ServerOption{
		grpc.InTapHandle(callDeadline(unary, t.Write)),
		grpc.MaxRecvMsgSize(BatchBody),
		grpc.MaxHeaderListSize(MaxHeaderList),
		grpc.MaxConcurrentStreams(MaxStreams),
		grpc.ConnectionTimeout(t.Handshake),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: PingMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: t.Idle, Time: time.Minute, Timeout: 20 * time.Second}),
	}
}

type cancelKey struct{}

// callDeadline bounds a unary gRPC call, from its first frame to its
// answer, by d (the REST write timeout): a client can't hold a call, and
// the part of a message it sent, open by never finishing it. The deadline
// is the call's context from the start, so a stalled read ends with it.
func callDeadline(unary map[string]unaryMethod, d time.Duration) tap.ServerInHandle {
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		if _, ok := unary[info.FullMethodName]; !ok {
			return ctx, nil // streams (health watches) live as long as their client
		}
		ctx, cancel := context.WithTimeout(ctx, d)
		return context.WithValue(ctx, cancelKey{}, cancel), nil
	}
}

// releaseDeadline frees a finished call's deadline timer at once.
func releaseDeadline(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if cancel, ok := ctx.Value(cancelKey{}).(context.CancelFunc); ok {
		defer cancel()
	}
	return handler(ctx, req)
}

// ErrTooLarge refuses a request body over its bound.
var ErrTooLarge = apierr.New(codes.ResourceExhausted, "REQUEST_TOO_LARGE", "请求内容过大")

// bodyBytes is how much request body every REST call together holds now;
// bodyBudget is its bound (tests lower it).
var (
	bodyBytes  atomic.Int64
	bodyBudget int64 = MaxBodyBytesInFlight
)

// limitBody reads at most the path's bound of the body before anything
// parses it, and answers a larger one 413 with ErrorInfo: a client can't
// make the server hold more, not even on the public lookup before its
// rate limit. All bodies together hold at most MaxBodyBytesInFlight; past
// it, 503 until others finish.
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
			writeStatus(w, http.StatusRequestEntityTooLarge, ErrTooLarge)
			return
		}
		var held int64
		defer func() { bodyBytes.Add(-held) }()
		var body bytes.Buffer
		chunk := make([]byte, 32<<10)
		for {
			n, err := r.Body.Read(chunk)
			if n > 0 {
				held += int64(n)
				if bodyBytes.Add(int64(n)) > bodyBudget {
					writeStatus(w, http.StatusServiceUnavailable, ErrBodiesBusy)
					return
				}
				if int64(body.Len()+n) > limit {
					writeStatus(w, http.StatusRequestEntityTooLarge, ErrTooLarge)
					return
				}
				body.Write(chunk[:n])
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					// Dripped past the read timeout.
					writeStatus(w, http.StatusRequestTimeout, ErrBodyTimeout)
					return
				}
				// A malformed chunked body, or one shorter than announced.
				writeStatus(w, http.StatusBadRequest, ErrBadBody)
				return
			}
		}
		r.Body = io.NopCloser(&body)
		r.ContentLength = int64(body.Len())
		next.ServeHTTP(w, r)
	})
}

// The refusals of bodies.
var (
	ErrBodiesBusy  = apierr.ErrUnavailable.WithMessage("服务繁忙，请稍后再试")
	ErrBodyTimeout = apierr.New(codes.DeadlineExceeded, "REQUEST_TIMEOUT", "请求发送超时，请检查网络后重试")
	ErrBadBody     = apierr.ErrInvalidArgument.WithMessage("请求内容不完整或格式有误")
)

// writeStatus answers e with the HTTP code, in the body shape the gateway
// gives every error, and closes the connection: the rest of the body is
// not read.
func writeStatus(w http.ResponseWriter, code int, e *apierr.Error) {
	body, _ := jsonMarshaler.Marshal(e.GRPCStatus().Proto())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "close")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
