// Package pagetoken holds the rules every list RPC shares (AIP-158): the
// page size, the bounds on filter and order_by, signed opaque page tokens
// bound to the query they were issued for (Signer), and the one way a list
// reads a page: keyset pagination over the list's sort key (Page).
package pagetoken

import (
	"context"
	"errors"
	"fmt"

	"github.com/changzhi/redpoint/service/apierr"
)

// Page-size rules shared by every list RPC (AIP-158).
const (
	DefaultSize = 50
	MaxSize     = 500
)

// Bounds on the request strings of every list RPC, so that no request can
// make the server parse, build or send the database an unbounded
// expression (10,000 AND-ed terms once took 5 s and 1.7 GB, then failed in
// SQLite). The richest meaningful errand filter (every field once, both
// bounds of both time ranges, the longest values) has 12 terms and about
// 550 bytes; the caps leave room for spacing and spelling, not for
// repetition.
const (
	MaxFilterBytes  = 1000
	MaxFilterTerms  = 20
	MaxOrderByBytes = 64
	// MaxTokenBytes is far above any token this server issues (under 100
	// bytes); anything longer is refused before it is decoded.
	MaxTokenBytes = 512
)

// Size applies the default and the cap; a negative size is INVALID_ARGUMENT.
// The server's validation interceptor applies it to every request with a
// page_size and hands the result to the handler (WithSize); handlers read
// it with SizeFrom.
func Size(requested int32) (int, error) {
	switch {
	case requested < 0:
		return 0, apierr.InvalidField("page_size", "每页条数不能为负数")
	case requested == 0:
		return DefaultSize, nil
	case requested > MaxSize:
		return MaxSize, nil
	default:
		return int(requested), nil
	}
}

type sizeKey struct{}

// WithSize returns ctx carrying size, the page size Size made of the
// request's page_size.
func WithSize(ctx context.Context, size int) context.Context {
	return context.WithValue(ctx, sizeKey{}, size)
}

// errNoSize is a handler reached around the interceptor chain: a wiring
// fault, so an internal error rather than a silent default.
var errNoSize = errors.New("pagetoken: no validated page size in the context (the request did not pass the server's validation interceptor)")

// SizeFrom returns the page size the server validated for the request in
// ctx (WithSize). A list handler called from other code rather than
// through the server must be given one with WithSize, or it fails.
func SizeFrom(ctx context.Context) (int, error) {
	n, ok := ctx.Value(sizeKey{}).(int)
	if !ok {
		return 0, errNoSize
	}
	return n, nil
}

// CheckFilter refuses a filter longer than MaxFilterBytes, before anything
// parses it. Counting terms is the grammar's business (MaxFilterTerms).
func CheckFilter(filter string) error {
	return checkLen("filter", filter, MaxFilterBytes)
}

// CheckOrderBy refuses an order_by longer than MaxOrderByBytes.
func CheckOrderBy(orderBy string) error {
	return checkLen("order_by", orderBy, MaxOrderByBytes)
}

func checkLen(field, value string, max int) error {
	if len(value) > max {
		return apierr.InvalidField(field, fmt.Sprintf("%s 不能超过 %d 字节", field, max))
	}
	return nil
}
