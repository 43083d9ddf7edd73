package media

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// JPEG markers (ITU T.81 table B.1).
const (
	mSOF0  = 0xC0 // baseline
	mSOF1  = 0xC1 // extended sequential
	mSOF2  = 0xC2 // progressive
	mDHT   = 0xC4
	mSOI   = 0xD8
	mEOI   = 0xD9
	mSOS   = 0xDA
	mDQT   = 0xDB
	mDNL   = 0xDC
	mDRI   = 0xDD
	mDHP   = 0xDE
	mEXP   = 0xDF
	mAPP0  = 0xE0
	mAPP1  = 0xE1
	mAPP2  = 0xE2
	mAPP14 = 0xEE
	mCOM   = 0xFE
)

// jpegState is what the marker loop has seen so far.
type jpegState struct {
	sof, sos, jfif, exif bool
}

// jpeg cleans a JPEG: header segments one by one (dropping metadata),
// each scan's entropy-coded data verbatim, up to EOI; the rest is drained.
func (c *cleaner) jpeg() error {
	if _, err := c.readN(2); err != nil { // SOI, checked by sniff
		return err
	}
	if err := c.writeMarker(mSOI); err != nil {
		return err
	}
	var st jpegState
	m, err := c.marker()
	for {
		if err != nil {
			return err
		}
		switch {
		case m == mEOI:
			if !st.sos {
				return fmt.Errorf("%w: JPEG ends before any scan", ErrCorrupt)
			}
			if err := c.writeMarker(mEOI); err != nil {
				return err
			}
			return c.drain()
		case m == mSOS:
			if !st.sof {
				return fmt.Errorf("%w: JPEG scan (SOS) before any frame header (SOF)", ErrCorrupt)
			}
			if err := c.sos(); err != nil {
				return err
			}
			st.sos = true
			m, err = c.scan()
			continue
		case m == mSOF0 || m == mSOF1 || m == mSOF2:
			if st.sof {
				return fmt.Errorf("%w: JPEG with a second frame header", ErrCorrupt)
			}
			if err := c.sof(m); err != nil {
				return err
			}
			st.sof = true
		case m == mDHT || m == mDQT || m == mDRI:
			if err := c.copySegment(m); err != nil {
				return err
			}
		case m >= 0xC3 && m <= 0xCF:
			// SOF3 and SOF5-15 (lossless, hierarchical, arithmetic), JPG, DAC.
			return fmt.Errorf("%w: JPEG coding (marker 0x%02X) other than baseline or progressive", ErrUnsupported, m)
		case m >= mAPP0 && m <= mAPP0+15:
			if err := c.app(m, &st); err != nil {
				return err
			}
		case m == mCOM:
			if err := c.skipSegment(); err != nil {
				return err
			}
		case m == mDHP || m == mEXP || (m >= 0xF0 && m <= 0xFD):
			return fmt.Errorf("%w: JPEG extension or hierarchical marker 0x%02X", ErrUnsupported, m)
		default: // SOI again, RSTn or TEM out of a scan, DNL, reserved
			return fmt.Errorf("%w: unexpected JPEG marker 0x%02X", ErrCorrupt, m)
		}
		m, err = c.marker()
	}
}

// marker reads a marker between segments: 0xFF, any fill 0xFFs, the code.
func (c *cleaner) marker() (byte, error) {
	b, err := c.readN(1)
	if err != nil {
		return 0, err
	}
	if b[0] != 0xFF {
		return 0, fmt.Errorf("%w: JPEG byte 0x%02X where a marker should be", ErrCorrupt, b[0])
	}
	for {
		if b, err = c.readN(1); err != nil {
			return 0, err
		}
		if b[0] != 0xFF {
			break
		}
	}
	if b[0] == 0 {
		return 0, fmt.Errorf("%w: JPEG stuffed zero where a marker should be", ErrCorrupt)
	}
	return b[0], nil
}

// length reads a segment's length field and returns its payload's size.
func (c *cleaner) length() (int64, error) {
	b, err := c.readN(2)
	if err != nil {
		return 0, err
	}
	l := int64(be16(b))
	if l < 2 {
		return 0, fmt.Errorf("%w: JPEG segment length %d", ErrCorrupt, l)
	}
	return l - 2, nil
}

func (c *cleaner) writeMarker(m byte) error {
	c.scratch[0], c.scratch[1] = 0xFF, m
	return c.write(c.scratch[:2])
}

// writeSegmentHeader writes a marker and the length field of an n-byte payload.
func (c *cleaner) writeSegmentHeader(m byte, n int64) error {
	c.scratch[0], c.scratch[1] = 0xFF, m
	binary.BigEndian.PutUint16(c.scratch[2:], uint16(n+2))
	return c.write(c.scratch[:4])
}

// copySegment copies a segment whose marker has been read.
func (c *cleaner) copySegment(m byte) error {
	n, err := c.length()
	if err != nil {
		return err
	}
	if err := c.writeSegmentHeader(m, n); err != nil {
		return err
	}
	return c.copyN(n, nil)
}

// skipSegment drops a segment whose marker has been read.
func (c *cleaner) skipSegment() error {
	n, err := c.length()
	if err != nil {
		return err
	}
	return c.skip(n)
}

// sof checks a frame header's dimensions before it passes, and what of it
// image/jpeg can decode.
func (c *cleaner) sof(m byte) error {
	n, err := c.length()
	if err != nil {
		return err
	}
	if n < 6 {
		return fmt.Errorf("%w: JPEG frame header of %d bytes", ErrCorrupt, n)
	}
	h, err := c.readN(6)
	if err != nil {
		return err
	}
	var head [6]byte
	copy(head[:], h)
	precision, height, width, comps := head[0], be16(head[1:]), be16(head[3:]), head[5]
	if n != 6+3*int64(comps) {
		return fmt.Errorf("%w: JPEG frame header of %d bytes for %d components", ErrCorrupt, n, comps)
	}
	if width == 0 || height == 0 {
		return fmt.Errorf("%w: JPEG frame header declares %dx%d", ErrCorrupt, width, height)
	}
	if err := c.checkSize("JPEG", int64(width), int64(height)); err != nil {
		return err
	}
	if precision != 8 {
		return fmt.Errorf("%w: %d-bit JPEG", ErrUnsupported, precision)
	}
	if comps != 1 && comps != 3 && comps != 4 {
		return fmt.Errorf("%w: JPEG with %d components", ErrUnsupported, comps)
	}
	c.res.Width, c.res.Height = int(width), int(height)
	if err := c.writeSegmentHeader(m, n); err != nil {
		return err
	}
	if err := c.write(head[:]); err != nil {
		return err
	}
	return c.copyN(n-6, nil)
}

// sos copies a scan header.
func (c *cleaner) sos() error {
	n, err := c.length()
	if err != nil {
		return err
	}
	if n < 1 {
		return fmt.Errorf("%w: empty JPEG scan header", ErrCorrupt)
	}
	b, err := c.br.Peek(1)
	if err != nil {
		return truncated(err)
	}
	if ns := int64(b[0]); ns < 1 || ns > 4 || n != 4+2*ns {
		return fmt.Errorf("%w: JPEG scan header of %d bytes for %d components", ErrCorrupt, n, ns)
	}
	if err := c.writeSegmentHeader(mSOS, n); err != nil {
		return err
	}
	return c.copyN(n, nil)
}

// scan copies a scan's entropy-coded data verbatim (stuffed zeros, restart
// markers and fill bytes included) and returns the marker that ends it,
// consumed.
func (c *cleaner) scan() (byte, error) {
	for {
		if _, err := c.br.Peek(2); err != nil {
			return 0, truncated(err)
		}
		buf, _ := c.br.Peek(c.br.Buffered())
		i := 0 // buf[:i] is scan data
		for {
			j := bytes.IndexByte(buf[i:], 0xFF)
			if j < 0 {
				i = len(buf)
				break
			}
			j += i
			if j+1 == len(buf) { // see the byte after 0xFF on the next round
				i = j
				break
			}
			switch m := buf[j+1]; {
			case m == 0x00 || (m >= 0xD0 && m <= 0xD7): // stuffed 0xFF, RSTn
				i = j + 2
			case m == 0xFF: // fill byte
				i = j + 1
			default:
				if err := c.write(buf[:j]); err != nil {
					return 0, err
				}
				_, _ = c.br.Discard(j + 2)
				return m, nil
			}
		}
		if err := c.write(buf[:i]); err != nil {
			return 0, err
		}
		_, _ = c.br.Discard(i)
	}
}

// app keeps an APPn segment that rendering needs (JFIF without its
// thumbnail, ICC profile, Adobe), turns the first EXIF into a minimal one
// when it has an orientation, and drops the rest.
func (c *cleaner) app(m byte, st *jpegState) error {
	n, err := c.length()
	if err != nil {
		return err
	}
	id, err := c.br.Peek(int(min(n, 12)))
	if err != nil {
		return truncated(err)
	}
	switch {
	case m == mAPP0 && !st.jfif && n >= 14 && hasPrefix(id, "JFIF\x00"):
		st.jfif = true
		h, err := c.readN(14)
		if err != nil {
			return err
		}
		// identifier, version (2), units, X and Y density (2 each); then a
		// thumbnail of 0x0 instead of the one it had.
		copy(c.scratch[4:16], h[:12])
		c.scratch[16], c.scratch[17] = 0, 0
		if err := c.writeSegmentHeader(mAPP0, 14); err != nil { // fills scratch[:4]
			return err
		}
		if err := c.write(c.scratch[4:18]); err != nil {
			return err
		}
		return c.skip(n - 14)
	case m == mAPP1 && !st.exif && hasPrefix(id, "Exif\x00\x00"):
		st.exif = true
		o, err := c.exifOrientation(n)
		if err != nil {
			return err
		}
		if o == 1 {
			return nil
		}
		c.res.Orientation = o
		return c.write(minimalExif(o))
	case m == mAPP2 && hasPrefix(id, "ICC_PROFILE\x00"), m == mAPP14 && hasPrefix(id, "Adobe"):
		if err := c.writeSegmentHeader(m, n); err != nil {
			return err
		}
		return c.copyN(n, nil)
	}
	return c.skip(n)
}

// exifOrientation reads the Orientation tag (0x0112) of IFD0 from an n-byte
// EXIF APP1 payload, streaming forward through it, and consumes the
// payload. Anything malformed (bad byte order, offsets out of the segment,
// a wrong type) reads as 1: no orientation.
func (c *cleaner) exifOrientation(n int64) (int, error) {
	left := n
	read := func(k int) ([]byte, error) {
		left -= int64(k)
		return c.readN(k)
	}
	orientation, err := func() (int, error) {
		if left < 6+8 {
			return 1, nil
		}
		if _, err := read(6); err != nil { // Exif\0\0
			return 0, err
		}
		t, err := read(8)
		if err != nil {
			return 0, err
		}
		var bo binary.ByteOrder
		switch string(t[:4]) {
		case "II*\x00":
			bo = binary.LittleEndian
		case "MM\x00*":
			bo = binary.BigEndian
		default:
			return 1, nil
		}
		off := int64(bo.Uint32(t[4:])) // from the TIFF header, as every EXIF offset
		if off < 8 || off+2 > n-6 {
			return 1, nil
		}
		if err := c.skip(off - 8); err != nil {
			return 0, err
		}
		left -= off - 8
		b, err := read(2)
		if err != nil {
			return 0, err
		}
		for i := bo.Uint16(b); i > 0 && left >= 12; i-- {
			e, err := read(12)
			if err != nil {
				return 0, err
			}
			if bo.Uint16(e) != 0x0112 {
				continue
			}
			var v uint32
			switch typ, count := bo.Uint16(e[2:]), bo.Uint32(e[4:]); {
			case typ == 3 && count == 1: // SHORT
				v = uint32(bo.Uint16(e[8:]))
			case typ == 4 && count == 1: // LONG
				v = bo.Uint32(e[8:])
			}
			if v >= 1 && v <= 8 {
				return int(v), nil
			}
			return 1, nil
		}
		return 1, nil
	}()
	if err != nil {
		return 0, err
	}
	return orientation, c.skip(left)
}

// minimalExif is an APP1 segment whose EXIF holds only an Orientation tag:
// a big-endian TIFF header, IFD0 of one entry, no next IFD.
func minimalExif(orientation int) []byte {
	return []byte{
		0xFF, mAPP1, 0x00, 0x22, // marker, length 34
		'E', 'x', 'i', 'f', 0, 0,
		'M', 'M', 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08, // TIFF header, IFD0 at 8
		0x00, 0x01, // one entry
		0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, byte(orientation), 0x00, 0x00, // Orientation, SHORT, 1, value
		0x00, 0x00, 0x00, 0x00, // no IFD1 (and so no thumbnail)
	}
}
