package pdq

import (
	"image"
	"image/color"
	"testing"
)

// fuzzImage builds an image of a type, size and origin chosen by the first
// bytes of data, with pixels (and palette) from the rest.
func fuzzImage(data []byte) image.Image {
	if len(data) < 5 {
		return nil
	}
	kind, w, h, wide, org := data[0]%12, int(data[1]%80), int(data[2]%80), data[3], int(data[4]%7)
	if wide&1 != 0 {
		w *= 8 // up to 632: exercises the 512×512 resize
	}
	if wide&2 != 0 {
		h *= 8
	}
	pix := data[5:]
	fill := func(b []byte) {
		if len(pix) == 0 {
			return
		}
		for i := range b {
			b[i] = pix[i%len(pix)]
		}
	}
	r := image.Rect(org, -org, org+w, h-org)
	switch kind {
	case 0:
		m := image.NewGray(r)
		fill(m.Pix)
		return m
	case 1:
		m := image.NewGray16(r)
		fill(m.Pix)
		return m
	case 2:
		m := image.NewRGBA(r)
		fill(m.Pix)
		return m
	case 3:
		m := image.NewNRGBA(r)
		fill(m.Pix)
		return m
	case 4:
		m := image.NewRGBA64(r)
		fill(m.Pix)
		return m
	case 5:
		m := image.NewNRGBA64(r)
		fill(m.Pix)
		return m
	case 6:
		// Palette shorter than the indices used, and nil entries.
		var pal color.Palette
		for i := 0; i+3 < len(pix) && len(pal) < int(wide)%40; i += 4 {
			if pix[i]%17 == 0 {
				pal = append(pal, nil)
				continue
			}
			pal = append(pal, color.RGBA{pix[i], pix[i+1], pix[i+2], pix[i+3]})
		}
		m := image.NewPaletted(r, pal)
		fill(m.Pix)
		return m
	case 7:
		m := image.NewCMYK(r)
		fill(m.Pix)
		return m
	case 8, 9:
		ratios := []image.YCbCrSubsampleRatio{
			image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
			image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
		}
		m := image.NewYCbCr(r, ratios[int(wide>>2)%len(ratios)])
		fill(m.Y)
		fill(m.Cb)
		fill(m.Cr)
		if kind == 9 {
			return &image.NYCbCrA{YCbCr: *m, A: make([]byte, w*h), AStride: w}
		}
		return m
	case 10:
		m := image.NewAlpha(r)
		fill(m.Pix)
		return m
	default:
		m := image.NewNRGBA(image.Rect(0, 0, w+3, h+2))
		fill(m.Pix)
		return m.SubImage(image.Rect(1, 2, w+1, h+2))
	}
}

// FuzzHash: any image of any supported (or unsupported) type and size must
// hash without panicking, deterministically, with a sane result.
func FuzzHash(f *testing.F) {
	f.Add([]byte{0, 10, 10, 0, 0, 1, 2, 3})
	f.Add([]byte{2, 64, 64, 0, 0, 9, 200, 3, 255})
	f.Add([]byte{3, 70, 9, 1, 3, 0, 255})
	f.Add([]byte{6, 30, 30, 37, 1, 1, 2, 3, 4, 5, 6, 7, 8, 17, 34})
	f.Add([]byte{8, 33, 17, 4, 5, 128, 128, 128, 12})
	f.Add([]byte{9, 79, 65, 11, 2, 1, 200, 3})
	f.Add([]byte{10, 4, 50, 0, 0, 1})
	f.Add([]byte{11, 5, 5, 0, 0, 7})
	f.Add([]byte{7, 40, 40, 2, 6, 10, 20, 30, 40})
	f.Add([]byte{1, 12, 70, 3, 0, 255, 0, 1})
	f.Add([]byte{4, 6, 6, 0, 0, 255, 255, 0, 0, 9, 9, 0, 128})
	f.Add([]byte{3, 75, 3, 1, 0, 1, 50, 200, 7, 9}) // 600×3: resized, then hashed
	f.Fuzz(func(t *testing.T, data []byte) {
		img := fuzzImage(data)
		a := NewHasher().HashImage(img)
		h := NewHasher()
		h.HashImage(image.NewGray(image.Rect(0, 0, 600, 7))) // dirty the buffers
		if b := h.HashImage(img); b != a {
			t.Fatalf("not deterministic: %v then %v", a, b)
		}
		if c := HashImage(img); c != a {
			t.Fatalf("pooled %v, fresh %v", c, a)
		}
		if a.Quality < 0 || a.Quality > 100 {
			t.Fatalf("quality %d", a.Quality)
		}
		// The reference checks the 5-pixel minimum after its resize, so a
		// 1000×3 image is hashed (as 512×512).
		if img == nil {
			return
		}
		sz := img.Bounds().Size()
		if resized := sz.X > resizeDim || sz.Y > resizeDim; !resized && (sz.X < minDim || sz.Y < minDim) {
			if a != (Result{}) {
				t.Fatalf("image too small for a hash got %v", a)
			}
			return
		}
		d, q := h.HashImageDihedral(img)
		if q != a.Quality {
			t.Fatalf("dihedral quality %d, HashImage %d", q, a.Quality)
		}
		if sz != image.Pt(64, 64) && d[Original] != a.Hash {
			t.Fatalf("dihedral original %v, HashImage %v", d[Original], a.Hash)
		}
	})
}

// FuzzHashRGB: raw frames with arbitrary claimed sizes must give an error or
// a hash, never a panic, and the package function never fails loudly.
func FuzzHashRGB(f *testing.F) {
	f.Add([]byte{1, 2, 3}, 1, 1)
	f.Add(make([]byte, 3*6*5), 6, 5)
	f.Add(make([]byte, 3*64*64), 64, 64)
	f.Add([]byte{}, -3, 7)
	f.Fuzz(func(t *testing.T, pix []byte, w, h int) {
		res, err := NewHasher().HashRGB(pix, w, h)
		if err != nil {
			if res != (Result{}) || HashRGB(pix, w, h) != (Result{}) {
				t.Fatal("error with a non-zero result")
			}
			return
		}
		if again := HashRGB(pix, w, h); again != res {
			t.Fatalf("not deterministic: %v then %v", res, again)
		}
	})
}
