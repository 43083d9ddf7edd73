package server

import (
	"context"
	"strconv"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/pagetoken"
)

// validateUnary applies the rules every request shares, before any handler
// runs: no text may carry control characters or bidi overrides, and a list's
// page size may not be negative. The page size, with the default and the
// cap applied, goes to the handler in the context (pagetoken.SizeFrom).
func validateUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if m, ok := req.(proto.Message); ok {
		var err error
		if ctx, err = validateCommon(ctx, m.ProtoReflect()); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

func validateCommon(ctx context.Context, m protoreflect.Message) (context.Context, error) {
	var v apierr.Violations
	checkText(&v, "", m)
	if err := v.Err(); err != nil {
		return ctx, err
	}
	fd := m.Descriptor().Fields().ByName("page_size")
	if fd == nil || fd.Kind() != protoreflect.Int32Kind {
		return ctx, nil
	}
	size, err := pagetoken.Size(int32(m.Get(fd).Int()))
	if err != nil {
		return ctx, err
	}
	return pagetoken.WithSize(ctx, size), nil
}

// multiline are the free-text fields where a line break is text; every
// other string is one line.
var multiline = map[protoreflect.Name]bool{
	"description": true, "note": true, "comment": true, "result": true, "reason": true, "cancel_reason": true,
}

const badText = "不能包含控制字符或文字方向控制符"

// checkText records a violation for every string field of m, at any depth,
// that CleanText refuses. Names, phones and notes reach the history, the
// WeChat messages and Excel exports, where such characters hide or reorder
// text (and PostgreSQL refuses NUL outright).
func checkText(v *apierr.Violations, prefix string, m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		path := prefix + string(fd.Name())
		switch {
		case fd.IsMap():
			val.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if fd.MapKey().Kind() == protoreflect.StringKind && !CleanText(k.String(), false) {
					v.Add(path, badText)
				}
				switch fd.MapValue().Kind() {
				case protoreflect.StringKind:
					if !CleanText(mv.String(), multiline[fd.Name()]) {
						v.Add(path, badText)
					}
				case protoreflect.MessageKind, protoreflect.GroupKind:
					checkText(v, path+".", mv.Message())
				}
				return true
			})
		case fd.IsList():
			l := val.List()
			for i := 0; i < l.Len(); i++ {
				item := path + "[" + strconv.Itoa(i) + "]"
				switch fd.Kind() {
				case protoreflect.StringKind:
					if !CleanText(l.Get(i).String(), multiline[fd.Name()]) {
						v.Add(item, badText)
					}
				case protoreflect.MessageKind, protoreflect.GroupKind:
					checkText(v, item+".", l.Get(i).Message())
				}
			}
		case fd.Kind() == protoreflect.StringKind:
			if !CleanText(val.String(), multiline[fd.Name()]) {
				v.Add(path, badText)
			}
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
			checkText(v, path+".", val.Message())
		}
		return true
	})
}

// CleanText reports whether s is valid UTF-8 free of control characters
// (C0 but for tab and line breaks where multiline, DEL, C1) and of the
// invisible marks that reorder or hide text (bidi embeddings, overrides
// and isolates, LRM/RLM/ALM, the zero-width space, word joiner and BOM,
// the line and paragraph separators), of characters that show as blank or
// nothing (soft hyphen, Hangul fillers, tag characters, interlinear
// annotations) and of private-use characters.
func CleanText(s string, multiline bool) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				if !multiline || (c != '\n' && c != '\r' && c != '\t') {
					return false
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		switch {
		case r >= 0x80 && r <= 0x9f, // C1 controls
			r == 0x061c,              // ARABIC LETTER MARK
			r == 0x200b,              // zero-width space (joiners stay: emoji use them)
			r == 0x200e, r == 0x200f, // LRM, RLM
			r >= 0x2028 && r <= 0x202e,            // line/paragraph separators, bidi embeddings and overrides
			r >= 0x2060 && r <= 0x2069,            // word joiner, invisible operators, bidi isolates
			r == 0xfeff,                           // BOM / zero-width no-break space
			r == 0x00ad, r == 0x034f, r == 0x180e, // soft hyphen, grapheme joiner, Mongolian vowel separator
			r == 0x115f, r == 0x1160, r == 0x3164, r == 0xffa0, // Hangul fillers (blank "names")
			r >= 0xfff9 && r <= 0xfffb,               // interlinear annotation
			r >= 0xe0000 && r <= 0xe007f,             // tag characters (hide ASCII text)
			r >= 0xe000 && r <= 0xf8ff, r >= 0xf0000: // private use: shows as nothing, or anything
			return false
		}
		i += size
	}
	return true
}
