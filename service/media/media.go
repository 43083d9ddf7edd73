// Package media turns an untrusted upload (a photographed ID card, a
// 户口本 page, a form, a receipt) into bytes that are safe to store and
// serve, and makes thumbnails of them.
//
// Clean streams an upload from a reader to a writer in a small, fixed
// amount of memory: it sniffs the type from the bytes (JPEG, PNG, HEIC or
// PDF, never a client's header), bounds the size and the declared pixel
// dimensions, checks the structure of JPEG and PNG files, and removes their
// metadata (EXIF with its GPS position and maker notes, XMP, IPTC, comments,
// PNG text chunks). Thumbnail decodes a cleaned JPEG or PNG and writes a
// small JPEG of it.
package media

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
)

// Content types, as stored and served.
const (
	JPEG = "image/jpeg"
	PNG  = "image/png"
	HEIC = "image/heic"
	PDF  = "application/pdf"
)

// Limits bound what an upload may cost.
type Limits struct {
	MaxBytes  int64 // largest upload accepted, in bytes (of the input)
	MaxPixels int64 // largest width*height an image may declare
	MaxSide   int   // largest width or height
}

// DefaultLimits are the limits for an upload: 10 MiB (10<<20), 40
// megapixels, 12000 px a side.
var DefaultLimits = Limits{MaxBytes: 10 << 20, MaxPixels: 40_000_000, MaxSide: 12000}

// Errors Clean and Thumbnail return, wrapped with detail; compare them with
// errors.Is.
var (
	// ErrEmpty reports an upload with no bytes at all.
	ErrEmpty = errors.New("media: empty upload")
	// ErrTooLarge reports an upload of more than Limits.MaxBytes bytes.
	ErrTooLarge = errors.New("media: upload too large")
	// ErrUnsupported reports bytes that are not JPEG, PNG, HEIC or PDF, or
	// a variant of them this package does not accept (a lossless,
	// arithmetic-coded, hierarchical or 12-bit JPEG, an AVIF).
	ErrUnsupported = errors.New("media: unsupported file type")
	// ErrTooManyPixels reports an image whose declared dimensions exceed
	// Limits.MaxPixels or Limits.MaxSide (a decompression bomb).
	ErrTooManyPixels = errors.New("media: image dimensions too large")
	// ErrCorrupt reports bytes that claim a format but don't follow it: a
	// truncated JPEG, a bad PNG chunk CRC, no SOF before SOS, and so on.
	ErrCorrupt = errors.New("media: corrupt file")
)

// Result describes what Clean wrote.
type Result struct {
	ContentType   string   // sniffed from the bytes, one of the four constants
	Width, Height int      // images only, as stored (before any EXIF orientation); 0 for PDF, and for a HEIC whose primary image size Clean could not read
	Size          int64    // bytes written to w
	SHA256        [32]byte // of the bytes written to w
	Orientation   int      // EXIF orientation 1-8 of a JPEG (1 when none, and for the other types)
}

// bufSize is the read buffer: the only allocation that grows with nothing
// but this constant. A HEIC's meta box must fit in it for its size to be read.
const bufSize = 32 << 10

// Clean copies an upload from r to w with its metadata removed, streaming
// (memory bounded by a small constant, never the whole upload): it sniffs the
// type from the first bytes (never trusting a client's header), reads at most
// MaxBytes+1 bytes, and checks an image's declared dimensions before any pixel
// data passes.
//
// JPEG: keeps the first APP0 JFIF (rewritten without its thumbnail), APP2
// ICC_PROFILE and APP14 Adobe, and drops APP1 (EXIF, XMP), APP13
// (IPTC/Photoshop), every other APPn (MPF, JFXX, ...) and COM, wherever they
// appear; if the first EXIF had an Orientation other than 1, writes back in
// its place a minimal EXIF APP1 holding only that Orientation tag (so phone
// photos don't turn sideways) — no GPS, no maker notes, no thumbnail. Bytes
// after EOI (an MPF's second image, anything appended) are read, counted
// against MaxBytes, and dropped. Only the codings image/jpeg decodes are
// accepted (baseline, extended sequential, progressive; 8-bit; 1, 3 or 4
// components), so every JPEG Clean accepts can be given to Thumbnail.
//
// PNG: verifies every chunk's CRC; keeps IHDR, PLTE, IDAT, IEND and the
// ancillary chunks that affect rendering (tRNS, gAMA, cHRM, sRGB, iCCP, sBIT,
// cICP, mDCV, cLLI, bKGD, hIST, pHYs); drops the rest (tEXt, zTXt, iTXt, eXIf,
// tIME, private chunks, APNG frames) and bytes after IEND.
//
// PDF and HEIC pass through byte for byte (sniffed only); of a HEIC, Clean
// reads the primary image's size (its ispe property) when the meta box fits in
// its buffer, and checks it against the limits. A HEIC's own EXIF item (GPS
// included) and a PDF's metadata are NOT removed.
//
// Errors are reported as they are met while streaming: an oversized upload
// of an unsupported type may give ErrUnsupported rather than ErrTooLarge.
// On error, w may have received a prefix: the caller discards it. Limits
// with a field that is not positive (a zero Limits, say) are the caller's
// mistake: Clean reads nothing and returns an error that is none of the above.
func Clean(w io.Writer, r io.Reader, lim Limits) (Result, error) {
	res, err := clean(w, r, lim, nil)
	if err != nil {
		return Result{}, fmt.Errorf("media.Clean: %w", err)
	}
	return res, nil
}

// clean is Clean without the wrapping; accept, when not nil, vets the
// sniffed content type before anything is written.
func clean(w io.Writer, r io.Reader, lim Limits, accept func(contentType string) error) (Result, error) {
	if lim.MaxBytes <= 0 || lim.MaxPixels <= 0 || lim.MaxSide <= 0 {
		return Result{}, fmt.Errorf("invalid limits %+v: every field must be positive", lim)
	}
	c := &cleaner{
		br:  bufio.NewReaderSize(&limitedReader{r: r, max: lim.MaxBytes}, bufSize),
		out: hashWriter{w: w, h: sha256.New()},
		lim: lim,
		res: Result{Orientation: 1},
	}
	ct, err := c.sniff()
	if err != nil {
		return Result{}, err
	}
	c.res.ContentType = ct
	if accept != nil {
		if err := accept(ct); err != nil {
			return Result{}, err
		}
	}
	switch ct {
	case JPEG:
		err = c.jpeg()
	case PNG:
		err = c.png()
	case HEIC:
		if err = c.heic(); err == nil {
			err = c.passThrough()
		}
	case PDF:
		err = c.passThrough()
	}
	if err != nil {
		return Result{}, err
	}
	c.res.Size = c.out.n
	c.out.h.Sum(c.res.SHA256[:0])
	return c.res, nil
}

// cleaner carries one Clean call's state.
type cleaner struct {
	br      *bufio.Reader
	out     hashWriter
	lim     Limits
	res     Result
	scratch [64]byte // for the small writes (markers, headers), so they don't allocate
}

// limitedReader reads at most max bytes of r, then fails with ErrTooLarge if
// r has more: it asks r for at most max+1 bytes in all.
type limitedReader struct {
	r   io.Reader
	n   int64 // bytes read from r so far
	max int64
	err error // sticky ErrTooLarge
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if left := l.max + 1 - l.n; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		l.err = ErrTooLarge
		// Hand over the bytes up to the limit; the next Read reports it.
		return n - int(l.n-l.max), nil
	}
	return n, err
}

// hashWriter writes to w, counting and hashing what w took.
type hashWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (o *hashWriter) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if n < 0 || n > len(p) {
		n = 0
		if err == nil {
			err = errors.New("writer returned an impossible count")
		}
	}
	o.h.Write(p[:n])
	o.n += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return n, fmt.Errorf("write: %w", err)
	}
	return n, nil
}

// write writes p to the output.
func (c *cleaner) write(p []byte) error {
	_, err := c.out.Write(p)
	return err
}

// sniff names the type from the first bytes, consuming none of them.
func (c *cleaner) sniff() (string, error) {
	head, err := c.br.Peek(16)
	if len(head) == 0 {
		if err == nil || errors.Is(err, io.EOF) {
			return "", ErrEmpty
		}
		return "", err
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	switch {
	case hasPrefix(head, "\xff\xd8\xff"):
		return JPEG, nil
	case hasPrefix(head, pngSignature):
		return PNG, nil
	case hasPrefix(head, "%PDF-"):
		return PDF, nil
	case len(head) >= 8 && string(head[4:8]) == "ftyp":
		size := int(be32(head))
		if size < 16 || size > 1<<10 || size%4 != 0 {
			return "", fmt.Errorf("%w: ftyp box of %d bytes", ErrUnsupported, size)
		}
		box, err := c.br.Peek(size)
		if len(box) < size {
			if err != nil && !errors.Is(err, io.EOF) {
				return "", err
			}
			return "", fmt.Errorf("%w: truncated ftyp box", ErrUnsupported)
		}
		if isHEIC(box) {
			return HEIC, nil
		}
		return "", fmt.Errorf("%w: ISO media file of brand %q", ErrUnsupported, box[8:12])
	}
	return "", ErrUnsupported
}

// heicBrands are the ftyp brands that make an ISO media file a HEIC: the HEVC
// image and sequence brands, and the generic HEIF ones (mif1, msf1).
var heicBrands = []string{"heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1"}

// avifBrands mark an AV1 HEIF (AVIF), which also carries mif1 but is no HEIC.
var avifBrands = []string{"avif", "avis", "avio"}

// isHEIC reports whether a whole ftyp box names a HEIC brand, as major or
// compatible brand, and no AVIF brand.
func isHEIC(box []byte) bool {
	heic := false
	for i := 8; i+4 <= len(box); i += 4 {
		if i == 12 {
			continue // minor_version, not a brand
		}
		b := string(box[i : i+4])
		for _, a := range avifBrands {
			if b == a {
				return false
			}
		}
		for _, h := range heicBrands {
			if b == h {
				heic = true
			}
		}
	}
	return heic
}

// passThrough copies the rest of the input unchanged.
func (c *cleaner) passThrough() error {
	_, err := c.br.WriteTo(&c.out)
	return err
}

// drain reads and drops the rest of the input, so it counts against MaxBytes.
func (c *cleaner) drain() error {
	for {
		_, err := c.br.Discard(bufSize)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// avail returns between 1 and n buffered bytes, reading if none are; it
// consumes nothing.
func (c *cleaner) avail(n int64) ([]byte, error) {
	if c.br.Buffered() == 0 {
		if _, err := c.br.Peek(1); err != nil {
			return nil, truncated(err)
		}
	}
	b, _ := c.br.Peek(c.br.Buffered())
	if int64(len(b)) > n {
		b = b[:n]
	}
	return b, nil
}

// readN consumes n bytes (n at most bufSize) and returns them; the slice
// is valid until the next read.
func (c *cleaner) readN(n int) ([]byte, error) {
	b, err := c.br.Peek(n)
	if len(b) < n {
		return nil, truncated(err)
	}
	_, _ = c.br.Discard(n) // buffered: can't fail
	return b, nil
}

// skip consumes n bytes.
func (c *cleaner) skip(n int64) error {
	for n > 0 {
		b, err := c.avail(n)
		if err != nil {
			return err
		}
		_, _ = c.br.Discard(len(b))
		n -= int64(len(b))
	}
	return nil
}

// copyN copies n bytes to the output, calling sum on each piece first.
func (c *cleaner) copyN(n int64, sum func([]byte)) error {
	for n > 0 {
		b, err := c.avail(n)
		if err != nil {
			return err
		}
		if sum != nil {
			sum(b)
		}
		if err := c.write(b); err != nil {
			return err
		}
		_, _ = c.br.Discard(len(b))
		n -= int64(len(b))
	}
	return nil
}

// truncated turns the end of the input in the middle of a structure into
// ErrCorrupt; other read errors (ErrTooLarge, the reader's own) pass.
func truncated(err error) error {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, bufio.ErrBufferFull) {
		return fmt.Errorf("%w: truncated", ErrCorrupt)
	}
	return err
}

// checkSize checks declared dimensions against the limits.
func (c *cleaner) checkSize(format string, width, height int64) error {
	if width > int64(c.lim.MaxSide) || height > int64(c.lim.MaxSide) || width*height > c.lim.MaxPixels {
		return fmt.Errorf("%w: %s declares %dx%d (limits %d pixels, %d a side)",
			ErrTooManyPixels, format, width, height, c.lim.MaxPixels, c.lim.MaxSide)
	}
	return nil
}

func hasPrefix(b []byte, p string) bool {
	return len(b) >= len(p) && string(b[:len(p)]) == p
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
