package media

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
	"time"
)

// baselineJPEG encodes a benign gradient as a baseline 4:2:0 (colour) or
// grey JPEG.
func baselineJPEG(t testing.TB, w, h int, grey bool) []byte {
	t.Helper()
	var img image.Image
	if grey {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				g.SetGray(x, y, color.Gray{uint8(x*7 + y*3)})
			}
		}
		img = g
	} else {
		c := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				c.SetRGBA(x, y, color.RGBA{uint8(x * 5), uint8(y * 3), uint8(x ^ y), 255})
			}
		}
		img = c
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReducedDecoder: sizes, raster types and refusals of the reduced
// decoder, independent of libjpeg-turbo (which the cgo-only test compares
// pixels with).
func TestReducedDecoder(t *testing.T) {
	colour, grey := baselineJPEG(t, 203, 101, false), baselineJPEG(t, 203, 101, true)
	truncated := colour[:len(colour)*2/3]
	for _, tc := range []struct {
		name  string
		data  []byte
		scale int
		want  error
		w, h  int
		rgba  bool
	}{
		{"colour 1/4", colour, 4, nil, 51, 26, true},
		{"colour 1/8", colour, 8, nil, 26, 13, true},
		{"grey 1/4", grey, 4, nil, 51, 26, false},
		{"grey 1/8", grey, 8, nil, 26, 13, false},
		{"truncated", truncated, 4, ErrCorrupt, 0, 0, false},
		{"not a JPEG", []byte("GIF89a"), 4, errNotReduced, 0, 0, false},
		{"progressive", readTestImage(t, "misc-images/wee.jpg"), 4, errNotReduced, 0, 0, false},
	} {
		d, err := decodeJPEGReducedAt(tc.data, DefaultLimits, tc.scale)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			continue
		}
		if err != nil {
			continue
		}
		_, isRGBA := d.Image.(*image.RGBA)
		if b := d.Image.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h || isRGBA != tc.rgba || d.Scale != tc.scale || d.Width != 203 || d.Height != 101 {
			t.Errorf("%s: raster %v (RGBA %v), scale %d, size %d×%d", tc.name, b, isRGBA, d.Scale, d.Width, d.Height)
		}
	}
	// The truncated file goes to image/jpeg through decodeJPEG, whose
	// verdict (corrupt) stands.
	if _, err := DecodeImageScaled(truncated, Limits{MaxPixels: 1000}, 0); err == nil {
		t.Error("truncated JPEG decoded")
	}
}

// FuzzDecodeJPEGReduced: hostile input gives an error (never a panic, never
// an image without error), and memory stays within the decode limits.
func FuzzDecodeJPEGReduced(f *testing.F) {
	f.Add(baselineJPEG(f, 40, 24, false))
	f.Add(baselineJPEG(f, 17, 9, true))
	f.Add(readTestImage(f, "bridge-mods/square-128x128.jpg")) // restart markers
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxPixels: 1 << 16, MaxDecodeBytes: 1 << 20}
		for _, scale := range []int{4, 8} {
			d, err := decodeJPEGReducedAt(data, lim, scale)
			if err == nil && (d.Image == nil || d.Image.Bounds().Dx()*d.Image.Bounds().Dy() > 1<<16) {
				t.Fatalf("1/%d: image %v without error", scale, d.Image)
			}
		}
		if d, err := DecodeImageScaled(data, lim, PDQMinSide); err == nil && d.Image == nil {
			t.Fatal("nil image without error")
		}
	})
}

// BenchmarkJPEGReduced12MP decodes a 12-megapixel (4000×3000, 4:2:0) JPEG
// with the reduced decoder at 1/4 scale, as the page does, and reports its
// time as a ratio of image/jpeg's full decode of the same file, measured in
// the same run.
func BenchmarkJPEGReduced12MP(b *testing.B) {
	d, err := DecodeImage(readTestImage(b, "bridge-mods/aaa-orig.jpg"), Limits{})
	if err != nil {
		b.Fatal(err)
	}
	big := image.NewRGBA(image.Rect(0, 0, 4000, 3000))
	src := d.Image.Bounds()
	for y := range 3000 { // nearest-neighbour upscale: no dependency, benign pixels
		for x := range 4000 {
			big.Set(x, y, d.Image.At(src.Min.X+x*src.Dx()/4000, src.Min.Y+y*src.Dy()/3000))
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, big, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	std := time.Duration(1 << 62)
	for range 2 {
		start := time.Now()
		if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		std = min(std, time.Since(start))
	}
	b.ResetTimer()
	for range b.N {
		if _, err := decodeJPEGReducedAt(data, DefaultLimits, 4); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per)/float64(std), "reduced/image-jpeg")
	b.Logf("12 MP: reduced 1/4 %v, image/jpeg full %v (best of 2), ratio %.2f", per, std, float64(per)/float64(std))
}
