package pii

import (
	"errors"
	"strings"
	"testing"
)

func TestValidIDNumber(t *testing.T) {
	t.Parallel()
	first17 := "14042319800101123"
	valid := first17 + string(IDCheckChar(first17))
	cases := []struct {
		name string
		in   string
		want bool
	}{
		{"valid", valid, true},
		{"known X check", "11010519491231002X", true},
		{"wrong check", first17 + "0", valid[17] == '0'},
		{"bad date", "140423198002301230", false},
		{"short", "14042319800101", false},
		{"letters", "14042319800101A23X", false},
	}
	for _, tc := range cases {
		if got := ValidIDNumber(tc.in); got != tc.want {
			t.Errorf("%s: ValidIDNumber(%q) = %v, want %v", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestValidMobileAndMasks(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{"13900000001": true, "12900000001": false, "1390000000": false, "1390000000a": false} {
		if got := ValidMobile(in); got != want {
			t.Errorf("ValidMobile(%q) = %v", in, got)
		}
	}
	if got := MaskMobile("13900000001"); got != "139****0001" {
		t.Errorf("MaskMobile = %q", got)
	}
	if got := MaskIDNumber("14042319800101123X"); got != "140423********123X" {
		t.Errorf("MaskIDNumber = %q", got)
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	oldSpec := NewKeyringString() // "hash:...,k1:..."
	oldRing, err := ParseKeyring(oldSpec)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := oldRing.Encrypt("13900000001")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "13900000001") {
		t.Fatal("ciphertext contains the plaintext")
	}
	// Rotate: a new current key k2 in front of the old k1.
	hashEntry, k1Entry, _ := strings.Cut(oldSpec, ",")
	newRing, err := ParseKeyring(hashEntry + ",k2:" + randomKey() + "," + k1Entry)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := newRing.Decrypt(sealed); err != nil || got != "13900000001" {
		t.Fatalf("old value after rotation = %q, %v", got, err)
	}
	fresh, err := newRing.Encrypt("13900000001")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(fresh, "k2:") {
		t.Errorf("new value sealed with %q, want k2", fresh[:3])
	}
	if newRing.Hash("phone", "13900000001") != oldRing.Hash("phone", "13900000001") {
		t.Error("search hash changed with the encryption key")
	}
	if _, err := oldRing.Decrypt(fresh); !errors.Is(err, ErrKeyring) {
		t.Errorf("old ring decrypting a k2 value: %v, want ErrKeyring", err)
	}
}

func TestParseKeyringRejects(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "k1:" + randomKey(), "hash:" + randomKey(), "hash:short,k1:" + randomKey(), "nonsense"} {
		if _, err := ParseKeyring(bad); !errors.Is(err, ErrKeyring) {
			t.Errorf("ParseKeyring(%.12q) error = %v, want ErrKeyring", bad, err)
		}
	}
}
