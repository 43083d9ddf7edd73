package media

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

const pngSignature = "\x89PNG\r\n\x1a\n"

// pngKeep are the chunks a cleaned PNG keeps: the critical ones and the
// ancillary ones that change how it renders. Every other ancillary chunk
// (tEXt, zTXt, iTXt, eXIf, tIME, sPLT, APNG's acTL/fcTL/fdAT, private ones)
// is dropped: PNG decoders may ignore any ancillary chunk.
var pngKeep = map[string]bool{
	"IHDR": true, "PLTE": true, "IDAT": true, "IEND": true,
	"tRNS": true, "gAMA": true, "cHRM": true, "sRGB": true, "iCCP": true, "sBIT": true,
	"cICP": true, "mDCV": true, "cLLI": true, "bKGD": true, "hIST": true, "pHYs": true,
}

// png cleans a PNG chunk by chunk, verifying every CRC, up to IEND; the
// rest is drained.
func (c *cleaner) png() error {
	if _, err := c.readN(len(pngSignature)); err != nil {
		return err
	}
	if err := c.write([]byte(pngSignature)); err != nil {
		return err
	}
	first, sawIDAT := true, false
	for {
		h, err := c.readN(8)
		if err != nil {
			return err
		}
		length := int64(be32(h))
		var typ [4]byte
		copy(typ[:], h[4:])
		name := string(typ[:])
		if length > 1<<31-1 {
			return fmt.Errorf("%w: PNG chunk %q of %d bytes", ErrCorrupt, name, length)
		}
		for _, b := range typ {
			if (b < 'A' || b > 'Z') && (b < 'a' || b > 'z') {
				return fmt.Errorf("%w: PNG chunk type %q", ErrCorrupt, name)
			}
		}
		if first != (name == "IHDR") {
			return fmt.Errorf("%w: PNG chunk %q where IHDR must be first and once", ErrCorrupt, name)
		}
		first = false
		crc := crc32.Update(0, crc32.IEEETable, typ[:])
		switch {
		case name == "IHDR":
			if err := c.ihdr(length, crc); err != nil {
				return err
			}
		case name == "IEND":
			if length != 0 {
				return fmt.Errorf("%w: PNG IEND of %d bytes", ErrCorrupt, length)
			}
			if !sawIDAT {
				return fmt.Errorf("%w: PNG without image data (IDAT)", ErrCorrupt)
			}
			if err := c.chunk(typ, 0, crc, true); err != nil {
				return err
			}
			return c.drain()
		case pngKeep[name]:
			sawIDAT = sawIDAT || name == "IDAT"
			if err := c.chunk(typ, length, crc, true); err != nil {
				return err
			}
		case typ[0] >= 'A' && typ[0] <= 'Z':
			return fmt.Errorf("%w: PNG with unknown critical chunk %q", ErrUnsupported, name)
		default:
			if err := c.chunk(typ, length, crc, false); err != nil {
				return err
			}
		}
	}
}

// chunk copies (keep) or drops a chunk's data and CRC, whose length and type
// have been read (crc covers the type), verifying the CRC.
func (c *cleaner) chunk(typ [4]byte, length int64, crc uint32, keep bool) error {
	sum := func(b []byte) { crc = crc32.Update(crc, crc32.IEEETable, b) }
	if keep {
		binary.BigEndian.PutUint32(c.scratch[:], uint32(length))
		copy(c.scratch[4:], typ[:])
		if err := c.write(c.scratch[:8]); err != nil {
			return err
		}
		if err := c.copyN(length, sum); err != nil {
			return err
		}
	} else {
		for n := length; n > 0; {
			b, err := c.avail(n)
			if err != nil {
				return err
			}
			sum(b)
			_, _ = c.br.Discard(len(b))
			n -= int64(len(b))
		}
	}
	if err := c.checkCRC(typ, crc); err != nil {
		return err
	}
	if keep {
		return c.write(c.scratch[:4]) // checkCRC left the CRC there
	}
	return nil
}

// checkCRC reads a chunk's CRC into scratch[:4] and compares it with crc.
func (c *cleaner) checkCRC(typ [4]byte, crc uint32) error {
	b, err := c.readN(4)
	if err != nil {
		return err
	}
	if got := be32(b); got != crc {
		return fmt.Errorf("%w: PNG chunk %q has CRC %08x, its bytes sum to %08x", ErrCorrupt, typ[:], got, crc)
	}
	copy(c.scratch[:4], b)
	return nil
}

// ihdr checks the header chunk (CRC, dimensions, a valid depth and colour
// type) before writing it: no pixel data has passed yet.
func (c *cleaner) ihdr(length int64, crc uint32) error {
	if length != 13 {
		return fmt.Errorf("%w: PNG IHDR of %d bytes", ErrCorrupt, length)
	}
	b, err := c.readN(13)
	if err != nil {
		return err
	}
	var h [13]byte
	copy(h[:], b)
	crc = crc32.Update(crc, crc32.IEEETable, h[:])
	if err := c.checkCRC([4]byte{'I', 'H', 'D', 'R'}, crc); err != nil {
		return err
	}
	width, height := int64(be32(h[0:])), int64(be32(h[4:]))
	if width == 0 || height == 0 || width > 1<<31-1 || height > 1<<31-1 {
		return fmt.Errorf("%w: PNG declares %dx%d", ErrCorrupt, width, height)
	}
	if err := c.checkSize("PNG", width, height); err != nil {
		return err
	}
	depth, color := h[8], h[9]
	ok := false
	switch color {
	case 0: // grey
		ok = depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16
	case 3: // palette
		ok = depth == 1 || depth == 2 || depth == 4 || depth == 8
	case 2, 4, 6: // RGB, grey+alpha, RGBA
		ok = depth == 8 || depth == 16
	}
	if !ok || h[10] != 0 || h[11] != 0 || h[12] > 1 {
		return fmt.Errorf("%w: PNG IHDR with depth %d, colour type %d, compression %d, filter %d, interlace %d",
			ErrCorrupt, depth, color, h[10], h[11], h[12])
	}
	c.res.Width, c.res.Height = int(width), int(height)
	var crcBytes [4]byte
	copy(crcBytes[:], c.scratch[:4])
	binary.BigEndian.PutUint32(c.scratch[:], 13)
	copy(c.scratch[4:], "IHDR")
	copy(c.scratch[8:], h[:])
	copy(c.scratch[21:], crcBytes[:])
	return c.write(c.scratch[:25])
}
