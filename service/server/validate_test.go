package server

import (
	"context"
	"errors"
	"testing"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/pagetoken"
)

// TestValidateHandsThePageSizeOn: the handler of a list finds the page size
// the chain validated, with the default and the cap applied; a negative one
// never reaches it, and a request without a page_size carries none.
func TestValidateHandsThePageSizeOn(t *testing.T) {
	cases := []struct {
		req  any
		want int // -1: no size in the context
		bad  bool
	}{
		{&redpointv1.ListUsersRequest{}, pagetoken.DefaultSize, false},
		{&redpointv1.ListUsersRequest{PageSize: 7}, 7, false},
		{&redpointv1.ListUsersRequest{PageSize: 9000}, pagetoken.MaxSize, false},
		{&redpointv1.ListUsersRequest{PageSize: -1}, 0, true},
		{&redpointv1.GetUserRequest{Name: "users/me"}, -1, false},
	}
	for _, tc := range cases {
		got, ran := -1, false
		_, err := validateUnary(context.Background(), tc.req, nil, func(ctx context.Context, _ any) (any, error) {
			ran = true
			if n, err := pagetoken.SizeFrom(ctx); err == nil {
				got = n
			}
			return nil, nil
		})
		if tc.bad {
			if ran || !errors.Is(err, apierr.ErrInvalidArgument) {
				t.Errorf("%v: ran %v, %v; want INVALID_ARGUMENT before the handler", tc.req, ran, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%v: the handler saw size %d (%v), want %d", tc.req, got, err, tc.want)
		}
	}
}

func TestCleanText(t *testing.T) {
	cases := []struct {
		name      string
		in        string
		multiline bool
		want      bool
	}{
		{"plain Chinese", "申秀英", false, true},
		{"empty", "", false, true},
		{"emoji with a zero-width joiner", "👨\u200d👩\u200d👧 很满意", false, true},
		{"NUL", "a\x00b", false, false},
		{"escape", "\x1b[2J", false, false},
		{"DEL", "a\x7f", false, false},
		{"C1 next line", "a\u0085b", false, false},
		{"right-to-left override", "abc\u202edef", false, false},
		{"first-strong isolate", "\u2068x", false, false},
		{"right-to-left mark", "x\u200f", false, false},
		{"arabic letter mark", "x\u061c", false, false},
		{"zero-width space", "x\u200by", false, false},
		{"byte order mark", "\ufeffx", false, false},
		{"line separator", "a\u2028b", true, false},
		{"invalid UTF-8", "a\xffb", false, false},
		{"line break in one line", "a\nb", false, false},
		{"tab in one line", "a\tb", false, false},
		{"line breaks in a note", "a\r\nb\tc", true, true},
		{"NUL in a note", "a\x00", true, false},
		{"tag characters", "a\U000E0041\U000E0042", false, false},
		{"Hangul filler alone", "\u3164\u3164", false, false},
		{"soft hyphen", "申\u00ad秀英", false, false},
		{"private use", "\ue000", false, false},
		{"CJK extension B", "\U00020000", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := CleanText(tc.in, tc.multiline); got != tc.want {
				t.Errorf("CleanText(%q, %v) = %v, want %v", tc.in, tc.multiline, got, tc.want)
			}
		})
	}
}
