package pdq

import (
	"image"
	"image/color"
)

// source turns an image into luma rows for the core, reading only the
// pixels the reference CLI would read after its 512×512 nearest-neighbour
// resize (the whole image is never converted).
//
// Luma follows what the reference sees after ImageMagick's `convert FILE
// pnm:-` and CImg: straight 8-bit RGB through the float32 luma formula, or,
// when every pixel of the image is grey (ImageMagick then writes a PGM and
// CImg hands PDQ one channel), the grey value itself. The two differ by an
// ulp for 35 of the 256 grey levels, which can flip bits near the median.
// (Checked with ImageMagick 6.9.11-60, the version that made the reference
// data: an RGB PNG whose pixels are all grey comes out as P5.) Greyness is
// decided on the whole image, stopping at the first colour pixel, except
// for YCbCr, which counts as grey when all its chroma is neutral (128), and
// for unknown image types, where only the sampled pixels are checked.
//
// Translucent pixels are un-premultiplied and alpha is then ignored, as
// ImageMagick drops it when writing PNM. CMYK converts as ImageMagick does,
// R = (255−C)(255−K)/255 rounded (checked on every pixel of a test image).
// Wider samples are reduced to 8 bits the way ImageMagick does
// (round(v/257)); the reference CLI itself keeps only the low byte of
// 16-bit PNM samples (CImg casts them to uint8), an accident we do not copy,
// so 16-bit images hash as their 8-bit versions would.
type source struct {
	kind kind
	img  image.Image
	rect image.Rectangle
	grey bool

	// Resize: the luma image samples the rectangle; xs maps luma columns
	// to source columns relative to rect.Min.
	scaled bool
	xs     []int
	xsBuf  []int

	plane   *Plane // kindPlane: rect is the region hashed, in plane coordinates
	mirror  Mirror // kindPlane
	pix     []byte // kindRGB24
	stride  int    // kindRGB24
	cxs     []int  // kindYCbCr: chroma offset per luma column
	cxsBuf  []int
	pal     [256]float32 // kindPaletted: luma per index
	conv    *image.NRGBA // kindGeneric: sampled pixels
	convBuf []byte       // kindGeneric: reused backing store
}

type kind int

const (
	kindNone kind = iota
	kindRGB24
	kindGray
	kindGray16
	kindYCbCr
	kindRGBA
	kindNRGBA
	kindRGBA64
	kindNRGBA64
	kindPaletted
	kindCMYK
	kindGeneric
	kindPlane
)

// yPlaneLuma selects, for *image.YCbCr, reading the Y plane as luma instead
// of converting each sampled pixel to RGB as the reference's decoder does.
// The Y plane is the same BT.601 luma up to rounding and skips the chroma,
// but measured against reference.csv (TestYCbCrLumaChoice, the 33 colour
// JPEGs of quality ≥ 80, decoded by image/jpeg) the RGB route is closer:
// 28 exact, 16 bits off in total and at most 8 on one image, against 27
// exact, 24 bits and at most 10 via the Y plane (the upstream bound is 10).
// It costs about a third of a millisecond per 512×512 samples. So RGB is
// the default; the switch stays for that measurement.
var yPlaneLuma = false

// release drops references to the caller's pixels so a pooled Hasher does
// not keep them alive.
func (s *source) release() {
	s.img, s.pix, s.conv, s.plane = nil, nil, nil, nil
}

// reset clears s for a new image, keeping its reusable buffers.
func (s *source) reset() {
	xsBuf, convBuf, cxsBuf := s.xsBuf, s.convBuf, s.cxsBuf
	*s = source{xsBuf: xsBuf, convBuf: convBuf, cxsBuf: cxsBuf}
}

func (s *source) setRGB(pix []byte, w, h int) {
	s.reset()
	s.kind, s.pix, s.stride = kindRGB24, pix, 3*w
	s.rect = image.Rect(0, 0, w, h)
}

// setImage prepares img and returns the luma size the core will hash.
func (s *source) setImage(img image.Image) (w, h int) { return s.setImageResize(img, true) }

// setImageResize is setImage; with resize false the luma keeps img's own
// size whatever it is (NewPlane reads every pixel).
func (s *source) setImageResize(img image.Image, resize bool) (w, h int) {
	s.reset()
	s.img = img
	if img == nil {
		return 0, 0
	}
	r := img.Bounds()
	s.rect = r
	w, h = r.Dx(), r.Dy()
	if w <= 0 || h <= 0 {
		return 0, 0
	}
	s.scaled = resize && (w > resizeDim || h > resizeDim)
	if s.scaled {
		w, h = resizeDim, resizeDim
	}
	s.setColumns(w)

	switch m := img.(type) {
	case *image.Gray:
		s.kind, s.grey = kindGray, true
	case *image.Gray16:
		s.kind, s.grey = kindGray16, true
	case *image.YCbCr:
		s.setYCbCr(m, w)
	case *image.NYCbCrA:
		s.setYCbCr(&m.YCbCr, w)
	case *image.RGBA:
		s.kind, s.grey = kindRGBA, greyRGBA(m.Pix, m.Stride, r.Dx(), r.Dy(), 4, 1)
	case *image.NRGBA:
		s.kind, s.grey = kindNRGBA, greyRGBA(m.Pix, m.Stride, r.Dx(), r.Dy(), 4, 1)
	case *image.RGBA64:
		s.kind, s.grey = kindRGBA64, greyRGBA(m.Pix, m.Stride, r.Dx(), r.Dy(), 8, 2)
	case *image.NRGBA64:
		s.kind, s.grey = kindNRGBA64, greyRGBA(m.Pix, m.Stride, r.Dx(), r.Dy(), 8, 2)
	case *image.Paletted:
		s.kind = kindPaletted
		s.setPalette(m)
	case *image.CMYK:
		s.kind, s.grey = kindCMYK, greyCMYK(m)
	default:
		s.kind = kindGeneric
		s.convertGeneric(img, w, h)
	}
	return w, h
}

// setColumns builds the column map for a luma width of w: identity, or
// CImg's nearest-neighbour mapping to 512 columns, whose cumulative offset
// table telescopes to src = dst·width/512.
func (s *source) setColumns(w int) {
	if cap(s.xsBuf) < w {
		s.xsBuf = make([]int, w)
	}
	s.xs = s.xsBuf[:w]
	sw := s.rect.Dx()
	for x := range s.xs {
		if s.scaled {
			s.xs[x] = x * sw / resizeDim
		} else {
			s.xs[x] = x
		}
	}
}

// srcY maps a luma row to a source row relative to rect.Min.
func (s *source) srcY(y int) int {
	if s.scaled {
		return y * s.rect.Dy() / resizeDim
	}
	return y
}

// fillRow writes luma row y (len(dst) columns) to dst.
func (s *source) fillRow(y int, dst []float32) {
	if s.kind == kindRGB24 {
		row := s.pix[y*s.stride : y*s.stride+3*len(dst)]
		for x := range dst {
			p := row[3*x : 3*x+3 : 3*x+3]
			dst[x] = (lumaTabR[p[0]] + lumaTabG[p[1]]) + lumaTabB[p[2]]
		}
		return
	}
	if s.kind == kindPlane {
		s.fillPlane(y, dst)
		return
	}
	xs := s.xs[:len(dst)]
	sy := s.srcY(y)
	switch s.kind {
	case kindGray:
		m := s.img.(*image.Gray)
		row := m.Pix[sy*m.Stride:]
		for x, sx := range xs {
			dst[x] = float32(row[sx])
		}
	case kindYCbCr:
		m := s.img.(*image.YCbCr)
		if !yPlaneLuma && !s.grey {
			s.fillYCbCrRGB(m, sy, dst)
			return
		}
		row := m.Y[sy*m.YStride:]
		for x, sx := range xs {
			dst[x] = float32(row[sx])
		}
	case kindRGBA:
		m := s.img.(*image.RGBA)
		s.fillRGBA(m.Pix[sy*m.Stride:], xs, dst)
	case kindNRGBA:
		m := s.img.(*image.NRGBA)
		s.fillNRGBA(m.Pix[sy*m.Stride:], xs, dst)
	case kindGeneric:
		s.fillNRGBA(s.conv.Pix[y*s.conv.Stride:], xs, dst)
	case kindGray16:
		m := s.img.(*image.Gray16)
		row := m.Pix[sy*m.Stride:]
		for x, sx := range xs {
			dst[x] = float32(to8(uint32(row[2*sx])<<8 | uint32(row[2*sx+1])))
		}
	case kindRGBA64, kindNRGBA64:
		var pix []byte
		var stride int
		if m, ok := s.img.(*image.RGBA64); ok {
			pix, stride = m.Pix, m.Stride
		} else {
			m := s.img.(*image.NRGBA64)
			pix, stride = m.Pix, m.Stride
		}
		row := pix[sy*stride:]
		for x, sx := range xs {
			p := row[8*sx : 8*sx+8 : 8*sx+8]
			r := uint32(p[0])<<8 | uint32(p[1])
			g := uint32(p[2])<<8 | uint32(p[3])
			b := uint32(p[4])<<8 | uint32(p[5])
			if s.kind == kindRGBA64 {
				a := uint32(p[6])<<8 | uint32(p[7])
				r, g, b = unpremul16(r, a), unpremul16(g, a), unpremul16(b, a)
			}
			dst[x] = s.luma(to8(r), to8(g), to8(b))
		}
	case kindPaletted:
		m := s.img.(*image.Paletted)
		row := m.Pix[sy*m.Stride:]
		for x, sx := range xs {
			dst[x] = s.pal[row[sx]]
		}
	case kindCMYK:
		m := s.img.(*image.CMYK)
		row := m.Pix[sy*m.Stride:]
		for x, sx := range xs {
			p := row[4*sx : 4*sx+4 : 4*sx+4]
			r, g, b := cmykToRGB(p[0], p[1], p[2], p[3])
			dst[x] = s.luma(r, g, b)
		}
	}
}

// fillNRGBA fills from straight RGBA pixels; alpha is ignored.
func (s *source) fillNRGBA(row []byte, xs []int, dst []float32) {
	dst = dst[:len(xs)]
	if s.grey {
		for x, sx := range xs {
			dst[x] = float32(row[4*sx])
		}
		return
	}
	if !s.scaled {
		row = row[:4*len(dst)]
		for x := range dst {
			p := row[4*x : 4*x+3 : 4*x+3]
			dst[x] = (lumaTabR[p[0]] + lumaTabG[p[1]]) + lumaTabB[p[2]]
		}
		return
	}
	for x, sx := range xs {
		p := row[4*sx : 4*sx+3 : 4*sx+3]
		dst[x] = (lumaTabR[p[0]] + lumaTabG[p[1]]) + lumaTabB[p[2]]
	}
}

// fillRGBA fills from premultiplied RGBA pixels, un-premultiplying those
// that are not opaque (the reference reads straight RGB).
func (s *source) fillRGBA(row []byte, xs []int, dst []float32) {
	dst = dst[:len(xs)]
	grey := s.grey
	if !s.scaled && !grey {
		// The whole-image load (Plane.Load): four pixels at a time where
		// the CPU allows, then the translucent ones again.
		row = row[:4*len(dst)]
		n, opaque := lumaRGBA(row, dst)
		if !opaque {
			for x := range n {
				if a := row[4*x+3]; a != 0xff {
					dst[x] = rgbaLuma(row[4*x], row[4*x+1], row[4*x+2], a, false)
				}
			}
		}
		for x := n; x < len(dst); x++ {
			p := row[4*x : 4*x+4 : 4*x+4]
			if p[3] == 0xff {
				dst[x] = (lumaTabR[p[0]] + lumaTabG[p[1]]) + lumaTabB[p[2]]
				continue
			}
			dst[x] = rgbaLuma(p[0], p[1], p[2], p[3], false)
		}
		return
	}
	if !s.scaled {
		row = row[:4*len(dst)]
		for x := range dst {
			p := row[4*x : 4*x+4 : 4*x+4]
			if p[3] == 0xff && !grey {
				dst[x] = (lumaTabR[p[0]] + lumaTabG[p[1]]) + lumaTabB[p[2]]
				continue
			}
			dst[x] = rgbaLuma(p[0], p[1], p[2], p[3], grey)
		}
		return
	}
	for x, sx := range xs {
		p := row[4*sx : 4*sx+4 : 4*sx+4]
		if p[3] == 0xff && !grey {
			dst[x] = (lumaTabR[p[0]] + lumaTabG[p[1]]) + lumaTabB[p[2]]
			continue
		}
		dst[x] = rgbaLuma(p[0], p[1], p[2], p[3], grey)
	}
}

// rgbaLuma is the luma of a premultiplied pixel that is translucent or part
// of a grey image.
func rgbaLuma(r, g, b, a uint8, grey bool) float32 {
	if a != 0xff {
		r, g, b = unpremul8(r, a), unpremul8(g, a), unpremul8(b, a)
	}
	if grey {
		return float32(r)
	}
	return (lumaTabR[r] + lumaTabG[g]) + lumaTabB[b]
}

// setYCbCr prepares a YCbCr image: the chroma offset of every sampled
// column (COffset is a row term plus a column term) and greyness. A pixel
// with Cb = Cr = 128 converts to R = G = B = Y, so an image whose chroma is
// neutral everywhere is what ImageMagick would pass on as grey; the check
// stops at the first coloured chroma sample.
func (s *source) setYCbCr(m *image.YCbCr, w int) {
	s.kind, s.img = kindYCbCr, m
	if cap(s.cxsBuf) < w {
		s.cxsBuf = make([]int, w)
	}
	s.cxs = s.cxsBuf[:w]
	for x := range s.cxs {
		s.cxs[x] = m.COffset(m.Rect.Min.X+s.xs[x], m.Rect.Min.Y)
	}
	s.grey = neutralChroma(m)
}

func neutralChroma(m *image.YCbCr) bool {
	last := m.COffset(m.Rect.Max.X-1, m.Rect.Max.Y-1)
	first := m.COffset(m.Rect.Min.X, m.Rect.Min.Y)
	cw := last - m.COffset(m.Rect.Min.X, m.Rect.Max.Y-1) + 1
	for row := first; row <= last; row += m.CStride {
		for _, c := range m.Cb[row : row+cw] {
			if c != 128 {
				return false
			}
		}
		for _, c := range m.Cr[row : row+cw] {
			if c != 128 {
				return false
			}
		}
	}
	return true
}

// fillYCbCrRGB converts each sampled pixel to RGB exactly as
// color.YCbCrToRGB does (JFIF BT.601 in 16.16 fixed point; the nearest
// chroma sample, as image/jpeg's RGBA conversion uses) and takes its luma.
// The conversion is spelled out here because the library function does not
// inline; TestFillYCbCr checks the two agree on all 2²⁴ inputs.
func (s *source) fillYCbCrRGB(m *image.YCbCr, sy int, dst []float32) {
	py := m.Rect.Min.Y + sy
	yrow := m.Y[m.YOffset(m.Rect.Min.X, py):]
	crow := m.COffset(m.Rect.Min.X, py)
	cb, cr := m.Cb[crow:], m.Cr[crow:]
	xs := s.xs[:len(dst)]
	cxs := s.cxs[:len(dst)]
	for x, sx := range xs {
		cx := cxs[x]
		yy := int32(yrow[sx]) * 0x10101
		cb1 := int32(cb[cx]) - 128
		cr1 := int32(cr[cx]) - 128
		r := clamp16(yy + 91881*cr1)
		g := clamp16(yy - 22554*cb1 - 46802*cr1)
		b := clamp16(yy + 116130*cb1)
		dst[x] = (lumaTabR[r] + lumaTabG[g]) + lumaTabB[b]
	}
}

// clamp16 takes the integer part of a 16.16 value clamped to 0..255.
func clamp16(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31))
}

// luma is the reference luma of a straight RGB pixel, honouring grey mode.
func (s *source) luma(r, g, b uint8) float32 {
	if s.grey {
		return float32(r)
	}
	return rgbLuma(r, g, b)
}

// setPalette precomputes the luma of every palette index. Indices past the
// palette (and nil entries) read as opaque black, as image/png pads a
// short palette.
func (s *source) setPalette(m *image.Paletted) {
	var rgb [256][3]uint8
	var greyEntry [256]bool
	for i := range greyEntry {
		greyEntry[i] = true
	}
	for i, c := range m.Palette {
		if i >= 256 {
			break
		}
		if c == nil {
			continue
		}
		n := color.NRGBAModel.Convert(c).(color.NRGBA)
		rgb[i] = [3]uint8{n.R, n.G, n.B}
		greyEntry[i] = n.R == n.G && n.G == n.B
	}
	s.grey = true
	allGrey := true
	for _, g := range greyEntry {
		allGrey = allGrey && g
	}
	if !allGrey {
		r := m.Rect
	scan:
		for y := 0; y < r.Dy(); y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+r.Dx()]
			for _, v := range row {
				if !greyEntry[v] {
					s.grey = false
					break scan
				}
			}
		}
	}
	for i := range s.pal {
		s.pal[i] = s.luma(rgb[i][0], rgb[i][1], rgb[i][2])
	}
}

// convertGeneric samples an image of an unknown type into an NRGBA of the
// luma size through the color model, and decides greyness on the samples.
func (s *source) convertGeneric(img image.Image, w, h int) {
	if cap(s.convBuf) < 4*w*h {
		s.convBuf = make([]byte, 4*w*h)
	}
	conv := &image.NRGBA{Pix: s.convBuf[:4*w*h], Stride: 4 * w, Rect: image.Rect(0, 0, w, h)}
	min := s.rect.Min
	for y := 0; y < h; y++ {
		sy := min.Y + s.srcY(y)
		row := conv.Pix[y*conv.Stride:]
		for x, sx := range s.xs {
			c := color.NRGBA64Model.Convert(img.At(min.X+sx, sy)).(color.NRGBA64)
			row[4*x] = to8(uint32(c.R))
			row[4*x+1] = to8(uint32(c.G))
			row[4*x+2] = to8(uint32(c.B))
			row[4*x+3] = to8(uint32(c.A))
		}
	}
	s.conv = conv
	s.scaled = false
	s.setColumns(w)
	s.grey = greyRGBA(conv.Pix, conv.Stride, w, h, 4, 1)
}

// greyRGBA reports whether every pixel of an interleaved RGBA buffer has
// R = G = B (samples of size bytes each, px bytes per pixel). It stops at
// the first colour pixel, so colour photos cost almost nothing.
func greyRGBA(pix []byte, stride, w, h, px, size int) bool {
	for y := 0; y < h; y++ {
		row := pix[y*stride : y*stride+w*px]
		for i := 0; i < len(row); i += px {
			p := row[i : i+3*size]
			if size == 1 {
				if p[0] != p[1] || p[1] != p[2] {
					return false
				}
			} else if p[0] != p[2] || p[1] != p[3] || p[2] != p[4] || p[3] != p[5] {
				return false
			}
		}
	}
	return true
}

func greyCMYK(m *image.CMYK) bool {
	r := m.Rect
	for y := 0; y < r.Dy(); y++ {
		row := m.Pix[y*m.Stride : y*m.Stride+4*r.Dx()]
		for i := 0; i < len(row); i += 4 {
			cr, cg, cb := cmykToRGB(row[i], row[i+1], row[i+2], row[i+3])
			if cr != cg || cg != cb {
				return false
			}
		}
	}
	return true
}

// cmykToRGB is ImageMagick's CMYK → RGB: (1−C)(1−K), rounded to 8 bits.
func cmykToRGB(c, m, y, k uint8) (r, g, b uint8) {
	w := 255 - uint32(k)
	r = uint8(((255-uint32(c))*w + 127) / 255)
	g = uint8(((255-uint32(m))*w + 127) / 255)
	b = uint8(((255-uint32(y))*w + 127) / 255)
	return
}

// to8 reduces a 16-bit sample to 8 bits as ImageMagick's ScaleQuantumToChar
// does (round(v/257)).
func to8(v uint32) uint8 {
	return uint8(((v + 128) - ((v + 128) >> 8)) >> 8)
}

// unpremul8 undoes alpha premultiplication exactly as color.NRGBAModel does.
func unpremul8(v, a uint8) uint8 {
	switch a {
	case 0xff:
		return v
	case 0:
		return 0
	}
	return uint8((uint32(v) * 0x101 * 0xffff / (uint32(a) * 0x101)) >> 8)
}

// unpremul16 undoes alpha premultiplication as color.NRGBA64Model does.
func unpremul16(v, a uint32) uint32 {
	switch a {
	case 0xffff:
		return v
	case 0:
		return 0
	}
	return v * 0xffff / a
}
