package resname

import (
	"strconv"

	"github.com/changzhi/redpoint/service/apierr"
)

// Etag formats a resource's version as the etag clients send back.
func Etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// CheckEtag compares a client's etag, when given, with the stored version.
func CheckEtag(etag string, version int64) error {
	if etag != "" && etag != Etag(version) {
		return apierr.ErrEtagMismatch
	}
	return nil
}
