package access

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// TestLoginLimitKeysAreKeyed: the Redis counter of a phone is named by a
// hash keyed with the server's secret — the same on every replica, but no
// one who reads Redis can undo it by hashing every phone number.
func TestLoginLimitKeysAreKeyed(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 32)
	const phone = "13800000005"
	a, b := newLimiter(nil, DefaultLoginLimits, secret), newLimiter(nil, DefaultLoginLimits, secret)
	other := newLimiter(nil, DefaultLoginLimits, bytes.Repeat([]byte{8}, 32))
	ka, _ := a.keys(phone, "")
	kb, _ := b.keys(phone, "")
	ko, _ := other.keys(phone, "")
	if ka != kb {
		t.Errorf("two replicas with one secret name the phone %q and %q", ka, kb)
	}
	if ka == ko {
		t.Error("another secret names the phone the same")
	}
	if k2, _ := a.keys("13800000006", ""); k2 == ka {
		t.Error("two phones share a counter")
	}
	for _, plain := range []string{phone, "login-phone\x00" + phone} {
		h := sha256.Sum256([]byte(plain))
		if strings.Contains(ka, hex.EncodeToString(h[:8])) {
			t.Errorf("the key %q is an unkeyed hash of the phone", ka)
		}
	}
	if strings.Contains(ka, phone) {
		t.Errorf("the key %q holds the phone", ka)
	}
}
