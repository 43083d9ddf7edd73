package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"

	"google.golang.org/grpc/metadata"
)

// Answer is a handler's answer that the REST layer may send again, to the
// same caller at the same address, without calling the handler: while
// Current says it stands (package answers keeps such answers).
type Answer interface {
	JSON() []byte
	ETag() string
	Current(ctx context.Context) bool
}

// UseAnswer hands the REST layer the answer the handler is about to
// return: the gateway sends its JSON, with its ETag, and the next identical
// request is answered from it while it stands. Calls over gRPC ignore it.
func UseAnswer(ctx context.Context, a Answer) {
	if s, ok := ctx.Value(renderedKey{}).(*renderedSlot); ok {
		s.json, s.answer = a.JSON(), a
	}
}

// ETag is the entity tag of an answer's bytes, keyed so that it says
// nothing about the bytes to whoever cannot read them, and the same on
// every replica that shares the key.
func ETag(key, body []byte) string {
	mac := hmac.New(sha256.New, key)
	_, _ = mac.Write(body)
	return `"` + hex.EncodeToString(mac.Sum(nil)[:12]) + `"`
}

// maxRememberedBytes bounds the answers the REST layer remembers (their
// JSON, which they keep alive, and the entry); past it, some are
// forgotten. A request whose URI is longer than maxRememberedURI is not
// remembered: unknown query parameters would make any number of them.
const (
	maxRememberedBytes = 32 << 20
	maxRememberedURI   = 2048
	rememberedOverhead = 256
)

// remembered is what a repeated request is answered from: the answer,
// and the RPC whose policy its caller must still pass.
type remembered struct {
	answer Answer
	rpc    string
}

// answerMemory maps a request (its Authorization header and URI) to the
// answer it got.
type answerMemory struct {
	mu    sync.Mutex
	m     map[[sha256.Size]byte]remembered
	bytes int
}

// requestKey names a request by its caller's header and its URI, hashed:
// a key costs the same whatever the client sends.
func requestKey(r *http.Request) [sha256.Size]byte {
	h := sha256.New()
	_, _ = h.Write([]byte(r.Header.Get("Authorization")))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(r.URL.RequestURI()))
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func (r remembered) size() int { return len(r.answer.JSON()) + rememberedOverhead }

func (m *answerMemory) get(key [sha256.Size]byte) (remembered, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.m[key]
	return r, ok
}

func (m *answerMemory) put(key [sha256.Size]byte, r remembered) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forgetLocked(key)
	for k := range m.m { // map order is random enough to pick victims by
		if m.bytes+r.size() <= maxRememberedBytes {
			break
		}
		m.forgetLocked(k)
	}
	m.m[key] = r
	m.bytes += r.size()
}

func (m *answerMemory) forget(key [sha256.Size]byte) {
	m.mu.Lock()
	m.forgetLocked(key)
	m.mu.Unlock()
}

func (m *answerMemory) forgetLocked(key [sha256.Size]byte) {
	if old, ok := m.m[key]; ok {
		delete(m.m, key)
		m.bytes -= old.size()
	}
}

// withETags gives GET answers of the routes that declare a 304 an ETag and
// answers a matching If-None-Match with 304 and no body: the mini-program
// polls and agents re-open errands over weak rural links, and an unchanged
// answer then costs a few bytes. A request repeated while the handler's
// answer stands (UseAnswer) is answered from memory — its caller's token
// checked again, but neither the handler nor the database asked.
func (s *Server) withETags(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slot := &renderedSlot{}
		r = r.WithContext(context.WithValue(r.Context(), renderedKey{}, slot))
		if r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		// The gateway also reads a caller from Grpc-Metadata-Authorization:
		// such a request is never answered from memory, nor remembered.
		rememberable := len(r.URL.RequestURI()) <= maxRememberedURI && r.Header.Get("Grpc-Metadata-Authorization") == ""
		key := requestKey(r)
		if rememberable && s.answerAgain(w, r, key) {
			return
		}
		rt, ok := s.etagged.find(r, http.MethodGet)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		if rec.status != http.StatusOK {
			w.WriteHeader(rec.status)
			_, _ = w.Write(rec.body.Bytes())
			return
		}
		var etag string
		if slot.answer != nil {
			etag = slot.answer.ETag()
			if rememberable {
				s.answers.put(key, remembered{answer: slot.answer, rpc: rt.rpc})
			}
		} else {
			etag = ETag(s.etagKey, rec.body.Bytes())
		}
		s.writeAnswer(w, r, etag, rec.body.Bytes())
	})
}

// answerAgain answers a repeated request from memory, when its caller
// still passes the RPC's policy and the answer still stands, and reports
// whether it did.
func (s *Server) answerAgain(w http.ResponseWriter, r *http.Request, key [sha256.Size]byte) bool {
	m, ok := s.answers.get(key)
	if !ok {
		return false
	}
	ctx := r.Context()
	if s.cfg.Authenticator != nil {
		md := metadata.MD{}
		if v := r.Header.Values("Authorization"); len(v) > 0 {
			md["authorization"] = v
		}
		if _, err := s.cfg.Authenticator.Authenticate(metadata.NewIncomingContext(ctx, md), m.rpc, nil); err != nil {
			s.answers.forget(key)
			return false // the handler's path says why
		}
	}
	if !m.answer.Current(ctx) {
		s.answers.forget(key)
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	s.writeAnswer(w, r, m.answer.ETag(), m.answer.JSON())
	return true
}

// writeAnswer sends a 200 answer with its ETag, or 304 when the request's
// If-None-Match names it.
func (s *Server) writeAnswer(w http.ResponseWriter, r *http.Request, etag string, body []byte) {
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "private, no-cache")
	if NoneMatch(r.Header.Values("If-None-Match"), etag) {
		w.Header().Del("Content-Length")
		w.Header().Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(status int)      { r.status = status }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

// NoneMatch reports whether an If-None-Match header (its lines, each a
// list) matches etag: by weak comparison, as RFC 9110 13.1.2 asks (W/"x"
// matches "x"), and "*" matches any answer there is.
func NoneMatch(lines []string, etag string) bool {
	etag = strings.TrimPrefix(etag, "W/")
	for _, line := range lines {
		for _, tag := range strings.Split(line, ",") {
			tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
			if tag == etag || tag == "*" {
				return true
			}
		}
	}
	return false
}
