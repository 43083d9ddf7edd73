package attachments

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// The signed-URL routes, by http.ServeMux pattern (server.Config.Files).
const (
	uploadsPath = "/v1/uploads/"
	filesPath   = "/v1/files/"
)

// What a ticket is for.
const (
	useUpload    = "u"
	useOriginal  = "o"
	useThumbnail = "t"
)

// ticket is what a signed URL grants: one use of one attachment, to one
// caller, until Expire (Unix seconds).
type ticket struct {
	Attachment int    `json:"a"`
	Use        string `json:"u"`
	User       int    `json:"s,omitempty"`
	Resident   int    `json:"r,omitempty"`
	Role       string `json:"o"`
	Expire     int64  `json:"e"`
}

// signer signs and checks tickets: an HMAC-SHA256 over the JSON, keyed
// apart from every other use of the auth key.
type signer struct{ key []byte }

func (s signer) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("redpoint attachment url\x00"))
	m.Write(payload)
	return m.Sum(nil)
}

// url is path followed by the ticket t, valid until exp.
func (s signer) url(path string, t ticket, exp time.Time) string {
	t.Expire = exp.Unix()
	payload, _ := json.Marshal(t)
	enc := base64.RawURLEncoding
	return path + enc.EncodeToString(payload) + "." + enc.EncodeToString(s.mac(payload))
}

// open checks a token from a URL and returns its ticket if it is ours and
// not expired at now; the caller checks what it is for.
func (s signer) open(token string, now time.Time) (ticket, bool) {
	var t ticket
	b64, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 512 {
		return t, false
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(b64)
	mac, err2 := enc.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac(payload)) {
		return t, false
	}
	if err := json.Unmarshal(payload, &t); err != nil || now.Unix() > t.Expire {
		return ticket{}, false
	}
	return t, true
}
