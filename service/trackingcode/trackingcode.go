// Package trackingcode makes the codes residents use to follow an errand:
// 70 random bits in Crockford base32 with a mod-37 check character, grouped
// in fives for reading aloud (7KQ9M-2XAP4-TB8QZ).
package trackingcode

import (
	"crypto/rand"
	"errors"
	"io"
	"math/big"
	"strings"
)

const (
	alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	// checkAlphabet is Crockford's: the 32 symbols, then *~$=U for 32–36.
	checkAlphabet = alphabet + "*~$=U"
	dataLen       = 14 // 14 × 5 = 70 random bits
	// Len is the stored form's length: data and check character, no dashes.
	Len = dataLen + 1
)

// ErrInvalid reports a string that is not a well-formed tracking code.
var ErrInvalid = errors.New("trackingcode: invalid")

// New draws a code from r (crypto/rand when nil). Codes whose check
// character would be one of Crockford's extra symbols are redrawn, so every
// character is one a villager can read out; that costs 0.2 of the 70 bits.
func New(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	buf := make([]byte, 9) // 72 bits, 70 used
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		n := new(big.Int).SetBytes(buf)
		n.Rsh(n, 2)
		var b strings.Builder
		for i := dataLen - 1; i >= 0; i-- {
			b.WriteByte(alphabet[new(big.Int).Rsh(n, uint(5*i)).Uint64()&31])
		}
		check := new(big.Int).Mod(n, big.NewInt(37)).Int64()
		if check >= 32 {
			continue
		}
		b.WriteByte(checkAlphabet[check])
		return b.String(), nil
	}
}

// Normalize accepts what a person types — lower case, dashes, spaces, and
// Crockford's look-alikes (O→0, I/L→1) — and returns the stored form after
// verifying the check character.
func Normalize(s string) (string, error) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch r {
		case '-', ' ':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		b.WriteRune(r)
	}
	code := b.String()
	if len(code) != Len {
		return "", ErrInvalid
	}
	n := new(big.Int)
	for i := 0; i < dataLen; i++ {
		v := strings.IndexByte(alphabet, code[i])
		if v < 0 {
			return "", ErrInvalid
		}
		n.Lsh(n, 5).Or(n, big.NewInt(int64(v)))
	}
	if checkAlphabet[new(big.Int).Mod(n, big.NewInt(37)).Int64()] != code[dataLen] {
		return "", ErrInvalid
	}
	return code, nil
}

// Format groups a stored code in fives: 7KQ9M-2XAP4-TB8QZ.
func Format(code string) string {
	if len(code) != Len {
		return code
	}
	return code[0:5] + "-" + code[5:10] + "-" + code[10:15]
}
