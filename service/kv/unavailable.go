package kv

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/redis/go-redis/v9"
)

// Unavailable reports whether err says Redis can't be reached right now —
// connection refused, cut or timed out, no free connection, the server
// loading or failing over, a Redis Cluster down (CLUSTERDOWN, ErrClusterDown)
// or with no node reachable — rather than that the command was wrong. The
// API answers it with 503 UNAVAILABLE.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // the caller gave up: not Redis's doing
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrClosed) ||
		redis.IsLoadingError(err) || redis.IsMasterDownError(err) || redis.IsClusterDownError(err) || errors.Is(err, ErrClusterDown) ||
		redis.IsTryAgainError(err) || redis.IsMaxClientsError(err)
}
