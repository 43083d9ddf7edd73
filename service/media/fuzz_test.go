package media

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
)

// maxGrowth bounds how much Clean may write beyond what it read: the
// minimal EXIF it may add (36 bytes) is the only thing it adds.
const maxGrowth = 64

// FuzzClean: Clean never panics, writes at most MaxBytes+maxGrowth bytes
// (and at most its input plus maxGrowth), sorts every failure into one of
// its errors, and what it accepts is a fixed point: cleaning it again gives
// the same bytes and result, and a JPEG keeps no APPn but the allowed ones
// and no COM.
func FuzzClean(f *testing.F) {
	j := encodeJPEG(f, testImage(16, 16, 1), 75)
	f.Add(j)
	f.Add(insertAfterSOI(j, jfifWithThumb, segment(mAPP1, phoneExif(f, binary.LittleEndian, 6)), xmp, iccSeg, mpf, iptc, adobe, comment))
	f.Add(insertAfterSOI(j, segment(mAPP1, phoneExif(f, binary.BigEndian, 8))))
	f.Add(jpegWithSOF(f, j, mSOF2, 8, 60000, 60000))
	p := encodePNG(f, testImage(8, 8, 2))
	f.Add(p)
	f.Add(insertPNGChunks(p, pngChunk("tEXt", []byte("k\x00v")), pngChunk("gAMA", []byte{0, 0, 0xB1, 0x8F})))
	f.Add(pngBomb(60000, 60000))
	f.Add(heicFile("heic", []string{"mif1", "heic"}, 4032, 3024, 64, false))
	f.Add(heicFile("mif1", []string{"heic"}, 64, 48, 64, true))
	f.Add([]byte("%PDF-1.7\n%%EOF\n"))
	f.Add([]byte("GIF89a"))
	f.Add([]byte{})
	lim := Limits{MaxBytes: 1 << 14, MaxPixels: 1 << 20, MaxSide: 4096}
	f.Fuzz(func(t *testing.T, in []byte) {
		cw := &countWriter{}
		var out bytes.Buffer
		res, err := Clean(&multiWriter{cw, &out}, bytes.NewReader(in), lim)
		if cw.n > lim.MaxBytes+maxGrowth || cw.n > int64(len(in))+maxGrowth {
			t.Fatalf("wrote %d bytes of a %d-byte input (MaxBytes %d)", cw.n, len(in), lim.MaxBytes)
		}
		if err != nil {
			if !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrUnsupported) &&
				!errors.Is(err, ErrTooManyPixels) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("unsorted error %v", err)
			}
			return
		}
		if res.Size != int64(out.Len()) || res.SHA256 != sha256.Sum256(out.Bytes()) {
			t.Fatalf("result %+v does not describe the %d bytes written", res, out.Len())
		}
		if res.Orientation < 1 || res.Orientation > 8 || res.Width < 0 || res.Height < 0 ||
			int64(res.Width)*int64(res.Height) > lim.MaxPixels || res.Width > lim.MaxSide || res.Height > lim.MaxSide {
			t.Fatalf("result %+v out of range", res)
		}
		var again bytes.Buffer
		res2, err := Clean(&again, bytes.NewReader(out.Bytes()), lim)
		if err != nil || res2 != res || !bytes.Equal(again.Bytes(), out.Bytes()) {
			t.Fatalf("cleaning the output again: %v, %+v (was %+v)", err, res2, res)
		}
		if res.ContentType == JPEG {
			segs, _, err := walkJPEG(out.Bytes())
			if err != nil {
				t.Fatalf("output does not walk: %v", err)
			}
			for _, s := range segs {
				switch {
				case s.marker == mCOM:
					t.Fatal("COM kept")
				case s.marker == mAPP0 && (len(s.payload) != 14 || s.payload[12] != 0 || s.payload[13] != 0):
					t.Fatalf("APP0 %q kept", s.payload)
				case s.marker == mAPP1 && !bytes.Equal(s.payload, minimalExif(res.Orientation)[4:]):
					t.Fatalf("APP1 %q kept", s.payload)
				case s.marker > mAPP2 && s.marker < mAPP14, s.marker == mAPP0+15:
					t.Fatalf("APP%d kept", s.marker-mAPP0)
				}
			}
		}
	})
}

// multiWriter writes to both.
type multiWriter struct {
	a *countWriter
	b *bytes.Buffer
}

func (m *multiWriter) Write(p []byte) (int, error) {
	_, _ = m.a.Write(p)
	return m.b.Write(p)
}
