package pdq

import "math"

// This file is the luma → hash core. Every floating-point step follows the
// C++ reference (facebook/ThreatExchange pdq/cpp) operation for operation in
// float32, so that identical luma gives an identical hash and quality:
//
//   - products are wrapped in float32(...) so the compiler may not fuse them
//     into FMA instructions (the Go spec forbids fusion across an explicit
//     conversion), which the x86-64 reference does not use;
//   - the box filter divides its running sum by the window size (a multiply
//     by the reciprocal rounds differently);
//   - each DCT output has one accumulator summed in k order.
//
// The reference runs the tent filter as four full-image passes (rows, cols,
// rows, cols). Here the passes are streamed row by row: the column passes
// keep one running sum per column, which performs the same additions in the
// same order for each column, and the second row pass divides only at the 64
// columns that decimation reads (the running sums themselves never depend on
// a division). The result is bit-identical and needs only a few rows of
// scratch instead of two full-image float buffers.

const (
	// minDim is the reference's MIN_HASHABLE_DIM: smaller images hash to
	// zero with quality 0.
	minDim = 5

	// Luma coefficients, float32 as in the reference.
	lumaR float32 = 0.299
	lumaG float32 = 0.587
	lumaB float32 = 0.114
)

// dctMatrix is the reference's 16×64 DCT-II basis (rows are frequencies
// 1..16; the DC row is skipped). The scale is rounded to float32 first, then
// multiplied in float64 and rounded again, exactly as the C++ expression
// `float scale * std::cos(double)` does.
var dctMatrix = func() (d [16 * 64]float32) {
	scale := float64(float32(math.Sqrt(2.0 / 64.0)))
	for i := 0; i < 16; i++ {
		for j := 0; j < 64; j++ {
			d[i*64+j] = float32(scale * math.Cos((math.Pi/2/64)*float64(i+1)*float64(2*j+1)))
		}
	}
	return d
}()

// lumaTables hold the three float32 products coefficient×value for every
// byte value, so the per-pixel luma is two additions in the reference order:
// ((cR*R) + (cG*G)) + (cB*B).
var lumaTabR, lumaTabG, lumaTabB = func() (r, g, b [256]float32) {
	for v := 0; v < 256; v++ {
		f := float32(v)
		r[v] = float32(lumaR * f)
		g[v] = float32(lumaG * f)
		b[v] = float32(lumaB * f)
	}
	return
}()

// rgbLuma is the reference luma of one straight RGB pixel.
func rgbLuma(r, g, b uint8) float32 {
	return (lumaTabR[r] + lumaTabG[g]) + lumaTabB[b]
}

// windowSize is the reference's computeJaroszFilterWindowSize for a 64-wide
// output: ceil(dim/128).
func windowSize(dim int) int {
	return (dim + 2*64 - 1) / (2 * 64)
}

// boxRow runs the reference's 1-D box filter (box1DFloat, stride 1) over in,
// writing len(in) outputs to out. The window is centred and shrinks at the
// edges; the running sum is float32 and each output is sum/count.
func boxRow(in, out []float32, full int) {
	n := len(in)
	out = out[:n]
	half := (full + 2) / 2
	var sum float32
	cur := 0
	ri, li, oi := 0, 0, 0
	for ; ri < half-1; ri++ { // phase 1: accumulate only
		sum += in[ri]
		cur++
	}
	for i := 0; i < full-half+1; i++ { // phase 2: grow the window, write
		sum += in[ri]
		ri++
		cur++
		out[oi] = sum / float32(cur)
		oi++
	}
	fc := float32(cur)
	for ; ri < n; ri++ { // phase 3: slide a full window
		sum += in[ri]
		sum -= in[li]
		li++
		out[oi] = sum / fc
		oi++
	}
	for ; oi < n; oi++ { // phase 4: shrink the window
		sum -= in[li]
		li++
		cur--
		out[oi] = sum / float32(cur)
	}
}

// boxRow4 is boxRow on four rows of equal length at once. The four running
// sums are independent, so interleaving them hides the add latency that
// dominates a single row; each row sees exactly boxRow's operations.
func boxRow4(in, out *[4][]float32, full int) {
	n := len(in[0])
	i0, i1, i2, i3 := in[0][:n], in[1][:n], in[2][:n], in[3][:n]
	o0, o1, o2, o3 := out[0][:n], out[1][:n], out[2][:n], out[3][:n]
	half := (full + 2) / 2
	var s0, s1, s2, s3 float32
	cur := 0
	ri, li, oi := 0, 0, 0
	for ; ri < half-1; ri++ {
		s0 += i0[ri]
		s1 += i1[ri]
		s2 += i2[ri]
		s3 += i3[ri]
		cur++
	}
	for i := 0; i < full-half+1; i++ {
		s0 += i0[ri]
		s1 += i1[ri]
		s2 += i2[ri]
		s3 += i3[ri]
		ri++
		cur++
		fc := float32(cur)
		o0[oi], o1[oi], o2[oi], o3[oi] = s0/fc, s1/fc, s2/fc, s3/fc
		oi++
	}
	fc := float32(cur)
	for ; ri < n; ri++ {
		s0 += i0[ri]
		s1 += i1[ri]
		s2 += i2[ri]
		s3 += i3[ri]
		s0 -= i0[li]
		s1 -= i1[li]
		s2 -= i2[li]
		s3 -= i3[li]
		li++
		o0[oi], o1[oi], o2[oi], o3[oi] = s0/fc, s1/fc, s2/fc, s3/fc
		oi++
	}
	for ; oi < n; oi++ {
		s0 -= i0[li]
		s1 -= i1[li]
		s2 -= i2[li]
		s3 -= i3[li]
		li++
		cur--
		fc := float32(cur)
		o0[oi], o1[oi], o2[oi], o3[oi] = s0/fc, s1/fc, s2/fc, s3/fc
	}
}

// boxRowAt4 is boxRowAt on four rows at once (see boxRow4); sums is scratch
// of 4·len(in[k]).
func boxRowAt4(in *[4][]float32, sums []float32, full int, at []int, dst *[4][]float32) {
	n := len(in[0])
	i0, i1, i2, i3 := in[0][:n], in[1][:n], in[2][:n], in[3][:n]
	sums = sums[:4*n]
	half := (full + 2) / 2
	var s0, s1, s2, s3 float32
	ri, li, oi := 0, 0, 0
	for ; ri < half-1; ri++ {
		s0 += i0[ri]
		s1 += i1[ri]
		s2 += i2[ri]
		s3 += i3[ri]
	}
	for i := 0; i < full-half+1; i++ {
		s0 += i0[ri]
		s1 += i1[ri]
		s2 += i2[ri]
		s3 += i3[ri]
		ri++
		p := sums[4*oi : 4*oi+4 : 4*oi+4]
		p[0], p[1], p[2], p[3] = s0, s1, s2, s3
		oi++
	}
	for ; ri < n; ri++ {
		s0 += i0[ri]
		s1 += i1[ri]
		s2 += i2[ri]
		s3 += i3[ri]
		s0 -= i0[li]
		s1 -= i1[li]
		s2 -= i2[li]
		s3 -= i3[li]
		li++
		p := sums[4*oi : 4*oi+4 : 4*oi+4]
		p[0], p[1], p[2], p[3] = s0, s1, s2, s3
		oi++
	}
	for ; oi < n; oi++ {
		s0 -= i0[li]
		s1 -= i1[li]
		s2 -= i2[li]
		s3 -= i3[li]
		li++
		p := sums[4*oi : 4*oi+4 : 4*oi+4]
		p[0], p[1], p[2], p[3] = s0, s1, s2, s3
	}
	for k, o := range at {
		fc := float32(boxCount(o, n, full))
		p := sums[4*o : 4*o+4 : 4*o+4]
		dst[0][k], dst[1][k], dst[2][k], dst[3][k] = p[0]/fc, p[1]/fc, p[2]/fc, p[3]/fc
	}
}

// boxRowAt is boxRow computing outputs only at the column indices in at
// (non-decreasing), storing output at[k] in dst[k]. sums is scratch of
// len(in). The running sum visits every element exactly as boxRow does.
func boxRowAt(in, sums []float32, full int, at []int, dst []float32) {
	n := len(in)
	sums = sums[:n]
	half := (full + 2) / 2
	var sum float32
	ri, li, oi := 0, 0, 0
	for ; ri < half-1; ri++ {
		sum += in[ri]
	}
	for i := 0; i < full-half+1; i++ {
		sum += in[ri]
		ri++
		sums[oi] = sum
		oi++
	}
	for ; ri < n; ri++ {
		sum += in[ri]
		sum -= in[li]
		li++
		sums[oi] = sum
		oi++
	}
	for ; oi < n; oi++ {
		sum -= in[li]
		li++
		sums[oi] = sum
	}
	for k, o := range at {
		dst[k] = sums[o] / float32(boxCount(o, n, full))
	}
}

// boxCount is the number of samples the box filter of window full averages
// at output index o of an n-long vector: min(half+o, full, full+n-half-o).
func boxCount(o, n, full int) int {
	half := (full + 2) / 2
	c := half + o
	if full < c {
		c = full
	}
	if e := full + n - half - o; e < c {
		c = e
	}
	return c
}

// colBox runs box1DFloat down every column of a row stream at once: one
// float32 running sum per column, updated in the same order the reference
// updates its single sum when it walks that column.
type colBox struct {
	sums []float32
	full int
	half int
	n    int // rows in the stream
	r    int // next input row
	cur  int // samples in the window
}

func (c *colBox) reset(width, n, full int) {
	if cap(c.sums) < width {
		c.sums = make([]float32, width)
	}
	c.sums = c.sums[:width]
	clear(c.sums)
	c.full, c.half, c.n, c.r, c.cur = full, (full+2)/2, n, 0, 0
}

// push adds input row r (in); old must be input row r-full when r >= full.
// When the window has filled far enough it writes output row r-half+1 to out
// and reports true.
func (c *colBox) push(in, old, out []float32) bool {
	s := c.sums
	n := len(s)
	in = in[:n]
	r := c.r
	c.r++
	if r >= c.full { // phase 3: slide
		slideCols(s, in[:n], old[:n], out[:n], float32(c.cur))
		return true
	}
	// phases 1 and 2: grow
	c.cur++
	if r < c.half-1 {
		for j := range s {
			s[j] += in[j]
		}
		return false
	}
	growCols(s, in[:n], out[:n], float32(c.cur))
	return true
}

// drains is the number of output rows left after the last push.
func (c *colBox) drains() int { return c.half - 1 }

// drain writes the next of the final half-1 output rows to out; old must be
// input row n-full+k for the k-th call (k from 0).
func (c *colBox) drain(old, out []float32) {
	s := c.sums
	n := len(s)
	c.cur--
	shrinkCols(s, old[:n], out[:n], float32(c.cur))
}

// quality is the reference's image-domain quality metric on the 64×64
// downsample: the count of significant vertical and horizontal gradients,
// scaled to 0..100.
func quality(a *[64 * 64]float32) int {
	sum := 0
	for i := 0; i < 63; i++ {
		for j := 0; j < 64; j++ {
			sum += absQ(a[i*64+j], a[(i+1)*64+j])
		}
	}
	for i := 0; i < 64; i++ {
		for j := 0; j < 63; j++ {
			sum += absQ(a[i*64+j], a[i*64+j+1])
		}
	}
	q := sum / 90
	if q > 100 {
		q = 100
	}
	return q
}

// absQ is |(int)(((u - v) * 100) / 255)| with float32 steps and truncation.
func absQ(u, v float32) int {
	d := int32(float32(float32(u-v)*100) / 255)
	if d < 0 {
		d = -d
	}
	return int(d)
}

// dct64To16 computes B = D·A·Dᵀ (16×16) from the 64×64 downsample A, with
// T = D·A as the intermediate. Each output is one float32 accumulator summed
// over k in order; independent outputs are interleaved for speed.
func dct64To16(a *[64 * 64]float32, t *[16 * 64]float32, b *[16 * 16]float32) {
	for i := 0; i < 16; i++ {
		ti := (*[64]float32)(t[i*64 : i*64+64])
		*ti = [64]float32{}
		d := dctMatrix[i*64 : i*64+64]
		for k := 0; k < 64; k++ {
			dk := d[k]
			ak := (*[64]float32)(a[k*64 : k*64+64])
			for j := 0; j < 64; j++ {
				ti[j] += float32(dk * ak[j])
			}
		}
	}
	for i := 0; i < 16; i++ {
		ti := (*[64]float32)(t[i*64 : i*64+64])
		for j := 0; j < 16; j++ {
			dj := (*[64]float32)(dctMatrix[j*64 : j*64+64])
			var s float32
			for k := 0; k < 64; k++ {
				s += float32(ti[k] * dj[k])
			}
			b[i*16+j] = s
		}
	}
}

// torben returns the median of m as the reference computes it (Torben
// Mogensen's bisection, N. Devillard's implementation) in float32.
func torben(m []float32) float32 {
	n := len(m)
	lo, hi := m[0], m[0]
	for _, v := range m[1:] {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	half := (n + 1) / 2
	for {
		guess := (lo + hi) / 2
		less, greater, equal := 0, 0, 0
		maxlt, mingt := lo, hi
		for _, v := range m {
			switch {
			case v < guess:
				less++
				if v > maxlt {
					maxlt = v
				}
			case v > guess:
				greater++
				if v < mingt {
					mingt = v
				}
			default:
				equal++
			}
		}
		if less <= half && greater <= half {
			switch {
			case less >= half:
				return maxlt
			case less+equal >= half:
				return guess
			default:
				return mingt
			}
		}
		if less > greater {
			hi = maxlt
		} else {
			lo = mingt
		}
	}
}

// bitsFromDCT thresholds the 16×16 DCT at its median: bit i*16+j is set iff
// B[i][j] is strictly greater than the median.
func bitsFromDCT(b *[16 * 16]float32) Hash {
	med := torben(b[:])
	var h Hash
	for k, v := range b {
		if v > med {
			h.SetBit(k)
		}
	}
	return h
}

// dihedralFromDCT derives the eight dihedral hashes from the DCT of the
// original by the reference's sign flips and transposes: a basis function of
// 0-based frequency index u is even about the centre when u is odd, so
// mirroring an axis negates the coefficients with even index on that axis,
// and transposing the image transposes B.
func dihedralFromDCT(b *[16 * 16]float32, aux *[16 * 16]float32) Dihedral {
	var d Dihedral
	d[0] = bitsFromDCT(b)
	for v := 1; v < 8; v++ {
		for i := 0; i < 16; i++ {
			for j := 0; j < 16; j++ {
				x := b[i*16+j]
				switch v {
				case 1: // rotate 90
					aux[j*16+i] = sign(j&1 == 1, x)
				case 2: // rotate 180
					aux[i*16+j] = sign((i+j)&1 == 0, x)
				case 3: // rotate 270
					aux[j*16+i] = sign(i&1 == 1, x)
				case 4: // flip X
					aux[i*16+j] = sign(i&1 == 1, x)
				case 5: // flip Y
					aux[i*16+j] = sign(j&1 == 1, x)
				case 6: // flip about the main diagonal
					aux[j*16+i] = x
				case 7: // flip about the anti-diagonal
					aux[j*16+i] = sign((i+j)&1 == 0, x)
				}
			}
		}
		d[v] = bitsFromDCT(aux)
	}
	return d
}

func sign(keep bool, x float32) float32 {
	if keep {
		return x
	}
	return -x
}
