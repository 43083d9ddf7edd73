package server_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
)

// The proto marks its fields with google.api.field_behavior (AIP-203):
// the OpenAPI document turns OUTPUT_ONLY into readOnly and REQUIRED into
// required, and client developers read both there. These tests keep the
// marks on the fields that need them when new ones are added.

// serverOwned are the fields a resource carries that only the server sets:
// its lifecycle and the names it copies from other resources.
var serverOwned = []protoreflect.Name{
	"create_time", "update_time", "close_time", "accept_time", "due_time",
	"state", "state_display_name", "tracking_code",
}

// ownedByServer reports a field only the server sets: one of serverOwned,
// another resource's name (`agent_display_name`) or a count (`agent_count`).
func ownedByServer(fd protoreflect.FieldDescriptor) bool {
	n := string(fd.Name())
	return slices.Contains(serverOwned, fd.Name()) || strings.HasSuffix(n, "_display_name") || strings.HasSuffix(n, "_count")
}

func behaviors(fd protoreflect.FieldDescriptor) []annotations.FieldBehavior {
	fb, _ := proto.GetExtension(fd.Options(), annotations.E_FieldBehavior).([]annotations.FieldBehavior)
	return fb
}

func has(fd protoreflect.FieldDescriptor, b annotations.FieldBehavior) bool {
	return slices.Contains(behaviors(fd), b)
}

// apiMessages returns every message of redpoint.v1, nested ones included,
// and every RPC's request message.
func apiMessages(t *testing.T) (all []protoreflect.MessageDescriptor, requests map[protoreflect.FullName]bool) {
	t.Helper()
	_ = redpointv1.File_redpoint_v1_errand_proto // registers the package's files
	requests = map[protoreflect.FullName]bool{}
	var walk func(protoreflect.MessageDescriptors)
	walk = func(msgs protoreflect.MessageDescriptors) {
		for i := 0; i < msgs.Len(); i++ {
			all = append(all, msgs.Get(i))
			walk(msgs.Get(i).Messages())
		}
	}
	protoregistry.GlobalFiles.RangeFilesByPackage("redpoint.v1", func(fd protoreflect.FileDescriptor) bool {
		walk(fd.Messages())
		for i := 0; i < fd.Services().Len(); i++ {
			methods := fd.Services().Get(i).Methods()
			for j := 0; j < methods.Len(); j++ {
				requests[methods.Get(j).Input().FullName()] = true
			}
		}
		return true
	})
	return all, requests
}

// sendable returns the messages a client can send: the requests and every
// message they hold, at any depth.
func sendable(all []protoreflect.MessageDescriptor, requests map[protoreflect.FullName]bool) map[protoreflect.FullName]bool {
	out := map[protoreflect.FullName]bool{}
	var visit func(protoreflect.MessageDescriptor)
	visit = func(md protoreflect.MessageDescriptor) {
		if out[md.FullName()] {
			return
		}
		out[md.FullName()] = true
		for i := 0; i < md.Fields().Len(); i++ {
			fd := md.Fields().Get(i)
			if fd.IsMap() {
				fd = fd.MapValue()
			}
			if fd.Message() != nil {
				visit(fd.Message())
			}
		}
	}
	for _, md := range all {
		if requests[md.FullName()] {
			visit(md)
		}
	}
	return out
}

// TestResourceFieldBehavior: a resource is a message with a `name` field
// that no RPC takes as its request (GetErrandRequest has a name, but names
// a resource). Its name is the IDENTIFIER, the fields only the server sets
// are OUTPUT_ONLY, and a resource no request carries is output only as a
// whole. etag is neither: clients send it back.
func TestResourceFieldBehavior(t *testing.T) {
	all, requests := apiMessages(t)
	canSend := sendable(all, requests)
	var found []string
	for _, md := range all {
		name := md.Fields().ByName("name")
		if name == nil || requests[md.FullName()] {
			continue
		}
		found = append(found, string(md.Name()))
		if !has(name, annotations.FieldBehavior_IDENTIFIER) {
			t.Errorf("%s: the resource name is not marked IDENTIFIER", name.FullName())
		}
		for i := 0; i < md.Fields().Len(); i++ {
			fd := md.Fields().Get(i)
			switch {
			case fd == name:
			case fd.Name() == "etag":
				if has(fd, annotations.FieldBehavior_OUTPUT_ONLY) {
					t.Errorf("%s is marked OUTPUT_ONLY, but clients send it back to detect conflicting edits", fd.FullName())
				}
			case !has(fd, annotations.FieldBehavior_OUTPUT_ONLY) && ownedByServer(fd):
				t.Errorf("%s: only the server sets it; mark it OUTPUT_ONLY", fd.FullName())
			case !has(fd, annotations.FieldBehavior_OUTPUT_ONLY) && !canSend[md.FullName()]:
				t.Errorf("%s: no request carries %s, so the server sets every field; mark it OUTPUT_ONLY", fd.FullName(), md.Name())
			}
		}
	}
	t.Logf("resources: %v", found)
	// The walk must see the resources, or it checks nothing.
	for _, want := range []string{"Errand", "ErrandType", "ServicePoint", "User", "Region", "FollowUp"} {
		if !slices.Contains(found, want) {
			t.Errorf("%s was not taken for a resource; resources found: %v", want, found)
		}
	}
}

// TestNoFieldRequiredAndOutputOnly: a field the server sets can't also be
// one the client must send.
func TestNoFieldRequiredAndOutputOnly(t *testing.T) {
	all, _ := apiMessages(t)
	for _, md := range all {
		for i := 0; i < md.Fields().Len(); i++ {
			fd := md.Fields().Get(i)
			if has(fd, annotations.FieldBehavior_REQUIRED) && has(fd, annotations.FieldBehavior_OUTPUT_ONLY) {
				t.Errorf("%s is marked both REQUIRED and OUTPUT_ONLY", fd.FullName())
			}
		}
	}
}

// TestNoRequiredFieldInPatchBodies: a resource that is a PATCH body has no
// REQUIRED field, though create needs some (Errand.resident_name). The
// OpenAPI document gives the PATCH body the message's required list, and
// the REST gateway takes the body's fields as the update mask: a client
// obeying the document would send fields it doesn't change, and those that
// can't change (errand_type, a user's phone and role) get INVALID_ARGUMENT.
// What create requires is in the Create request's comment instead.
func TestNoRequiredFieldInPatchBodies(t *testing.T) {
	checked := 0
	for md, rules := range httpRules(t) {
		for _, rule := range rules {
			if _, ok := rule.GetPattern().(*annotations.HttpRule_Patch); !ok || rule.GetBody() == "" {
				continue
			}
			body := md.Input()
			if rule.GetBody() != "*" {
				body = leaf(md.Input(), rule.GetBody()).Message()
			}
			checked++
			for i := 0; i < body.Fields().Len(); i++ {
				if fd := body.Fields().Get(i); has(fd, annotations.FieldBehavior_REQUIRED) {
					t.Errorf("%s: %s is REQUIRED, but %s is %s's PATCH body; say what create requires in the Create request's comment",
						md.FullName(), fd.Name(), body.Name(), md.Name())
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no PATCH rule found")
	}
}
