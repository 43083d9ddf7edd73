package media

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// cleanBytes runs Clean over b and checks what every successful Clean
// must give: Size and SHA256 of exactly the bytes written.
func cleanBytes(t testing.TB, b []byte, lim Limits) ([]byte, Result, error) {
	t.Helper()
	var out bytes.Buffer
	res, err := Clean(&out, bytes.NewReader(b), lim)
	if err != nil {
		return out.Bytes(), res, err
	}
	if res.Size != int64(out.Len()) {
		t.Errorf("Size %d, wrote %d bytes", res.Size, out.Len())
	}
	if res.SHA256 != sha256.Sum256(out.Bytes()) {
		t.Error("SHA256 is not of the bytes written")
	}
	return out.Bytes(), res, nil
}

// ifd0Tags reads the tag ids of IFD0 of an EXIF APP1 payload.
func ifd0Tags(t *testing.T, payload []byte) []uint16 {
	t.Helper()
	tiff := payload[6:]
	var bo byteOrder = binary.BigEndian
	if string(tiff[:2]) == "II" {
		bo = binary.LittleEndian
	}
	off := int(bo.Uint32(tiff[4:]))
	n := int(bo.Uint16(tiff[off:]))
	var tags []uint16
	for i := 0; i < n; i++ {
		tags = append(tags, bo.Uint16(tiff[off+2+12*i:]))
	}
	if next := bo.Uint32(tiff[off+2+12*n:]); next != 0 {
		t.Errorf("IFD0 links to an IFD1 at %d", next)
	}
	return tags
}

// TestCleanJPEGMetadata: a phone photo with every kind of metadata comes out
// with none of it — no GPS IFD, maker note, thumbnail, XMP, IPTC, comment,
// MPF or trailing image — but its JFIF (without thumbnail), ICC profile and
// Adobe segment, a minimal EXIF with its orientation when that is not 1, and
// its scan byte for byte, so it decodes to the same pixels.
func TestCleanJPEGMetadata(t *testing.T) {
	src := testImage(67, 45, 1)
	base := encodeJPEG(t, src, 90)
	baseSegs, baseSOS, err := walkJPEG(base)
	if err != nil {
		t.Fatal(err)
	}
	want, err := jpeg.Decode(bytes.NewReader(base))
	if err != nil {
		t.Fatal(err)
	}
	type order struct {
		name string
		bo   byteOrder
	}
	for _, bo := range []order{{"II", binary.LittleEndian}, {"MM", binary.BigEndian}} {
		for orientation := uint16(0); orientation <= 8; orientation++ {
			t.Run(bo.name+"/orientation"+string(rune('0'+orientation)), func(t *testing.T) {
				exif := segment(mAPP1, phoneExif(t, bo.bo, orientation))
				in := insertAfterSOI(base, jfifWithThumb, jfxx, exif, xmp, xmpExt, iccSeg, mpf, app5, iptc, adobe, comment)
				in = insertBeforeSOS(t, in, comment, segment(mAPP1, phoneExif(t, bo.bo, 3)))
				in = append(in, "TRAILER-SECRET"...)
				in = append(in, insertAfterSOI(base, exif)...) // an MPF second image
				out, res, err := cleanBytes(t, in, DefaultLimits)
				if err != nil {
					t.Fatal(err)
				}
				wantOrientation := int(orientation)
				if orientation < 2 {
					wantOrientation = 1
				}
				if res.ContentType != JPEG || res.Width != 67 || res.Height != 45 || res.Orientation != wantOrientation {
					t.Errorf("result %+v, want JPEG 67x45 orientation %d", res, wantOrientation)
				}
				for _, s := range secrets {
					if bytes.Contains(out, []byte(s)) {
						t.Errorf("output still holds %q", s)
					}
				}
				lat, lon := gpsRationals(bo.bo)
				if bytes.Contains(out, lat) || bytes.Contains(out, lon) {
					t.Error("output still holds the GPS coordinates")
				}
				if n := bytes.Count(out, []byte("Exif\x00\x00")); n != min(1, wantOrientation-1) {
					t.Errorf("%d EXIF headers in the output", n)
				}
				segs, sosAt, err := walkJPEG(out)
				if err != nil {
					t.Fatal(err)
				}
				var apps []string
				for _, s := range segs {
					switch {
					case s.marker == mAPP0:
						apps = append(apps, "JFIF")
						if string(s.payload) != "JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x00\x00" {
							t.Errorf("JFIF segment %q, want the original without its thumbnail", s.payload)
						}
					case s.marker == mAPP1:
						apps = append(apps, "EXIF")
						if !bytes.Equal(s.payload, minimalExif(wantOrientation)[4:]) {
							t.Errorf("EXIF segment %q, want the minimal one", s.payload)
						}
						if tags := ifd0Tags(t, s.payload); len(tags) != 1 || tags[0] != tagOrient {
							t.Errorf("EXIF IFD0 tags %x, want only Orientation", tags)
						}
					case s.marker == mAPP2:
						apps = append(apps, "ICC")
						if !bytes.Equal(s.payload, iccSeg[4:]) {
							t.Errorf("APP2 %q, want the ICC profile", s.payload)
						}
					case s.marker == mAPP14:
						apps = append(apps, "Adobe")
						if !bytes.Equal(s.payload, adobe[4:]) {
							t.Errorf("APP14 %q, want the Adobe segment", s.payload)
						}
					case s.marker >= mAPP0 && s.marker <= mAPP0+15, s.marker == mCOM:
						t.Errorf("segment 0x%02X %q kept", s.marker, s.payload)
					}
				}
				wantApps := "JFIF EXIF ICC Adobe"
				if wantOrientation == 1 {
					wantApps = "JFIF ICC Adobe"
				}
				if got := strings.Join(apps, " "); got != wantApps {
					t.Errorf("APPn segments %s, want %s", got, wantApps)
				}
				// The tables and frame header pass unchanged, and the scan
				// to EOI byte for byte, with nothing after it.
				var tables []jpegSeg
				for _, s := range segs {
					if s.marker < mAPP0 {
						tables = append(tables, s)
					}
				}
				if len(tables) != len(baseSegs) {
					t.Fatalf("%d table and frame segments, want %d", len(tables), len(baseSegs))
				}
				for i := range tables {
					if tables[i].marker != baseSegs[i].marker || !bytes.Equal(tables[i].payload, baseSegs[i].payload) {
						t.Errorf("segment %d: 0x%02X, want 0x%02X unchanged", i, tables[i].marker, baseSegs[i].marker)
					}
				}
				if !bytes.Equal(out[sosAt:], base[baseSOS:]) {
					t.Error("scan data or what follows it differs from the input's")
				}
				got, err := jpeg.Decode(bytes.NewReader(out))
				if err != nil {
					t.Fatal(err)
				}
				if d := sameImage(want, got); d != "" {
					t.Errorf("decoded output differs from the input: %s", d)
				}
				again, res2, err := cleanBytes(t, out, DefaultLimits)
				if err != nil || !bytes.Equal(again, out) || res2 != res {
					t.Errorf("cleaning the output again changed it (err %v, %+v, want %+v)", err, res2, res)
				}
			})
		}
	}
}

// TestCleanEXIFOrientation: the orientation is read from IFD0 in either byte
// order, and any malformed EXIF reads as no orientation, without error or
// panic, and is dropped.
func TestCleanEXIFOrientation(t *testing.T) {
	base := encodeJPEG(t, testImage(16, 16, 2), 75)
	le, be := byteOrder(binary.LittleEndian), byteOrder(binary.BigEndian)
	// tiff is a TIFF with IFD0 at offset off holding entries.
	tiff := func(bo byteOrder, off uint32, count uint16, entries ...[]byte) []byte {
		b := []byte("MM\x00\x2a")
		if bo == le {
			b = []byte("II\x2a\x00")
		}
		b = bo.AppendUint32(b, off)
		for len(b) < int(off) && len(b) < 64 {
			b = append(b, 0xEE)
		}
		b = bo.AppendUint16(b, count)
		for _, e := range entries {
			b = append(b, e...)
		}
		return bo.AppendUint32(b, 0)
	}
	entry := func(bo byteOrder, tag, typ uint16, count uint32, value uint32) []byte {
		b := bo.AppendUint16(nil, tag)
		b = bo.AppendUint16(b, typ)
		b = bo.AppendUint32(b, count)
		if typ == 3 {
			b = bo.AppendUint16(b, uint16(value))
			return append(b, 0, 0)
		}
		return bo.AppendUint32(b, value)
	}
	make1 := func(bo byteOrder) []byte { return entry(bo, 0x010F, 2, 4, 0x41424300) }
	tests := []struct {
		name string
		exif []byte // the APP1 payload after "Exif\0\0"
		want int
	}{
		{"LE short 6", tiff(le, 8, 2, make1(le), entry(le, tagOrient, 3, 1, 6)), 6},
		{"BE short 8", tiff(be, 8, 2, make1(be), entry(be, tagOrient, 3, 1, 8)), 8},
		{"BE long 3", tiff(be, 8, 1, entry(be, tagOrient, 4, 1, 3)), 3},
		{"IFD0 after a gap", tiff(le, 40, 1, entry(le, tagOrient, 3, 1, 5)), 5},
		{"orientation 1", tiff(le, 8, 1, entry(le, tagOrient, 3, 1, 1)), 1},
		{"orientation 0", tiff(le, 8, 1, entry(le, tagOrient, 3, 1, 0)), 1},
		{"orientation 9", tiff(le, 8, 1, entry(le, tagOrient, 3, 1, 9)), 1},
		{"orientation 0x106 as LE short read BE", tiff(le, 8, 1, entry(be, tagOrient, 3, 1, 6)), 1},
		{"count 2", tiff(be, 8, 1, entry(be, tagOrient, 3, 2, 6)), 1},
		{"type ASCII", tiff(be, 8, 1, entry(be, tagOrient, 2, 1, 6)), 1},
		{"IFD0 offset past the segment", tiff(le, 0xFFFFFFF0, 1, entry(le, tagOrient, 3, 1, 6)), 1},
		{"IFD0 offset into the header", tiff(le, 4, 1, entry(le, tagOrient, 3, 1, 6)), 1},
		{"entry count beyond the segment", tiff(be, 8, 0xFFFF, entry(be, tagOrient, 3, 1, 7)), 7},
		{"entry count beyond the segment, no orientation", tiff(be, 8, 0xFFFF, make1(be)), 1},
		{"orientation after the counted entries", tiff(be, 8, 1, make1(be), entry(be, tagOrient, 3, 1, 6)), 1},
		{"bad byte order", append([]byte("XX\x00\x2a\x00\x00\x00\x08\x00\x01"), entry(be, tagOrient, 3, 1, 6)...), 1},
		{"header only", []byte("MM\x00\x2a"), 1},
		{"nothing", nil, 1},
		{"IFD0 offset at the very end", tiff(be, 8, 0), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := insertAfterSOI(base, segment(mAPP1, []byte("Exif\x00\x00"), tc.exif), segment(mAPP1, phoneExif(t, be, 4)))
			out, res, err := cleanBytes(t, in, DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if res.Orientation != tc.want {
				t.Errorf("orientation %d, want %d", res.Orientation, tc.want)
			}
			var wantOut []byte
			if tc.want != 1 {
				wantOut = minimalExif(tc.want)
			}
			if !bytes.Equal(out, append(append(base[:2:2], wantOut...), base[2:]...)) {
				t.Errorf("output is not the input with only a minimal EXIF for %d (the second EXIF must not count)", tc.want)
			}
		})
	}
}

// TestCleanJPEGScans: restart markers, stuffed bytes, fill bytes and
// several scans (as a progressive JPEG has) pass verbatim; the tables
// between scans too; a comment or APPn between scans is dropped.
func TestCleanJPEGScans(t *testing.T) {
	base := encodeJPEG(t, testImage(8, 8, 3), 75)
	segs, sosAt, err := walkJPEG(base)
	if err != nil {
		t.Fatal(err)
	}
	sos := segment(mSOS, segs[len(segs)-1].payload)
	dht := segment(mDHT, []byte{0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07})
	scan1 := []byte("\x12\x34\xFF\x00\x56\xFF\xD0\x78\xFF\xFF\xD1\x9a\xFF\xFF\xFF\x00\xFF\xD7")
	scan2 := append(noisyBytes(100000, 1), 0xFF, 0x00, 0xFF, 0xD3, 0x01)
	head := base[:sosAt]
	in := bytes.Join([][]byte{head, sos, scan1, comment, app5, dht, sos, scan2, {0xFF, 0xFF, 0xD9}}, nil)
	want := bytes.Join([][]byte{head, sos, scan1, dht, sos, scan2, {0xFF, 0xFF, 0xD9}}, nil)
	for _, r := range []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{{"whole", func(r io.Reader) io.Reader { return r }}, {"one byte at a time", iotest.OneByteReader}, {"half reads", iotest.HalfReader}} {
		t.Run(r.name, func(t *testing.T) {
			var out bytes.Buffer
			if _, err := Clean(&out, r.wrap(bytes.NewReader(in)), DefaultLimits); err != nil {
				t.Fatal(err)
			}
			if got := out.Bytes(); !bytes.Equal(got, want) {
				t.Errorf("output of %d bytes differs from the expected %d", len(got), len(want))
			}
		})
	}
}

// TestCleanPNG: text, time, EXIF and private chunks go, the chunks that
// shape rendering stay, nothing after IEND survives, and the PNG decodes
// to the same pixels.
func TestCleanPNG(t *testing.T) {
	src := testImage(53, 31, 4)
	base := encodePNG(t, src)
	exif := phoneExif(t, binary.BigEndian, 6)[6:]
	in := insertPNGChunks(base,
		pngChunk("gAMA", []byte{0, 0, 0xB1, 0x8F}),
		pngChunk("tEXt", []byte("Comment\x00COMMENT-SECRET")),
		pngChunk("zTXt", []byte("Author\x00\x00\x78\x9c\x0b\x0e\x00\x00\x00\x00")),
		pngChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00XMP-SECRET")),
		pngChunk("eXIf", exif),
		pngChunk("tIME", []byte{0x07, 0xE8, 5, 6, 7, 8, 9}),
		pngChunk("pHYs", []byte{0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1}),
		pngChunk("prVt", []byte("APP5-SECRET")),
		pngChunk("iDOT", []byte("IPTC-SECRET")),
	)
	in = append(in, "TRAILER-SECRET"...)
	out, res, err := cleanBytes(t, in, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if res.ContentType != PNG || res.Width != 53 || res.Height != 31 || res.Orientation != 1 {
		t.Errorf("result %+v, want PNG 53x31", res)
	}
	var idats []string
	for _, c := range pngChunks(t, base) {
		if c == "IDAT" {
			idats = append(idats, c)
		}
	}
	wantChunks := "IHDR gAMA pHYs " + strings.Join(idats, " ") + " IEND"
	if got := strings.Join(pngChunks(t, out), " "); got != wantChunks {
		t.Errorf("chunks %s, want %s", got, wantChunks)
	}
	for _, s := range secrets {
		if bytes.Contains(out, []byte(s)) {
			t.Errorf("output still holds %q", s)
		}
	}
	want, err := png.Decode(bytes.NewReader(base))
	if err != nil {
		t.Fatal(err)
	}
	got, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if d := sameImage(want, got); d != "" {
		t.Errorf("decoded output differs: %s", d)
	}
	again, _, err := cleanBytes(t, out, DefaultLimits)
	if err != nil || !bytes.Equal(again, out) {
		t.Errorf("cleaning the output again changed it (%v)", err)
	}
}

// TestCleanPassThrough: PDF and HEIC come out byte for byte; a HEIC's
// primary image size is read from its meta box.
func TestCleanPassThrough(t *testing.T) {
	pdf := append([]byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <</Author (SECRET)>> endobj\n"), noisyBytes(50000, 5)...)
	pdf = append(pdf, "\n%%EOF\n"...)
	tests := []struct {
		name       string
		in         []byte
		ct         string
		wantW, wdH int
	}{
		{"PDF", pdf, PDF, 0, 0},
		{"PDF tiny", []byte("%PDF-"), PDF, 0, 0},
		{"HEIC iPhone", heicFile("heic", []string{"mif1", "heic"}, 4032, 3024, 70000, false), HEIC, 4032, 3024},
		{"HEIC 16-bit ipma", heicFile("heic", []string{"mif1", "heic"}, 3000, 4000, 100, true), HEIC, 3000, 4000},
		{"HEIF mif1 major", heicFile("mif1", []string{"heic"}, 640, 480, 100, false), HEIC, 640, 480},
		{"HEIC heix", heicFile("heix", []string{"mif1", "heix"}, 6000, 4000, 100, false), HEIC, 6000, 4000},
		{"HEIC sequence msf1", heicFile("msf1", []string{"hevc"}, 1920, 1080, 100, false), HEIC, 1920, 1080},
		{"HEIC meta beyond the buffer", append(heicFile("heic", nil, 1, 1, 0, false)[:24], append(isoBoxBytes("free", make([]byte, bufSize)), heicFile("heic", nil, 60000, 60000, 10, false)[24:]...)...), HEIC, 0, 0},
		{"HEIC ftyp only", heicFile("heic", nil, 0, 0, 0, false)[:16], HEIC, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, wrap := range []func(io.Reader) io.Reader{func(r io.Reader) io.Reader { return r }, iotest.OneByteReader} {
				var out bytes.Buffer
				res, err := Clean(&out, wrap(bytes.NewReader(tc.in)), DefaultLimits)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.Bytes(), tc.in) {
					t.Error("output differs from the input")
				}
				want := Result{ContentType: tc.ct, Width: tc.wantW, Height: tc.wdH, Size: int64(len(tc.in)), SHA256: sha256.Sum256(tc.in), Orientation: 1}
				if res != want {
					t.Errorf("result %+v, want %+v", res, want)
				}
			}
		})
	}
}

// TestCleanRejects: what is not a whole, bounded JPEG, PNG, HEIC or PDF is
// refused with the error that says why.
func TestCleanRejects(t *testing.T) {
	small := Limits{MaxBytes: 4096, MaxPixels: DefaultLimits.MaxPixels, MaxSide: DefaultLimits.MaxSide}
	base := encodeJPEG(t, testImage(40, 30, 6), 80)
	segs, sosAt, err := walkJPEG(base)
	if err != nil {
		t.Fatal(err)
	}
	dqtAt := segs[0].at // SOI DQT …: the first segment is a DQT
	pngBase := encodePNG(t, testImage(20, 10, 7))
	pad := func(b []byte, n int) []byte { // a PDF of n bytes
		return append(append([]byte{}, b...), bytes.Repeat([]byte{'x'}, n-len(b))...)
	}
	comPad := func(n int) []byte { // base with comments making it n bytes long
		in := append([]byte{}, base...)
		for len(in) < n {
			c := min(n-len(in)-4, 0xFFFF-2)
			in = insertAfterSOI(in, segment(mCOM, bytes.Repeat([]byte{'c'}, c)))
		}
		return in
	}
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, testImage(8, 8, 8), nil); err != nil {
		t.Fatal(err)
	}
	badCRC := func(b []byte, chunk string) []byte {
		out := append([]byte{}, b...)
		i := bytes.Index(out, []byte(chunk))
		n := int(binary.BigEndian.Uint32(out[i-4:]))
		out[i+4+n] ^= 0x01
		return out
	}
	flip := func(b []byte, at int, v byte) []byte { out := append([]byte{}, b...); out[at] = v; return out }
	rnd := noisyBytes(1000, 9)
	rnd[0] = 'R'
	mp4 := isoBoxBytes("ftyp", []byte("isom\x00\x00\x02\x00isomiso2avc1mp41"))
	jpegNoSOF := append(append([]byte{}, base[:segs[1].at]...), base[sosAt:]...) // SOI DQT SOS…
	if segs[1].marker != mSOF0 {
		t.Fatalf("second segment 0x%02X, want SOF0", segs[1].marker)
	}
	tests := []struct {
		name string
		in   []byte
		lim  Limits
		wrap func(io.Reader) io.Reader
		want error // nil: accepted
	}{
		{"empty", nil, DefaultLimits, nil, ErrEmpty},
		{"empty, one byte reads", nil, DefaultLimits, iotest.OneByteReader, ErrEmpty},
		{"PDF of MaxBytes", pad([]byte("%PDF-1.4\n"), 4096), small, nil, nil},
		{"PDF of MaxBytes+1", pad([]byte("%PDF-1.4\n"), 4097), small, nil, ErrTooLarge},
		{"PDF of MaxBytes+1, one byte reads", pad([]byte("%PDF-1.4\n"), 4097), small, iotest.OneByteReader, ErrTooLarge},
		{"PDF of 10 MiB+1", pad([]byte("%PDF-1.4\n"), 10<<20+1), DefaultLimits, nil, ErrTooLarge},
		{"HEIC of MaxBytes+1", heicFile("heic", []string{"mif1"}, 100, 100, 4097, false), small, iotest.HalfReader, ErrTooLarge},
		{"JPEG of MaxBytes, comments", comPad(4096), small, nil, nil},
		{"JPEG of MaxBytes+1, comments", comPad(4097), small, nil, ErrTooLarge},
		{"JPEG of MaxBytes+1, comments, one byte reads", comPad(4097), small, iotest.OneByteReader, ErrTooLarge},
		{"JPEG of MaxBytes+1 after EOI", pad(base, 4097), small, nil, ErrTooLarge},
		{"PNG of MaxBytes+1 after IEND", pad(pngBase, 4097), small, iotest.OneByteReader, ErrTooLarge},
		{"random bytes", rnd, DefaultLimits, nil, ErrUnsupported},
		{"GIF", gifBuf.Bytes(), DefaultLimits, nil, ErrUnsupported},
		{"WebP", []byte("RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00"), DefaultLimits, nil, ErrUnsupported},
		{"MP4", mp4, DefaultLimits, nil, ErrUnsupported},
		{"AVIF (mif1 but AV1)", heicFile("avif", []string{"mif1", "miaf"}, 10, 10, 10, false), DefaultLimits, nil, ErrUnsupported},
		{"ftyp of 8000 bytes", append(binary.BigEndian.AppendUint32(nil, 8000), "ftypheic"...), DefaultLimits, nil, ErrUnsupported},
		{"two bytes of SOI", []byte{0xFF, 0xD8}, DefaultLimits, nil, ErrUnsupported},
		{"PNG bomb 60000x60000", pngBomb(60000, 60000), DefaultLimits, nil, ErrTooManyPixels},
		{"PNG 8000x5001", pngBomb(8000, 5001), DefaultLimits, nil, ErrTooManyPixels},
		{"PNG 8000x5000", pngBomb(8000, 5000), DefaultLimits, nil, nil},
		{"PNG 12001x1", pngBomb(12001, 1), DefaultLimits, nil, ErrTooManyPixels},
		{"PNG 1x12001", pngBomb(1, 12001), DefaultLimits, nil, ErrTooManyPixels},
		{"PNG 12000x1", pngBomb(12000, 1), DefaultLimits, nil, nil},
		{"PNG 2^32-1 wide", pngBomb(0xFFFFFFFF, 1), DefaultLimits, nil, ErrCorrupt},
		{"PNG 0 wide", pngBomb(0, 10), DefaultLimits, nil, ErrCorrupt},
		{"JPEG bomb 60000x60000", jpegWithSOF(t, base, mSOF0, 8, 60000, 60000), DefaultLimits, nil, ErrTooManyPixels},
		{"JPEG 12001x10", jpegWithSOF(t, base, mSOF0, 8, 12001, 10), DefaultLimits, nil, ErrTooManyPixels},
		{"JPEG 8000x5001", jpegWithSOF(t, base, mSOF0, 8, 8000, 5001), DefaultLimits, nil, ErrTooManyPixels},
		{"JPEG 8000x5000", jpegWithSOF(t, base, mSOF0, 8, 8000, 5000), DefaultLimits, nil, nil},
		{"JPEG progressive header", jpegWithSOF(t, base, mSOF2, 8, 40, 30), DefaultLimits, nil, nil},
		{"JPEG progressive bomb", jpegWithSOF(t, base, mSOF2, 8, 65535, 65535), DefaultLimits, nil, ErrTooManyPixels},
		{"HEIC bomb", heicFile("heic", []string{"mif1"}, 60000, 60000, 100, false), DefaultLimits, nil, ErrTooManyPixels},
		{"JPEG height 0 (DNL)", jpegWithSOF(t, base, mSOF0, 8, 40, 0), DefaultLimits, nil, ErrCorrupt},
		{"JPEG arithmetic", jpegWithSOF(t, base, 0xC9, 8, 40, 30), DefaultLimits, nil, ErrUnsupported},
		{"JPEG lossless", jpegWithSOF(t, base, 0xC3, 8, 40, 30), DefaultLimits, nil, ErrUnsupported},
		{"JPEG 12-bit", jpegWithSOF(t, base, mSOF1, 12, 40, 30), DefaultLimits, nil, ErrUnsupported},
		{"JPEG cut in a segment header", base[:dqtAt+3], DefaultLimits, nil, ErrCorrupt},
		{"JPEG cut in the scan", base[:len(base)-100], DefaultLimits, nil, ErrCorrupt},
		{"JPEG cut before EOI", base[:len(base)-2], DefaultLimits, nil, ErrCorrupt},
		{"JPEG cut in an EXIF", insertAfterSOI(base, segment(mAPP1, phoneExif(t, binary.LittleEndian, 6)))[:200], DefaultLimits, nil, ErrCorrupt},
		{"JPEG SOS before SOF", jpegNoSOF, DefaultLimits, nil, ErrCorrupt},
		{"JPEG EOI before any scan", append(append([]byte{}, base[:sosAt]...), 0xFF, 0xD9), DefaultLimits, nil, ErrCorrupt},
		{"JPEG junk between segments", flip(base, segs[1].at, 0x00), DefaultLimits, nil, ErrCorrupt},
		{"JPEG junk after SOI", flip(base, dqtAt+1, 0x00), DefaultLimits, nil, ErrCorrupt},
		{"JPEG segment length 1", flip(flip(base, dqtAt+2, 0), dqtAt+3, 1), DefaultLimits, nil, ErrCorrupt},
		{"JPEG second SOF", insertBeforeSOS(t, base, segment(mSOF0, segs[1].payload)), DefaultLimits, nil, ErrCorrupt},
		{"JPEG second SOI", insertAfterSOI(base, []byte{0xFF, 0xD8}), DefaultLimits, nil, ErrCorrupt},
		{"JPEG RST outside a scan", insertAfterSOI(base, []byte{0xFF, 0xD0}), DefaultLimits, nil, ErrCorrupt},
		{"JPEG stuffed zero as marker", insertAfterSOI(base, []byte{0xFF, 0x00}), DefaultLimits, nil, ErrCorrupt},
		{"JPEG SOF of the wrong length", replaceSegment(base, segs[1], segment(mSOF0, segs[1].payload[:len(segs[1].payload)-1])), DefaultLimits, nil, ErrCorrupt},
		{"JPEG SOF of 2 bytes", replaceSegment(base, segs[1], segment(mSOF0, segs[1].payload[:2])), DefaultLimits, nil, ErrCorrupt},
		{"JPEG SOF with 2 components", replaceSegment(base, segs[1], segment(mSOF0, append(append([]byte{}, segs[1].payload[:5]...), 2, 1, 0x22, 0, 2, 0x11, 1))), DefaultLimits, nil, ErrUnsupported},
		{"JPEG SOS header of the wrong length", replaceSegment(base, segs[len(segs)-1], segment(mSOS, segs[len(segs)-1].payload[1:])), DefaultLimits, nil, ErrCorrupt},
		{"JPEG DAC", insertBeforeSOS(t, base, segment(0xCC, []byte{0, 0})), DefaultLimits, nil, ErrUnsupported},
		{"JPEG DHP", insertBeforeSOS(t, base, segment(mDHP, segs[1].payload)), DefaultLimits, nil, ErrUnsupported},
		{"JPEG JPEG-LS", insertBeforeSOS(t, base, segment(0xF7, segs[1].payload)), DefaultLimits, nil, ErrUnsupported},
		{"JPEG DNL", insertBeforeSOS(t, base, segment(mDNL, []byte{0, 30})), DefaultLimits, nil, ErrCorrupt},
		{"PNG bad IHDR CRC", badCRC(pngBase, "IHDR"), DefaultLimits, nil, ErrCorrupt},
		{"PNG bad IDAT CRC", badCRC(pngBase, "IDAT"), DefaultLimits, nil, ErrCorrupt},
		{"PNG bad IEND CRC", badCRC(pngBase, "IEND"), DefaultLimits, nil, ErrCorrupt},
		{"PNG bad CRC of a dropped tEXt", badCRC(insertPNGChunks(pngBase, pngChunk("tEXt", []byte("a\x00b"))), "tEXt"), DefaultLimits, nil, ErrCorrupt},
		{"PNG bad data under a good CRC", flip(pngBase, 8+8+13+8+4, pngBase[8+8+13+8+4]^0x80), DefaultLimits, nil, ErrCorrupt},
		{"PNG first chunk not IHDR", bytes.Join([][]byte{pngBase[:8], pngChunk("gAMA", []byte{0, 0, 0xB1, 0x8F}), pngBase[8:]}, nil), DefaultLimits, nil, ErrCorrupt},
		{"PNG second IHDR", insertPNGChunks(pngBase, pngBase[8:8+25]), DefaultLimits, nil, ErrCorrupt},
		{"PNG without IDAT", append(append([]byte{}, pngBase[:33]...), pngChunk("IEND", nil)...), DefaultLimits, nil, ErrCorrupt},
		{"PNG unknown critical chunk", insertPNGChunks(pngBase, pngChunk("CgBI", []byte{0, 0, 0, 0})), DefaultLimits, nil, ErrUnsupported},
		{"PNG chunk type not letters", insertPNGChunks(pngBase, pngChunk("t3Xt", nil)), DefaultLimits, nil, ErrCorrupt},
		{"PNG chunk of 2^31 bytes", insertPNGChunks(pngBase, []byte{0x80, 0, 0, 0, 't', 'E', 'X', 't'}), DefaultLimits, nil, ErrCorrupt},
		{"PNG 16-bit palette", pngWithIHDR(t, pngBase, 16, 3), DefaultLimits, nil, ErrCorrupt},
		{"PNG colour type 5", pngWithIHDR(t, pngBase, 8, 5), DefaultLimits, nil, ErrCorrupt},
		{"PNG cut in a chunk", pngBase[:len(pngBase)-20], DefaultLimits, nil, ErrCorrupt},
		{"PNG without IEND", pngBase[:len(pngBase)-12], DefaultLimits, nil, ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r io.Reader = bytes.NewReader(tc.in)
			if tc.wrap != nil {
				r = tc.wrap(r)
			}
			cw := &countWriter{}
			res, err := Clean(cw, r, tc.lim)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if err != nil && res != (Result{}) {
				t.Errorf("result %+v with an error", res)
			}
			if cw.n > tc.lim.MaxBytes+64 {
				t.Errorf("wrote %d bytes for MaxBytes %d", cw.n, tc.lim.MaxBytes)
			}
		})
	}
}

// replaceSegment swaps one of a JPEG's segments (as walkJPEG found it) for another.
func replaceSegment(j []byte, old jpegSeg, with []byte) []byte {
	end := old.at + 4 + len(old.payload)
	return append(append(append([]byte{}, j[:old.at]...), with...), j[end:]...)
}

// pngWithIHDR rewrites a PNG's depth and colour type, with a right CRC.
func pngWithIHDR(t *testing.T, p []byte, depth, color byte) []byte {
	t.Helper()
	ihdr := append([]byte{}, p[16:29]...)
	ihdr[8], ihdr[9] = depth, color
	return append(append(append([]byte{}, p[:8]...), pngChunk("IHDR", ihdr)...), p[33:]...)
}

// countWriter counts what it is given.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// TestCleanEveryPrefix: every cut of a JPEG (with an EXIF) or a PNG is
// refused — ErrCorrupt once the signature is whole — and never passes as a
// shorter file.
func TestCleanEveryPrefix(t *testing.T) {
	j := insertAfterSOI(encodeJPEG(t, testImage(24, 16, 10), 75), jfifWithThumb, segment(mAPP1, phoneExif(t, binary.BigEndian, 6)), comment)
	p := insertPNGChunks(encodePNG(t, testImage(24, 16, 11)), pngChunk("tEXt", []byte("k\x00v")))
	for _, tc := range []struct {
		name string
		full []byte
		sig  int
	}{{"JPEG", j, 3}, {"PNG", p, 8}} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := cleanBytes(t, tc.full, DefaultLimits); err != nil {
				t.Fatalf("whole file: %v", err)
			}
			for n := 0; n < len(tc.full); n++ {
				_, _, err := cleanBytes(t, tc.full[:n], DefaultLimits)
				want := ErrCorrupt
				switch {
				case n == 0:
					want = ErrEmpty
				case n < tc.sig:
					want = ErrUnsupported
				}
				if !errors.Is(err, want) {
					t.Fatalf("first %d of %d bytes: error %v, want %v", n, len(tc.full), err, want)
				}
			}
		})
	}
}

// TestCleanIOErrors: the reader's and the writer's own errors come back as
// themselves, not as a verdict on the file.
func TestCleanIOErrors(t *testing.T) {
	j := insertAfterSOI(encodeJPEG(t, testImage(64, 64, 12), 90), segment(mAPP1, phoneExif(t, binary.LittleEndian, 6)))
	p := encodePNG(t, testImage(64, 64, 13))
	pdf := append([]byte("%PDF-1.7\n"), noisyBytes(5000, 1)...)
	errRead := errors.New("connection reset")
	errWrite := errors.New("disk full")
	for _, tc := range []struct {
		name string
		in   []byte
	}{{"JPEG", j}, {"PNG", p}, {"PDF", pdf}} {
		for _, cut := range []int{1, 20, len(tc.in) / 2, len(tc.in) - 1} {
			r := io.MultiReader(bytes.NewReader(tc.in[:cut]), iotest.ErrReader(errRead))
			_, err := Clean(io.Discard, r, DefaultLimits)
			if !errors.Is(err, errRead) || errors.Is(err, ErrCorrupt) {
				t.Errorf("%s, reader fails after %d bytes: error %v, want %v", tc.name, cut, err, errRead)
			}
		}
		for _, after := range []int64{0, 10, int64(len(tc.in)) / 2} {
			w := &failWriter{after: after, err: errWrite}
			_, err := Clean(w, bytes.NewReader(tc.in), DefaultLimits)
			if !errors.Is(err, errWrite) {
				t.Errorf("%s, writer fails after %d bytes: error %v, want %v", tc.name, after, err, errWrite)
			}
		}
		if _, err := Clean(io.Discard, bytes.NewReader(tc.in), Limits{}); err == nil {
			t.Errorf("%s: zero Limits accepted", tc.name)
		}
	}
}

// failWriter takes after bytes, then fails.
type failWriter struct {
	after int64
	err   error
}

func (f *failWriter) Write(p []byte) (int, error) {
	if int64(len(p)) <= f.after {
		f.after -= int64(len(p))
		return len(p), nil
	}
	n := int(f.after)
	f.after = 0
	return n, f.err
}

// allocated returns the bytes f allocates on average over runs.
func allocated(runs int, f func()) uint64 {
	f() // warm up (sync.Once, pools)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// bigJPEG is a JPEG of about n bytes that Clean reads like a camera's: a
// real header declaring 4000x3000, comment padding (dropped), and n bytes of
// entropy-coded-like data (copied).
func bigJPEG(t testing.TB, n int) []byte {
	base := jpegWithSOF(t, encodeJPEG(t, testImage(16, 16, 14), 90), mSOF0, 8, 4000, 3000)
	_, sosAt, err := walkJPEG(base)
	if err != nil {
		t.Fatal(err)
	}
	sosEnd := sosAt + 2 + int(binary.BigEndian.Uint16(base[sosAt+2:]))
	in := append([]byte{}, base[:sosEnd]...)
	for i := 0; i < 8; i++ {
		in = insertAfterSOI(in, segment(mCOM, bytes.Repeat([]byte{'c'}, 60000)))
	}
	data := noisyBytes(n-len(in)-2, 15)
	for i := 1000; i < len(data); i += 997 {
		data[i-1], data[i] = 0xFF, 0x00
	}
	in = append(in, data...)
	return append(in, 0xFF, 0xD9)
}

// TestCleanMemory: Clean's allocations are a small constant — the same for a
// 10 MB photo as for a 100 KB one — and a decompression bomb costs no more.
func TestCleanMemory(t *testing.T) {
	big := bigJPEG(t, 10_000_000)
	small := bigJPEG(t, 600_000)
	p := append(encodePNG(t, testImage(500, 500, 16)), noisyBytes(1000, 1)...)
	run := func(b []byte) func() {
		return func() {
			if _, err := Clean(io.Discard, bytes.NewReader(b), DefaultLimits); err != nil {
				t.Fatal(err)
			}
		}
	}
	bomb := func(b []byte, want error) func() {
		return func() {
			if _, err := Clean(io.Discard, bytes.NewReader(b), DefaultLimits); !errors.Is(err, want) {
				t.Fatalf("error %v, want %v", err, want)
			}
		}
	}
	bigCost, smallCost := allocated(5, run(big)), allocated(5, run(small))
	pngCost := allocated(5, run(p[:len(p)-1000]))
	pngBombCost := allocated(20, bomb(pngBomb(60000, 60000), ErrTooManyPixels))
	jpegBombCost := allocated(20, bomb(jpegWithSOF(t, encodeJPEG(t, testImage(8, 8, 1), 75), mSOF0, 8, 60000, 60000), ErrTooManyPixels))
	t.Logf("allocated per Clean: %d B for a %d-byte JPEG, %d B for a %d-byte one, %d B for a PNG, %d B for a PNG bomb, %d B for a JPEG bomb",
		bigCost, len(big), smallCost, len(small), pngCost, pngBombCost, jpegBombCost)
	const budget = 64 << 10
	for name, cost := range map[string]uint64{"10 MB JPEG": bigCost, "600 KB JPEG": smallCost, "PNG": pngCost} {
		if cost > budget {
			t.Errorf("%s: %d bytes allocated, want at most %d", name, cost, budget)
		}
	}
	if bigCost > smallCost+4<<10 {
		t.Errorf("allocations grow with the input: %d B for 10 MB, %d B for 600 KB", bigCost, smallCost)
	}
	for name, cost := range map[string]uint64{"PNG bomb": pngBombCost, "JPEG bomb": jpegBombCost} {
		if cost > 1<<20 {
			t.Errorf("%s: %d bytes allocated, want under 1 MB", name, cost)
		}
	}
}

// TestDefaultLimits pins the documented defaults.
func TestDefaultLimits(t *testing.T) {
	if want := (Limits{MaxBytes: 10 << 20, MaxPixels: 40_000_000, MaxSide: 12000}); DefaultLimits != want {
		t.Errorf("DefaultLimits %+v, want %+v", DefaultLimits, want)
	}
}

// TestLimitedReader: it hands over exactly MaxBytes and asks for at most
// MaxBytes+1.
func TestLimitedReader(t *testing.T) {
	for _, n := range []int{0, 1, 9, 10, 11, 100} {
		src := &countReader{r: bytes.NewReader(make([]byte, n))}
		got, err := io.ReadAll(&limitedReader{r: src, max: 10})
		if wantErr := n > 10; wantErr != errors.Is(err, ErrTooLarge) || (!wantErr && err != nil) {
			t.Errorf("%d bytes: error %v", n, err)
		}
		if len(got) != min(n, 10) || src.n > 11 {
			t.Errorf("%d bytes: read %d, handed over %d", n, src.n, len(got))
		}
	}
}

// countReader counts what it reads.
type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
