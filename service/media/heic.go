package media

import (
	"encoding/binary"
	"errors"
	"io"
)

// heic reads the primary image's size from a HEIC's meta box, when the
// boxes up to the end of meta fit in the read buffer, and checks it against
// the limits. It consumes nothing: the file passes through unchanged.
func (c *cleaner) heic() error {
	b, err := c.br.Peek(bufSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, ErrTooLarge) {
		return err
	}
	width, height, ok := heicSize(b)
	if !ok {
		return nil
	}
	if err := c.checkSize("HEIC", int64(width), int64(height)); err != nil {
		return err
	}
	c.res.Width, c.res.Height = int(width), int(height)
	return nil
}

// isoBox splits the first ISO BMFF box off b: its type, its body, and what
// follows it. ok is false when b does not hold the whole box.
func isoBox(b []byte) (typ string, body, rest []byte, ok bool) {
	if len(b) < 8 {
		return "", nil, nil, false
	}
	size, hdr := uint64(be32(b)), uint64(8)
	if size == 1 {
		if len(b) < 16 {
			return "", nil, nil, false
		}
		size, hdr = binary.BigEndian.Uint64(b[8:]), 16
	}
	if size < hdr || size > uint64(len(b)) { // size 0 ("to the end of the file") too
		return "", nil, nil, false
	}
	return string(b[4:8]), b[hdr:size], b[size:], true
}

// heicSize finds, in the first bytes of a HEIF file, the primary item
// (pitm) and the image spatial extent (ispe) property associated with it
// (ipma, ipco): its declared width and height.
func heicSize(b []byte) (width, height uint32, ok bool) {
	var meta []byte
	for meta == nil {
		typ, body, rest, ok := isoBox(b)
		if !ok {
			return 0, 0, false
		}
		if typ == "meta" {
			meta = body
		}
		b = rest
	}
	if len(meta) < 4 { // version and flags
		return 0, 0, false
	}
	var (
		primary, havePrimary = uint32(0), false
		ipco, ipma           []byte
		ipmaFlags            uint32
		ipmaVersion          byte
	)
	for rest := meta[4:]; len(rest) > 0; {
		typ, body, next, ok := isoBox(rest)
		if !ok {
			return 0, 0, false
		}
		rest = next
		switch typ {
		case "pitm":
			switch {
			case len(body) >= 6 && body[0] == 0:
				primary, havePrimary = uint32(be16(body[4:])), true
			case len(body) >= 8:
				primary, havePrimary = be32(body[4:]), true
			}
		case "iprp":
			for r := body; len(r) > 0; {
				t, bd, nx, ok := isoBox(r)
				if !ok {
					break
				}
				r = nx
				switch {
				case t == "ipco":
					ipco = bd
				case t == "ipma" && ipma == nil && len(bd) >= 8:
					ipmaVersion, ipmaFlags, ipma = bd[0], be32(bd)&0xFFFFFF, bd[4:]
				}
			}
		}
	}
	if !havePrimary || ipco == nil || ipma == nil {
		return 0, 0, false
	}
	// ipma: entry_count, then per item its id and associations (1-based
	// indices into ipco, 7 or 15 bits with an "essential" bit on top).
	count, p := be32(ipma), 4
	for i := uint32(0); i < count; i++ {
		var id uint32
		if ipmaVersion < 1 {
			if p+2 > len(ipma) {
				return 0, 0, false
			}
			id, p = uint32(be16(ipma[p:])), p+2
		} else {
			if p+4 > len(ipma) {
				return 0, 0, false
			}
			id, p = be32(ipma[p:]), p+4
		}
		if p+1 > len(ipma) {
			return 0, 0, false
		}
		n := int(ipma[p])
		p++
		for j := 0; j < n; j++ {
			var index int
			if ipmaFlags&1 != 0 {
				if p+2 > len(ipma) {
					return 0, 0, false
				}
				index, p = int(be16(ipma[p:])&0x7FFF), p+2
			} else {
				if p+1 > len(ipma) {
					return 0, 0, false
				}
				index, p = int(ipma[p]&0x7F), p+1
			}
			if id != primary || index == 0 {
				continue
			}
			if typ, body, ok := ipcoProperty(ipco, index); ok && typ == "ispe" && len(body) >= 12 {
				return be32(body[4:]), be32(body[8:]), true
			}
		}
	}
	return 0, 0, false
}

// ipcoProperty returns the index'th (from 1) property box of ipco.
func ipcoProperty(ipco []byte, index int) (string, []byte, bool) {
	for r := ipco; len(r) > 0; index-- {
		typ, body, next, ok := isoBox(r)
		if !ok {
			return "", nil, false
		}
		if index == 1 {
			return typ, body, true
		}
		r = next
	}
	return "", nil, false
}
