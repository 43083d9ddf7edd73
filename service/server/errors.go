package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/changzhi/redpoint/service/apierr"
)

// The gateway's own errors: a request that never reached a handler. They
// carry a stable reason and zh-CN text like every domain error; the
// parser's English text, useful to a developer, goes in ErrorInfo's
// metadata under "detail".
var (
	ErrUnknownPath      = apierr.New(codes.NotFound, "UNKNOWN_PATH", "请求的路径不存在")
	ErrMethodNotAllowed = apierr.New(codes.Unimplemented, "METHOD_NOT_ALLOWED", "该路径不支持此请求方法")
	ErrMalformedBody    = apierr.New(codes.InvalidArgument, "MALFORMED_BODY", "请求内容格式有误（不是有效的 JSON，或字段的类型不符）")
	ErrUnknownField     = apierr.New(codes.InvalidArgument, "UNKNOWN_FIELD", "请求中有无法识别的字段")
)

// The texts the gateway's parsers produce (protojson for bodies, the query
// parser for URLs), and the field each names.
var (
	unknownFieldText = regexp.MustCompile(`unknown field "([^"]+)"`)
	badValueText     = regexp.MustCompile(`invalid value for [a-z0-9 ]*field ([A-Za-z0-9_.]+)`)
	queryFieldText   = regexp.MustCompile(`parsing field "([^"]+)"|parameter: ([A-Za-z0-9_.]+)`)
	// A field given twice: in the body (protojson), or in the query
	// (pageSize=1&page_size=2, view=A&view=B).
	repeatedFieldText = regexp.MustCompile(`(?:duplicate|too many values for) field "([^"]+)"`)
)

// gatewayError gives an error the gateway raised itself (st has no
// ErrorInfo) its reason and zh-CN text. Errors from handlers pass as they
// are. body is the request field the JSON body fills (errand), so a
// violation in the body is named by its path from the request
// (errand.resident_name), as the handlers name theirs.
func gatewayError(st *status.Status, body string) *status.Status {
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.ErrorInfo); ok {
			return st
		}
	}
	text := st.Message()
	if st.Code() != codes.InvalidArgument {
		return apierr.FromStatus(st)
	}
	inBody := func(field string) string {
		// protojson's errors ("proto: …") are the body's, and name the
		// field alone.
		if body != "" && strings.HasPrefix(text, "proto:") {
			return body + "." + field
		}
		return field
	}
	var e *apierr.Error
	var v apierr.Violations
	switch {
	case unknownFieldText.MatchString(text):
		e = ErrUnknownField
		v.Add(inBody(unknownFieldText.FindStringSubmatch(text)[1]), "无法识别的字段")
	case badValueText.MatchString(text):
		// A field of the wrong type is a bad argument like any other.
		e = apierr.ErrInvalidArgument
		v.Add(inBody(snake(badValueText.FindStringSubmatch(text)[1])), "取值类型或格式有误")
	case repeatedFieldText.MatchString(text):
		e = apierr.ErrInvalidArgument
		v.Add(inBody(snake(repeatedFieldText.FindStringSubmatch(text)[1])), "只能给出一次")
	case queryFieldText.MatchString(text):
		e = apierr.ErrInvalidArgument
		m := queryFieldText.FindStringSubmatch(text)
		v.Add(snake(m[1]+m[2]), "取值类型或格式有误")
	case strings.HasPrefix(text, "proto:") || strings.Contains(text, "unexpected EOF") || strings.Contains(text, "invalid character"):
		e = ErrMalformedBody
	default:
		e = apierr.ErrInvalidArgument
	}
	e = e.WithMetadata("detail", text)
	e.Violations = v
	return e.GRPCStatus()
}

// errorHandler writes every error the REST side answers, in one shape:
// google.rpc.Status with ErrorInfo (a stable reason), a zh-CN
// LocalizedMessage and, for bad input, BadRequest.
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	httpStatus := 0
	if hs, ok := err.(*runtime.HTTPStatusError); ok { //nolint:errorlint // set by routingErrorHandler below, never wrapped
		httpStatus, err = hs.HTTPStatus, hs.Err
	}
	out := gatewayError(status.Convert(err), bodyField(ctx)).Err()
	if httpStatus != 0 {
		out = &runtime.HTTPStatusError{HTTPStatus: httpStatus, Err: out}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, challenge{ResponseWriter: w, r: r}, r, out)
}

// challenge replaces the gateway's WWW-Authenticate on a 401 (the status
// message, raw) with a Bearer challenge (RFC 6750): error="invalid_token"
// when a token was sent and refused, none when there was no token.
type challenge struct {
	http.ResponseWriter
	r *http.Request
}

func (c challenge) WriteHeader(code int) {
	if code == http.StatusUnauthorized {
		v := `Bearer realm="redpoint"`
		if c.r.Header.Get("Authorization") != "" {
			v += `, error="invalid_token"`
		}
		c.Header().Set("WWW-Authenticate", v)
	}
	c.ResponseWriter.WriteHeader(code)
}

// routingErrorHandler answers a request no route takes: 404 for an
// unknown path, 405 with Allow for a known path and the wrong method.
func (s *Server) routingErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	var e *apierr.Error
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		e = ErrMethodNotAllowed
		w.Header().Set("Allow", strings.Join(s.routes.allowed(r), ", "))
	case http.StatusNotFound:
		e = ErrUnknownPath
	default:
		e = apierr.ErrInvalidArgument
	}
	errorHandler(ctx, mux, m, w, r, &runtime.HTTPStatusError{HTTPStatus: httpStatus, Err: e.GRPCStatus().Err()})
}

// snake turns a JSON field name (residentName) into the proto name
// (resident_name) that field violations use everywhere else.
func snake(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// WriteError answers err on a route outside the gateway (Config.Files) as
// the gateway answers its own: the status apierr.Status makes of it, in
// the same JSON shape and with the same HTTP code.
func WriteError(ctx context.Context, log *slog.Logger, w http.ResponseWriter, r *http.Request, method string, err error) {
	st := apierr.Status(ctx, log, method, markUnavailable(err))
	out := st.Err()
	if errors.Is(err, ErrBodyTimeout) {
		out = &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestTimeout, Err: out} // as limitBody answers it
	}
	errorHandler(ctx, plainMux, jsonMarshaler, w, r, out)
}

// plainMux stands in for the gateway's mux where an error is written
// outside it: it carries no routes, only the default rewriters.
var plainMux = runtime.NewServeMux()

// WriteMessage answers m as JSON with the HTTP code, as the gateway
// renders an answer.
func WriteMessage(w http.ResponseWriter, code int, m proto.Message) {
	body, err := jsonMarshaler.Marshal(m)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
