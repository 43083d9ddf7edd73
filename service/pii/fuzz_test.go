package pii

import (
	"strings"
	"testing"
)

// FuzzValidIDNumber: the validator never panics, accepts only 18-character
// numbers whose check character is right, rejects every single-character
// change of a valid number, and its mask hides the birth date.
func FuzzValidIDNumber(f *testing.F) {
	for _, seed := range []string{"140423195603120029", "11010519491231002X", "11010519491231002x", "", "1404231956031200", "14042319560230002X", "１４０４２３１９５６０３１２００２９"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidIDNumber(s) {
			return
		}
		if len(s) != 18 || s[17] != IDCheckChar(s[:17]) {
			t.Fatalf("accepted %q with a wrong shape or check character", s)
		}
		for i := 0; i < 17; i++ {
			for d := byte('0'); d <= '9'; d++ {
				if d == s[i] {
					continue
				}
				changed := s[:i] + string(d) + s[i+1:]
				if ValidIDNumber(changed) && changed[17] == s[17] {
					t.Fatalf("single-digit change %q of %q still valid", changed, s)
				}
			}
		}
		m := MaskIDNumber(s)
		if len(m) != 18 || strings.Contains(m, s[6:14]) {
			t.Fatalf("mask %q of %q shows the birth date", m, s)
		}
	})
}

// FuzzValidMobile: the validator never panics, accepts only 11 digits
// starting 13–19, and its mask hides the middle four.
func FuzzValidMobile(f *testing.F) {
	for _, seed := range []string{"13900000001", "19912345678", "12900000001", "1390000000", "139000000011", "+8613900000001", "139-0000-0001", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidMobile(s) {
			return
		}
		if len(s) != 11 || s[0] != '1' || s[1] < '3' {
			t.Fatalf("accepted %q", s)
		}
		for _, r := range s {
			if r < '0' || r > '9' {
				t.Fatalf("accepted %q with a non-digit", s)
			}
		}
		if m := MaskMobile(s); m != s[:3]+"****"+s[7:] {
			t.Fatalf("mask %q of %q", m, s)
		}
	})
}
