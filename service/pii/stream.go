package pii

// Streaming encryption for objects (photos of ID cards and the like): one
// random data key per object, sealed with the keyring like a phone number,
// and the object's bytes sealed in 64 KiB chunks with the STREAM
// construction (Hoang, Reyhanitabar, Rogaway and Vizár, as Tink's
// streaming AEAD and age use it), so the bucket never holds readable bytes
// and a reader notices a truncated, reordered or spliced object.
//
// The sealed stream is
//
//	header:  "RPS1" | nonce prefix (7 random bytes)
//	chunks:  AES-256-GCM(data key, nonce, chunk plaintext, header)
//
// where nonce = prefix | big-endian uint32 chunk counter | last flag (1 on
// the final chunk, else 0). Every chunk but the last holds exactly 64 KiB of
// plaintext; the last holds 0 to 64 KiB and is empty only when the whole
// plaintext is. The header is every chunk's additional data.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

const (
	// DataKeySize is the size of an object's data key.
	DataKeySize = 32
	// StreamChunkSize is the plaintext size of every chunk of a sealed
	// stream but the last.
	StreamChunkSize = 64 << 10

	streamMagic      = "RPS1"
	streamPrefixSize = 7
	streamHeaderSize = len(streamMagic) + streamPrefixSize
	streamTagSize    = 16
	streamNonceSize  = 12 // prefix | counter | last flag
	sealedChunkSize  = StreamChunkSize + streamTagSize

	// dataKeyAAD follows the key id in a sealed data key's additional
	// data, so a sealed data key never opens as a sealed phone number or
	// the other way round.
	dataKeyAAD = ":datakey"
)

// errStreamClosed is a write to a sealing writer after Close.
var errStreamClosed = errors.New("pii: write to a closed sealing writer")

// NewDataKey returns a fresh random 32-byte key for one object.
func NewDataKey() []byte {
	key := make([]byte, DataKeySize)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return key
}

// SealDataKey seals an object's data key with the keyring's current key,
// as Encrypt seals a phone number: "keyid:base64(nonce|ciphertext)".
func (k *Keyring) SealDataKey(key []byte) (string, error) {
	if len(key) != DataKeySize {
		return "", fmt.Errorf("pii.SealDataKey: %w: a data key is %d bytes, not %d", ErrKeyring, DataKeySize, len(key))
	}
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("pii.SealDataKey: %w", err)
	}
	sealed := aead.Seal(nonce, nonce, key, []byte(k.current+dataKeyAAD))
	return k.current + ":" + base64.RawStdEncoding.EncodeToString(sealed), nil
}

// OpenDataKey opens a data key SealDataKey sealed, with any key still in
// the ring: rotating the keyring re-seals data keys, never objects.
func (k *Keyring) OpenDataKey(sealed string) ([]byte, error) {
	id, b64, ok := strings.Cut(sealed, ":")
	aead, known := k.aeads[id]
	if !ok || !known {
		return nil, fmt.Errorf("pii.OpenDataKey: %w: unknown key id", ErrKeyring)
	}
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(raw) < aead.NonceSize() {
		return nil, fmt.Errorf("pii.OpenDataKey: %w: malformed value", ErrKeyring)
	}
	key, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(id+dataKeyAAD))
	if err != nil {
		return nil, fmt.Errorf("pii.OpenDataKey: %w: %w", ErrKeyring, err)
	}
	if len(key) != DataKeySize {
		return nil, fmt.Errorf("pii.OpenDataKey: %w: data key of %d bytes", ErrKeyring, len(key))
	}
	return key, nil
}

// SealedSize is the exact size of the sealed stream of n plaintext bytes:
// the header, the plaintext and one tag per chunk (at least one chunk).
func SealedSize(n int64) int64 {
	chunks := max((n+StreamChunkSize-1)/StreamChunkSize, 1)
	return int64(streamHeaderSize) + n + chunks*streamTagSize
}

func streamAEAD(fn string, key []byte) (cipher.AEAD, error) {
	if len(key) != DataKeySize {
		return nil, fmt.Errorf("%s: %w: a data key is %d bytes, not %d", fn, ErrKeyring, DataKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	return aead, nil
}

// streamNonce fills nonce for chunk counter, the last one if last.
func streamNonce(nonce *[streamNonceSize]byte, prefix []byte, counter uint32, last bool) {
	copy(nonce[:], prefix)
	binary.BigEndian.PutUint32(nonce[streamPrefixSize:], counter)
	nonce[streamNonceSize-1] = 0
	if last {
		nonce[streamNonceSize-1] = 1
	}
}

// sealWriter is NewSealWriter's writer: it holds at most one chunk.
type sealWriter struct {
	w       io.Writer
	aead    cipher.AEAD
	header  []byte
	counter uint32
	buf     []byte // plaintext of the chunk being filled; cap sealedChunkSize, sealed in place
	started bool   // the header is written
	closed  bool
	err     error // sticky: the first write that failed
}

// NewSealWriter encrypts everything written to it into w with key (a data
// key from NewDataKey): the header, then 64 KiB chunks sealed as the
// package's STREAM construction describes. Close writes the final chunk
// (possibly empty) and must be called; it does not close w. The writer
// holds one chunk, whatever the stream's size.
func NewSealWriter(w io.Writer, key []byte) (io.WriteCloser, error) {
	aead, err := streamAEAD("pii.NewSealWriter", key)
	if err != nil {
		return nil, err
	}
	header := make([]byte, streamHeaderSize)
	copy(header, streamMagic)
	if _, err := rand.Read(header[len(streamMagic):]); err != nil {
		return nil, fmt.Errorf("pii.NewSealWriter: %w", err)
	}
	return &sealWriter{w: w, aead: aead, header: header, buf: make([]byte, 0, sealedChunkSize)}, nil
}

// Write seals p into the stream. A full chunk is held back until more
// plaintext arrives, since only Close knows which chunk is the last.
func (s *sealWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.closed {
		return 0, errStreamClosed
	}
	written := 0
	for len(p) > 0 {
		if len(s.buf) == StreamChunkSize {
			if err := s.flush(false); err != nil {
				return written, err
			}
		}
		n := copy(s.buf[len(s.buf):StreamChunkSize], p)
		s.buf = s.buf[:len(s.buf)+n]
		p = p[n:]
		written += n
	}
	return written, nil
}

// Close seals the last chunk and writes it.
func (s *sealWriter) Close() error {
	if s.closed {
		return s.err
	}
	s.closed = true
	if s.err != nil {
		return s.err
	}
	return s.flush(true)
}

// flush seals the buffered chunk in place and writes it, after the header
// for the first.
func (s *sealWriter) flush(last bool) error {
	if !s.started {
		if _, err := s.w.Write(s.header); err != nil {
			s.err = fmt.Errorf("pii.SealWriter: %w", err)
			return s.err
		}
		s.started = true
	}
	if !last && s.counter == math.MaxUint32 {
		s.err = fmt.Errorf("pii.SealWriter: stream longer than %d chunks", uint64(math.MaxUint32)+1)
		return s.err
	}
	var nonce [streamNonceSize]byte
	streamNonce(&nonce, s.header[len(streamMagic):], s.counter, last)
	sealed := s.aead.Seal(s.buf[:0], nonce[:], s.buf, s.header)
	if _, err := s.w.Write(sealed); err != nil {
		s.err = fmt.Errorf("pii.SealWriter: %w", err)
		return s.err
	}
	s.counter++
	s.buf = s.buf[:0]
	return nil
}

// openReader is NewOpenReader's reader: it holds one sealed chunk and one
// byte of the next, which tells whether the chunk is the last, and opens
// the chunk in place.
type openReader struct {
	r       io.Reader
	aead    cipher.AEAD
	header  []byte // nil until read
	counter uint32
	buf     []byte // sealedChunkSize+1: a sealed chunk and the next one's first byte
	carry   bool   // next holds the first byte of the next chunk, read already
	next1   byte
	plain   []byte // opened plaintext not yet returned (a window into buf)
	last    bool   // the last chunk has been opened
	err     error  // sticky
}

// NewOpenReader decrypts a stream NewSealWriter sealed with key. The
// stream's own errors — a wrong key, a changed byte, a truncation (the
// last chunk missing), reordered chunks or trailing data — come from Read,
// wrapping ErrKeyring; Read returns no plaintext of a chunk before that
// chunk has proved authentic. NewOpenReader itself reads nothing.
func NewOpenReader(r io.Reader, key []byte) (io.Reader, error) {
	aead, err := streamAEAD("pii.NewOpenReader", key)
	if err != nil {
		return nil, err
	}
	return &openReader{r: r, aead: aead, buf: make([]byte, sealedChunkSize+1)}, nil
}

// Read returns plaintext of authenticated chunks, io.EOF after the last.
func (o *openReader) Read(p []byte) (int, error) {
	for len(o.plain) == 0 {
		if o.err != nil {
			return 0, o.err
		}
		if o.last {
			o.err = io.EOF
			return 0, io.EOF
		}
		if err := o.next(); err != nil {
			o.err = err
			return 0, err
		}
	}
	n := copy(p, o.plain)
	o.plain = o.plain[n:]
	return n, nil
}

// next reads, authenticates and opens one chunk into o.plain.
func (o *openReader) next() error {
	if o.header == nil {
		header := make([]byte, streamHeaderSize)
		if _, err := io.ReadFull(o.r, header); err != nil {
			return o.readErr("header", err)
		}
		if string(header[:len(streamMagic)]) != streamMagic {
			return fmt.Errorf("pii.OpenReader: %w: not a sealed stream", ErrKeyring)
		}
		o.header = header
	}
	have := 0
	if o.carry {
		o.buf[0] = o.next1 // the previous chunk's plaintext is all returned
		have = 1
	}
	n, err := io.ReadFull(o.r, o.buf[have:])
	have += n
	switch {
	case err == nil: // a full chunk and one byte more: not the last
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		o.last = true
	default:
		return o.readErr(fmt.Sprintf("chunk %d", o.counter), err)
	}
	chunk := o.buf[:min(have, sealedChunkSize)]
	if len(chunk) < streamTagSize {
		return fmt.Errorf("pii.OpenReader: %w: stream truncated in chunk %d", ErrKeyring, o.counter)
	}
	if o.last && len(chunk) == streamTagSize && o.counter > 0 {
		// An empty last chunk follows a full one only if it was spliced
		// on: NewSealWriter ends on a non-empty chunk.
		return fmt.Errorf("pii.OpenReader: %w: empty last chunk %d", ErrKeyring, o.counter)
	}
	if !o.last && o.counter == math.MaxUint32 {
		return fmt.Errorf("pii.OpenReader: %w: stream longer than %d chunks", ErrKeyring, uint64(math.MaxUint32)+1)
	}
	var nonce [streamNonceSize]byte
	streamNonce(&nonce, o.header[len(streamMagic):], o.counter, o.last)
	plain, err := o.aead.Open(chunk[:0], nonce[:], chunk, o.header)
	if err != nil {
		if o.last {
			return fmt.Errorf("pii.OpenReader: %w: chunk %d (the last) does not open: wrong key, changed, truncated or extended", ErrKeyring, o.counter)
		}
		return fmt.Errorf("pii.OpenReader: %w: chunk %d does not open: wrong key, changed or reordered", ErrKeyring, o.counter)
	}
	o.counter++
	if !o.last {
		o.next1, o.carry = o.buf[sealedChunkSize], true // starts the next chunk
	}
	o.plain = plain
	return nil
}

// readErr reports a failed read of the stream: a short one means a
// truncated stream (ErrKeyring), anything else is the reader's own error.
func (o *openReader) readErr(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("pii.OpenReader: %w: stream truncated in the %s", ErrKeyring, what)
	}
	return fmt.Errorf("pii.OpenReader: reading the %s: %w", what, err)
}
