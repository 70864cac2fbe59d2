package pdq

import (
	"bytes"
	"image"
	"image/color"
	imagedraw "image/draw"
	"image/jpeg"
	"math/rand/v2"
	"testing"
)

// planeTestImage returns a w×h image of kind k ("rgba", "nrgba", "gray",
// "ycbcr") with smooth gradients and random discs, so hashes carry
// structure and no region is uniform.
func planeTestImage(t *testing.T, k string, w, h int, seed uint64) image.Image {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) % 256), 255})
		}
	}
	for range 40 {
		cx, cy, rad := rng.IntN(w), rng.IntN(h), 5+rng.IntN(w/6+1)
		c := color.NRGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(128 + rng.IntN(128))}
		for y := max(cy-rad, 0); y < min(cy+rad, h); y++ {
			for x := max(cx-rad, 0); x < min(cx+rad, w); x++ {
				if (x-cx)*(x-cx)+(y-cy)*(y-cy) < rad*rad {
					m.SetNRGBA(x, y, c)
				}
			}
		}
	}
	switch k {
	case "nrgba":
		return m
	case "rgba":
		// Premultiplied, with translucent pixels to un-premultiply.
		r := image.NewRGBA(m.Bounds())
		imagedraw.Draw(r, r.Bounds(), m, image.Point{}, imagedraw.Src)
		return r
	case "gray":
		g := image.NewGray(m.Bounds())
		imagedraw.Draw(g, g.Bounds(), m, image.Point{}, imagedraw.Src)
		return g
	case "ycbcr":
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 90}); err != nil {
			t.Fatal(err)
		}
		j, err := jpeg.Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	t.Fatalf("unknown kind %q", k)
	return nil
}

// mirrored returns the region r of img mirrored by m, as an image whose
// pixels HashImage reads exactly as it reads img's: the region itself, a
// byte copy for RGBA, NRGBA and Gray, and for YCbCr the 8-bit RGB that
// image/jpeg's conversion gives.
func mirrored(t *testing.T, img image.Image, r image.Rectangle, m Mirror) image.Image {
	t.Helper()
	if m == NoMirror {
		return img.(interface {
			SubImage(image.Rectangle) image.Image
		}).SubImage(r)
	}
	w, h := r.Dx(), r.Dy()
	src := func(x, y int) (int, int) {
		if m&MirrorX != 0 {
			x = w - 1 - x
		}
		if m&MirrorY != 0 {
			y = h - 1 - y
		}
		return r.Min.X + x, r.Min.Y + y
	}
	rect := image.Rect(0, 0, w, h)
	switch v := img.(type) {
	case *image.Gray:
		dst := image.NewGray(rect)
		for y := range h {
			for x := range w {
				dst.SetGray(x, y, v.GrayAt(src(x, y)))
			}
		}
		return dst
	case *image.RGBA:
		dst := image.NewRGBA(rect)
		for y := range h {
			for x := range w {
				dst.SetRGBA(x, y, v.RGBAAt(src(x, y)))
			}
		}
		return dst
	case *image.NRGBA:
		dst := image.NewNRGBA(rect)
		for y := range h {
			for x := range w {
				dst.SetNRGBA(x, y, v.NRGBAAt(src(x, y)))
			}
		}
		return dst
	case *image.YCbCr:
		dst := image.NewNRGBA(rect)
		for y := range h {
			for x := range w {
				c := v.YCbCrAt(src(x, y))
				rr, gg, bb := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
				dst.SetNRGBA(x, y, color.NRGBA{rr, gg, bb, 255})
			}
		}
		return dst
	}
	t.Fatalf("mirrored: unexpected type %T", img)
	return nil
}

// TestHashPlane checks that hashing a region of a Plane, mirrored or not,
// gives HashImage's (and HashImageDihedral's) result on that region of the
// image, mirrored the same way, bit for bit: the plane holds the luma
// HashImage reads, whatever the image type and whether or not the region
// is resized to 512×512.
func TestHashPlane(t *testing.T) {
	sizes := []struct {
		w, h    int
		regions []image.Rectangle
	}{
		{300, 200, []image.Rectangle{image.Rect(0, 0, 300, 200), image.Rect(30, 20, 270, 190), image.Rect(5, 0, 64, 64)}},
		{900, 700, []image.Rectangle{image.Rect(0, 0, 900, 700), image.Rect(100, 50, 800, 690), image.Rect(300, 200, 700, 600), image.Rect(0, 100, 900, 400)}},
	}
	for _, kind := range []string{"rgba", "nrgba", "gray", "ycbcr"} {
		for si, sz := range sizes {
			img := planeTestImage(t, kind, sz.w, sz.h, uint64(si+1))
			p := NewPlane(img)
			if p.W != sz.w || p.H != sz.h {
				t.Fatalf("%s: plane %d×%d, want %d×%d", kind, p.W, p.H, sz.w, sz.h)
			}
			for _, r := range sz.regions {
				for _, m := range []Mirror{NoMirror, MirrorX, MirrorY, MirrorX | MirrorY} {
					want := HashImage(mirrored(t, img, r, m))
					got := HashPlane(p, r, m)
					if got != want {
						t.Errorf("%s %v mirror %d: HashPlane %v q%d, HashImage %v q%d (%d bits apart)",
							kind, r, m, got.Hash, got.Quality, want.Hash, want.Quality, Distance(got.Hash, want.Hash))
					}
					wd, wq := HashImageDihedral(mirrored(t, img, r, m))
					gd, gq := HashPlaneDihedral(p, r, m)
					if gd != wd || gq != wq {
						t.Errorf("%s %v mirror %d: HashPlaneDihedral differs from HashImageDihedral", kind, r, m)
					}
					o, tr, q := HashPlanePair(p, r, m)
					if o != wd[Original] || tr != wd[FlipPlus1] || q != wq {
						t.Errorf("%s %v mirror %d: HashPlanePair differs from HashImageDihedral's original and transpose", kind, r, m)
					}
				}
			}
		}
	}
}

func TestHashPlaneEmpty(t *testing.T) {
	p := NewPlane(nil)
	if p.W != 0 || p.H != 0 {
		t.Fatalf("nil image: plane %d×%d", p.W, p.H)
	}
	if r := HashPlane(p, image.Rect(0, 0, 10, 10), NoMirror); r != (Result{}) {
		t.Errorf("empty plane: %v", r)
	}
	q := NewPlane(image.NewGray(image.Rect(0, 0, 100, 100)))
	if r := HashPlane(q, image.Rect(98, 98, 200, 200), NoMirror); r != (Result{}) {
		t.Errorf("region clipped under 5 pixels: %v", r)
	}
}
