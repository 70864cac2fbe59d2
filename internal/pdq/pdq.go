package pdq

import (
	"errors"
	"fmt"
	"image"
	"sync"
)

// Result is one PDQ hash and its quality (0..100).
type Result struct {
	Hash    Hash
	Quality int
}

// Dihedral holds the 8 dihedral hashes in the reference order: original,
// rotate 90 (counter-clockwise), rotate 180, rotate 270, flip X (top↔bottom),
// flip Y (left↔right), flip +1 (transpose about the main diagonal), flip −1
// (transpose about the anti-diagonal). Entry k stands for the image
// transformed by that operation; like the reference, it is derived from the
// original's DCT by sign flips and transposes, so it is close to, but not
// always equal to, the hash of the transformed pixels (a few bits to a few
// dozen, depending on the size; see TestDihedralCorrespondence). Use it to
// match rotated or mirrored copies without re-hashing them.
type Dihedral [8]Hash

// Indices into Dihedral, in the reference order.
const (
	Original = iota
	Rotate90
	Rotate180
	Rotate270
	FlipX
	FlipY
	FlipPlus1
	FlipMinus1
)

// MinQuality is the quality below which the reference treats a hash as
// unreliable: hashes with quality < 50 should not be matched.
const MinQuality = 50

// DefaultThreshold is the reference "confident match" distance: ≤ 31.
const DefaultThreshold = 31

// resizeDim is the reference CLI's pre-resize: images with a side above it
// are resized (nearest neighbour, not aspect-preserving) to resizeDim².
const resizeDim = 512

// ErrBadFrame is returned (wrapped) when a raw pixel buffer does not match
// its stated dimensions.
var ErrBadFrame = errors.New("invalid frame")

// Hasher computes PDQ hashes with reusable scratch buffers; its buffers grow
// to the largest width seen, after which hashing the types it reads directly
// (Gray, Gray16, YCbCr, NYCbCrA, RGBA, NRGBA, RGBA64, NRGBA64, Paletted,
// CMYK, and raw RGB24 frames) allocates nothing. A
// Hasher is not safe for concurrent use; the package-level functions draw
// Hashers from a pool.
type Hasher struct {
	src source

	lumaRows []float32 // four rows of luma
	ring     []float32 // last fc+4 rows after the first row pass
	colOut   []float32 // four output rows of the first column pass
	sums     []float32 // running sums of the second row pass (four rows)
	ring2    []float32 // last fc+4 rows (64 wide) after the second row pass
	out2     [64]float32
	at       [64]int // columns decimation reads
	rowAt    [64]int // rows decimation reads
	cb1      colBox
	cb2      colBox

	a   [64 * 64]float32
	t   [16 * 64]float32
	b   [16 * 16]float32
	aux [16 * 16]float32

	fast fastBufs // HashPlaneFast's scratch
}

// NewHasher returns a Hasher; the zero value is ready to use too.
func NewHasher() *Hasher { return new(Hasher) }

var pool = sync.Pool{New: func() any { return new(Hasher) }}

// HashImage hashes img as the reference CLI (pdq-photo-hasher) does: if a
// side exceeds 512 it is first resized to exactly 512×512 by nearest
// neighbour (CImg's mapping src = dst·size/512, aspect ratio not kept);
// luma is the float32 ((0.299R + 0.587G) + 0.114B) of straight
// (non-premultiplied) RGB with alpha ignored, or the grey value itself when
// every pixel is grey (ImageMagick then hands the reference a one-channel
// image). *image.YCbCr is converted to RGB per sampled pixel as image/jpeg
// would. EXIF orientation is not applied. Only the sampled pixels are read.
// Images under 5 pixels on a side, or nil, give the zero hash with quality 0.
//
// On identical pixels the result is bit-identical to the C++ reference;
// from a file, differences come only from the decoder (see the package
// tests for the measured distribution).
func HashImage(img image.Image) Result {
	h := pool.Get().(*Hasher)
	r := h.HashImage(img)
	pool.Put(h)
	return r
}

// HashImageDihedral is HashImage plus the 8 dihedral hashes, as the
// reference's --pdqdih mode computes them. It returns the dihedral hashes
// and the quality.
func HashImageDihedral(img image.Image) (Dihedral, int) {
	h := pool.Get().(*Hasher)
	d, q := h.HashImageDihedral(img)
	pool.Put(h)
	return d, q
}

// HashRGB hashes a packed RGB24 frame (3·width·height bytes, row-major) at
// full resolution with no resize and no grey detection, as vPDQ hashes
// video frames. A buffer that does not match its dimensions gives the zero
// Result (quality 0, so it is never matched); use Hasher.HashRGB to get the
// error instead.
func HashRGB(pix []byte, width, height int) Result {
	h := pool.Get().(*Hasher)
	r, _ := h.HashRGB(pix, width, height)
	pool.Put(h)
	return r
}

// HashImage is the package-level HashImage using h's buffers.
func (h *Hasher) HashImage(img image.Image) Result {
	w, ht := h.src.setImage(img)
	r := h.run(w, ht, false)
	h.src.release()
	return r
}

// HashImageDihedral is the package-level HashImageDihedral using h's
// buffers.
func (h *Hasher) HashImageDihedral(img image.Image) (Dihedral, int) {
	w, ht := h.src.setImage(img)
	d, q := h.runDihedral(w, ht)
	h.src.release()
	return d, q
}

// HashRGB hashes a packed RGB24 frame at full resolution (see the
// package-level HashRGB). It fails with ErrBadFrame when pix is not exactly
// 3·width·height bytes or a dimension is negative.
func (h *Hasher) HashRGB(pix []byte, width, height int) (Result, error) {
	if err := checkRGB(pix, width, height); err != nil {
		return Result{}, err
	}
	h.src.setRGB(pix, width, height)
	r := h.run(width, height, false)
	h.src.release()
	return r, nil
}

// HashRGBDihedral is HashRGB plus the 8 dihedral hashes.
func (h *Hasher) HashRGBDihedral(pix []byte, width, height int) (Dihedral, int, error) {
	if err := checkRGB(pix, width, height); err != nil {
		return Dihedral{}, 0, err
	}
	h.src.setRGB(pix, width, height)
	d, q := h.runDihedral(width, height)
	h.src.release()
	return d, q, nil
}

func checkRGB(pix []byte, width, height int) error {
	if width < 0 || height < 0 {
		return fmt.Errorf("%w: negative size %d×%d", ErrBadFrame, width, height)
	}
	if width > 0 && height > (1<<40)/width {
		return fmt.Errorf("%w: size %d×%d too large", ErrBadFrame, width, height)
	}
	if want := 3 * width * height; len(pix) != want {
		return fmt.Errorf("%w: %d×%d RGB24 needs %d bytes, got %d", ErrBadFrame, width, height, want, len(pix))
	}
	return nil
}

// run hashes the w×ht luma image the source describes. When w and ht are
// both 64 the reference skips the blur (pdqFloat256FromFloatLuma); the
// dihedral entry point does not, so dihedral runs pass blur64.
func (h *Hasher) run(w, ht int, blur64 bool) Result {
	if w < minDim || ht < minDim {
		return Result{}
	}
	q := h.downsample(w, ht, blur64)
	dct64To16(&h.a, &h.t, &h.b)
	return Result{Hash: bitsFromDCT(&h.b), Quality: q}
}

func (h *Hasher) runDihedral(w, ht int) (Dihedral, int) {
	if w < minDim || ht < minDim {
		return Dihedral{}, 0
	}
	q := h.downsample(w, ht, true)
	dct64To16(&h.a, &h.t, &h.b)
	return dihedralFromDCT(&h.b, &h.aux), q
}

// downsample fills h.a with the 64×64 tent-filtered, decimated luma and
// returns its quality.
//
// Rows stream through the four filter passes: luma rows are box-filtered
// along the row four at a time into a ring of the last fc+4 rows, the first
// column pass consumes them in order, its output rows are batched by four
// for the second row pass (computed only at the decimation columns), and the
// second column pass places the decimation rows into h.a.
func (h *Hasher) downsample(w, ht int, blur64 bool) int {
	if w == 64 && ht == 64 && !blur64 {
		for y := 0; y < 64; y++ {
			h.src.fillRow(y, h.a[y*64:y*64+64])
		}
		return quality(&h.a)
	}

	fr := windowSize(w)  // window along rows (horizontal)
	fc := windowSize(ht) // window along columns (vertical)
	slots := fc + 4

	h.lumaRows = grow(h.lumaRows, 4*w)
	h.colOut = grow(h.colOut, 4*w)
	h.sums = grow(h.sums, 4*w)
	h.ring = grow(h.ring, slots*w)
	h.ring2 = grow(h.ring2, slots*64)
	for k := 0; k < 64; k++ {
		// Reference decimation: "target centers not corners", in double.
		h.at[k] = int(((float64(k) + 0.5) * float64(w)) / 64)
		h.rowAt[k] = int(((float64(k) + 0.5) * float64(ht)) / 64)
	}
	h.cb1.reset(w, ht, fc)
	h.cb2.reset(64, ht, fc)

	ring := func(y int) []float32 { o := (y % slots) * w; return h.ring[o : o+w] }
	st := stage2{h: h, fr: fr, fc: fc, slots: slots, w: w}
	for y := 0; y < ht; y += 4 {
		n := min(4, ht-y)
		if n == 4 {
			var in, out [4][]float32
			for i := range 4 {
				in[i] = h.lumaRows[i*w : i*w+w]
				h.src.fillRow(y+i, in[i])
				out[i] = ring(y + i)
			}
			boxRow4(&in, &out, fr)
		} else {
			for i := range n {
				h.src.fillRow(y+i, h.lumaRows[:w])
				boxRow(h.lumaRows[:w], ring(y+i), fr)
			}
		}
		for i := range n {
			var old []float32
			if y+i >= fc {
				old = ring(y + i - fc)
			}
			if h.cb1.push(ring(y+i), old, st.next()) {
				st.commit()
			}
		}
	}
	for k := 0; k < h.cb1.drains(); k++ {
		h.cb1.drain(ring(ht-fc+k), st.next())
		st.commit()
	}
	st.flush()
	for k := 0; k < h.cb2.drains(); k++ {
		o := ((ht - fc + k) % slots) * 64
		h.cb2.drain(h.ring2[o:o+64], h.out2[:])
		st.place()
	}
	return quality(&h.a)
}

// stage2 batches the rows the first column pass emits, runs the second row
// pass on them (only at the 64 decimation columns) and feeds the second
// column pass, placing the decimation rows into the 64×64 buffer.
type stage2 struct {
	h     *Hasher
	fr    int
	fc    int
	slots int
	w     int
	nb    int // rows batched in h.colOut
	r     int // next input row of the second column pass
	oi    int // next output row of the second column pass
	outi  int // next 64×64 row to fill
}

// next returns the buffer for the next first-pass output row.
func (s *stage2) next() []float32 {
	return s.h.colOut[s.nb*s.w : s.nb*s.w+s.w]
}

// commit accepts the row written to next().
func (s *stage2) commit() {
	s.nb++
	if s.nb == 4 {
		s.flush()
	}
}

// flush runs the batched rows through the second row and column passes.
func (s *stage2) flush() {
	h := s.h
	ring2 := func(r int) []float32 { o := (r % s.slots) * 64; return h.ring2[o : o+64] }
	if s.nb == 4 {
		var in, dst [4][]float32
		for i := range 4 {
			in[i] = s.h.colOut[i*s.w : i*s.w+s.w]
			dst[i] = ring2(s.r + i)
		}
		boxRowAt4(&in, h.sums, s.fr, h.at[:], &dst)
	} else {
		for i := range s.nb {
			boxRowAt(h.colOut[i*s.w:i*s.w+s.w], h.sums, s.fr, h.at[:], ring2(s.r+i))
		}
	}
	for range s.nb {
		var old []float32
		if s.r >= s.fc {
			old = ring2(s.r - s.fc)
		}
		m := ring2(s.r)
		s.r++
		if h.cb2.push(m, old, h.out2[:]) {
			s.place()
		}
	}
	s.nb = 0
}

// place copies output row s.oi of the second column pass into every row of
// the 64×64 buffer that decimates to it.
func (s *stage2) place() {
	h := s.h
	for s.outi < 64 && h.rowAt[s.outi] == s.oi {
		copy(h.a[s.outi*64:s.outi*64+64], h.out2[:])
		s.outi++
	}
	s.oi++
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}
