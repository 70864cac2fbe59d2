package pdq

import (
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
)

// photo decodes one of the reference PNGs and returns it as NRGBA, cropped
// to at most w×h.
func photo(t *testing.T, name string, w, h int) *image.NRGBA {
	t.Helper()
	img := decodeFile(t, filepath.Join(refDir, "png", name))
	r := image.Rect(0, 0, w, h).Intersect(img.Bounds())
	n := image.NewNRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := 0; y < r.Dy(); y++ {
		for x := 0; x < r.Dx(); x++ {
			n.Set(x, y, img.At(r.Min.X+x, r.Min.Y+y))
		}
	}
	return n
}

// transform applies dihedral operation k (reference order) to src:
// 1 rotates 90° counter-clockwise, 3 clockwise, 4 flips top↔bottom,
// 5 mirrors left↔right, 6 transposes, 7 transposes about the anti-diagonal.
func transform(src *image.NRGBA, k int) *image.NRGBA {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	dw, dh := w, h
	if k == Rotate90 || k == Rotate270 || k == FlipPlus1 || k == FlipMinus1 {
		dw, dh = h, w
	}
	dst := image.NewNRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch k {
			case Original:
				dx, dy = x, y
			case Rotate90:
				dx, dy = y, w-1-x
			case Rotate180:
				dx, dy = w-1-x, h-1-y
			case Rotate270:
				dx, dy = h-1-y, x
			case FlipX:
				dx, dy = x, h-1-y
			case FlipY:
				dx, dy = w-1-x, y
			case FlipPlus1:
				dx, dy = y, x
			case FlipMinus1:
				dx, dy = h-1-y, w-1-x
			}
			copy(dst.Pix[dst.PixOffset(dx, dy):][:4], src.Pix[src.PixOffset(x, y):][:4])
		}
	}
	return dst
}

// TestDihedralCorrespondence: hashing a physically transformed image gives
// (close to) the matching entry of the original's dihedral hashes. The
// correspondence is only approximate in the reference too: an even box
// window is half a pixel off-centre, and when 128 divides a side the
// decimation grid is not symmetric, so transformed pixels land 10–60 bits
// away; the matching entry must still be the nearest of the eight by a wide
// margin. With window 1 (sides ≤ 128) and a symmetric grid the filter is
// symmetric up to float rounding, and the hashes agree to within a few bits
// (0 on these images).
func TestDihedralCorrespondence(t *testing.T) {
	sizes := [][2]int{{100, 70}, {34, 42}, {127, 90}, {500, 289}, {250, 201}, {256, 256}, {129, 383}}
	for _, name := range []string{"dih_bridge-1-original.png", "labelme-subset_q2821.png", "misc-images_c.png"} {
		for _, sz := range sizes {
			img := photo(t, name, sz[0], sz[1])
			d, _ := HashImageDihedral(img)
			small := img.Rect.Dx() <= 128 && img.Rect.Dy() <= 128
			for k := 0; k < 8; k++ {
				got := HashImage(transform(img, k)).Hash
				same := Distance(got, d[k])
				for j := 0; j < 8; j++ {
					if j != k && Distance(got, d[j]) <= same+16 {
						t.Errorf("%s %v transform %d: distance to entry %d is %d, to its own entry %d",
							name, img.Rect.Size(), k, j, Distance(got, d[j]), same)
					}
				}
				if small && same > 4 {
					t.Errorf("%s %v transform %d: distance %d to its dihedral entry, want ≤ 4",
						name, img.Rect.Size(), k, same)
				}
			}
			if d[Original] != HashImage(img).Hash && img.Rect.Size() != image.Pt(64, 64) {
				t.Errorf("%s %v: dihedral original differs from HashImage", name, img.Rect.Size())
			}
		}
	}
}

// TestImageTypes: the same straight RGB pixels in every supported image
// type give the same result as the NRGBA fast path, which the reference
// PNG test pins to the C++ output.
func TestImageTypes(t *testing.T) {
	base := photo(t, "pen-and-coaster.png", 300, 200)
	want := HashImage(base)
	if want.Quality < MinQuality {
		t.Fatalf("fixture quality %d too low to be a useful comparison", want.Quality)
	}
	r := base.Rect
	conv := func(m draw, f func(c color.NRGBA) color.Color) image.Image {
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				m.Set(x, y, f(base.NRGBAAt(x, y)))
			}
		}
		return m
	}
	id := func(c color.NRGBA) color.Color { return c }
	alpha := func(c color.NRGBA) color.Color { c.A = uint8(40 + int(c.R)%200); return c }

	cases := map[string]image.Image{
		"RGBA":             conv(image.NewRGBA(r), id),
		"NRGBA64":          conv(image.NewNRGBA64(r), id),
		"RGBA64":           conv(image.NewRGBA64(r), id),
		"NRGBA with alpha": conv(image.NewNRGBA(r), alpha), // alpha is ignored
		"generic":          generic{base},
	}
	// Paletted: quantise to at most 256 colours, then compare with the
	// same quantised colours as NRGBA.
	pal := color.Palette{}
	seen := map[color.NRGBA]uint8{}
	pm := image.NewPaletted(r, nil)
	qn := image.NewNRGBA(r)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := base.NRGBAAt(x, y)
			c.R, c.G, c.B = c.R&0xe0, c.G&0xe0, c.B&0xc0 // 8·8·4 = 256 colours
			i, ok := seen[c]
			if !ok {
				i = uint8(len(pal))
				seen[c] = i
				pal = append(pal, c)
			}
			pm.Pix[pm.PixOffset(x, y)] = i
			qn.SetNRGBA(x, y, c)
		}
	}
	pm.Palette = pal
	if got, want := HashImage(pm), HashImage(qn); got != want {
		t.Errorf("Paletted: %v q=%d, NRGBA of the same colours %v q=%d", got.Hash, got.Quality, want.Hash, want.Quality)
	}

	// YCbCr and CMYK: build the image first, then the RGB it stands for.
	rng := rand.New(rand.NewPCG(9, 9))
	yc := image.NewYCbCr(r, image.YCbCrSubsampleRatio420)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := base.NRGBAAt(x, y)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			yc.Y[yc.YOffset(x, y)] = yy
			yc.Cb[yc.COffset(x, y)], yc.Cr[yc.COffset(x, y)] = cb, cr
		}
	}
	ycRGB := image.NewNRGBA(r)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ci := yc.COffset(x, y)
			rr, gg, bb := color.YCbCrToRGB(yc.Y[yc.YOffset(x, y)], yc.Cb[ci], yc.Cr[ci])
			ycRGB.SetNRGBA(x, y, color.NRGBA{rr, gg, bb, 255})
		}
	}
	ycWant := HashImage(ycRGB)
	if got := HashImage(yc); got != ycWant {
		t.Errorf("YCbCr: %v q=%d, its RGB %v q=%d", got.Hash, got.Quality, ycWant.Hash, ycWant.Quality)
	}
	nyc := &image.NYCbCrA{YCbCr: *yc, A: make([]uint8, r.Dx()*r.Dy()), AStride: r.Dx()}
	if got := HashImage(nyc); got != ycWant {
		t.Errorf("NYCbCrA: %v, want the YCbCr result %v", got.Hash, ycWant.Hash)
	}

	cm := image.NewCMYK(r)
	cmRGB := image.NewNRGBA(r)
	for i := 0; i < len(cm.Pix); i += 4 {
		for j := 0; j < 4; j++ {
			cm.Pix[i+j] = uint8(rng.IntN(256))
		}
		cm.Pix[i+3] /= 2
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := cm.CMYKAt(x, y)
			// ImageMagick: R = (255−C)(255−K)/255, rounded.
			f := func(v uint8) uint8 { return uint8((float64(255-v)*float64(255-c.K)/255 + 0.5)) }
			cmRGB.SetNRGBA(x, y, color.NRGBA{f(c.C), f(c.M), f(c.Y), 255})
		}
	}
	if got, want := HashImage(cm), HashImage(cmRGB); got != want {
		t.Errorf("CMYK: %v q=%d, its RGB %v q=%d", got.Hash, got.Quality, want.Hash, want.Quality)
	}

	for name, img := range cases {
		if got := HashImage(img); got != want {
			t.Errorf("%s: %v q=%d, NRGBA %v q=%d", name, got.Hash, got.Quality, want.Hash, want.Quality)
		}
	}
}

type draw interface {
	image.Image
	Set(x, y int, c color.Color)
}

// generic hides the concrete type, forcing the color-model fallback.
type generic struct{ image.Image }

// TestGrey: when every pixel is grey the reference sees a one-channel image
// and uses the grey value as luma, not the RGB formula (they differ by an
// ulp on 35 of 256 levels). A grey RGBA image must hash like image.Gray; a
// single coloured pixel, even one the 512×512 resize never samples, switches
// the whole image to the RGB formula (which HashRGB always uses).
func TestGrey(t *testing.T) {
	for _, sz := range [][2]int{{200, 150}, {1100, 700}} {
		w, h := sz[0], sz[1]
		g := image.NewGray(image.Rect(0, 0, w, h))
		rgba := image.NewRGBA(g.Rect)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				// Vertical stripes of two levels the RGB formula misses by an
				// ulp: all vertical frequencies are rounding noise, so the
				// ulp decides their bits.
				v := uint8(15 + 15*(x/40%2))
				g.SetGray(x, y, color.Gray{v})
				rgba.SetRGBA(x, y, color.RGBA{v, v, v, 255})
			}
		}
		want := HashImage(g)
		if got := HashImage(rgba); got != want {
			t.Errorf("%dx%d grey RGBA: %v, Gray %v", w, h, got.Hash, want.Hash)
		}
		g16 := image.NewGray16(g.Rect)
		for i, v := range g.Pix {
			g16.Pix[2*i], g16.Pix[2*i+1] = v, v // v·257 reduces back to v
		}
		if got := HashImage(g16); got != want {
			t.Errorf("%dx%d Gray16: %v, Gray %v", w, h, got.Hash, want.Hash)
		}

		// The RGB-formula hash of the same pixels, as the reference computes
		// it for a colour image: HashRGB on the (resized) pixels.
		dw, dh := min(w, resizeDim), min(h, resizeDim)
		if w > resizeDim || h > resizeDim {
			dw, dh = resizeDim, resizeDim
		}
		pix := make([]byte, 0, 3*dw*dh)
		for y := 0; y < dh; y++ {
			for x := 0; x < dw; x++ {
				sx, sy := x, y
				if w > resizeDim || h > resizeDim {
					sx, sy = x*w/resizeDim, y*h/resizeDim
				}
				v := g.GrayAt(sx, sy).Y
				pix = append(pix, v, v, v)
			}
		}
		colourWant := HashRGB(pix, dw, dh)
		if colourWant == want {
			t.Fatalf("%dx%d: fixture does not tell the grey and RGB luma apart", w, h)
		}

		// Column 1 is never sampled when 1100 columns map to 512, and for
		// 200 columns the pixel is sampled but its luma is immaterial next
		// to the formula switch.
		var s source
		s.setImage(rgba)
		if w > resizeDim && s.xs[1] == 1 {
			t.Fatal("fixture assumption broken: column 1 is sampled")
		}
		rgba.SetRGBA(1, 1, color.RGBA{0, 0, 255, 255})
		if w <= resizeDim {
			pix[3*(dw+1)], pix[3*(dw+1)+1], pix[3*(dw+1)+2] = 0, 0, 255
			colourWant = HashRGB(pix, dw, dh)
		}
		if got := HashImage(rgba); got != colourWant {
			t.Errorf("%dx%d with one blue pixel: %v, RGB formula %v", w, h, got.Hash, colourWant.Hash)
		}
	}
}

// TestResizeMapping checks the ≤512 resize against an emulation of CImg's
// nearest-neighbour code, which builds a table of offsets
// off[x] = (x+1)·W/512 − x·W/512 and walks the source by them.
func TestResizeMapping(t *testing.T) {
	// 1000×3 and 2×600 are below the 5-pixel minimum only before the
	// resize, which the reference does first: they hash as 512×512.
	for _, sz := range [][2]int{{513, 300}, {1600, 1004}, {4032, 3024}, {700, 700}, {300, 2000}, {1000, 3}, {2, 600}} {
		w, h := sz[0], sz[1]
		src := image.NewNRGBA(image.Rect(0, 0, w, h))
		rng := rand.New(rand.NewPCG(uint64(w), uint64(h)))
		for i := 0; i < len(src.Pix); i += 4 {
			binary.LittleEndian.PutUint32(src.Pix[i:], rng.Uint32())
		}
		walk := func(n int) []int {
			var idx []int
			pos := 0
			for x := 0; x < resizeDim; x++ {
				idx = append(idx, pos)
				pos += (x+1)*n/resizeDim - x*n/resizeDim
			}
			return idx
		}
		xs, ys := walk(w), walk(h) // both axes go to 512, even a short one
		dst := image.NewNRGBA(image.Rect(0, 0, resizeDim, resizeDim))
		for y, sy := range ys {
			for x, sx := range xs {
				copy(dst.Pix[dst.PixOffset(x, y):][:4], src.Pix[src.PixOffset(sx, sy):][:4])
			}
		}
		got, want := HashImage(src), HashImage(dst)
		if got != want {
			t.Errorf("%dx%d: %v q=%d, CImg-resized %v q=%d", w, h, got.Hash, got.Quality, want.Hash, want.Quality)
		}
		if got.Quality == 0 {
			t.Errorf("%dx%d: quality 0 on random pixels", w, h)
		}
	}
}

// TestSubImage: a sub-image (non-zero origin, stride wider than the
// rectangle) hashes like a copy of the same pixels.
func TestSubImage(t *testing.T) {
	base := photo(t, "dih_bridge-1-original.png", 512, 321)
	for _, r := range []image.Rectangle{image.Rect(17, 9, 300, 250), image.Rect(100, 50, 512, 321)} {
		sub := base.SubImage(r).(*image.NRGBA)
		cp := image.NewNRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
		for y := 0; y < r.Dy(); y++ {
			copy(cp.Pix[y*cp.Stride:][:4*r.Dx()], sub.Pix[y*sub.Stride:][:4*r.Dx()])
		}
		if got, want := HashImage(sub), HashImage(cp); got != want {
			t.Errorf("%v: sub-image %v, copy %v", r, got.Hash, want.Hash)
		}
		ycs := image.NewYCbCr(image.Rect(0, 0, 600, 400), image.YCbCrSubsampleRatio420)
		for i := range ycs.Y {
			ycs.Y[i] = uint8(i * 7)
		}
		for i := range ycs.Cb {
			ycs.Cb[i], ycs.Cr[i] = uint8(i*3), uint8(i*5)
		}
		ysub := ycs.SubImage(r).(*image.YCbCr)
		ycp := image.NewNRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
		for y := 0; y < r.Dy(); y++ {
			for x := 0; x < r.Dx(); x++ {
				ycp.Set(x, y, ysub.At(r.Min.X+x, r.Min.Y+y))
			}
		}
		if got, want := HashImage(ysub), HashImage(ycp); got != want {
			t.Errorf("%v: YCbCr sub-image %v, RGB copy %v", r, got.Hash, want.Hash)
		}
	}
}

// TestQualityEdges: images under 5 px on a side give the zero hash with
// quality 0; flat images have no gradients, so quality 0; a photo 100.
func TestQualityEdges(t *testing.T) {
	for _, r := range []image.Rectangle{
		image.Rect(0, 0, 4, 100), image.Rect(0, 0, 100, 4), image.Rect(0, 0, 0, 0),
		image.Rect(10, 10, 10, 50), image.Rect(3, 3, 7, 7),
	} {
		img := image.NewNRGBA(r)
		for i := range img.Pix {
			img.Pix[i] = uint8(i * 31)
		}
		if got := HashImage(img); got != (Result{}) {
			t.Errorf("%v: %v q=%d, want zero", r, got.Hash, got.Quality)
		}
		if d, q := HashImageDihedral(img); d != (Dihedral{}) || q != 0 {
			t.Errorf("%v: dihedral not zero", r)
		}
	}
	if got := HashImage(nil); got != (Result{}) {
		t.Errorf("nil image: %v", got)
	}

	for _, v := range []uint8{0, 1, 93, 255} {
		for _, sz := range []int{5, 64, 300, 900} {
			g := image.NewGray(image.Rect(0, 0, sz, sz))
			for i := range g.Pix {
				g.Pix[i] = v
			}
			if got := HashImage(g); got.Quality != 0 {
				t.Errorf("flat %d, %d²: quality %d, want 0", v, sz, got.Quality)
			}
		}
	}
	// 5×5 is hashable: a checkerboard has strong gradients.
	g := image.NewGray(image.Rect(0, 0, 5, 5))
	for i := range g.Pix {
		g.Pix[i] = uint8(255 * (i % 2))
	}
	if got := HashImage(g); got.Quality != 100 || got.Hash.OnesCount() == 0 {
		t.Errorf("5×5 checkerboard: %v q=%d", got.Hash, got.Quality)
	}
}

// TestHashRGB: on colour content of at most 512 px HashRGB and HashImage
// agree; a mismatched buffer is an error from the Hasher and a zero Result
// from the package function.
func TestHashRGB(t *testing.T) {
	img := photo(t, "labelme-subset_q0291.png", 256, 256)
	r := img.Rect
	pix := make([]byte, 0, 3*r.Dx()*r.Dy())
	for i := 0; i < len(img.Pix); i += 4 {
		pix = append(pix, img.Pix[i:i+3]...)
	}
	if got, want := HashRGB(pix, r.Dx(), r.Dy()), HashImage(img); got != want {
		t.Errorf("HashRGB %v, HashImage %v", got, want)
	}
	h := NewHasher()
	d, q, err := h.HashRGBDihedral(pix, r.Dx(), r.Dy())
	if wd, wq := HashImageDihedral(img); err != nil || d != wd || q != wq {
		t.Errorf("HashRGBDihedral: %v, differs from HashImageDihedral", err)
	}
	for _, c := range []struct{ n, w, h int }{
		{len(pix) - 1, r.Dx(), r.Dy()}, {len(pix), r.Dx() + 1, r.Dy()}, {0, -1, -1}, {len(pix), -r.Dx(), -r.Dy()},
		{len(pix), 1 << 40, 1 << 40},
	} {
		if _, err := h.HashRGB(pix[:c.n], c.w, c.h); !errors.Is(err, ErrBadFrame) {
			t.Errorf("HashRGB(%d bytes, %d×%d): err %v, want ErrBadFrame", c.n, c.w, c.h, err)
		}
		if _, _, err := h.HashRGBDihedral(pix[:c.n], c.w, c.h); !errors.Is(err, ErrBadFrame) {
			t.Errorf("HashRGBDihedral(%d bytes, %d×%d): err %v", c.n, c.w, c.h, err)
		}
		if got := HashRGB(pix[:c.n], c.w, c.h); got != (Result{}) {
			t.Errorf("package HashRGB on a bad frame: %v", got)
		}
	}
	if got, err := h.HashRGB(nil, 0, 0); err != nil || got != (Result{}) {
		t.Errorf("empty frame: %v %v", got, err)
	}
}

// TestDeterminism: results do not depend on the Hasher's history (buffers
// reused across sizes and types), on pooling, or on concurrency.
func TestDeterminism(t *testing.T) {
	imgs := []image.Image{
		photo(t, "pen-and-coaster.png", 512, 407),
		photo(t, "misc-images_wee.png", 34, 42),
		image.NewGray(image.Rect(0, 0, 64, 64)),
		photo(t, "dih_bridge-1-original.png", 200, 321),
	}
	want := make([]Result, len(imgs))
	for i, img := range imgs {
		want[i] = NewHasher().HashImage(img)
	}
	h := NewHasher()
	for round := 0; round < 3; round++ {
		for i := len(imgs) - 1; i >= 0; i-- {
			if got := h.HashImage(imgs[i]); got != want[i] {
				t.Errorf("round %d image %d: reused Hasher %v, fresh %v", round, i, got, want[i])
			}
		}
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 5; round++ {
				for i, img := range imgs {
					if got := HashImage(img); got != want[i] {
						t.Errorf("concurrent image %d: %v, want %v", i, got, want[i])
					}
				}
			}
		}()
	}
	wg.Wait()
}
