package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/objects"
	"github.com/changzhi/redpoint/service/store"
)

// Authenticator is the auth hook of the chain: it identifies the caller of
// fullMethod, decides whether the call may proceed and returns a context
// that carries the caller. The access-control capability provides it.
type Authenticator interface {
	Authenticate(ctx context.Context, fullMethod string, req any) (context.Context, error)
}

// unaryChain is the one chain every call passes, gRPC and REST alike (the
// gateway calls the gRPC server in-process). Order, outermost first:
// metrics, logging, error mapping, recovery, auth, audit, validation.
func (s *Server) unaryChain() []grpc.UnaryServerInterceptor {
	chain := []grpc.UnaryServerInterceptor{
		s.metrics.UnaryServerInterceptor(),
		s.logUnary,
		s.statusUnary,
		recoverUnary,
	}
	if s.cfg.Authenticator != nil {
		chain = append(chain, authUnary(s.cfg.Authenticator))
	}
	chain = append(chain, s.cfg.AfterAuth...)
	return append(chain, validateUnary)
}

func (s *Server) streamChain() []grpc.StreamServerInterceptor {
	return []grpc.StreamServerInterceptor{
		s.metrics.StreamServerInterceptor(),
		s.logStream,
		s.statusStream,
		recoverStream,
	}
}

// logUnary logs one line per call: method, code, duration. Never the
// request or response, which may hold personal data.
func (s *Server) logUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	s.logCall(ctx, info.FullMethod, start, err)
	return resp, err
}

func (s *Server) logStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	s.logCall(ss.Context(), info.FullMethod, start, err)
	return err
}

func (s *Server) logCall(ctx context.Context, method string, start time.Time, err error) {
	code := status.Code(err)
	level := slog.LevelInfo
	if err != nil && code.String() == "Internal" {
		level = slog.LevelError
	}
	s.log.Log(ctx, level, "rpc", "method", method, "code", code.String(), "duration_ms", float64(time.Since(start).Microseconds())/1000)
}

// statusUnary turns whatever the handler returned into the status the
// client sees (apierr.Status), so every error carries ErrorInfo and a zh-CN
// message and no internal cause leaks.
func (s *Server) statusUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		return nil, apierr.Status(ctx, s.log, info.FullMethod, markUnavailable(err)).Err()
	}
	return resp, nil
}

func (s *Server) statusStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := handler(srv, ss); err != nil {
		return apierr.Status(ss.Context(), s.log, info.FullMethod, markUnavailable(err)).Err()
	}
	return nil
}

// markUnavailable marks an error that says the database, Redis or the
// object store can't be
// reached right now, so the client is told to retry (503) rather than
// shown a 500.
func markUnavailable(err error) error {
	var domain *apierr.Error
	if errors.As(err, &domain) {
		return err // the handler said what to tell the client (e.g. the lookup's own 503 text)
	}
	if store.Unavailable(err) || kv.Unavailable(err) || objects.Unavailable(err) {
		return apierr.Unavailable(err)
	}
	return err
}

// recoverUnary turns a panic into an error; statusUnary logs it as internal.
func recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in %s: %v\n%s", info.FullMethod, r, debug.Stack())
		}
	}()
	return handler(ctx, req)
}

func recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in %s: %v\n%s", info.FullMethod, r, debug.Stack())
		}
	}()
	return handler(srv, ss)
}

func authUnary(a Authenticator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := a.Authenticate(ctx, info.FullMethod, req)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}
