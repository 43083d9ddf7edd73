package errands_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/changzhi/redpoint/service/errands"
)

func TestNormalizeConsentCode(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"K7M2QX9TPA4VR8HN3WZC", "K7M2QX9TPA4VR8HN3WZC"},
		{"redpoint:consent:K7M2QX9TPA4VR8HN3WZC", "K7M2QX9TPA4VR8HN3WZC"},
		{" k7m2q-x9tpa-4vr8h-n3wzc ", "K7M2QX9TPA4VR8HN3WZC"},
		{"", ""},
		{"K7M2QX9TPA4VR8HN3WZ", ""},     // one short
		{"K7M2QX9TPA4VR8HN3WZCC", ""},   // one long
		{"K7M2QX9TPA4VR8HN3WZU", ""},    // U is not in the alphabet
		{"redpoint:consent:", ""},       // the prefix alone
		{"errands/23012:K7M2QX9TP", ""}, // anything else
	} {
		got, err := errands.NormalizeConsentCode("code", c.in)
		if c.want == "" {
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("%q: %q, %v; want INVALID_ARGUMENT", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestMaskName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"申秀英": "申*英", "王芳": "王*", "欧阳小明": "欧**明", "李": "李*", "": ""} {
		if got := errands.MaskName(in); got != want {
			t.Errorf("MaskName(%q) = %q, want %q", in, got, want)
		}
	}
}
