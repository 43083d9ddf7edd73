package pii

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// plaintext is n bytes that start like a JPEG and never repeat a 64 KiB
// chunk, so a chunk swapped for another changes the plaintext.
func plaintext(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	copy(b, []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00})
	return b
}

// seal seals plain with key, writing it in pieces of the sizes in writes,
// cycled (all at once when writes is empty).
func seal(tb testing.TB, key, plain []byte, writes ...int) []byte {
	tb.Helper()
	var out bytes.Buffer
	w, err := NewSealWriter(&out, key)
	if err != nil {
		tb.Fatal(err)
	}
	if len(writes) == 0 {
		writes = []int{len(plain)}
	}
	for i, rest := 0, plain; len(rest) > 0; i++ {
		n := min(writes[i%len(writes)], len(rest))
		if m, err := w.Write(rest[:n]); err != nil || m != n {
			tb.Fatalf("Write(%d bytes) = %d, %v", n, m, err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

func open(key []byte, sealed io.Reader) ([]byte, error) {
	r, err := NewOpenReader(sealed, key)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestStreamRoundTrip(t *testing.T) {
	t.Parallel()
	key := NewDataKey()
	for _, n := range []int{0, 1, StreamChunkSize - 1, StreamChunkSize, StreamChunkSize + 1, 3*StreamChunkSize + 5, 10 << 20} {
		plain := plaintext(n)
		for _, writes := range [][]int{nil, {1, 7, 1000, StreamChunkSize + 3, 13}} {
			t.Run(fmt.Sprintf("%d bytes, writes %v", n, writes), func(t *testing.T) {
				t.Parallel()
				if n == 10<<20 && len(writes) > 0 {
					writes = []int{7, 100003, 65535} // single bytes would take minutes under -race
				}
				sealed := seal(t, key, plain, writes...)
				if got, want := int64(len(sealed)), SealedSize(int64(n)); got != want {
					t.Errorf("sealed %d bytes into %d, SealedSize says %d", n, got, want)
				}
				got, err := open(key, bytes.NewReader(sealed))
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("open: %d bytes, %v; want the %d written", len(got), err, n)
				}
				// The stream arriving a byte at a time, read a byte at a time.
				r, err := NewOpenReader(iotest.OneByteReader(bytes.NewReader(sealed)), key)
				if err != nil {
					t.Fatal(err)
				}
				if n > 1<<20 {
					got, err = io.ReadAll(r)
				} else {
					got, err = io.ReadAll(iotest.OneByteReader(r))
				}
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("open one byte at a time: %d bytes, %v; want the %d written", len(got), err, n)
				}
				if n < 1<<20 {
					r, err := NewOpenReader(bytes.NewReader(sealed), key)
					if err != nil {
						t.Fatal(err)
					}
					if err := iotest.TestReader(r, plain); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
}

func TestSealedSize(t *testing.T) {
	t.Parallel()
	const header, tag = 11, 16
	cases := []struct {
		n, want int64
	}{
		{0, header + tag},
		{1, header + 1 + tag},
		{StreamChunkSize - 1, header + StreamChunkSize - 1 + tag},
		{StreamChunkSize, header + StreamChunkSize + tag},
		{StreamChunkSize + 1, header + StreamChunkSize + 1 + 2*tag},
		{10 << 20, header + 10<<20 + 160*tag},
	}
	for _, tc := range cases {
		if got := SealedSize(tc.n); got != tc.want {
			t.Errorf("SealedSize(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

func TestStreamRejectsTampering(t *testing.T) {
	t.Parallel()
	key := NewDataKey()
	plain := plaintext(2*StreamChunkSize + 100) // chunks of 64 KiB, 64 KiB and 100 bytes
	sealed := seal(t, key, plain)
	const h, c = streamHeaderSize, sealedChunkSize
	chunk := func(i int) []byte { return sealed[h+i*c : min(h+(i+1)*c, len(sealed))] }
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	flip := func(at int) []byte {
		b := bytes.Clone(sealed)
		b[at] ^= 0x10
		return b
	}
	full := plaintext(2 * StreamChunkSize) // ends on a full chunk
	fullSealed := seal(t, key, full)
	cases := []struct {
		name   string
		stream []byte
		key    []byte
	}{
		{"bit flipped in the magic", flip(1), key},
		{"bit flipped in the nonce prefix", flip(5), key},
		{"bit flipped in a chunk's ciphertext", flip(h + 100), key},
		{"bit flipped in a chunk's tag", flip(h + c - 1), key},
		{"bit flipped in the last chunk", flip(len(sealed) - 20), key},
		{"last chunk dropped", sealed[:h+2*c], key},
		{"last chunk dropped after a full chunk", fullSealed[:h+c], key},
		{"middle chunk dropped", join(sealed[:h], chunk(0), chunk(2)), key},
		{"chunks swapped", join(sealed[:h], chunk(1), chunk(0), chunk(2)), key},
		{"last chunk cut short", sealed[:len(sealed)-1], key},
		{"byte appended", join(sealed, []byte{0}), key},
		{"byte appended after a full last chunk", join(fullSealed, []byte{0}), key},
		{"chunk appended", join(sealed, chunk(1)), key},
		{"header only", sealed[:h], key},
		{"header cut short", sealed[:h-1], key},
		{"empty", nil, key},
		{"another stream's header", join(seal(t, key, nil)[:h], sealed[h:]), key},
		{"wrong key", sealed, NewDataKey()},
	}
	for _, tc := range cases {
		got, err := open(tc.key, bytes.NewReader(tc.stream))
		if !errors.Is(err, ErrKeyring) {
			t.Errorf("%s: opened %d bytes, error %v; want ErrKeyring", tc.name, len(got), err)
		}
	}
	if got, err := open(key, bytes.NewReader(sealed)); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("the untouched stream: %d bytes, %v", len(got), err)
	}
}

// TestStreamRejectsEmptyLastChunkAfterFull: a stream ending on a full
// chunk has that chunk as its last; the same chunk sealed as not last and
// followed by an empty last chunk is another encoding of the same
// plaintext, which the writer never makes and the reader refuses.
func TestStreamRejectsEmptyLastChunkAfterFull(t *testing.T) {
	t.Parallel()
	key := NewDataKey()
	aead, err := streamAEAD("test", key)
	if err != nil {
		t.Fatal(err)
	}
	plain := plaintext(StreamChunkSize)
	header := []byte(streamMagic + "1234567")
	var nonce [streamNonceSize]byte
	streamNonce(&nonce, header[len(streamMagic):], 0, false)
	stream := aead.Seal(bytes.Clone(header), nonce[:], plain, header)
	streamNonce(&nonce, header[len(streamMagic):], 1, true)
	stream = aead.Seal(stream, nonce[:], nil, header)
	if got, err := open(key, bytes.NewReader(stream)); !errors.Is(err, ErrKeyring) {
		t.Errorf("full chunk then an empty last one: opened %d bytes, error %v; want ErrKeyring", len(got), err)
	}
}

func TestStreamReadErrorsAreSticky(t *testing.T) {
	t.Parallel()
	key := NewDataKey()
	sealed := seal(t, key, plaintext(100))
	r, err := NewOpenReader(bytes.NewReader(sealed[:len(sealed)-1]), key)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	for i := range 2 {
		if n, err := r.Read(buf); n != 0 || !errors.Is(err, ErrKeyring) {
			t.Errorf("read %d of a truncated stream = %d, %v; want 0, ErrKeyring", i, n, err)
		}
	}
	// A reader's own error is passed on, not taken for tampering.
	boom := errors.New("disk on fire")
	r, err = NewOpenReader(io.MultiReader(bytes.NewReader(sealed[:20]), iotest.ErrReader(boom)), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, boom) || errors.Is(err, ErrKeyring) {
		t.Errorf("reader failing mid-stream: %v; want the reader's error", err)
	}
}

func TestSealWriterErrors(t *testing.T) {
	t.Parallel()
	if _, err := NewSealWriter(io.Discard, make([]byte, 16)); !errors.Is(err, ErrKeyring) {
		t.Errorf("NewSealWriter with a 16-byte key: %v, want ErrKeyring", err)
	}
	if _, err := NewOpenReader(bytes.NewReader(nil), make([]byte, 31)); !errors.Is(err, ErrKeyring) {
		t.Errorf("NewOpenReader with a 31-byte key: %v, want ErrKeyring", err)
	}
	w, err := NewSealWriter(io.Discard, NewDataKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("late")); err == nil {
		t.Error("Write after Close succeeded")
	}
	boom := errors.New("bucket gone")
	w, err = NewSealWriter(&failOnce{err: boom}, NewDataKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plaintext(StreamChunkSize + 1)); !errors.Is(err, boom) {
		t.Errorf("Write into a failing writer: %v, want its error", err)
	}
	// The stream is broken: Close writes nothing more and says so,
	// though the writer would take the bytes now.
	if err := w.Close(); !errors.Is(err, boom) {
		t.Errorf("Close after a failed write: %v, want the write's error", err)
	}
}

// failOnce fails its first write and takes the rest.
type failOnce struct {
	err    error
	failed bool
}

func (f *failOnce) Write(p []byte) (int, error) {
	if !f.failed {
		f.failed = true
		return 0, f.err
	}
	return len(p), nil
}

func TestSealedStreamHidesPlaintext(t *testing.T) {
	t.Parallel()
	key := NewDataKey()
	plain := plaintext(3 * StreamChunkSize)
	// The same bytes twice in one stream, and the stream sealed twice.
	plain = append(plain[:StreamChunkSize:StreamChunkSize], plain[:StreamChunkSize]...)
	a, b := seal(t, key, plain), seal(t, key, plain)
	for _, sealed := range [][]byte{a, b} {
		if bytes.HasPrefix(sealed, []byte{0xFF, 0xD8, 0xFF}) || !bytes.HasPrefix(sealed, []byte(streamMagic)) {
			t.Errorf("sealed stream starts % X", sealed[:4])
		}
		for off := 0; off+16 <= len(plain); off += 4096 {
			if bytes.Contains(sealed, plain[off:off+16]) {
				t.Fatalf("sealed stream contains plaintext bytes %d-%d", off, off+16)
			}
		}
	}
	if bytes.Equal(a[streamHeaderSize:streamHeaderSize+64], b[streamHeaderSize:streamHeaderSize+64]) {
		t.Error("the same plaintext sealed twice gives the same ciphertext")
	}
	if bytes.Equal(a[streamHeaderSize:streamHeaderSize+64], a[streamHeaderSize+sealedChunkSize:streamHeaderSize+sealedChunkSize+64]) {
		t.Error("two equal chunks of one stream seal alike")
	}
}

func TestDataKeyAcrossRotation(t *testing.T) {
	t.Parallel()
	oldSpec := NewKeyringString() // "hash:...,k1:..."
	oldRing, err := ParseKeyring(oldSpec)
	if err != nil {
		t.Fatal(err)
	}
	key := NewDataKey()
	if len(key) != 32 || bytes.Equal(key, NewDataKey()) {
		t.Fatalf("NewDataKey: %d bytes, or not fresh", len(key))
	}
	sealed, err := oldRing.SealDataKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, "k1:") || strings.Contains(sealed, string(key)) {
		t.Fatalf("sealed data key %q", sealed)
	}
	hashEntry, k1Entry, _ := strings.Cut(oldSpec, ",")
	newRing, err := ParseKeyring(hashEntry + ",k2:" + randomKey() + "," + k1Entry)
	if err != nil {
		t.Fatal(err)
	}
	got, err := newRing.OpenDataKey(sealed)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("old data key after rotation = %x, %v", got, err)
	}
	// Rotation re-seals the data key; the object's stream opens with it.
	resealed, err := newRing.SealDataKey(got)
	if err != nil || !strings.HasPrefix(resealed, "k2:") {
		t.Fatalf("re-sealed %q, %v; want k2", resealed, err)
	}
	if _, err := oldRing.OpenDataKey(resealed); !errors.Is(err, ErrKeyring) {
		t.Errorf("old ring opening a k2 data key: %v, want ErrKeyring", err)
	}
	again, err := newRing.OpenDataKey(resealed)
	if err != nil {
		t.Fatal(err)
	}
	plain := plaintext(1000)
	if opened, err := open(again, bytes.NewReader(seal(t, key, plain))); err != nil || !bytes.Equal(opened, plain) {
		t.Errorf("object sealed before rotation, key re-sealed: %d bytes, %v", len(opened), err)
	}
}

func TestDataKeyRejects(t *testing.T) {
	t.Parallel()
	ring, err := ParseKeyring(NewKeyringString())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.SealDataKey(make([]byte, 16)); !errors.Is(err, ErrKeyring) {
		t.Errorf("sealing a 16-byte data key: %v, want ErrKeyring", err)
	}
	sealed, err := ring.SealDataKey(NewDataKey())
	if err != nil {
		t.Fatal(err)
	}
	phone, err := ring.Encrypt(strings.Repeat("x", 32))
	if err != nil {
		t.Fatal(err)
	}
	other, err := ParseKeyring(NewKeyringString())
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"a sealed phone":       phone,
		"another ring's key":   must(other.SealDataKey(NewDataKey())),
		"unknown key id":       "k9" + sealed[2:],
		"no key id":            sealed[3:],
		"bad base64":           sealed[:3] + "!!!!",
		"too short":            sealed[:10],
		"one character off":    sealed[:len(sealed)-2] + string(sealed[len(sealed)-2]^1) + sealed[len(sealed)-1:],
		"empty":                "",
		"id and colon, no key": "k1:",
	}
	for name, s := range cases {
		if _, err := ring.OpenDataKey(s); !errors.Is(err, ErrKeyring) {
			t.Errorf("OpenDataKey(%s): %v, want ErrKeyring", name, err)
		}
	}
	if _, err := ring.Decrypt(sealed); !errors.Is(err, ErrKeyring) {
		t.Errorf("Decrypt of a sealed data key: %v, want ErrKeyring", err)
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

// TestStreamMemoryIsBounded seals and opens 10 MiB and measures what the
// stream code allocates: about one chunk each way, whatever the size.
func TestStreamMemoryIsBounded(t *testing.T) {
	key := NewDataKey()
	const n = 10 << 20
	sealed := seal(t, key, plaintext(n)) // outside the measurement
	src := io.LimitReader(zeros{}, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w, err := NewSealWriter(io.Discard, key)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32<<10)
	if _, err := io.CopyBuffer(w, src, buf); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := NewOpenReader(bytes.NewReader(sealed), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("sealing and opening %d bytes allocated %d bytes", n, alloc)
	if alloc > 4*sealedChunkSize {
		t.Errorf("sealing and opening %d bytes allocated %d bytes, want at most 4 chunks (%d)", n, alloc, 4*sealedChunkSize)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// FuzzOpenReader: a sealed stream with any change either fails to open or
// opens to the original plaintext (a change that undoes itself).
func FuzzOpenReader(f *testing.F) {
	key := NewDataKey()
	plain := plaintext(StreamChunkSize + 300)
	sealed := seal(f, key, plain)
	f.Add(uint32(0), byte(1), uint16(0))
	f.Add(uint32(streamHeaderSize+5), byte(0x80), uint16(0))
	f.Add(uint32(len(sealed)-1), byte(0), uint16(7))
	f.Fuzz(func(t *testing.T, at uint32, xor byte, cut uint16) {
		b := bytes.Clone(sealed)
		b[int(at)%len(b)] ^= xor
		b = b[:len(b)-int(cut)%len(b)]
		got, err := open(key, bytes.NewReader(b))
		if err == nil && !bytes.Equal(got, plain) {
			t.Fatalf("changed stream opened to %d other bytes", len(got))
		}
		if err != nil && !errors.Is(err, ErrKeyring) {
			t.Fatalf("changed stream: %v, want ErrKeyring", err)
		}
	})
}

func BenchmarkStream(b *testing.B) {
	key := NewDataKey()
	plain := plaintext(1 << 20)
	sealed := seal(b, key, plain)
	b.Run("seal", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			w, err := NewSealWriter(io.Discard, key)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := w.Write(plain); err != nil {
				b.Fatal(err)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("open", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			r, err := NewOpenReader(bytes.NewReader(sealed), key)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
