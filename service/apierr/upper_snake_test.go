package apierr

import (
	"testing"

	"google.golang.org/grpc/codes"
)

// TestUpperSnake: a gRPC code name becomes an ErrorInfo reason in the
// UPPER_SNAKE_CASE every other reason uses.
func TestUpperSnake(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"", ""},
		{"Aborted", "ABORTED"},
		{"FailedPrecondition", "FAILED_PRECONDITION"},
		{"DeadlineExceeded", "DEADLINE_EXCEEDED"},
		{"INVALID_ARGUMENT", "INVALID_ARGUMENT"},
		{"NOT_FOUND", "NOT_FOUND"},
		{"Code(42)", "CODE(42)"},
	}
	for _, tc := range cases {
		if got := upperSnake(tc.in); got != tc.want {
			t.Errorf("upperSnake(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Every code gRPC defines, as the reason a foreign status gets.
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		got := upperSnake(c.String())
		if got != upperSnakeOf[c] {
			t.Errorf("upperSnake(%s) = %q, want %q", c, got, upperSnakeOf[c])
		}
	}
}

var upperSnakeOf = map[codes.Code]string{
	codes.OK:                 "OK",
	codes.Canceled:           "CANCELED",
	codes.Unknown:            "UNKNOWN",
	codes.InvalidArgument:    "INVALID_ARGUMENT",
	codes.DeadlineExceeded:   "DEADLINE_EXCEEDED",
	codes.NotFound:           "NOT_FOUND",
	codes.AlreadyExists:      "ALREADY_EXISTS",
	codes.PermissionDenied:   "PERMISSION_DENIED",
	codes.ResourceExhausted:  "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION",
	codes.Aborted:            "ABORTED",
	codes.OutOfRange:         "OUT_OF_RANGE",
	codes.Unimplemented:      "UNIMPLEMENTED",
	codes.Internal:           "INTERNAL",
	codes.Unavailable:        "UNAVAILABLE",
	codes.DataLoss:           "DATA_LOSS",
	codes.Unauthenticated:    "UNAUTHENTICATED",
}
