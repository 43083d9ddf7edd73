package testutil

import (
	"strconv"
	"strings"
	"testing"
)

// ID is the number a resource name ends with: 123 for "errands/123" or
// "residents/me/errands/123". It fails the test if the name does not end
// with a positive integer.
func ID(tb testing.TB, name string) int {
	tb.Helper()
	last := name[strings.LastIndex(name, "/")+1:]
	id, err := strconv.Atoi(last)
	if err != nil || id <= 0 || !strings.Contains(name, "/") {
		tb.Fatalf("testutil.ID: %q does not end with /{positive integer}", name)
		return 0
	}
	return id
}
