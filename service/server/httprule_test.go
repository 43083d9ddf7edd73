package server_test

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
)

// A URL is kept by every proxy and access log on the way, by browser
// history and in Referer headers, so a request field that is a credential
// (a password, a token, a WeChat one-time code, the phone digits that stand
// in for a login at the public lookup) must travel in the body. The proto
// marks such fields `[debug_redact = true]` — the standard option for
// "sensitive, keep out of debug output", which other languages' clients
// honour — and fields named like a credential must carry it.

// credentialName matches field names that say they hold a credential.
// Page and sync tokens are signed cursors, not credentials.
var credentialName = regexp.MustCompile(`password|secret|(^|_)token$|(^|_)api_key$`)

func namedLikeCredential(fd protoreflect.FieldDescriptor) bool {
	n := string(fd.Name())
	if strings.HasSuffix(n, "page_token") || strings.HasSuffix(n, "sync_token") {
		return false
	}
	return credentialName.MatchString(n)
}

func redacted(fd protoreflect.FieldDescriptor) bool {
	opts, ok := fd.Options().(*descriptorpb.FieldOptions)
	return ok && opts.GetDebugRedact()
}

// secret reports whether a request field must stay out of URLs.
func secret(fd protoreflect.FieldDescriptor) bool {
	return redacted(fd) || namedLikeCredential(fd)
}

var templateVar = regexp.MustCompile(`\{([A-Za-z0-9_.]+)`)

// urlFields lists the request fields, as dotted paths, that the gateway
// binds from the URL under rule: the path template's variables, and — as
// query parameters — every field, nested ones included, that is neither in
// the path nor under the body.
func urlFields(req protoreflect.MessageDescriptor, rule *annotations.HttpRule) []string {
	var tmpl string
	switch p := rule.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		tmpl = p.Get
	case *annotations.HttpRule_Put:
		tmpl = p.Put
	case *annotations.HttpRule_Post:
		tmpl = p.Post
	case *annotations.HttpRule_Delete:
		tmpl = p.Delete
	case *annotations.HttpRule_Patch:
		tmpl = p.Patch
	case *annotations.HttpRule_Custom:
		tmpl = p.Custom.GetPath()
	}
	inPath := map[string]bool{}
	var out []string
	for _, m := range templateVar.FindAllStringSubmatch(tmpl, -1) {
		inPath[m[1]] = true
		out = append(out, m[1])
	}
	if rule.GetBody() != "*" {
		out = append(out, queryFields(req, "", rule.GetBody(), inPath, map[protoreflect.FullName]bool{})...)
	}
	sort.Strings(out)
	return out
}

func queryFields(md protoreflect.MessageDescriptor, prefix, body string, inPath map[string]bool, open map[protoreflect.FullName]bool) []string {
	if open[md.FullName()] {
		return nil // a recursive type (Struct, Value): its fields are already listed
	}
	open[md.FullName()] = true
	defer delete(open, md.FullName())
	var out []string
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		path := prefix + string(fd.Name())
		if inPath[path] || (prefix == "" && string(fd.Name()) == body) {
			continue
		}
		out = append(out, path)
		switch {
		case fd.IsMap():
			if v := fd.MapValue(); v.Message() != nil {
				out = append(out, queryFields(v.Message(), path+".", body, inPath, open)...)
			}
		case fd.Message() != nil:
			out = append(out, queryFields(fd.Message(), path+".", body, inPath, open)...)
		}
	}
	return out
}

// leaf resolves a dotted field path from md.
func leaf(md protoreflect.MessageDescriptor, path string) protoreflect.FieldDescriptor {
	var fd protoreflect.FieldDescriptor
	for _, name := range strings.Split(path, ".") {
		if md == nil {
			return nil
		}
		fd = md.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			return nil
		}
		if fd.IsMap() {
			md = fd.MapValue().Message()
		} else {
			md = fd.Message()
		}
	}
	return fd
}

// httpRules returns every HTTP binding of every redpoint.v1 method,
// additional bindings included.
func httpRules(t *testing.T) map[protoreflect.MethodDescriptor][]*annotations.HttpRule {
	t.Helper()
	// Importing the package registers its files; refer to it so the
	// import stays.
	_ = redpointv1.File_redpoint_v1_user_proto
	rules := map[protoreflect.MethodDescriptor][]*annotations.HttpRule{}
	protoregistry.GlobalFiles.RangeFilesByPackage("redpoint.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			methods := fd.Services().Get(i).Methods()
			for j := 0; j < methods.Len(); j++ {
				md := methods.Get(j)
				rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
				if rule == nil {
					continue // gRPC only
				}
				rules[md] = append(rules[md], rule)
				rules[md] = append(rules[md], rule.GetAdditionalBindings()...)
			}
		}
		return true
	})
	if len(rules) == 0 {
		t.Fatal("no HTTP rules registered for redpoint.v1")
	}
	return rules
}

// TestNoSecretInURL walks every HTTP rule of the API and fails if a
// credential field would be bound to the URL path or query string.
func TestNoSecretInURL(t *testing.T) {
	checked := 0
	for md, rules := range httpRules(t) {
		for _, rule := range rules {
			for _, path := range urlFields(md.Input(), rule) {
				fd := leaf(md.Input(), path)
				if fd == nil {
					t.Errorf("%s: path variable %q names no field of %s", md.FullName(), path, md.Input().FullName())
					continue
				}
				checked++
				if secret(fd) {
					t.Errorf("%s: the secret field %q travels in the URL (path or query); put it in the body (`body: \"*\"`)", md.FullName(), path)
				}
			}
		}
	}
	t.Logf("%d URL-bound fields checked", checked)
}

// TestCredentialFieldsAreRedacted: a field named like a credential carries
// `[debug_redact = true]`, so the annotation is the one list of the API's
// secrets, and the credentials that are not named like one are in it too.
func TestCredentialFieldsAreRedacted(t *testing.T) {
	var got []string
	var walk func(protoreflect.MessageDescriptors)
	walk = func(msgs protoreflect.MessageDescriptors) {
		for i := 0; i < msgs.Len(); i++ {
			m := msgs.Get(i)
			for j := 0; j < m.Fields().Len(); j++ {
				fd := m.Fields().Get(j)
				if namedLikeCredential(fd) && !redacted(fd) {
					t.Errorf("%s is named like a credential but lacks [debug_redact = true]", fd.FullName())
				}
				if redacted(fd) {
					got = append(got, string(fd.FullName()))
				}
			}
			walk(m.Messages())
		}
	}
	protoregistry.GlobalFiles.RangeFilesByPackage("redpoint.v1", func(fd protoreflect.FileDescriptor) bool {
		walk(fd.Messages())
		return true
	})
	sort.Strings(got)
	// The credentials no name rule finds: the one-time WeChat codes and the
	// phone digits that unlock the public lookup.
	for _, want := range []string{
		"redpoint.v1.BindPhoneRequest.phone_code",
		"redpoint.v1.LookupErrandRequest.phone_last4",
		"redpoint.v1.WechatLoginRequest.code",
	} {
		if i := sort.SearchStrings(got, want); i == len(got) || got[i] != want {
			t.Errorf("%s is a credential but lacks [debug_redact = true]", want)
		}
	}
}

// The walk itself, on real request messages under rules written here: it
// must find a secret in the query, and find none when the body takes it.
func TestURLFields(t *testing.T) {
	createUser := (&redpointv1.CreateUserRequest{}).ProtoReflect().Descriptor()
	updateUser := (&redpointv1.UpdateUserRequest{}).ProtoReflect().Descriptor()
	listUsers := (&redpointv1.ListUsersRequest{}).ProtoReflect().Descriptor()
	cases := []struct {
		name    string
		req     protoreflect.MessageDescriptor
		rule    *annotations.HttpRule
		want    []string
		secrets []string
	}{
		{"body is one field: the rest is query", createUser,
			&annotations.HttpRule{Pattern: &annotations.HttpRule_Post{Post: "/v1/users"}, Body: "user"},
			[]string{"password"}, []string{"password"}},
		{"body is everything", createUser,
			&annotations.HttpRule{Pattern: &annotations.HttpRule_Post{Post: "/v1/users"}, Body: "*"},
			nil, nil},
		{"no body: nested fields are query too", createUser,
			&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/{user.name=users/*}"}},
			[]string{"password", "user", "user.active", "user.create_time", "user.create_time.nanos", "user.create_time.seconds",
				"user.display_name", "user.etag", "user.name", "user.phone", "user.region", "user.role", "user.service_point",
				"user.update_time", "user.update_time.nanos", "user.update_time.seconds"},
			[]string{"password"}},
		{"a secret in the path", (&redpointv1.LoginRequest{}).ProtoReflect().Descriptor(),
			&annotations.HttpRule{Pattern: &annotations.HttpRule_Post{Post: "/v1/auth/{password}:login"}, Body: "*"},
			[]string{"password"}, []string{"password"}},
		{"path variable and body field", updateUser,
			&annotations.HttpRule{Pattern: &annotations.HttpRule_Patch{Patch: "/v1/{user.name=users/*}"}, Body: "user"},
			[]string{"update_mask", "update_mask.paths", "user.name"}, nil},
		{"page tokens are not secrets", listUsers,
			&annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/v1/{parent=regions/*}/users"}},
			[]string{"page_size", "page_token", "parent"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := urlFields(tc.req, tc.rule)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("URL fields mismatch (-want +got):\n%s", diff)
			}
			var secrets []string
			for _, p := range got {
				if secret(leaf(tc.req, p)) {
					secrets = append(secrets, p)
				}
			}
			if diff := cmp.Diff(tc.secrets, secrets); diff != "" {
				t.Errorf("secrets mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
