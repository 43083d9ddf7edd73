package objects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"

	"github.com/minio/minio-go/v7"
)

func TestUnavailableClassifies(t *testing.T) {
	t.Parallel()
	refused := &url.Error{Op: "Get", URL: "http://127.0.0.1:1/b", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection refused", fmt.Errorf("objects.Get k: %w", refused), true},
		{"connection reset", syscall.ECONNRESET, true},
		{"cut mid-answer", io.ErrUnexpectedEOF, true},
		{"503 SlowDown", minio.ErrorResponse{Code: "SlowDown", StatusCode: 503}, true},
		{"500", fmt.Errorf("objects.Put k: %w", minio.ErrorResponse{Code: "InternalError", StatusCode: 500}), true},
		{"408", minio.ErrorResponse{Code: "RequestTimeout", StatusCode: 408}, true},
		{"404 NoSuchKey", minio.ErrorResponse{Code: "NoSuchKey", StatusCode: 404}, false},
		{"403 AccessDenied", minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}, false},
		{"400", minio.ErrorResponse{Code: "InvalidArgument", StatusCode: 400}, false},
		{"not found", fmt.Errorf("objects.Get k: %w", ErrNotFound), false},
		{"caller cancelled", fmt.Errorf("x: %w", context.Canceled), false},
		{"caller's deadline", context.DeadlineExceeded, false},
		{"the reader's network error", fmt.Errorf("objects.Put k: %w", sourceError{refused}), false},
		{"the reader's EOF", sourceError{io.ErrUnexpectedEOF}, false},
		{"other", errors.New("bad key"), false},
	}
	for _, tc := range cases {
		if got := Unavailable(tc.err); got != tc.want {
			t.Errorf("Unavailable(%s: %v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
