package trackingcode

import (
	"errors"
	"strings"
	"testing"
)

func TestNewNormalizeRoundTrip(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		code, err := New(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(code) != Len || strings.ContainsAny(code, "*~$=UILO") {
			t.Fatalf("New() = %q: wrong length or unreadable character", code)
		}
		if seen[code] {
			t.Fatalf("duplicate code %q", code)
		}
		seen[code] = true
		typed := strings.ToLower(Format(code))
		got, err := Normalize(typed)
		if err != nil || got != code {
			t.Fatalf("Normalize(%q) = %q, %v; want %q", typed, got, err, code)
		}
	}
}

func TestNormalizeCatchesTypos(t *testing.T) {
	t.Parallel()
	code, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	caught := 0
	for i := 0; i < dataLen; i++ {
		for _, c := range alphabet {
			if byte(c) == code[i] {
				continue
			}
			typo := code[:i] + string(c) + code[i+1:]
			if _, err := Normalize(typo); errors.Is(err, ErrInvalid) {
				caught++
			} else {
				t.Errorf("single-character typo %q accepted", typo)
			}
		}
	}
	if caught == 0 {
		t.Fatal("no typo was tried")
	}
	if _, err := Normalize("7KQ9M-2XAP4"); !errors.Is(err, ErrInvalid) {
		t.Errorf("short code accepted: %v", err)
	}
}
