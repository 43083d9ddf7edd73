package media

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/draw"
)

// ThumbnailQuality is the JPEG quality of a thumbnail.
const ThumbnailQuality = 80

// Thumbnail decodes a JPEG or PNG from r (checking dimensions with
// image.DecodeConfig-style header reading against lim before decoding pixels),
// applies the EXIF orientation given, scales it so the longer side is at most
// side pixels (never upscales), and writes a JPEG (quality 80) to w.
// It returns the thumbnail's width and height.
//
// The decoder reads r through Clean, so r is bounded, sniffed and checked
// exactly as Clean checks it (MaxBytes, the declared dimensions before any
// pixel data reaches the decoder, the structure), and the errors are Clean's
// (a PDF or HEIC gives ErrUnsupported; an undecodable scan ErrCorrupt).
// Transparent PNG pixels are drawn over white. An orientation outside 1-8
// reads as 1.
func Thumbnail(w io.Writer, r io.Reader, orientation, side int, lim Limits) (width, height int, err error) {
	if side <= 0 {
		return 0, 0, fmt.Errorf("media.Thumbnail: side %d is not positive", side)
	}
	img, err := decode(r, lim)
	if err != nil {
		return 0, 0, fmt.Errorf("media.Thumbnail: %w", err)
	}
	thumb := orient(scale(img, side), orientation)
	if err := jpeg.Encode(w, thumb, &jpeg.Options{Quality: ThumbnailQuality}); err != nil {
		return 0, 0, fmt.Errorf("media.Thumbnail: write: %w", err)
	}
	b := thumb.Bounds()
	return b.Dx(), b.Dy(), nil
}

// errStopped is how decode tells the cleaning goroutine it stopped reading.
var errStopped = errors.New("media: decoder stopped reading")

// decode decodes the cleaned form of r: Clean runs in a goroutine writing
// into a pipe the decoder reads, so a frame header or IHDR reaches the
// decoder (which allocates the image from it) only once checked.
func decode(r io.Reader, lim Limits) (image.Image, error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := clean(pw, r, lim, func(ct string) error {
			if ct != JPEG && ct != PNG {
				return fmt.Errorf("%w: no thumbnail of %s", ErrUnsupported, ct)
			}
			return nil
		})
		pw.CloseWithError(err) // nil: the decoder sees EOF
		done <- err
	}()
	img, format, derr := image.Decode(pr)
	if derr == nil {
		// Let Clean read to the end, so what follows the image still counts
		// against MaxBytes.
		_, derr = io.Copy(io.Discard, pr)
	}
	pr.CloseWithError(errStopped)
	if cerr := <-done; cerr != nil && !errors.Is(cerr, errStopped) {
		return nil, cerr
	}
	if derr != nil {
		return nil, decodeError(derr)
	}
	if format != "jpeg" && format != "png" {
		return nil, fmt.Errorf("%w: decoded as %s", ErrUnsupported, format)
	}
	return img, nil
}

// decodeError sorts a decoder's error into ErrCorrupt and ErrUnsupported.
func decodeError(err error) error {
	var (
		jf jpeg.FormatError
		pf png.FormatError
		ju jpeg.UnsupportedError
		pu png.UnsupportedError
	)
	switch {
	case errors.As(err, &jf), errors.As(err, &pf), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	case errors.As(err, &ju), errors.As(err, &pu), errors.Is(err, image.ErrFormat):
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	return err
}

// fit returns the size of a w×h image scaled so its longer side is at most
// side, keeping its aspect ratio; never larger than w×h.
func fit(w, h, side int) (int, int) {
	long := max(w, h)
	if long <= side {
		return w, h
	}
	tw := max(1, int((int64(w)*int64(side)+int64(long)/2)/int64(long)))
	th := max(1, int((int64(h)*int64(side)+int64(long)/2)/int64(long)))
	return tw, th
}

// scale draws src into a new RGBA image fitted to side, over white where
// src is transparent: a box filter first shrinks a large src by a whole
// factor to between two and four times the thumbnail's size (cheap, and it
// spares Catmull-Rom's intermediate buffer of thumbnail width × source
// height), then Catmull-Rom does the rest.
func scale(src image.Image, side int) *image.RGBA {
	sb := src.Bounds()
	tw, th := fit(sb.Dx(), sb.Dy(), side)
	if k := max(sb.Dx()/tw, sb.Dy()/th) / 2; k >= 2 {
		src = shrink(src, k)
		sb = src.Bounds()
	}
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	op := draw.Src
	if o, ok := src.(interface{ Opaque() bool }); !ok || !o.Opaque() {
		draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
		op = draw.Over
	}
	if tw == sb.Dx() && th == sb.Dy() {
		draw.Draw(dst, dst.Bounds(), src, sb.Min, op)
	} else {
		draw.CatmullRom.Scale(dst, dst.Bounds(), src, sb, op, nil)
	}
	return dst
}

// shrink averages each k×k block of src (the last row and column of blocks
// may be smaller) into one pixel of a new RGBA image.
func shrink(src image.Image, k int) *image.RGBA {
	sb := src.Bounds()
	ow, oh := (sb.Dx()+k-1)/k, (sb.Dy()+k-1)/k
	dst := image.NewRGBA(image.Rect(0, 0, ow, oh))
	sums := make([][4]uint64, ow)
	counts := make([]uint64, ow)
	for oy := 0; oy < oh; oy++ {
		clear(sums)
		clear(counts)
		y0, y1 := sb.Min.Y+oy*k, min(sb.Min.Y+(oy+1)*k, sb.Max.Y)
		switch s := src.(type) {
		case *image.YCbCr: // JPEG: average in YCbCr, convert once per pixel
			for y := y0; y < y1; y++ {
				for x := sb.Min.X; x < sb.Max.X; x++ {
					i, ci := s.YOffset(x, y), s.COffset(x, y)
					a := &sums[(x-sb.Min.X)/k]
					a[0] += uint64(s.Y[i])
					a[1] += uint64(s.Cb[ci])
					a[2] += uint64(s.Cr[ci])
					counts[(x-sb.Min.X)/k]++
				}
			}
			for ox := range ow {
				n := counts[ox]
				r, g, b := color.YCbCrToRGB(uint8((sums[ox][0]+n/2)/n), uint8((sums[ox][1]+n/2)/n), uint8((sums[ox][2]+n/2)/n))
				copy(dst.Pix[dst.PixOffset(ox, oy):], []byte{r, g, b, 0xFF})
			}
			continue
		case image.RGBA64Image: // every other decoded type: premultiplied 16-bit
			for y := y0; y < y1; y++ {
				for x := sb.Min.X; x < sb.Max.X; x++ {
					c := s.RGBA64At(x, y)
					a := &sums[(x-sb.Min.X)/k]
					a[0] += uint64(c.R)
					a[1] += uint64(c.G)
					a[2] += uint64(c.B)
					a[3] += uint64(c.A)
					counts[(x-sb.Min.X)/k]++
				}
			}
		default:
			for y := y0; y < y1; y++ {
				for x := sb.Min.X; x < sb.Max.X; x++ {
					r, g, b, al := s.At(x, y).RGBA()
					a := &sums[(x-sb.Min.X)/k]
					a[0] += uint64(r)
					a[1] += uint64(g)
					a[2] += uint64(b)
					a[3] += uint64(al)
					counts[(x-sb.Min.X)/k]++
				}
			}
		}
		for ox := range ow {
			n := counts[ox] * 0x101 // to 8 bits
			p := dst.Pix[dst.PixOffset(ox, oy):]
			for c := 0; c < 4; c++ {
				p[c] = uint8((sums[ox][c] + n/2) / n)
			}
		}
	}
	return dst
}

// orient turns an image as EXIF orientation o says it must be turned to be
// seen upright: 2 mirror, 3 rotate 180°, 4 flip, 5 transpose, 6 rotate 90°
// clockwise, 7 transverse, 8 rotate 90° anticlockwise.
func orient(src *image.RGBA, o int) *image.RGBA {
	if o < 2 || o > 8 {
		return src
	}
	w, h := src.Rect.Dx(), src.Rect.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for dy := 0; dy < dh; dy++ {
		for dx := 0; dx < dw; dx++ {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = w-1-dx, dy
			case 3:
				sx, sy = w-1-dx, h-1-dy
			case 4:
				sx, sy = dx, h-1-dy
			case 5:
				sx, sy = dy, dx
			case 6:
				sx, sy = dy, h-1-dx
			case 7:
				sx, sy = w-1-dy, h-1-dx
			case 8:
				sx, sy = w-1-dy, dx
			}
			si, di := src.PixOffset(sx, sy), dst.PixOffset(dx, dy)
			copy(dst.Pix[di:di+4], src.Pix[si:si+4])
		}
	}
	return dst
}
