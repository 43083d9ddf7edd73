package objects

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/minio/minio-go/v7"
)

// Unavailable reports whether err says the object store can't be reached
// or can't serve right now — connection refused, reset or timed out, a 5xx
// answer (503 SlowDown included), a 408 — rather than that the request was
// wrong or the object missing. The API answers it with 503 UNAVAILABLE, as
// it does kv.Unavailable and store.Unavailable. An error from the reader
// given to Put is the caller's, never the store's.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // the caller gave up: not the store's doing
	}
	var src sourceError
	if errors.As(err, &src) || errors.Is(err, ErrNotFound) {
		return false
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp.StatusCode >= http.StatusInternalServerError || resp.StatusCode == http.StatusRequestTimeout ||
			resp.Code == "SlowDown" || resp.Code == "ServiceUnavailable" || resp.Code == "RequestTimeout"
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
