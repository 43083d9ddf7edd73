package server

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// jsonOptions is how the REST gateway renders every message.
var jsonOptions = protojson.MarshalOptions{EmitDefaultValues: true}

// JSON renders m exactly as the REST gateway does, for SetRendered.
func JSON(m proto.Message) ([]byte, error) {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return nil, err
	}
	return compact(b)
}

// compact drops the spaces protojson scatters on purpose (its output is
// not meant to be stable): residents poll on weak connections, and every
// byte counts.
func compact(b []byte) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(b))
	if err := json.Compact(&out, b); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// SetRendered hands the REST gateway the JSON of the answer the handler is
// about to return, made by JSON from the same message: a handler that
// keeps an answer cached keeps its JSON with it, and the gateway sends
// those bytes rather than render the message again. Calls over gRPC
// ignore it.
func SetRendered(ctx context.Context, json []byte) {
	if s, ok := ctx.Value(renderedKey{}).(*renderedSlot); ok {
		s.json = json
	}
}

type renderedKey struct{}

// renderedSlot is where a handler leaves its answer's JSON (SetRendered)
// or the whole answer (UseAnswer) for the REST layer.
type renderedSlot struct {
	json   []byte
	answer Answer
}

// rendered is an answer's JSON, sent as is by the gateway's marshaler.
type rendered []byte

// useRendered swaps an answer for its JSON when the handler set it.
func useRendered(ctx context.Context, resp proto.Message) (any, error) {
	if s, ok := ctx.Value(renderedKey{}).(*renderedSlot); ok && s.json != nil {
		return rendered(s.json), nil
	}
	return resp, nil
}

// jsonMarshaler is the gateway's marshaler for every content type.
var jsonMarshaler = gatewayMarshaler{&runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{
	MarshalOptions:   jsonOptions,
	UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false}, // a misspelt field is a client bug: say so
}}}

// gatewayMarshaler renders messages as compact JSON, sends a
// google.api.HttpBody answer (a file download) as its own content type and
// bytes, and a rendered answer as it is.
type gatewayMarshaler struct{ *runtime.HTTPBodyMarshaler }

func (m gatewayMarshaler) Marshal(v any) ([]byte, error) {
	switch v := v.(type) {
	case rendered:
		return v, nil
	case *httpbody.HttpBody:
		return v.GetData(), nil
	}
	b, err := m.HTTPBodyMarshaler.Marshal(v)
	if err != nil {
		return nil, err
	}
	return compact(b)
}
