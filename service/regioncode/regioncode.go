// Package regioncode parses 12-digit statistical division codes and answers
// whether one region contains another, by prefix on the significant digits.
package regioncode

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid reports a string that is not a 12-digit division code.
var ErrInvalid = errors.New("regioncode: not a 12-digit division code")

// Level is the administrative level a code denotes.
type Level int

// The levels, from the top. A code's level follows from its trailing zeros.
const (
	Province Level = iota + 1
	City
	County
	Township
	Village
)

// significant is how many leading digits identify a region at each level.
var significant = map[Level]int{Province: 2, City: 4, County: 6, Township: 9, Village: 12}

// Code is a valid 12-digit division code.
type Code string

// Parse validates s as a 12-digit division code.
func Parse(s string) (Code, error) {
	if len(s) != 12 {
		return "", fmt.Errorf("%w: %q", ErrInvalid, s)
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return "", fmt.Errorf("%w: %q", ErrInvalid, s)
		}
	}
	if s[:2] == "00" {
		return "", fmt.Errorf("%w: %q", ErrInvalid, s)
	}
	return Code(s), nil
}

// Pad turns a short GB/T 2260 or statistical code (140423, 140423100) into
// the 12-digit form by padding zeros on the right.
func Pad(short string) (Code, error) {
	if len(short) > 12 {
		return "", fmt.Errorf("%w: %q", ErrInvalid, short)
	}
	return Parse(short + strings.Repeat("0", 12-len(short)))
}

// Level is the administrative level the code denotes.
func (c Code) Level() Level {
	s := string(c)
	switch {
	case strings.Trim(s[2:], "0") == "":
		return Province
	case strings.Trim(s[4:], "0") == "":
		return City
	case strings.Trim(s[6:], "0") == "":
		return County
	case strings.Trim(s[9:], "0") == "":
		return Township
	default:
		return Village
	}
}

// Prefix is the code's significant digits: every region inside it starts with them.
func (c Code) Prefix() string { return string(c)[:significant[c.Level()]] }

// Contains reports whether other lies in c's subtree (c contains itself).
func (c Code) Contains(other Code) bool { return strings.HasPrefix(string(other), c.Prefix()) }

// Range is the inclusive code range of c's subtree, for index range scans
// that work alike on PostgreSQL and SQLite.
func (c Code) Range() (lo, hi string) {
	p := c.Prefix()
	return p + strings.Repeat("0", 12-len(p)), p + strings.Repeat("9", 12-len(p))
}

// String returns the 12 digits.
func (c Code) String() string { return string(c) }
