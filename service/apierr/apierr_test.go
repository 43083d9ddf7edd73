package apierr_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/changzhi/redpoint/service/apierr"
)

// TestStatusOfAnUnreachableDependency: a dependency marked unavailable is
// 503 UNAVAILABLE, which a client retries, not a 500; its cause is not
// sent. (Which errors mean "unreachable" is the store's and kv's call; the
// server marks them, see service/server.)
func TestStatusOfAnUnreachableDependency(t *testing.T) {
	cause := errors.New("dial tcp 10.0.0.7:5432: connection refused")
	cases := []struct {
		name   string
		err    error
		code   codes.Code
		reason string
	}{
		{"marked unavailable", apierr.Unavailable(cause), codes.Unavailable, "UNAVAILABLE"},
		{"marked and wrapped", fmt.Errorf("leaderboard.Top: %w", apierr.Unavailable(cause)), codes.Unavailable, "UNAVAILABLE"},
		{"unmarked", fmt.Errorf("errand.insert: %w", cause), codes.Internal, "INTERNAL"},
		{"domain error", fmt.Errorf("x: %w", apierr.ErrEtagMismatch), codes.Aborted, "ETAG_MISMATCH"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := apierr.Status(context.Background(), slog.New(slog.DiscardHandler), "/test", tc.err)
			reason := ""
			for _, d := range st.Details() {
				if info, ok := d.(*errdetails.ErrorInfo); ok {
					reason = info.Reason
				}
			}
			if st.Code() != tc.code || reason != tc.reason {
				t.Errorf("Status(%v) = %v %s, want %v %s", tc.err, st.Code(), reason, tc.code, tc.reason)
			}
			if strings.Contains(st.Message(), "refused") {
				t.Errorf("Status(%v) sent the cause: %q", tc.err, st.Message())
			}
		})
	}
}

// details returns the ErrorInfo, LocalizedMessage and BadRequest a status
// carries, nil where absent.
func details(tb testing.TB, st *status.Status) (*errdetails.ErrorInfo, *errdetails.LocalizedMessage, *errdetails.BadRequest) {
	tb.Helper()
	var (
		info *errdetails.ErrorInfo
		loc  *errdetails.LocalizedMessage
		br   *errdetails.BadRequest
	)
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.LocalizedMessage:
			loc = d
		case *errdetails.BadRequest:
			br = d
		default:
			tb.Errorf("unexpected detail %T: %v", d, d)
		}
	}
	return info, loc, br
}

// TestStatus covers each kind of error a handler may return and what the
// client then sees: code, message, and the details clients rely on.
func TestStatus(t *testing.T) {
	t.Parallel()
	cause := errors.New("pq: relation errand_secret_table does not exist")
	cases := []struct {
		name    string
		err     error
		code    codes.Code
		message string
		info    *errdetails.ErrorInfo        // nil: none expected
		loc     *errdetails.LocalizedMessage // nil: none expected
		br      *errdetails.BadRequest       // nil: none expected
	}{
		{
			name: "field violations, wrapped",
			err: fmt.Errorf("errand.Create: %w", func() error {
				var v apierr.Violations
				v.Add("errand.resident_phone", "手机号应为 11 位数字")
				v.Add("errand.errand_type", "不能为空")
				return v.Err()
			}()),
			code:    codes.InvalidArgument,
			message: "请求参数有误",
			info:    &errdetails.ErrorInfo{Reason: "INVALID_ARGUMENT", Domain: "redpoint"},
			loc:     &errdetails.LocalizedMessage{Locale: "zh-CN", Message: "请求参数有误"},
			br: &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
				{Field: "errand.resident_phone", Description: "手机号应为 11 位数字"},
				{Field: "errand.errand_type", Description: "不能为空"},
			}},
		},
		{
			name:    "specific message and metadata",
			err:     apierr.New(codes.FailedPrecondition, "INVALID_STATE_TRANSITION", "不允许").WithMessage("事项当前为「%s」", "已办结").WithMetadata("from", "COMPLETED"),
			code:    codes.FailedPrecondition,
			message: "事项当前为「已办结」",
			info:    &errdetails.ErrorInfo{Reason: "INVALID_STATE_TRANSITION", Domain: "redpoint", Metadata: map[string]string{"from": "COMPLETED"}},
			loc:     &errdetails.LocalizedMessage{Locale: "zh-CN", Message: "事项当前为「已办结」"},
		},
		{
			name:    "declared error",
			err:     apierr.ErrNotFound,
			code:    codes.NotFound,
			message: "未找到该资源",
			info:    &errdetails.ErrorInfo{Reason: "NOT_FOUND", Domain: "redpoint"},
			loc:     &errdetails.LocalizedMessage{Locale: "zh-CN", Message: "未找到该资源"},
		},
		{
			name:    "client went away",
			err:     fmt.Errorf("errand.List: %w", context.Canceled),
			code:    codes.Canceled,
			message: "请求已取消",
		},
		{
			name:    "deadline",
			err:     fmt.Errorf("errand.List: %w", context.DeadlineExceeded),
			code:    codes.DeadlineExceeded,
			message: "请求超时",
		},
		{
			name:    "foreign status keeps its text and gains ErrorInfo",
			err:     status.Error(codes.Unimplemented, "unknown method Foo"),
			code:    codes.Unimplemented,
			message: "unknown method Foo",
			info:    &errdetails.ErrorInfo{Reason: "UNIMPLEMENTED", Domain: "redpoint"},
			loc:     &errdetails.LocalizedMessage{Locale: "zh-CN", Message: "不支持此操作"},
		},
		{
			name:    "foreign status with a two-word code",
			err:     status.Error(codes.ResourceExhausted, "grpc: received message larger than max"),
			code:    codes.ResourceExhausted,
			message: "grpc: received message larger than max",
			info:    &errdetails.ErrorInfo{Reason: "RESOURCE_EXHAUSTED", Domain: "redpoint"},
			loc:     &errdetails.LocalizedMessage{Locale: "zh-CN", Message: "操作过于频繁，请稍后再试"},
		},
		{
			name:    "foreign bad argument from the gateway",
			err:     status.Error(codes.InvalidArgument, "type mismatch, parameter: page_size"),
			code:    codes.InvalidArgument,
			message: "type mismatch, parameter: page_size",
			info:    &errdetails.ErrorInfo{Reason: "INVALID_ARGUMENT", Domain: "redpoint"},
			loc:     &errdetails.LocalizedMessage{Locale: "zh-CN", Message: "请求参数有误"},
		},
		{
			name:    "foreign status without a message",
			err:     status.Error(codes.NotFound, ""),
			code:    codes.NotFound,
			message: "未找到该资源",
			info:    &errdetails.ErrorInfo{Reason: "NOT_FOUND", Domain: "redpoint"},
			loc:     &errdetails.LocalizedMessage{Locale: "zh-CN", Message: "未找到该资源"},
		},
		{
			name:    "foreign internal status hides its text",
			err:     status.Error(codes.Internal, "panic: nil map at errand.go:42"),
			code:    codes.Internal,
			message: "服务器内部错误，请稍后重试",
			info:    &errdetails.ErrorInfo{Reason: "INTERNAL", Domain: "redpoint"},
			loc:     &errdetails.LocalizedMessage{Locale: "zh-CN", Message: "服务器内部错误，请稍后重试"},
		},
		{
			name:    "unknown error",
			err:     fmt.Errorf("errand.Get: %w", cause),
			code:    codes.Internal,
			message: "服务器内部错误，请稍后重试",
			info:    &errdetails.ErrorInfo{Reason: "INTERNAL", Domain: "redpoint"},
			loc:     &errdetails.LocalizedMessage{Locale: "zh-CN", Message: "服务器内部错误，请稍后重试"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := apierr.Status(context.Background(), slog.New(slog.DiscardHandler), "/test", tc.err)
			if st.Code() != tc.code || st.Message() != tc.message {
				t.Errorf("Status(%v) = %v %q, want %v %q", tc.err, st.Code(), st.Message(), tc.code, tc.message)
			}
			info, loc, br := details(t, st)
			if diff := cmp.Diff(tc.info, info, protocmp.Transform()); diff != "" {
				t.Errorf("ErrorInfo mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.loc, loc, protocmp.Transform()); diff != "" {
				t.Errorf("LocalizedMessage mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.br, br, protocmp.Transform()); diff != "" {
				t.Errorf("BadRequest mismatch (-want +got):\n%s", diff)
			}
			// Nothing of an unexpected error's cause reaches the client.
			if strings.Contains(fmt.Sprint(st.Proto()), "errand_secret_table") {
				t.Errorf("status leaks the cause: %v", st.Proto())
			}
		})
	}
	if st := apierr.Status(context.Background(), slog.New(slog.DiscardHandler), "/test", nil); st != nil {
		t.Errorf("Status(nil) = %v, want nil", st)
	}
}

// TestStatusLogsTheCauseOnce: the operator sees what the client does not,
// an unknown error's cause, at ERROR; a bare domain error is not logged.
func TestStatusLogsTheCauseOnce(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		err   error
		level string // "" for no log line
	}{
		{"unknown error", errors.New("disk on fire"), "ERROR"},
		{"domain error", apierr.ErrNotFound, ""},
		{"wrapped unavailable", fmt.Errorf("sms.Send: %w: disk on fire", apierr.ErrUnavailable), "WARN"},
		{"bare unavailable", apierr.ErrUnavailable, ""},
		{"canceled", context.Canceled, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&buf, nil))
			apierr.Status(context.Background(), logger, "/redpoint.v1.ErrandService/GetErrand", tc.err)
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if tc.level == "" {
				if buf.Len() != 0 {
					t.Errorf("logged %q, want nothing", buf.String())
				}
				return
			}
			if len(lines) != 1 || !strings.Contains(lines[0], "level="+tc.level) ||
				!strings.Contains(lines[0], "disk on fire") || !strings.Contains(lines[0], "GetErrand") {
				t.Errorf("log = %q, want one %s line with the cause and the method", buf.String(), tc.level)
			}
		})
	}
}

// TestErrorIdentity: copies made with WithMessage / WithMetadata still match
// their declared value, other errors don't, and the declared value is left
// as it was.
func TestErrorIdentity(t *testing.T) {
	t.Parallel()
	base := apierr.New(codes.FailedPrecondition, "RATING_CLOSED", "评价已关闭").WithMetadata("a", "1")
	cp := base.WithMessage("评价已于%s关闭", "昨天").WithMetadata("b", "2")
	if !errors.Is(fmt.Errorf("x: %w", cp), base) {
		t.Error("a copy does not match its declared error")
	}
	if errors.Is(cp, apierr.New(codes.FailedPrecondition, "OTHER", "评价已关闭")) {
		t.Error("a different reason matches")
	}
	if errors.Is(cp, apierr.New(codes.Aborted, "RATING_CLOSED", "评价已关闭")) {
		t.Error("a different code matches")
	}
	if diff := cmp.Diff(map[string]string{"a": "1"}, base.Metadata); diff != "" {
		t.Errorf("declared error's metadata changed (-want +got):\n%s", diff)
	}
	if base.Message != "评价已关闭" {
		t.Errorf("declared error's message changed to %q", base.Message)
	}
	if diff := cmp.Diff(map[string]string{"a": "1", "b": "2"}, cp.Metadata); diff != "" {
		t.Errorf("copy's metadata (-want +got):\n%s", diff)
	}
	if got := apierr.InvalidField("f", "坏").Error(); !strings.Contains(got, "INVALID_ARGUMENT") || !strings.Contains(got, "1 field violations") {
		t.Errorf("Error() = %q", got)
	}
	var none apierr.Violations
	if err := none.Err(); err != nil {
		t.Errorf("empty Violations.Err() = %v, want nil", err)
	}
}

// TestGRPCStatus: returning an *Error straight from a handler (gRPC asks
// GRPCStatus) gives the same status as going through Status.
func TestGRPCStatus(t *testing.T) {
	t.Parallel()
	err := apierr.InvalidField("errand.resident_name", "不能为空")
	got, ok := status.FromError(err)
	if !ok {
		t.Fatal("status.FromError does not see an *apierr.Error as a status")
	}
	want := apierr.Status(context.Background(), slog.New(slog.DiscardHandler), "/test", err)
	if diff := cmp.Diff(want.Proto(), got.Proto(), protocmp.Transform()); diff != "" {
		t.Errorf("GRPCStatus differs from Status (-Status +GRPCStatus):\n%s", diff)
	}
}

// TestFromStatusKeepsExistingErrorInfo: a status that already carries
// ErrorInfo (ours, come back through the gateway) is passed through as is.
func TestFromStatusKeepsExistingErrorInfo(t *testing.T) {
	t.Parallel()
	in := apierr.ErrEtagMismatch.GRPCStatus()
	if diff := cmp.Diff(in.Proto(), apierr.FromStatus(in).Proto(), protocmp.Transform()); diff != "" {
		t.Errorf("FromStatus changed a redpoint status (-want +got):\n%s", diff)
	}
}
