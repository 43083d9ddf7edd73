package server

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// inproc is the gateway's connection to the API: a grpc.ClientConnInterface
// that runs the very interceptor chain of the gRPC server and then the
// handler, in-process — no HTTP/2 framing, no second encoding. A REST call
// is thus a gRPC call without the wire.
type inproc struct {
	methods map[string]unaryMethod
	chain   grpc.UnaryServerInterceptor
}

type unaryMethod struct {
	impl    any
	handler grpc.MethodHandler
}

// registrar registers services on the gRPC server and remembers their
// unary handlers for the in-process connection.
type registrar struct {
	server   *grpc.Server
	methods  map[string]unaryMethod
	services []string // full names, for per-service health
}

func (r *registrar) RegisterService(desc *grpc.ServiceDesc, impl any) {
	r.server.RegisterService(desc, impl)
	r.services = append(r.services, desc.ServiceName)
	for _, m := range desc.Methods {
		r.methods["/"+desc.ServiceName+"/"+m.MethodName] = unaryMethod{impl: impl, handler: m.Handler}
	}
}

// chainOf composes interceptors, the first outermost, as grpc.ChainUnaryInterceptor does.
func chainOf(ics []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		h := handler
		for i := len(ics) - 1; i >= 0; i-- {
			ic, next := ics[i], h
			h = func(ctx context.Context, req any) (any, error) { return ic(ctx, req, info, next) }
		}
		return h(ctx, req)
	}
}

// Invoke runs method in-process: the gateway's outgoing metadata becomes
// the call's incoming metadata, and headers the handler sets come back
// through the call options, as over the wire.
func (c *inproc) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	m, ok := c.methods[method]
	if !ok {
		return status.Errorf(codes.Unimplemented, "unknown method %s", method)
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	stream := &transportStream{method: method}
	ctx = grpc.NewContextWithServerTransportStream(metadata.NewIncomingContext(ctx, md), stream)
	resp, err := m.handler(m.impl, ctx, func(in any) error {
		proto.Merge(in.(proto.Message), args.(proto.Message))
		return nil
	}, c.chain)
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			*o.HeaderAddr = stream.headers()
		case grpc.TrailerCallOption:
			*o.TrailerAddr = stream.trailers()
		}
	}
	if err != nil {
		return err
	}
	proto.Merge(reply.(proto.Message), resp.(proto.Message))
	return nil
}

// NewStream: the REST API has no streaming calls.
func (c *inproc) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Error(codes.Unimplemented, "no streaming over REST")
}

// transportStream collects the headers and trailers a handler sets.
type transportStream struct {
	method          string
	mu              sync.Mutex
	header, trailer metadata.MD
}

func (t *transportStream) Method() string { return t.method }

func (t *transportStream) SetHeader(md metadata.MD) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.header = metadata.Join(t.header, md)
	return nil
}

func (t *transportStream) SendHeader(md metadata.MD) error { return t.SetHeader(md) }

func (t *transportStream) SetTrailer(md metadata.MD) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.trailer = metadata.Join(t.trailer, md)
	return nil
}

func (t *transportStream) headers() metadata.MD {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.header.Copy()
}

func (t *transportStream) trailers() metadata.MD {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.trailer.Copy()
}
