// Package yuv converts decoded Y′CbCr video frames to packed RGB24 the way
// `nigehban hash` gets them from ffmpeg, bit for bit, so a frame the
// /protect page takes from the browser in its native planes hashes exactly
// as the native vPDQ path hashes it.
//
// vPDQ asks ffmpeg for rgb24 at the stream's own size with the area scaler
// and without accurate rounding (internal/vpdq.ffmpegArgs). libswscale then
// does not scale at all: for 4:2:0 and 4:2:2 planar input it runs its
// special unscaled converter, which on x86-64 is the SIMD one. That
// converter works in 16-bit fixed point: each sample is multiplied by 8,
// an offset is subtracted, and each term is the high half of a signed
// 16×16-bit product with a coefficient of 13 fraction bits; the terms are
// added with 16-bit saturation and clamped to 0…255, with no rounding step.
// Two horizontally adjacent pixels share one chroma sample and each chroma
// row serves two luma rows (4:2:0). This package reimplements that
// arithmetic in plain Go (no platform code: it runs in WebAssembly too) and
// is checked against ffmpeg's own output in its tests.
package yuv

import (
	"errors"
	"fmt"
)

// ErrLayout is returned for planes too short for the frame size and strides
// given, or a size that is not positive.
var ErrLayout = errors.New("yuv: planes do not fit the frame")

// ErrOddHeight is returned for a frame of odd height: libswscale runs
// its generic scaler for those, not the converter reimplemented here, and
// its bytes differ.
var ErrOddHeight = errors.New("yuv: odd frame height (ffmpeg converts it another way)")

// Matrix is the Y′CbCr→RGB matrix a stream declares (H.273 matrix
// coefficients).
type Matrix int

// The matrices libswscale distinguishes. BT601 is what it uses for a stream
// that declares none.
const (
	BT601 Matrix = iota
	BT709
	FCC
	SMPTE240M
	BT2020
)

// Subsampling is the chroma layout of a planar frame.
type Subsampling int

// Chroma layouts: 4:2:0 (a chroma row per two luma rows) and 4:2:2 (one per
// luma row); both halve the chroma horizontally.
const (
	S420 Subsampling = iota
	S422
)

// Planes is one decoded frame: a luma plane and two chroma planes (Cb in U,
// Cr in V) of (Width+1)/2 samples a row, each with its stride in bytes.
// For interleaved chroma (NV12) give the same slice in U and V, V starting
// one byte later, and ChromaStep 2.
type Planes struct {
	Width, Height int
	Sub           Subsampling
	Y, U, V       []byte
	YStride       int
	UStride       int
	VStride       int
	// ChromaStep is the distance in bytes between successive chroma samples
	// of a row (1 for planar I420, 2 for NV12); 0 means 1.
	ChromaStep int
}

// coefficients are the converter's 16-bit constants.
type coefficients struct {
	yOffset, yCoeff, vr, ub, vg, ug int32
}

// inverse holds libswscale's integer matrices (crv, cbu, cgu, cgv in 16
// fraction bits) for each Matrix: the values are the BT standards' inverse
// coefficients, 0.5 ⁄ (1 − Kr) etc. scaled to 224⁄255 of full swing.
var inverse = [...][4]int64{
	BT601:     {104597, 132201, 25675, 53279},
	BT709:     {117489, 138438, 13975, 34925},
	FCC:       {104448, 132798, 24759, 53109},
	SMPTE240M: {117579, 136230, 16907, 35559},
	BT2020:    {110013, 140363, 12277, 42626},
}

// round16 is the converter's rounding of a 16.16 value to a saturated int16.
func round16(f int64) int32 {
	r := (f + 1<<15) >> 16
	return int32(max(min(r, 0x7fff), -0x8000))
}

func coeffsFor(m Matrix, fullRange bool) coefficients {
	if m < 0 || int(m) >= len(inverse) {
		m = BT601
	}
	inv := inverse[m]
	crv, cbu, cgu, cgv := inv[0], inv[1], -inv[2], -inv[3]
	cy, oy := int64(1<<16), int64(0)
	if fullRange {
		crv, cbu, cgu, cgv = crv*224/255, cbu*224/255, cgu*224/255, cgv*224/255
	} else {
		cy = cy * 255 / 219
		oy = 16 << 16
	}
	return coefficients{
		yOffset: round16(oy * 8),
		yCoeff:  round16(cy * 8192),
		vr:      round16(crv * 8192),
		ub:      round16(cbu * 8192),
		vg:      round16(cgv * 8192),
		ug:      round16(cgu * 8192),
	}
}

// sat16 saturates to int16 as the SIMD adds do.
func sat16(x int32) int32 { return max(min(x, 0x7fff), -0x8000) }

// mulhi is the high half of a signed 16×16-bit product.
func mulhi(a, b int32) int32 { return (a * b) >> 16 }

func clamp8(x int32) byte { return byte(max(min(x, 255), 0)) }

// RGB24 converts p to packed RGB (3 bytes a pixel, rows without padding)
// in dst, grown if too small, and returns it. fullRange is the stream's
// range flag (false for the usual limited "TV" range).
func RGB24(dst []byte, p Planes, m Matrix, fullRange bool) ([]byte, error) {
	if err := p.check(); err != nil {
		return dst, err
	}
	if p.Height%2 == 1 {
		return dst, fmt.Errorf("%d×%d: %w", p.Width, p.Height, ErrOddHeight)
	}
	n := 3 * p.Width * p.Height
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	c := coeffsFor(m, fullRange)
	// The chroma terms depend on 256 possible sample values each: tabulate.
	var ub, vr, ug, vg, yt [256]int32
	for s := range int32(256) {
		d := sat16(s*8 - 1024)
		ub[s], vr[s], ug[s], vg[s] = mulhi(d, c.ub), mulhi(d, c.vr), mulhi(d, c.ug), mulhi(d, c.vg)
	}
	for s := range int32(256) {
		yt[s] = mulhi(s*8-c.yOffset, c.yCoeff)
	}
	// Every term is within ±(2040+128)·2¹⁵/2¹⁶ < 1,100 (a sample times 8,
	// less its offset, times a coefficient below 2¹⁵, high half), so the
	// SIMD code's saturating 16-bit adds never saturate: plain sums and one
	// clamp to 0…255 through a table give its bytes.
	var clip [4096]byte
	for i := range clip {
		clip[i] = clamp8(int32(i - 2048))
	}
	step := max(p.ChromaStep, 1)
	for y := range p.Height {
		cy := y >> 1
		if p.Sub == S422 {
			cy = y
		}
		yr := p.Y[y*p.YStride : y*p.YStride+p.Width]
		ur := p.U[cy*p.UStride:]
		vrow := p.V[cy*p.VStride:]
		out := dst[3*y*p.Width : 3*(y+1)*p.Width]
		// Pixels 2i and 2i+1 share chroma sample i.
		for x, c := 0, 0; x < p.Width; x, c = x+2, c+step {
			u, v := ur[c], vrow[c]
			rr, gg, bb := vr[v]+2048, ug[u]+vg[v]+2048, ub[u]+2048
			l := yt[yr[x]]
			o := out[3*x : 3*x+3 : 3*x+3]
			o[0], o[1], o[2] = clip[(l+rr)&4095], clip[(l+gg)&4095], clip[(l+bb)&4095]
			if x+1 < p.Width {
				l = yt[yr[x+1]]
				o = out[3*x+3 : 3*x+6 : 3*x+6]
				o[0], o[1], o[2] = clip[(l+rr)&4095], clip[(l+gg)&4095], clip[(l+bb)&4095]
			}
		}
	}
	return dst, nil
}

func (p Planes) check() error {
	if p.Width <= 0 || p.Height <= 0 {
		return fmt.Errorf("%d×%d: %w", p.Width, p.Height, ErrLayout)
	}
	step := max(p.ChromaStep, 1)
	cw, ch := (p.Width+1)/2, (p.Height+1)/2
	if p.Sub == S422 {
		ch = p.Height
	}
	need := func(stride, rows, row int) int { return (rows-1)*stride + row }
	if p.YStride < p.Width || len(p.Y) < need(p.YStride, p.Height, p.Width) ||
		p.UStride < (cw-1)*step+1 || len(p.U) < need(p.UStride, ch, (cw-1)*step+1) ||
		p.VStride < (cw-1)*step+1 || len(p.V) < need(p.VStride, ch, (cw-1)*step+1) {
		return fmt.Errorf("%d×%d with strides %d/%d/%d, planes of %d/%d/%d bytes: %w",
			p.Width, p.Height, p.YStride, p.UStride, p.VStride, len(p.Y), len(p.U), len(p.V), ErrLayout)
	}
	return nil
}
