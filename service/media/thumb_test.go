package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"testing"
)

// quadrants is a w×h image whose quarters are red (top left), green (top
// right), blue (bottom left) and black (bottom right).
func quadrants(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{0, 0, 0, 255}
			switch {
			case x < w/2 && y < h/2:
				c.R = 255
			case y < h/2:
				c.G = 255
			case x < w/2:
				c.B = 255
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// quadrant names the colour at (x, y) of a thumbnail, allowing for JPEG.
func quadrant(img image.Image, x, y int) string {
	r, g, b, _ := img.At(x, y).RGBA()
	hi := func(v uint32) bool { return v > 0xC000 }
	lo := func(v uint32) bool { return v < 0x4000 }
	switch {
	case hi(r) && lo(g) && lo(b):
		return "red"
	case lo(r) && hi(g) && lo(b):
		return "green"
	case lo(r) && lo(g) && hi(b):
		return "blue"
	case lo(r) && lo(g) && lo(b):
		return "black"
	case hi(r) && hi(g) && hi(b):
		return "white"
	}
	return "?"
}

// TestThumbnail: the longer side becomes side, the aspect ratio stays, the
// EXIF orientation turns the picture upright, small images stay their size.
func TestThumbnail(t *testing.T) {
	wide := encodeJPEG(t, quadrants(2000, 1000), 90)
	medium := encodeJPEG(t, quadrants(512, 256), 90) // for the many orientation cases: cheaper under -race
	// Where each quarter of the stored image is seen, per orientation (the
	// EXIF definition): top left, top right, bottom left, bottom right.
	seen := map[int][4]string{
		1: {"red", "green", "blue", "black"},
		2: {"green", "red", "black", "blue"},
		3: {"black", "blue", "green", "red"},
		4: {"blue", "black", "red", "green"},
		5: {"red", "blue", "green", "black"},
		6: {"blue", "red", "black", "green"},
		7: {"black", "green", "blue", "red"},
		8: {"green", "black", "red", "blue"},
	}
	tests := []struct {
		name         string
		in           []byte
		orientation  int
		side         int
		wantW, wantH int
	}{
		{"2000x1000 JPEG", wide, 1, 256, 256, 128},
		{"2000x1000 PNG", encodePNG(t, quadrants(2000, 1000)), 1, 256, 256, 128},
		{"2000x1000 JPEG orientation 6", wide, 6, 256, 128, 256},
		{"orientation 0 reads as 1", medium, 0, 128, 128, 64},
		{"orientation 9 reads as 1", medium, 9, 128, 128, 64},
		{"tall", encodeJPEG(t, quadrants(600, 1000), 90), 1, 100, 60, 100},
		{"10x10 not upscaled", encodeJPEG(t, quadrants(10, 10), 90), 1, 256, 10, 10},
		{"10x10 rotated", encodeJPEG(t, quadrants(20, 10), 90), 6, 256, 10, 20},
		{"1000x1 keeps a row", encodePNG(t, quadrants(1000, 2)), 1, 100, 100, 1},
		{"cleaned phone JPEG with metadata", insertAfterSOI(medium, segment(mAPP1, phoneExif(t, binary.LittleEndian, 6)), xmp, comment), 1, 128, 128, 64},
	}
	for o := 2; o <= 8; o++ {
		w, h := 128, 64
		if o >= 5 {
			w, h = 64, 128
		}
		tests = append(tests, struct {
			name         string
			in           []byte
			orientation  int
			side         int
			wantW, wantH int
		}{"orientation " + string(rune('0'+o)), medium, o, 128, w, h})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			w, h, err := Thumbnail(&out, bytes.NewReader(tc.in), tc.orientation, tc.side, DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if w != tc.wantW || h != tc.wantH {
				t.Errorf("thumbnail %dx%d, want %dx%d", w, h, tc.wantW, tc.wantH)
			}
			img, err := jpeg.Decode(&out)
			if err != nil {
				t.Fatalf("thumbnail is no JPEG: %v", err)
			}
			if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
				t.Errorf("thumbnail JPEG is %v, reported %dx%d", b, w, h)
			}
			if w < 32 || h < 32 {
				return
			}
			o := tc.orientation
			if o < 1 || o > 8 {
				o = 1
			}
			got := [4]string{quadrant(img, 2, 2), quadrant(img, w-3, 2), quadrant(img, 2, h-3), quadrant(img, w-3, h-3)}
			if got != seen[o] {
				t.Errorf("corners %v, want %v", got, seen[o])
			}
		})
	}
}

// TestThumbnailTransparentPNG: transparent pixels come out white, not black.
func TestThumbnailTransparentPNG(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 600, 600))
	for i := 0; i < 600; i++ {
		img.SetNRGBA(i, i, color.NRGBA{255, 0, 0, 255})
	}
	for _, side := range []int{60, 300, 600} { // shrunk and scaled, scaled, drawn at its size
		var out bytes.Buffer
		if _, _, err := Thumbnail(&out, bytes.NewReader(encodePNG(t, img)), 1, side, DefaultLimits); err != nil {
			t.Fatal(err)
		}
		th, err := jpeg.Decode(&out)
		if err != nil {
			t.Fatal(err)
		}
		if q := quadrant(th, side-5, 5); q != "white" {
			t.Errorf("side %d: transparent corner is %s, want white", side, q)
		}
	}
}

// TestThumbnailRejects: Clean's checks stand before the decoder: a bomb's
// header never reaches it, nor a PDF, a HEIC or an oversized upload.
func TestThumbnailRejects(t *testing.T) {
	small := encodeJPEG(t, quadrants(40, 30), 80)
	segs, sosAt, err := walkJPEG(small)
	if err != nil {
		t.Fatal(err)
	}
	sosEnd := sosAt + 4 + len(segs[len(segs)-1].payload)
	garbageScan := append(append(append([]byte{}, small[:sosEnd]...), noisyBytes(200, 3)...), 0xFF, 0xD9)
	tests := []struct {
		name string
		in   []byte
		lim  Limits
		side int
		want error
	}{
		{"PNG bomb", pngBomb(60000, 60000), DefaultLimits, 256, ErrTooManyPixels},
		{"JPEG bomb", jpegWithSOF(t, small, mSOF0, 8, 60000, 60000), DefaultLimits, 256, ErrTooManyPixels},
		{"JPEG over MaxSide", jpegWithSOF(t, small, mSOF0, 8, 12001, 30), DefaultLimits, 256, ErrTooManyPixels},
		{"PDF", []byte("%PDF-1.4\n%%EOF\n"), DefaultLimits, 256, ErrUnsupported},
		{"HEIC", heicFile("heic", []string{"mif1"}, 100, 100, 100, false), DefaultLimits, 256, ErrUnsupported},
		{"GIF-like", []byte("GIF89a\x01\x00\x01\x00"), DefaultLimits, 256, ErrUnsupported},
		{"empty", nil, DefaultLimits, 256, ErrEmpty},
		{"too large after EOI", append(append([]byte{}, small...), make([]byte, 5000)...), Limits{MaxBytes: 4096, MaxPixels: 1 << 20, MaxSide: 4096}, 256, ErrTooLarge},
		{"truncated", small[:len(small)-10], DefaultLimits, 256, ErrCorrupt},
		{"scan of noise", garbageScan, DefaultLimits, 256, ErrCorrupt},
		{"PNG bad CRC", func() []byte { p := encodePNG(t, quadrants(20, 20)); p[30] ^= 1; return p }(), DefaultLimits, 256, ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			w, h, err := Thumbnail(&out, bytes.NewReader(tc.in), 1, tc.side, tc.lim)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if w != 0 || h != 0 || out.Len() != 0 {
				t.Errorf("%dx%d and %d bytes written with an error", w, h, out.Len())
			}
		})
	}
	if _, _, err := Thumbnail(io.Discard, bytes.NewReader(small), 1, 0, DefaultLimits); err == nil {
		t.Error("side 0 accepted")
	}
	// A bomb costs the thumbnailer no more than it costs Clean.
	bomb := pngBomb(60000, 60000)
	cost := allocated(10, func() {
		if _, _, err := Thumbnail(io.Discard, bytes.NewReader(bomb), 1, 256, DefaultLimits); !errors.Is(err, ErrTooManyPixels) {
			t.Fatal(err)
		}
	})
	t.Logf("Thumbnail of a PNG bomb allocates %d B", cost)
	if cost > 1<<20 {
		t.Errorf("Thumbnail of a PNG bomb allocates %d B, want under 1 MB", cost)
	}
}

// TestFit: the arithmetic of the thumbnail's size.
func TestFit(t *testing.T) {
	tests := []struct{ w, h, side, wantW, wantH int }{
		{2000, 1000, 256, 256, 128},
		{1000, 2000, 256, 128, 256},
		{4000, 3000, 256, 256, 192},
		{3000, 4000, 320, 240, 320},
		{256, 100, 256, 256, 100},
		{10, 10, 256, 10, 10},
		{12000, 1, 256, 256, 1},
		{1, 12000, 256, 1, 256},
		{999, 1000, 100, 100, 100},
		{12000, 12000, 1, 1, 1},
	}
	for _, tc := range tests {
		if w, h := fit(tc.w, tc.h, tc.side); w != tc.wantW || h != tc.wantH {
			t.Errorf("fit(%d, %d, %d) = %d, %d; want %d, %d", tc.w, tc.h, tc.side, w, h, tc.wantW, tc.wantH)
		}
	}
}

// TestShrink: the box filter averages whole and partial blocks, in YCbCr
// as in premultiplied RGBA.
func TestShrink(t *testing.T) {
	// 5×3, k 2: blocks of 2×2, 1×2, 2×1 and 1×1 pixels.
	gray := image.NewGray(image.Rect(0, 0, 5, 3))
	copy(gray.Pix, []byte{
		0, 100, 50, 50, 7,
		200, 100, 50, 50, 9,
		10, 20, 30, 40, 250,
	})
	got := shrink(gray, 2)
	want := []byte{100, 50, 8, 15, 35, 250}
	if got.Rect != image.Rect(0, 0, 3, 2) {
		t.Fatalf("bounds %v", got.Rect)
	}
	for i, w := range want {
		if p := got.Pix[4*i:]; p[0] != w || p[1] != w || p[2] != w || p[3] != 255 {
			t.Errorf("pixel %d: %v, want grey %d", i, p[:4], w)
		}
	}
	// Half of each block transparent: premultiplied, so red at half alpha.
	nrgba := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	for y := 0; y < 4; y++ {
		nrgba.SetNRGBA(0, y, color.NRGBA{255, 0, 0, 255})
		nrgba.SetNRGBA(2, y, color.NRGBA{255, 0, 0, 255})
		nrgba.SetNRGBA(1, y, color.NRGBA{0, 255, 0, 0}) // invisible green
		nrgba.SetNRGBA(3, y, color.NRGBA{0, 255, 0, 0})
	}
	if p := shrink(nrgba, 2).Pix[:4]; p[0] != 128 || p[1] != 0 || p[2] != 0 || p[3] != 128 {
		t.Errorf("half-transparent block %v, want premultiplied red at half alpha", p)
	}
	// A JPEG's YCbCr shrinks as its RGBA conversion does.
	src := testImage(64, 48, 20)
	ycc, err := jpeg.Decode(bytes.NewReader(encodeJPEG(t, src, 95)))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ycc.(*image.YCbCr); !ok {
		t.Fatalf("decoded %T", ycc)
	}
	rgba := image.NewRGBA(ycc.Bounds())
	for y := 0; y < 48; y++ {
		for x := 0; x < 64; x++ {
			rgba.Set(x, y, ycc.At(x, y))
		}
	}
	a, b := shrink(ycc, 4), shrink(rgba, 4)
	for i := range a.Pix {
		if d := int(a.Pix[i]) - int(b.Pix[i]); d < -3 || d > 3 {
			t.Fatalf("byte %d: %d from YCbCr, %d from RGBA", i, a.Pix[i], b.Pix[i])
		}
	}
}
