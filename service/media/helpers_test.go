package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"testing"
)

// Test builders: images from the standard encoders, and the metadata a
// phone or an editor adds to them, built byte by byte.

// testImage is a w×h image with smooth gradients and some noise (so the
// JPEG scan has stuffed 0xFF bytes), deterministic for a seed.
func testImage(w, h int, seed uint64) *image.RGBA {
	rng := rand.New(rand.NewPCG(seed, 7))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := uint8(rng.IntN(32))
			img.SetRGBA(x, y, color.RGBA{uint8(x*255/max(1, w-1)) ^ n, uint8(y*255/max(1, h-1)) ^ n, uint8((x + y) % 256), 255})
		}
	}
	return img
}

// encodeJPEG encodes img with image/jpeg: SOI DQT SOF0 DHT SOS … EOI, no APPn.
func encodeJPEG(t testing.TB, img image.Image, quality int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// encodePNG encodes img with image/png: IHDR IDAT… IEND.
func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// segment builds a JPEG marker segment with its length field.
func segment(marker byte, payload ...[]byte) []byte {
	p := bytes.Join(payload, nil)
	if len(p)+2 > 0xFFFF {
		panic("segment too long")
	}
	return append([]byte{0xFF, marker, byte((len(p) + 2) >> 8), byte(len(p) + 2)}, p...)
}

// jpegSeg is one header segment of a JPEG as the tests' own walker sees it.
type jpegSeg struct {
	marker  byte
	payload []byte
	at      int // offset of the 0xFF
}

// walkJPEG splits a JPEG into its header segments up to the first SOS
// (included), and returns the offset where the first SOS segment starts.
// It is the tests' independent reading of what Clean wrote.
func walkJPEG(b []byte) (segs []jpegSeg, sosAt int, err error) {
	if len(b) < 2 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil, 0, errors.New("no SOI")
	}
	p := 2
	for {
		if p+4 > len(b) || b[p] != 0xFF {
			return nil, 0, fmt.Errorf("no marker at %d", p)
		}
		m := b[p+1]
		l := int(binary.BigEndian.Uint16(b[p+2:]))
		if l < 2 || p+2+l > len(b) {
			return nil, 0, fmt.Errorf("bad segment 0x%02X at %d", m, p)
		}
		segs = append(segs, jpegSeg{marker: m, payload: b[p+4 : p+2+l], at: p})
		if m == mSOS {
			return segs, p, nil
		}
		p += 2 + l
	}
}

// insertAfterSOI puts segments right after a JPEG's SOI.
func insertAfterSOI(j []byte, segs ...[]byte) []byte {
	out := append([]byte{}, j[:2]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, j[2:]...)
}

// insertBeforeSOS puts segments right before a JPEG's first SOS.
func insertBeforeSOS(t testing.TB, j []byte, segs ...[]byte) []byte {
	t.Helper()
	_, at, err := walkJPEG(j)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte{}, j[:at]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, j[at:]...)
}

// byteOrder reads and appends in one byte order.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// tiffTag is one IFD entry; data is the value in the TIFF's byte order,
// inline when it fits in 4 bytes, else written after the IFD.
type tiffTag struct {
	id, typ uint16
	count   uint32
	data    []byte
}

// Pointer tags the builder fills in.
const (
	tagExifIFD   = 0x8769
	tagGPSIFD    = 0x8825
	tagThumbOff  = 0x0201
	tagThumbLen  = 0x0202
	tagOrient    = 0x0112
	tagMakerNote = 0x927C
)

// buildTIFF lays out IFD0, the EXIF IFD, the GPS IFD, IFD1 (the thumbnail's)
// and the thumbnail, in that order, filling the pointer tags.
func buildTIFF(bo byteOrder, ifd0, exifIFD, gps, ifd1 []tiffTag, thumb []byte) []byte {
	size := func(tags []tiffTag) int {
		if len(tags) == 0 {
			return 0
		}
		n := 2 + 12*len(tags) + 4
		for _, t := range tags {
			if len(t.data) > 4 {
				n += (len(t.data) + 1) &^ 1
			}
		}
		return n
	}
	off0 := 8
	offExif := off0 + size(ifd0)
	offGPS := offExif + size(exifIFD)
	off1 := offGPS + size(gps)
	offThumb := off1 + size(ifd1)
	u32 := func(v int) []byte { b := make([]byte, 4); bo.PutUint32(b, uint32(v)); return b }
	fill := func(tags []tiffTag) {
		for i, t := range tags {
			switch t.id {
			case tagExifIFD:
				tags[i].data = u32(offExif)
			case tagGPSIFD:
				tags[i].data = u32(offGPS)
			case tagThumbOff:
				tags[i].data = u32(offThumb)
			case tagThumbLen:
				tags[i].data = u32(len(thumb))
			}
		}
	}
	fill(ifd0)
	fill(ifd1)
	var out []byte
	if bo == byteOrder(binary.LittleEndian) {
		out = append(out, 'I', 'I', 42, 0)
	} else {
		out = append(out, 'M', 'M', 0, 42)
	}
	out = append(out, u32(off0)...)
	write := func(tags []tiffTag, at, next int) {
		if len(tags) == 0 {
			return
		}
		if len(out) != at {
			panic("tiff layout")
		}
		extra := at + 2 + 12*len(tags) + 4
		var data []byte
		out = bo.AppendUint16(out, uint16(len(tags)))
		for _, t := range tags {
			out = bo.AppendUint16(out, t.id)
			out = bo.AppendUint16(out, t.typ)
			out = bo.AppendUint32(out, t.count)
			if len(t.data) <= 4 {
				v := append(append([]byte{}, t.data...), make([]byte, 4-len(t.data))...)
				out = append(out, v...)
			} else {
				out = bo.AppendUint32(out, uint32(extra+len(data)))
				data = append(data, t.data...)
				if len(data)%2 == 1 {
					data = append(data, 0)
				}
			}
		}
		out = bo.AppendUint32(out, uint32(next))
		out = append(out, data...)
	}
	next0 := 0
	if len(ifd1) > 0 {
		next0 = off1
	}
	write(ifd0, off0, next0)
	write(exifIFD, offExif, 0)
	write(gps, offGPS, 0)
	write(ifd1, off1, 0)
	return append(out, thumb...)
}

// Sentinels the metadata carries; none may survive Clean.
var secrets = []string{
	"SecretCam", "SECRET-MODEL", "MAKERNOTE-SECRET", "THUMB-SECRET", "2024:05:06 07:08:09",
	"XMP-SECRET", "XMPEXT-SECRET", "IPTC-SECRET", "COMMENT-SECRET", "MPF-SECRET", "JFXX-SECRET",
	"APP5-SECRET", "TRAILER-SECRET", "JFTHMB",
}

// gpsRationals are the GPS IFD's coordinates (36°11'42.13"N 113°6'55.55"E,
// Changzhi) in a byte order.
func gpsRationals(bo byteOrder) (lat, lon []byte) {
	r := func(v ...uint32) []byte {
		var b []byte
		for _, x := range v {
			b = bo.AppendUint32(b, x)
		}
		return b
	}
	return r(36, 1, 11, 1, 4213, 100), r(113, 1, 6, 1, 5555, 100)
}

// phoneExif is an EXIF APP1 payload as a phone writes it: Make, Model,
// Orientation (omitted when 0), DateTime, an EXIF IFD with a maker note, a
// GPS IFD with the position, and IFD1 with a JPEG thumbnail.
func phoneExif(t testing.TB, bo byteOrder, orientation uint16) []byte {
	t.Helper()
	short := func(v uint16) []byte { b := make([]byte, 2); bo.PutUint16(b, v); return b }
	ascii := func(s string) []byte { return append([]byte(s), 0) }
	ifd0 := []tiffTag{
		{0x010F, 2, 10, ascii("SecretCam")},
		{0x0110, 2, 13, ascii("SECRET-MODEL")},
	}
	if orientation != 0 {
		ifd0 = append(ifd0, tiffTag{tagOrient, 3, 1, short(orientation)})
	}
	ifd0 = append(ifd0,
		tiffTag{0x0132, 2, 20, ascii("2024:05:06 07:08:09")},
		tiffTag{tagExifIFD, 4, 1, nil},
		tiffTag{tagGPSIFD, 4, 1, nil},
	)
	exifIFD := []tiffTag{{tagMakerNote, 7, 16, []byte("MAKERNOTE-SECRET")}}
	lat, lon := gpsRationals(bo)
	gps := []tiffTag{
		{0x0000, 1, 4, []byte{2, 3, 0, 0}},
		{0x0001, 2, 2, []byte("N\x00")},
		{0x0002, 5, 3, lat},
		{0x0003, 2, 2, []byte("E\x00")},
		{0x0004, 5, 3, lon},
	}
	thumb := insertAfterSOI(encodeJPEG(t, testImage(16, 12, 9), 50), segment(mCOM, []byte("THUMB-SECRET")))
	ifd1 := []tiffTag{{0x0103, 3, 1, short(6)}, {tagThumbOff, 4, 1, nil}, {tagThumbLen, 4, 1, nil}}
	return append([]byte("Exif\x00\x00"), buildTIFF(bo, ifd0, exifIFD, gps, ifd1, thumb)...)
}

// Metadata segments as cameras and editors write them.
var (
	jfifWithThumb = segment(mAPP0, []byte("JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x02\x01"), []byte("JFTHMB")) // 2×1 RGB thumbnail
	jfxx          = segment(mAPP0, []byte("JFXX\x00\x13JFXX-SECRET"))
	xmp           = segment(mAPP1, []byte("http://ns.adobe.com/xap/1.0/\x00"),
		[]byte(`<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description exif:GPSLatitude="36,11.70N" exif:GPSLongitude="113,6.9E" dc:creator="XMP-SECRET"/></x:xmpmeta>`))
	xmpExt  = segment(mAPP1, []byte("http://ns.adobe.com/xmp/extension/\x00"), []byte("0123456789ABCDEF0123456789ABCDEF\x00\x00\x00\x10\x00\x00\x00\x00XMPEXT-SECRET"))
	iccSeg  = segment(mAPP2, []byte("ICC_PROFILE\x00\x01\x01"), []byte("not really a profile, kept verbatim"))
	mpf     = segment(mAPP2, []byte("MPF\x00MM\x00\x2a\x00\x00\x00\x08MPF-SECRET"))
	app5    = segment(mAPP0+5, []byte("APP5-SECRET"))
	iptc    = segment(0xED, []byte("Photoshop 3.0\x00"), []byte("8BIM\x04\x04\x00\x00\x00\x00\x00\x10\x1c\x02\x78\x00\x0bIPTC-SECRET"))
	adobe   = segment(mAPP14, []byte("Adobe\x00\x64\x00\x00\x00\x00\x01")) // transform 1: YCbCr
	comment = segment(mCOM, []byte("COMMENT-SECRET"))
)

// pngChunk builds a PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	crc := crc32.ChecksumIEEE(b[4:])
	return binary.BigEndian.AppendUint32(b, crc)
}

// pngChunks lists a PNG's chunk types.
func pngChunks(t testing.TB, b []byte) []string {
	t.Helper()
	if !bytes.HasPrefix(b, []byte(pngSignature)) {
		t.Fatal("no PNG signature")
	}
	var types []string
	for p := 8; p < len(b); {
		if p+12 > len(b) {
			t.Fatalf("PNG chunk cut at %d", p)
		}
		n := int(binary.BigEndian.Uint32(b[p:]))
		types = append(types, string(b[p+4:p+8]))
		p += 12 + n
	}
	return types
}

// insertPNGChunks puts chunks right after a PNG's IHDR.
func insertPNGChunks(p []byte, chunks ...[]byte) []byte {
	at := 8 + 12 + 13
	out := append([]byte{}, p[:at]...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, p[at:]...)
}

// pngBomb is a 60000×60000 RGBA PNG header with a few bytes of IDAT: what a
// decoder would allocate 14 GB for.
func pngBomb(width, height uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, width)
	ihdr = binary.BigEndian.AppendUint32(ihdr, height)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	out := []byte(pngSignature)
	out = append(out, pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	return append(out, pngChunk("IEND", nil)...)
}

// jpegWithSOF rewrites a JPEG's frame header to declare width×height (and
// optionally another marker or precision).
func jpegWithSOF(t testing.TB, j []byte, marker, precision byte, width, height uint16) []byte {
	t.Helper()
	segs, _, err := walkJPEG(j)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte{}, j...)
	for _, s := range segs {
		if s.marker == mSOF0 {
			out[s.at+1] = marker
			out[s.at+4] = precision
			binary.BigEndian.PutUint16(out[s.at+5:], height)
			binary.BigEndian.PutUint16(out[s.at+7:], width)
			return out
		}
	}
	t.Fatal("no SOF0")
	return nil
}

// isoBoxBytes builds an ISO BMFF box.
func isoBoxBytes(typ string, body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	return append(binary.BigEndian.AppendUint32([]byte(nil), uint32(8+len(b))), append([]byte(typ), b...)...)
}

// heicFile builds a HEIC as a phone lays it out: ftyp, meta (hdlr, pitm,
// iprp with ipco and ipma; the primary item 1 is a grid of width×height,
// item 2 a 512×512 tile), then mdat bytes of noise.
// With wide, ipma uses 16-bit property indices (flags 1).
func heicFile(major string, compat []string, width, height uint32, mdat int, wide bool) []byte {
	ftyp := []byte(major + "\x00\x00\x00\x00")
	for _, c := range compat {
		ftyp = append(ftyp, c...)
	}
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	fullBox := func(typ string, body ...[]byte) []byte {
		return isoBoxBytes(typ, append([][]byte{{0, 0, 0, 0}}, body...)...)
	}
	ipco := isoBoxBytes("ipco",
		isoBoxBytes("hvcC", []byte("fake decoder configuration")),
		fullBox("ispe", u32(512), u32(512)),
		fullBox("ispe", u32(width), u32(height)),
	)
	// version 0, flags 0: 16-bit item ids, 7-bit indices (top bit:
	// essential). The tile (item 2, ispe at index 2) comes first, so only
	// following pitm finds the primary's size (index 3).
	ipma := fullBox("ipma", u32(2), []byte{0, 2, 2, 0x81, 0x02}, []byte{0, 1, 2, 0x81, 0x03})
	if wide {
		ipma = isoBoxBytes("ipma", []byte{0, 0, 0, 1}, u32(2), []byte{0, 2, 2, 0x80, 0x01, 0x00, 0x02}, []byte{0, 1, 2, 0x80, 0x01, 0x00, 0x03})
	}
	meta := fullBox("meta",
		fullBox("hdlr", u32(0), []byte("pict"), make([]byte, 13)),
		fullBox("pitm", []byte{0, 1}),
		isoBoxBytes("iprp", ipco, ipma),
	)
	data := make([]byte, mdat)
	rng := rand.New(rand.NewPCG(uint64(mdat), 1))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	return bytes.Join([][]byte{isoBoxBytes("ftyp", ftyp), meta, isoBoxBytes("mdat", data)}, nil)
}

// sameImage reports where two images differ, or "" if they are pixel for
// pixel the same.
func sameImage(a, b image.Image) string {
	if a.Bounds() != b.Bounds() {
		return fmt.Sprintf("bounds %v and %v", a.Bounds(), b.Bounds())
	}
	if ya, ok := a.(*image.YCbCr); ok {
		if yb, ok := b.(*image.YCbCr); ok {
			if ya.SubsampleRatio != yb.SubsampleRatio || !bytes.Equal(ya.Y, yb.Y) || !bytes.Equal(ya.Cb, yb.Cb) || !bytes.Equal(ya.Cr, yb.Cr) {
				return "YCbCr planes differ"
			}
			return ""
		}
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if ca, cb := color.NRGBA64Model.Convert(a.At(x, y)), color.NRGBA64Model.Convert(b.At(x, y)); ca != cb {
				return fmt.Sprintf("pixel (%d,%d): %v and %v", x, y, ca, cb)
			}
		}
	}
	return ""
}

// noisyBytes is n bytes of noise with no 0xFF, as a stand-in for entropy-coded data.
func noisyBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 3))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32() % 255)
	}
	return b
}
