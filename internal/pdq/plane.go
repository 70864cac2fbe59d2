package pdq

import "image"

// Plane is the luma of a whole image at its own resolution, one float32 a
// pixel, row-major (stride W), computed once so that several regions or
// mirrorings of the image can be hashed without reading its pixels again
// (internal/variant hashes up to a dozen of them per query).
//
// The luma is the one HashImage reads (see its documentation), pixel for
// pixel, so hashing the plane's whole rectangle gives HashImage's result bit
// for bit. Greyness is decided once for the whole image: a region of a
// colour image that is itself all grey is hashed here through the luma
// formula, where HashImage of that region alone would take the grey value;
// the two differ by at most an ulp on 35 of the 256 grey levels.
type Plane struct {
	Pix  []float32
	W, H int
}

// Mirror says how a Plane's region is mirrored before it is hashed.
type Mirror uint8

// The mirrorings; MirrorX|MirrorY is a half turn.
const (
	// NoMirror hashes the region as it is.
	NoMirror Mirror = 0
	// MirrorX swaps left and right (the image flipped about its vertical
	// axis, Dihedral's FlipY).
	MirrorX Mirror = 1
	// MirrorY swaps top and bottom (Dihedral's FlipX).
	MirrorY Mirror = 2
)

// NewPlane returns img's luma plane; nil or an empty image gives an empty
// plane.
func NewPlane(img image.Image) *Plane {
	p := new(Plane)
	p.Load(img)
	return p
}

// Load replaces p's contents with img's luma, reusing p's buffer when it is
// large enough.
func (p *Plane) Load(img image.Image) {
	h := pool.Get().(*Hasher)
	defer pool.Put(h)
	w, ht := h.src.setImageResize(img, false)
	p.W, p.H = w, ht
	if cap(p.Pix) < w*ht {
		p.Pix = make([]float32, w*ht)
	}
	p.Pix = p.Pix[:w*ht]
	for y := range ht {
		h.src.fillRow(y, p.Pix[y*w:y*w+w])
	}
	h.src.release()
}

// Bounds returns the plane's rectangle, (0,0)–(W,H).
func (p *Plane) Bounds() image.Rectangle { return image.Rect(0, 0, p.W, p.H) }

// HashPlane hashes the region r of p (in the plane's coordinates, clipped
// to its bounds), mirrored by m, as HashImage hashes that region of the
// image mirrored by m: resized to 512×512 by nearest neighbour when a side
// exceeds 512, otherwise read at full resolution.
func HashPlane(p *Plane, r image.Rectangle, m Mirror) Result {
	h := pool.Get().(*Hasher)
	res := h.HashPlane(p, r, m)
	pool.Put(h)
	return res
}

// HashPlaneDihedral is HashPlane plus the 8 dihedral hashes, as
// HashImageDihedral computes them; it returns the dihedral hashes and the
// quality.
func HashPlaneDihedral(p *Plane, r image.Rectangle, m Mirror) (Dihedral, int) {
	h := pool.Get().(*Hasher)
	d, q := h.HashPlaneDihedral(p, r, m)
	pool.Put(h)
	return d, q
}

// HashPlane is the package-level HashPlane using h's buffers.
func (h *Hasher) HashPlane(p *Plane, r image.Rectangle, m Mirror) Result {
	w, ht := h.src.setPlane(p, r, m)
	res := h.run(w, ht, false)
	h.src.release()
	return res
}

// HashPlaneDihedral is the package-level HashPlaneDihedral using h's
// buffers.
func (h *Hasher) HashPlaneDihedral(p *Plane, r image.Rectangle, m Mirror) (Dihedral, int) {
	w, ht := h.src.setPlane(p, r, m)
	d, q := h.runDihedral(w, ht)
	h.src.release()
	return d, q
}

// setPlane prepares region r of p, mirrored by m, and returns the luma size
// the core will hash.
func (s *source) setPlane(p *Plane, r image.Rectangle, m Mirror) (w, h int) {
	s.reset()
	if p == nil {
		return 0, 0
	}
	r = r.Intersect(p.Bounds())
	s.kind, s.plane, s.mirror, s.rect = kindPlane, p, m, r
	w, h = r.Dx(), r.Dy()
	if w <= 0 || h <= 0 {
		return 0, 0
	}
	s.scaled = w > resizeDim || h > resizeDim
	if s.scaled {
		w, h = resizeDim, resizeDim
	}
	s.setColumns(w)
	return w, h
}

// fillPlane writes luma row y of the (mirrored, resized) region to dst.
func (s *source) fillPlane(y int, dst []float32) {
	sy := s.srcY(y)
	rw := s.rect.Dx()
	if s.mirror&MirrorY != 0 {
		sy = s.rect.Dy() - 1 - sy
	}
	o := (s.rect.Min.Y+sy)*s.plane.W + s.rect.Min.X
	row := s.plane.Pix[o : o+rw]
	xs := s.xs[:len(dst)]
	switch {
	case s.mirror&MirrorX != 0:
		for x, sx := range xs {
			dst[x] = row[rw-1-sx]
		}
	case !s.scaled:
		copy(dst, row)
	default:
		for x, sx := range xs {
			dst[x] = row[sx]
		}
	}
}

// HashPlanePair returns, of HashPlaneDihedral's hashes, only the two a pass
// over mirrored pixels is used for: the region's own hash (entry Original)
// and its transpose (FlipPlus1), with the quality. A transpose keeps the
// DCT coefficients' median, so the second costs no median of its own.
func HashPlanePair(p *Plane, r image.Rectangle, m Mirror) (orig, transposed Hash, quality int) {
	h := pool.Get().(*Hasher)
	orig, transposed, quality = h.HashPlanePair(p, r, m)
	pool.Put(h)
	return orig, transposed, quality
}

// HashPlanePair is the package-level HashPlanePair using h's buffers.
func (h *Hasher) HashPlanePair(p *Plane, r image.Rectangle, m Mirror) (orig, transposed Hash, quality int) {
	w, ht := h.src.setPlane(p, r, m)
	defer h.src.release()
	if w < minDim || ht < minDim {
		return Hash{}, Hash{}, 0
	}
	quality = h.downsample(w, ht, true)
	dct64To16(&h.a, &h.t, &h.b)
	orig = bitsFromDCT(&h.b)
	for i := range 16 {
		for j := range 16 {
			if orig.Bit(i*16 + j) {
				transposed.SetBit(j*16 + i)
			}
		}
	}
	return orig, transposed, quality
}
