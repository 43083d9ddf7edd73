package media

import (
	"bytes"
	"encoding/binary"
	"image"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// photo is a w×h picture with fine noise over gradients, so a JPEG of it
// is about as large as a phone's photo of a document.
func photo(w, h int, noise int) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	rng := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Y[y*img.YStride+x] = uint8((x+y)/16) + uint8(rng.IntN(noise+1))
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128+uint8(rng.IntN(noise/4+1)), 128-uint8(rng.IntN(noise/4+1))
	}
	return img
}

var (
	bigPhotoOnce sync.Once
	bigPhoto     []byte
)

// bigPhotoJPEG is a real 4000×3000 JPEG at quality 95 of just under
// 10 MiB, with a phone's EXIF (GPS included) and XMP.
func bigPhotoJPEG(b *testing.B) []byte {
	bigPhotoOnce.Do(func() {
		j := encodeJPEG(b, photo(4000, 3000, 58), 95)
		bigPhoto = insertAfterSOI(j, segment(mAPP1, phoneExif(b, binary.BigEndian, 6)), xmp, iccSeg)
	})
	if len(bigPhoto) > int(DefaultLimits.MaxBytes) {
		b.Fatalf("test photo of %d bytes is over the limit", len(bigPhoto))
	}
	return bigPhoto
}

// BenchmarkClean10MB cleans a ~10 MB camera JPEG (bytes/op, allocs/op).
func BenchmarkClean10MB(b *testing.B) {
	in := bigPhotoJPEG(b)
	b.Logf("input %d bytes", len(in))
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Clean(io.Discard, bytes.NewReader(in), DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkThumbnail12MP makes a 256-pixel thumbnail of a 12 MP JPEG and
// reports the peak heap it took above what was in use before.
func BenchmarkThumbnail12MP(b *testing.B) {
	in := bigPhotoJPEG(b)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	var peak uint64
	for b.Loop() {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { peak = max(peak, samplePeak(done)-base.HeapAlloc) })
		w, h, err := Thumbnail(io.Discard, bytes.NewReader(in), 6, 256, DefaultLimits)
		close(done)
		wg.Wait()
		if err != nil || w != 192 || h != 256 {
			b.Fatalf("%dx%d, %v", w, h, err)
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
}

// samplePeak samples the heap in use until done is closed and returns the
// most it saw.
func samplePeak(done <-chan struct{}) uint64 {
	var peak uint64
	var m runtime.MemStats
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapAlloc)
		select {
		case <-done:
			return peak
		case <-tick.C:
		}
	}
}
