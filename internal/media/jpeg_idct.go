package media

import "image"

// Reduced inverse DCTs: from a block's 8×8 dequantised coefficients, the
// 4×4, 2×2 or 1×1 samples libjpeg produces when decoding scaled by 1/2,
// 1/4 or 1/8 (jidctred's method). An output point is the 8-point inverse
// transform summed over the 2 (4, 8) input points it covers; the sums of
// the cosine basis are folded into the constants below, so the transform
// reads only the low-frequency coefficients it needs (for 4 points: every
// row and column but the 4th; for 2 points: the odd ones and DC). Integer
// arithmetic as libjpeg: constants scaled by 2^13, 2 extra bits of
// precision between the column and the row pass, results range-limited
// through the same wrap-around table.

const (
	idctConstBits = 13
	idctPass1Bits = 2
)

// fix is a constant scaled by 2^13 and rounded, as libjpeg's FIX().
const (
	fix0_211164243 = 1730
	fix0_509795579 = 4176
	fix0_601344887 = 4926
	fix0_720959822 = 5906
	fix0_765366865 = 6270
	fix0_850430095 = 6967
	fix0_899976223 = 7373
	fix1_061594337 = 8697
	fix1_272758580 = 10426
	fix1_451774981 = 11893
	fix1_847759065 = 15137
	fix2_172734803 = 17799
	fix2_562915447 = 20995
	fix3_624509785 = 29692
)

func descale(x int64, n uint) int64 { return (x + 1<<(n-1)) >> n }

// rangeLimit maps an inverse DCT output (before the +128 level shift) to a
// sample as libjpeg's post-IDCT table does: the value is taken modulo 1024,
// [-128, 127] → [0, 255], [128, 511] → 255, [-512, -129] → 0, so corrupt
// data wraps as it does in libjpeg.
func rangeLimit(v int64) byte {
	x := int32(v) & 1023
	switch {
	case x < 128:
		return byte(x + 128)
	case x < 512:
		return 255
	case x < 1024-128:
		return 0
	}
	return byte(x - (1024 - 128))
}

// idct4 writes 4×4 samples at out (stride apart).
func idct4(in *[64]int32, out []byte, stride int) {
	var ws [8 * 4]int64
	for c := range 8 {
		if c == 4 { // the row pass does not use column 4
			continue
		}
		if in[8+c] == 0 && in[16+c] == 0 && in[24+c] == 0 && in[40+c] == 0 && in[48+c] == 0 && in[56+c] == 0 {
			dc := int64(in[c]) << idctPass1Bits
			ws[c], ws[8+c], ws[16+c], ws[24+c] = dc, dc, dc, dc
			continue
		}
		t0 := int64(in[c]) << (idctConstBits + 1)
		t2 := int64(in[16+c])*fix1_847759065 - int64(in[48+c])*fix0_765366865
		t10, t12 := t0+t2, t0-t2
		z1, z2, z3, z4 := int64(in[56+c]), int64(in[40+c]), int64(in[24+c]), int64(in[8+c])
		t0 = -z1*fix0_211164243 + z2*fix1_451774981 - z3*fix2_172734803 + z4*fix1_061594337
		t2 = -z1*fix0_509795579 - z2*fix0_601344887 + z3*fix0_899976223 + z4*fix2_562915447
		const sh = idctConstBits - idctPass1Bits + 1
		ws[c] = int64(int32(descale(t10+t2, sh)))
		ws[24+c] = int64(int32(descale(t10-t2, sh)))
		ws[8+c] = int64(int32(descale(t12+t0, sh)))
		ws[16+c] = int64(int32(descale(t12-t0, sh)))
	}
	for r := range 4 {
		w := ws[8*r : 8*r+8]
		o := out[r*stride : r*stride+4]
		if w[1] == 0 && w[2] == 0 && w[3] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
			v := rangeLimit(descale(w[0], idctPass1Bits+3))
			o[0], o[1], o[2], o[3] = v, v, v, v
			continue
		}
		t0 := w[0] << (idctConstBits + 1)
		t2 := w[2]*fix1_847759065 - w[6]*fix0_765366865
		t10, t12 := t0+t2, t0-t2
		z1, z2, z3, z4 := w[7], w[5], w[3], w[1]
		t0 = -z1*fix0_211164243 + z2*fix1_451774981 - z3*fix2_172734803 + z4*fix1_061594337
		t2 = -z1*fix0_509795579 - z2*fix0_601344887 + z3*fix0_899976223 + z4*fix2_562915447
		const sh = idctConstBits + idctPass1Bits + 3 + 1
		o[0] = rangeLimit(descale(t10+t2, sh))
		o[3] = rangeLimit(descale(t10-t2, sh))
		o[1] = rangeLimit(descale(t12+t0, sh))
		o[2] = rangeLimit(descale(t12-t0, sh))
	}
}

// idct2 writes 2×2 samples at out (stride apart).
func idct2(in *[64]int32, out []byte, stride int) {
	var ws [8 * 2]int64
	for _, c := range [...]int{0, 1, 3, 5, 7} { // the row pass uses no even column but 0
		if in[8+c] == 0 && in[24+c] == 0 && in[40+c] == 0 && in[56+c] == 0 {
			dc := int64(in[c]) << idctPass1Bits
			ws[c], ws[8+c] = dc, dc
			continue
		}
		t10 := int64(in[c]) << (idctConstBits + 2)
		t0 := -int64(in[56+c])*fix0_720959822 + int64(in[40+c])*fix0_850430095 - int64(in[24+c])*fix1_272758580 + int64(in[8+c])*fix3_624509785
		const sh = idctConstBits - idctPass1Bits + 2
		ws[c] = int64(int32(descale(t10+t0, sh)))
		ws[8+c] = int64(int32(descale(t10-t0, sh)))
	}
	for r := range 2 {
		w := ws[8*r : 8*r+8]
		o := out[r*stride : r*stride+2]
		if w[1] == 0 && w[3] == 0 && w[5] == 0 && w[7] == 0 {
			v := rangeLimit(descale(w[0], idctPass1Bits+3))
			o[0], o[1] = v, v
			continue
		}
		t10 := w[0] << (idctConstBits + 2)
		t0 := -w[7]*fix0_720959822 + w[5]*fix0_850430095 - w[3]*fix1_272758580 + w[1]*fix3_624509785
		const sh = idctConstBits + idctPass1Bits + 3 + 2
		o[0] = rangeLimit(descale(t10+t0, sh))
		o[1] = rangeLimit(descale(t10-t0, sh))
	}
}

// idct1 writes the one sample of a block decoded at 1/8: its DC.
func idct1(in *[64]int32, out []byte) { out[0] = rangeLimit(descale(int64(in[0]), 3)) }

// libjpeg's YCbCr→RGB tables (16-bit fixed point): R = Y + 1.402 Cr,
// G = Y − 0.34414 Cb − 0.71414 Cr, B = Y + 1.772 Cb, Cb and Cr centred on 128.
var crR, cbB, crG, cbG [256]int32

func init() {
	const one = 1 << 16
	fix := func(x float64) int32 { return int32(x*one + 0.5) }
	for i := range 256 {
		x := int32(i - 128)
		crR[i] = (fix(1.40200)*x + one/2) >> 16
		cbB[i] = (fix(1.77200)*x + one/2) >> 16
		crG[i] = -fix(0.71414) * x
		cbG[i] = -fix(0.34414)*x + one/2
	}
}

func clamp255(x int32) byte {
	if uint32(x) <= 255 {
		return byte(x)
	}
	if x < 0 {
		return 0
	}
	return 255
}

// yccToRGBA converts the planes (one sample per output pixel) to opaque RGBA.
func yccToRGBA(dst *image.RGBA, y, cb, cr *jpegComponent) {
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	for row := range h {
		yr := y.plane[row*y.stride : row*y.stride+w]
		br := cb.plane[row*cb.stride : row*cb.stride+w]
		rr := cr.plane[row*cr.stride : row*cr.stride+w]
		o := dst.Pix[row*dst.Stride : row*dst.Stride+4*w]
		for x := range w {
			Y, Cb, Cr := int32(yr[x]), br[x], rr[x]
			p := o[4*x : 4*x+4 : 4*x+4]
			p[0] = clamp255(Y + crR[Cr])
			p[1] = clamp255(Y + (cbG[Cb]+crG[Cr])>>16)
			p[2] = clamp255(Y + cbB[Cb])
			p[3] = 0xff
		}
	}
}
