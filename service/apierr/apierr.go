// Package apierr turns domain errors into gRPC statuses with ErrorInfo,
// BadRequest field violations and a zh-CN LocalizedMessage, in one place.
package apierr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
)

// Domain is the ErrorInfo domain of every error redpoint returns.
const Domain = "redpoint"

// Error is a domain error that knows its gRPC code, its ErrorInfo reason and
// the zh-CN text users see. Packages declare their errors as *Error values
// once (var ErrX = apierr.New(...)) and return them, or copies made with
// WithMessage, so errors.Is still matches.
type Error struct {
	Code       codes.Code
	Reason     string
	Message    string // zh-CN, shown to users
	Violations []FieldViolation
	Metadata   map[string]string
}

// FieldViolation names one bad request field, in proto field-path form
// (errand.resident_phone), and says in zh-CN what is wrong with it.
type FieldViolation struct {
	Field       string
	Description string
}

// New declares a domain error. Every reason declared is listed by Reasons,
// for the reasons table client developers read (docs/api.md).
func New(code codes.Code, reason, message string) *Error {
	e := &Error{Code: code, Reason: reason, Message: message}
	declaredMu.Lock()
	defer declaredMu.Unlock()
	if declared[reason] == nil {
		declared[reason] = map[codes.Code]bool{}
	}
	declared[reason][code] = true
	return e
}

var (
	declaredMu sync.Mutex
	declared   = map[string]map[codes.Code]bool{}
)

// Reasons lists every ErrorInfo reason a client can meet, with the codes it
// comes with: those of the errors declared with New (in the packages linked
// into the binary) and those a status made outside this package gets from
// its code (ReasonForCode).
func Reasons() map[string][]codes.Code {
	declaredMu.Lock()
	defer declaredMu.Unlock()
	out := map[string][]codes.Code{}
	for reason, cs := range declared {
		for c := range cs {
			out[reason] = append(out[reason], c)
		}
	}
	for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
		r := ReasonForCode(c)
		if !slices.Contains(out[r], c) {
			out[r] = append(out[r], c)
		}
	}
	for _, cs := range out {
		slices.Sort(cs)
	}
	return out
}

// WithViolations returns a copy carrying field violations.
func (e *Error) WithViolations(v ...FieldViolation) *Error {
	c := *e
	c.Violations = append([]FieldViolation(nil), v...)
	return &c
}

func (e *Error) Error() string {
	if len(e.Violations) > 0 {
		return fmt.Sprintf("%s: %s (%d field violations)", e.Reason, e.Message, len(e.Violations))
	}
	return fmt.Sprintf("%s: %s", e.Reason, e.Message)
}

// Is matches any *Error with the same code and reason, so a copy made with
// WithMessage still matches the declared value.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Reason == e.Reason
}

// WithMessage returns a copy with a more specific zh-CN message.
func (e *Error) WithMessage(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	return &c
}

// WithMetadata returns a copy carrying ErrorInfo metadata.
func (e *Error) WithMetadata(kv ...string) *Error {
	c := *e
	c.Metadata = make(map[string]string, len(e.Metadata)+len(kv)/2)
	for k, v := range e.Metadata {
		c.Metadata[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		c.Metadata[kv[i]] = kv[i+1]
	}
	return &c
}

// The errors every capability shares.
var (
	ErrInvalidArgument  = New(codes.InvalidArgument, "INVALID_ARGUMENT", "请求参数有误")
	ErrNotFound         = New(codes.NotFound, "NOT_FOUND", "未找到该资源")
	ErrPermissionDenied = New(codes.PermissionDenied, "PERMISSION_DENIED", "无权执行此操作")
	ErrUnauthenticated  = New(codes.Unauthenticated, "UNAUTHENTICATED", "请先登录")
	ErrEtagMismatch     = New(codes.Aborted, "ETAG_MISMATCH", "数据已被他人修改，请刷新后重试")
	ErrRateLimited      = New(codes.ResourceExhausted, "RATE_LIMITED", "操作过于频繁，请稍后再试")
	ErrUnavailable      = New(codes.Unavailable, "UNAVAILABLE", "服务暂不可用，请稍后重试")
	errInternal         = New(codes.Internal, "INTERNAL", "服务器内部错误，请稍后重试")
)

// Violations collects field violations while a request is checked.
type Violations []FieldViolation

// Add records that field is bad, with a zh-CN description.
func (v *Violations) Add(field, description string) {
	*v = append(*v, FieldViolation{Field: field, Description: description})
}

// Err returns nil when nothing was recorded, else an INVALID_ARGUMENT error
// with one violation per bad field.
func (v Violations) Err() error {
	if len(v) == 0 {
		return nil
	}
	e := *ErrInvalidArgument
	e.Violations = append([]FieldViolation(nil), v...)
	return &e
}

// InvalidField is shorthand for a single bad field.
func InvalidField(field, description string) error {
	var v Violations
	v.Add(field, description)
	return v.Err()
}

// Unavailable marks cause — a dependency that can't be reached right now,
// as the store and kv packages tell — as ErrUnavailable: the client is told
// to retry (503), and Status logs the cause for the operator.
func Unavailable(cause error) error { return &unavailable{cause} }

type unavailable struct{ cause error }

func (u *unavailable) Error() string   { return "unavailable: " + u.cause.Error() }
func (u *unavailable) Unwrap() []error { return []error{ErrUnavailable, u.cause} }

// Status converts any error a handler returned into the status the client
// sees. Unknown errors become INTERNAL with a generic text; their cause is
// logged here, once, and never sent.
func Status(ctx context.Context, logger *slog.Logger, method string, err error) *status.Status {
	if err == nil {
		return nil
	}
	var e *Error
	switch {
	case errors.As(err, &e):
		if e.Code == codes.Unavailable && err != error(e) { //nolint:errorlint // identity on purpose: err wraps e with a cause worth logging
			// A dependency is away: the client is told to retry, the
			// operator why.
			logger.WarnContext(ctx, "unavailable", "method", method, "error", err)
		}
		return e.status()
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "请求已取消")
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "请求超时")
	}
	if st, ok := status.FromError(err); ok {
		return withErrorInfo(st)
	}
	logger.ErrorContext(ctx, "internal error", "method", method, "error", err)
	return errInternal.status()
}

// GRPCStatus is the status a client sees for e: its code and message with
// ErrorInfo, the zh-CN LocalizedMessage and any field violations.
func (e *Error) GRPCStatus() *status.Status { return e.status() }

func (e *Error) status() *status.Status {
	st := status.New(e.Code, e.Message)
	details := []protoadapt.MessageV1{
		&errdetails.ErrorInfo{Reason: e.Reason, Domain: Domain, Metadata: e.Metadata},
		&errdetails.LocalizedMessage{Locale: "zh-CN", Message: e.Message},
	}
	if len(e.Violations) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range e.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
		}
		details = append(details, br)
	}
	withDetails, err := st.WithDetails(details...)
	if err != nil {
		return st
	}
	return withDetails
}

// withErrorInfo gives a status made outside this package (by gRPC itself or
// by the REST gateway, e.g. for a malformed parameter) the ErrorInfo and
// zh-CN message every redpoint error carries.
func withErrorInfo(st *status.Status) *status.Status {
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.ErrorInfo); ok {
			return st
		}
	}
	if st.Code() == codes.Internal || st.Code() == codes.Unknown {
		return errInternal.status()
	}
	e := &Error{Code: st.Code(), Reason: ReasonForCode(st.Code()), Message: zhForCode(st.Code())}
	out := e.status()
	// Keep gRPC's own English text in the message for developers; the zh-CN
	// text is in LocalizedMessage.
	if st.Message() != "" {
		p := out.Proto()
		p.Message = st.Message()
		return status.FromProto(p)
	}
	return out
}

// FromStatus is withErrorInfo for callers outside the interceptor chain
// (the REST gateway's own errors).
func FromStatus(st *status.Status) *status.Status { return withErrorInfo(st) }

// ReasonForCode is the reason of a status made outside this package (by
// gRPC itself, or the REST gateway): its code in UPPER_SNAKE_CASE, INTERNAL
// for Unknown.
func ReasonForCode(c codes.Code) string {
	if c == codes.Unknown {
		return errInternal.Reason
	}
	return upperSnake(c.String())
}

func zhForCode(c codes.Code) string {
	switch c {
	case codes.InvalidArgument, codes.OutOfRange:
		return ErrInvalidArgument.Message
	case codes.NotFound:
		return ErrNotFound.Message
	case codes.PermissionDenied:
		return ErrPermissionDenied.Message
	case codes.Unauthenticated:
		return ErrUnauthenticated.Message
	case codes.ResourceExhausted:
		return ErrRateLimited.Message
	case codes.Unavailable:
		return ErrUnavailable.Message
	case codes.Unimplemented:
		return "不支持此操作"
	case codes.Canceled:
		return "请求已取消"
	case codes.DeadlineExceeded:
		return "请求超时"
	default:
		return errInternal.Message
	}
}

func upperSnake(codeName string) string {
	out := make([]byte, 0, len(codeName)+4)
	for i := 0; i < len(codeName); i++ {
		c := codeName[i]
		if c >= 'A' && c <= 'Z' && i > 0 && codeName[i-1] >= 'a' && codeName[i-1] <= 'z' {
			out = append(out, '_')
		}
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		out = append(out, c)
	}
	return string(out)
}
