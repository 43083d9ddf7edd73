// Package resname parses resource names (regions/{code}, servicePoints/{id},
// errandTypes/{code}) into ids, with INVALID_ARGUMENT on the named field.
package resname

import (
	"slices"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/regioncode"
)

// Collections, as they appear in names and REST paths.
const (
	Regions       = "regions"
	ServicePoints = "servicePoints"
	ErrandTypes   = "errandTypes"
	Errands       = "errands"
	Users         = "users"
	Residents     = "residents"
)

// segment returns the id part of "collection/id", or an error naming field.
func segment(field, name, collection string) (string, error) {
	id, ok := strings.CutPrefix(name, collection+"/")
	if !ok || id == "" || strings.Contains(id, "/") {
		if name == "" {
			return "", apierr.InvalidField(field, "不能为空，格式为 "+collection+"/{id}")
		}
		return "", apierr.InvalidField(field, "格式应为 "+collection+"/{id}")
	}
	return id, nil
}

// Region parses regions/{12-digit code}.
func Region(field, name string) (regioncode.Code, error) {
	id, err := segment(field, name, Regions)
	if err != nil {
		return "", err
	}
	code, err := regioncode.Parse(id)
	if err != nil {
		return "", apierr.InvalidField(field, "区划代码应为 12 位数字")
	}
	return code, nil
}

// IntID parses collection/{positive integer}.
func IntID(field, name, collection string) (int, error) {
	id, err := segment(field, name, collection)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(id)
	if err != nil || n <= 0 {
		return 0, apierr.InvalidField(field, "编号应为正整数")
	}
	return n, nil
}

// StringID parses collection/{id} where id is a code of at most maxLen
// letters, digits and dashes.
func StringID(field, name, collection string, maxLen int) (string, error) {
	id, err := segment(field, name, collection)
	if err != nil {
		return "", err
	}
	if len(id) > maxLen {
		return "", apierr.InvalidField(field, "编码过长")
	}
	for _, r := range id {
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
		default:
			return "", apierr.InvalidField(field, "编码只能包含字母、数字和连字符")
		}
	}
	return id, nil
}

// Name formats collection/id.
func Name(collection string, id any) string {
	switch v := id.(type) {
	case int:
		return collection + "/" + strconv.Itoa(v)
	case string:
		return collection + "/" + v
	default:
		panic("resname.Name: id must be int or string")
	}
}

// UpdatePaths are the paths of an update_mask on resource that an update
// changes, in proto names. Clients may name fields as in JSON
// (residentName) or as in the proto (resident_name). Fields the update
// can't change are dropped, as AIP-203 asks, so a client may send a fetched
// resource back whole: name and etag identify and guard the resource, and
// fields marked IDENTIFIER, OUTPUT_ONLY or IMMUTABLE (google.api.field_behavior)
// are the server's or fixed at creation. (The REST gateway derives a mask
// from every key of a PATCH body that has none.) A mask that names only
// such fields is an error naming them: that client meant to change one;
// so is one naming only name and etag, which a caller would otherwise
// take for no mask and update every field the body carries. A path named
// twice (residentName and resident_name) counts once. Unknown paths are
// kept, for the caller to refuse.
func UpdatePaths(resource proto.Message, paths []string) ([]string, error) {
	md := resource.ProtoReflect().Descriptor()
	out := make([]string, 0, len(paths))
	var ignored []string
	identityOnly := len(paths) > 0
	for _, p := range paths {
		head, rest, nested := strings.Cut(p, ".")
		fd := md.Fields().ByName(protoreflect.Name(head))
		if fd == nil {
			fd = md.Fields().ByJSONName(head)
		}
		if fd != nil && (fd.Name() == "name" || fd.Name() == "etag") {
			continue
		}
		identityOnly = false
		if fd == nil {
			out = appendNew(out, p)
			continue
		}
		if fixed(fd) {
			ignored = appendNew(ignored, string(fd.Name()))
			continue
		}
		p = string(fd.Name())
		if nested {
			p += "." + rest
		}
		out = appendNew(out, p)
	}
	switch {
	case len(out) == 0 && len(ignored) > 0:
		return nil, apierr.InvalidField("update_mask", "不能修改字段 "+strings.Join(ignored, "、"))
	case identityOnly:
		return nil, apierr.InvalidField("update_mask", "没有要修改的字段：name 和 etag 只用于指明和校验对象")
	}
	return out, nil
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// fixed reports whether an update can't change fd.
func fixed(fd protoreflect.FieldDescriptor) bool {
	behaviors, _ := proto.GetExtension(fd.Options(), annotations.E_FieldBehavior).([]annotations.FieldBehavior)
	for _, b := range behaviors {
		switch b {
		case annotations.FieldBehavior_OUTPUT_ONLY, annotations.FieldBehavior_IDENTIFIER, annotations.FieldBehavior_IMMUTABLE:
			return true
		}
	}
	return false
}
