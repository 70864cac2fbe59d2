package pdq

import (
	"image"
	"math/rand/v2"
	"testing"
	"time"
)

// photoLike fills an image with smooth structure plus noise, so that no
// path takes a shortcut a real photo would not.
func photoLike(w, h int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	pix := make([]byte, 3*w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := 3 * (y*w + x)
			base := (x*255/w + y*255/h) / 2
			pix[i] = uint8(base + rng.IntN(32))
			pix[i+1] = uint8((x*7+y*3)%200 + rng.IntN(32))
			pix[i+2] = uint8(255 - base/2 - rng.IntN(32))
		}
	}
	return pix
}

func rgbaFrom(pix []byte, w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		copy(m.Pix[4*i:4*i+3], pix[3*i:3*i+3])
		m.Pix[4*i+3] = 255
	}
	return m
}

func ycbcrFrom(pix []byte, w, h int, ratio image.YCbCrSubsampleRatio) *image.YCbCr {
	m := image.NewYCbCr(image.Rect(0, 0, w, h), ratio)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := 3 * (y*w + x)
			yy, cb, cr := rgbToYCbCr(pix[i], pix[i+1], pix[i+2])
			m.Y[m.YOffset(x, y)] = yy
			ci := m.COffset(x, y)
			m.Cb[ci], m.Cr[ci] = cb, cr
		}
	}
	return m
}

func rgbToYCbCr(r, g, b uint8) (uint8, uint8, uint8) {
	// color.RGBToYCbCr, spelled out to keep the benchmark setup obvious.
	rf, gf, bf := float64(r), float64(g), float64(b)
	clamp := func(v float64) uint8 {
		switch {
		case v < 0:
			return 0
		case v > 255:
			return 255
		}
		return uint8(v + 0.5)
	}
	return clamp(0.299*rf + 0.587*gf + 0.114*bf),
		clamp(128 - 0.168736*rf - 0.331264*gf + 0.5*bf),
		clamp(128 + 0.5*rf - 0.418688*gf - 0.081312*bf)
}

func BenchmarkHashImage(b *testing.B) {
	cases := []struct {
		name string
		img  image.Image
	}{
		{"RGBA_512x512", rgbaFrom(photoLike(512, 512, 1), 512, 512)},
		{"YCbCr420_4000x3000", ycbcrFrom(photoLike(4000, 3000, 2), 4000, 3000, image.YCbCrSubsampleRatio420)},
		{"Gray_512x512", func() image.Image {
			m := image.NewGray(image.Rect(0, 0, 512, 512))
			copy(m.Pix, photoLike(512, 512, 3))
			return m
		}()},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h := NewHasher()
			h.HashImage(c.img)
			b.ReportAllocs()
			for b.Loop() {
				h.HashImage(c.img)
			}
		})
	}
}

func BenchmarkHashImageDihedral(b *testing.B) {
	img := rgbaFrom(photoLike(512, 512, 1), 512, 512)
	h := NewHasher()
	h.HashImageDihedral(img)
	b.ReportAllocs()
	for b.Loop() {
		h.HashImageDihedral(img)
	}
}

// BenchmarkHashImagePooled measures the package-level function (pool path).
func BenchmarkHashImagePooled(b *testing.B) {
	img := rgbaFrom(photoLike(512, 512, 1), 512, 512)
	b.ReportAllocs()
	for b.Loop() {
		HashImage(img)
	}
}

func BenchmarkHashRGB(b *testing.B) {
	for _, sz := range []struct {
		name string
		w, h int
	}{{"1920x1080", 1920, 1080}, {"128x128", 128, 128}} {
		b.Run(sz.name, func(b *testing.B) {
			pix := photoLike(sz.w, sz.h, 4)
			h := NewHasher()
			h.HashRGB(pix, sz.w, sz.h)
			b.SetBytes(int64(len(pix)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.HashRGB(pix, sz.w, sz.h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCoreVsNaive hashes a 1080p frame with the Hasher and with the
// literal transcription of the reference (core_test.go), reporting the
// speed-up measured in the same run as "x-naive".
func BenchmarkCoreVsNaive(b *testing.B) {
	const w, h = 1920, 1080
	pix := photoLike(w, h, 5)
	hs := NewHasher()
	hs.HashRGB(pix, w, h)
	var fast, slow time.Duration
	for b.Loop() {
		t0 := time.Now()
		hs.HashRGB(pix, w, h)
		t1 := time.Now()
		newNaive(lumaOf(pix), h, w, true).hash()
		fast, slow = fast+t1.Sub(t0), slow+time.Since(t1)
	}
	b.ReportMetric(float64(slow)/float64(fast), "x-naive")
	b.ReportMetric(float64(fast.Nanoseconds())/float64(b.N), "ns/hash")
}

// BenchmarkPlaneLoad measures Plane.Load of a 1024×768 opaque RGBA image
// (what internal/variant loads for a typical photo and its copies).
//
//	go test -run '^$' -bench PlaneLoad ./internal/pdq
func BenchmarkPlaneLoad(b *testing.B) {
	img := rgbaFrom(photoLike(1024, 768, 1), 1024, 768)
	p := NewPlane(img)
	b.SetBytes(int64(len(img.Pix)))
	b.ResetTimer()
	for range b.N {
		p.Load(img)
	}
}
