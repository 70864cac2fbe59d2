package media

import (
	"context"
	"errors"
	"fmt"
	"image"
)

// A pure-Go JPEG decoder that reduces in the DCT domain, for builds without
// libjpeg-turbo (the /protect page's WebAssembly, CGO_ENABLED=0). It decodes
// baseline Huffman JPEGs (SOF0/SOF1, 8-bit, one interleaved scan), greyscale
// or YCbCr, at 1/4 or 1/8 scale, and produces exactly what libjpeg-turbo
// produces at the same scale (tjDecompress2 with TJFLAG_STOPONWARNING and
// default flags), so hashes equal the cgo build's:
//
//   - each component's reduced inverse DCT size is chosen as libjpeg does:
//     the smallest for the fullest-sampled component, doubled for
//     subsampled components while that removes upsampling (4:2:0 at 1/4:
//     luma 2×2, chroma 4×4 per block), so no chroma upsampling is left;
//     layouts that would still need upsampling (4:2:2, 4:1:1, …) are left
//     to image/jpeg;
//   - the reduced inverse DCTs keep only the low-frequency output points of
//     the 8-point transform (sums of neighbouring samples of the full one),
//     in libjpeg's integer arithmetic (13-bit constants, 2 extra bits
//     between passes) and its range limiting;
//   - YCbCr→RGB in libjpeg's 16-bit fixed point.
//
// Everything else (progressive, arithmetic coding, 12-bit, CMYK, RGB JPEGs,
// several scans, damaged data) returns errNotReduced and is decoded by
// image/jpeg, whose verdict stands.

// errNotReduced means the reduced decoder does not handle this file; the
// caller decodes it another way.
var errNotReduced = errors.New("jpeg: not for the reduced decoder")

// decodeJPEGReducedAt decodes at a given scale (4 or 8); for tests.
func decodeJPEGReducedAt(data []byte, lim Limits, scale int) (Decoded, error) {
	var j jpegReader
	if err := j.readHeader(data); err != nil {
		return Decoded{Format: JPEG, Scale: 1}, err
	}
	return j.decode(data, lim, scale)
}

type jpegComponent struct {
	id, h, v, tq int
	td, ta       int // Huffman tables of the scan
	size         int // reduced IDCT size: 1, 2 or 4
	plane        []byte
	stride       int
	pred         int // DC predictor
}

type jpegReader struct {
	width, height int
	comps         []jpegComponent
	hmax, vmax    int
	quant         [4][64]int32 // zigzag order
	haveQuant     [4]bool
	huff          [2][4]*huffTable
	restart       int
	jfif, adobe   bool
	transform     int  // Adobe APP14 colour transform
	scanAt        int  // offset of the scan's first entropy-coded byte
	frame         bool // a frame header was read
}

// readHeader reads the markers up to the first scan, refusing (with
// errNotReduced) anything but a baseline interleaved scan this decoder
// handles.
func (j *jpegReader) readHeader(b []byte) error {
	if len(b) < 4 || b[0] != 0xff || b[1] != 0xd8 {
		return fmt.Errorf("no SOI: %w", errNotReduced)
	}
	i := 2
	for {
		if i+4 > len(b) {
			return fmt.Errorf("header truncated: %w", errNotReduced)
		}
		if b[i] != 0xff {
			return fmt.Errorf("no marker at %d: %w", i, errNotReduced)
		}
		m := b[i+1]
		if m == 0xff { // fill byte
			i++
			continue
		}
		if m == 0x01 || m >= 0xd0 && m <= 0xd8 {
			i += 2
			continue
		}
		if m == 0xd9 {
			return fmt.Errorf("EOI before a scan: %w", errNotReduced)
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		if n < 2 || i+2+n > len(b) {
			return fmt.Errorf("segment %#x of %d bytes: %w", m, n, errNotReduced)
		}
		seg := b[i+4 : i+2+n]
		var err error
		switch {
		case m == 0xc0 || m == 0xc1:
			err = j.readFrame(seg)
		case m >= 0xc2 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc:
			err = fmt.Errorf("frame type %#x: %w", m, errNotReduced)
		case m == 0xc4:
			err = j.readHuffman(seg)
		case m == 0xdb:
			err = j.readQuant(seg)
		case m == 0xdd:
			if len(seg) != 2 {
				err = fmt.Errorf("DRI: %w", errNotReduced)
			}
			j.restart = int(seg[0])<<8 | int(seg[1])
		case m == 0xe0:
			if len(seg) >= 5 && string(seg[:5]) == "JFIF\x00" {
				j.jfif = true
			}
		case m == 0xee:
			if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
				j.adobe, j.transform = true, int(seg[11])
			}
		case m == 0xda:
			if err := j.readScan(seg); err != nil {
				return err
			}
			j.scanAt = i + 2 + n
			return nil
		}
		if err != nil {
			return err
		}
		i += 2 + n
	}
}

func (j *jpegReader) readFrame(s []byte) error {
	if j.frame {
		return fmt.Errorf("two frames: %w", errNotReduced)
	}
	j.frame = true
	if len(s) < 6 || s[0] != 8 {
		return fmt.Errorf("frame header: not 8-bit: %w", errNotReduced)
	}
	j.height, j.width = int(s[1])<<8|int(s[2]), int(s[3])<<8|int(s[4])
	nc := int(s[5])
	if j.width == 0 || j.height == 0 || (nc != 1 && nc != 3) || len(s) != 6+3*nc {
		return fmt.Errorf("frame %d×%d with %d components: %w", j.width, j.height, nc, errNotReduced)
	}
	j.comps = make([]jpegComponent, nc)
	for k := range j.comps {
		c := &j.comps[k]
		c.id, c.h, c.v, c.tq = int(s[6+3*k]), int(s[7+3*k]>>4), int(s[7+3*k]&15), int(s[8+3*k])
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3 {
			return fmt.Errorf("component %d sampling %d×%d: %w", k, c.h, c.v, errNotReduced)
		}
		if nc == 1 { // one component: one block per MCU, whatever its factors
			c.h, c.v = 1, 1
		}
		j.hmax, j.vmax = max(j.hmax, c.h), max(j.vmax, c.v)
	}
	if nc == 3 {
		// libjpeg's guess of the colour space: RGB when an Adobe marker says
		// "no transform" or, without JFIF and Adobe markers, the component
		// ids spell R, G, B.
		if !j.jfif && (j.adobe && j.transform == 0 ||
			!j.adobe && j.comps[0].id == 'R' && j.comps[1].id == 'G' && j.comps[2].id == 'B') {
			return fmt.Errorf("RGB JPEG: %w", errNotReduced)
		}
	}
	return nil
}

func (j *jpegReader) readQuant(s []byte) error {
	for len(s) > 0 {
		pq, tq := int(s[0]>>4), int(s[0]&15)
		if tq > 3 || pq > 1 || len(s) < 1+64*(pq+1) {
			return fmt.Errorf("DQT: %w", errNotReduced)
		}
		for k := range 64 {
			if pq == 0 {
				j.quant[tq][k] = int32(s[1+k])
			} else {
				j.quant[tq][k] = int32(s[1+2*k])<<8 | int32(s[2+2*k])
			}
		}
		j.haveQuant[tq] = true
		s = s[1+64*(pq+1):]
	}
	return nil
}

func (j *jpegReader) readHuffman(s []byte) error {
	for len(s) > 0 {
		if len(s) < 17 {
			return fmt.Errorf("DHT: %w", errNotReduced)
		}
		class, id := int(s[0]>>4), int(s[0]&15)
		if class > 1 || id > 3 {
			return fmt.Errorf("DHT class %d id %d: %w", class, id, errNotReduced)
		}
		var counts [16]int
		total := 0
		for k := range 16 {
			counts[k] = int(s[1+k])
			total += counts[k]
		}
		if total > 256 || len(s) < 17+total {
			return fmt.Errorf("DHT of %d codes: %w", total, errNotReduced)
		}
		t, err := newHuffTable(counts, s[17:17+total])
		if err != nil {
			return err
		}
		j.huff[class][id] = t
		s = s[17+total:]
	}
	return nil
}

func (j *jpegReader) readScan(s []byte) error {
	if !j.frame {
		return fmt.Errorf("scan before frame: %w", errNotReduced)
	}
	if len(s) < 1 || int(s[0]) != len(j.comps) || len(s) != 4+2*len(j.comps) {
		return fmt.Errorf("scan of %d components: %w", len(s), errNotReduced)
	}
	for k := range j.comps {
		id, tables := int(s[1+2*k]), s[2+2*k]
		c := &j.comps[k]
		if c.id != id { // components in frame order, as every encoder writes them
			return fmt.Errorf("scan component order: %w", errNotReduced)
		}
		c.td, c.ta = int(tables>>4), int(tables&15)
		if c.td > 3 || c.ta > 3 || j.huff[0][c.td] == nil || j.huff[1][c.ta] == nil || !j.haveQuant[c.tq] {
			return fmt.Errorf("scan tables missing: %w", errNotReduced)
		}
	}
	ss, se, a := s[1+2*len(j.comps)], s[2+2*len(j.comps)], s[3+2*len(j.comps)]
	if ss != 0 || se != 63 || a != 0 {
		return fmt.Errorf("scan spectral selection: %w", errNotReduced)
	}
	return nil
}

// decode runs the scan at 1/scale and converts to the output raster.
func (j *jpegReader) decode(b []byte, lim Limits, scale int) (Decoded, error) {
	d := Decoded{Format: JPEG, Width: j.width, Height: j.height, Scale: scale}
	minSize := 8 / scale
	for k := range j.comps {
		c := &j.comps[k]
		// libjpeg: double a component's DCT size while its samples stay no
		// denser than the output's.
		c.size = minSize
		for c.size < 8 && (j.hmax*minSize)%(c.h*c.size*2) == 0 && (j.vmax*minSize)%(c.v*c.size*2) == 0 {
			c.size *= 2
		}
		if c.size > 4 || c.h*c.size != j.hmax*minSize || c.v*c.size != j.vmax*minSize {
			return d, fmt.Errorf("sampling %d×%d of %d×%d needs upsampling: %w", c.h, c.v, j.hmax, j.vmax, errNotReduced)
		}
	}
	if err := checkDims(JPEG, j.width, j.height, Limits{MaxPixels: 1 << 62}); err != nil {
		return d, err
	}
	outW, outH := (j.width+scale-1)/scale, (j.height+scale-1)/scale
	if int64(outW)*int64(outH) > lim.MaxPixels {
		return d, fmt.Errorf("decode jpeg: %d×%d is over the %d-pixel limit even at 1/%d scale: %w",
			j.width, j.height, lim.MaxPixels, scale, ErrTooLarge)
	}
	mcuW, mcuH := 8*j.hmax, 8*j.vmax
	mcusX, mcusY := (j.width+mcuW-1)/mcuW, (j.height+mcuH-1)/mcuH
	planeW, planeH := mcusX*j.hmax*minSize, mcusY*j.vmax*minSize
	bpp := int64(4)
	if len(j.comps) == 1 {
		bpp = 1
	}
	est := int64(planeW)*int64(planeH)*int64(len(j.comps)) + int64(outW)*int64(outH)*bpp
	release, err := reserve(context.Background(), JPEG, j.width, j.height, est, lim)
	if err != nil {
		return d, err
	}
	defer release()
	var grey *image.Gray
	if len(j.comps) == 1 {
		// The grey raster is the plane itself, cropped.
		grey = image.NewGray(image.Rect(0, 0, planeW, planeH))
		j.comps[0].plane, j.comps[0].stride = grey.Pix, grey.Stride
	} else {
		for k := range j.comps {
			j.comps[k].plane, j.comps[k].stride = make([]byte, planeW*planeH), planeW
		}
	}
	if err := j.scan(b[j.scanAt:], mcusX, mcusY); err != nil {
		return d, err
	}
	if grey != nil {
		d.Image = grey.SubImage(image.Rect(0, 0, outW, outH))
		return d, nil
	}
	rgba := image.NewRGBA(image.Rect(0, 0, outW, outH))
	yccToRGBA(rgba, &j.comps[0], &j.comps[1], &j.comps[2])
	d.Image = rgba
	return d, nil
}

// scan decodes the entropy-coded data, block by block into the planes.
func (j *jpegReader) scan(b []byte, mcusX, mcusY int) error {
	br := bitReader{b: b}
	var blk [64]int32
	mcus, nextRST := 0, 0
	for my := range mcusY {
		for mx := range mcusX {
			if j.restart > 0 && mcus > 0 && mcus%j.restart == 0 {
				if err := br.restart(nextRST); err != nil {
					return err
				}
				nextRST = (nextRST + 1) & 7
				for k := range j.comps {
					j.comps[k].pred = 0
				}
			}
			mcus++
			for k := range j.comps {
				c := &j.comps[k]
				q := &j.quant[c.tq]
				dc, ac := j.huff[0][c.td], j.huff[1][c.ta]
				for by := range c.v {
					for bx := range c.h {
						if err := br.block(&blk, dc, ac, q, &c.pred, c.size == 1); err != nil {
							return err
						}
						x, y := (mx*c.h+bx)*c.size, (my*c.v+by)*c.size
						out := c.plane[y*c.stride+x:]
						switch c.size {
						case 1:
							idct1(&blk, out)
						case 2:
							idct2(&blk, out, c.stride)
						default:
							idct4(&blk, out, c.stride)
						}
					}
				}
			}
		}
		if br.overrun() {
			return fmt.Errorf("decode jpeg: entropy-coded data ends at MCU row %d of %d: %w", my, mcusY, ErrCorrupt)
		}
	}
	// What follows the scan must be markers up to EOI (libjpeg warns,
	// and so stops, on anything else).
	i := skipEntropy(b, br.pos())
	for {
		if i+2 > len(b) || b[i] != 0xff {
			return fmt.Errorf("decode jpeg: no EOI after the scan: %w", ErrCorrupt)
		}
		switch m := b[i+1]; {
		case m == 0xd9:
			return nil
		case m == 0xff:
			i++
		case m >= 0xd0 && m <= 0xd7:
			i += 2
		default:
			return fmt.Errorf("decode jpeg: marker %#x after the scan: %w", m, errNotReduced)
		}
	}
}

// zigzag maps a coefficient's position in the entropy-coded order to its
// natural (row-major) position.
var zigzag = [64]uint8{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
}

// huffTable decodes one Huffman table: codes of up to lookBits bits by
// one table lookup, longer ones by the canonical code ranges.
type huffTable struct {
	look [1 << lookBits]uint16 // length<<8 | value; 0 = longer code
	// fastAC decodes, by the same lookup, an AC code and the coefficient
	// bits after it when both fit in lookBits: value<<16 | run<<8 | total
	// length; 0 = not such a code (also end of block and runs of 16).
	fastAC  [1 << lookBits]int32
	maxCode [18]int32 // largest code of each length, -1 if none
	valPtr  [17]int32 // index in vals of the first code of each length, minus that code
	vals    []byte
}

const lookBits = 9

func newHuffTable(counts [16]int, vals []byte) (*huffTable, error) {
	t := &huffTable{vals: append([]byte(nil), vals...)}
	code, k := int32(0), 0
	for l := 1; l <= 16; l++ {
		n := counts[l-1]
		t.valPtr[l] = int32(k) - code
		if n == 0 {
			t.maxCode[l] = -1
		} else {
			for range n {
				if code >= 1<<l {
					return nil, fmt.Errorf("DHT: over-subscribed code: %w", errNotReduced)
				}
				if l <= lookBits {
					lo := int(code) << (lookBits - l)
					for p := range 1 << (lookBits - l) {
						t.look[lo+p] = uint16(l)<<8 | uint16(vals[k])
					}
				}
				code++
				k++
			}
			t.maxCode[l] = code - 1
		}
		code <<= 1
	}
	t.maxCode[17] = 1 << 30 // sentinel: no code is longer than 16 bits
	for p, e := range t.look {
		l, rs := uint(e>>8), e&0xff
		run, size := uint(rs>>4), uint(rs&15)
		if e == 0 || size == 0 || l+size > lookBits {
			continue
		}
		v := extend(int32(p>>(lookBits-l-size))&(1<<size-1), size)
		t.fastAC[p] = v<<16 | int32(run)<<8 | int32(l+size)
	}
	return t, nil
}

// bitReader reads entropy-coded bits, removing stuffed zero bytes. At a
// marker it supplies zero bits and counts them; a decode that consumed any
// of them ran past its data (overrun).
type bitReader struct {
	b     []byte
	i     int    // next byte
	acc   uint64 // bits, left-aligned
	n     uint   // bits in acc
	zeros uint   // zero bits supplied past a marker (the last ones in acc)
	atMk  bool   // a marker stops the data
}

func (r *bitReader) fill() {
	for r.n <= 56 {
		var c byte
		if !r.atMk && r.i < len(r.b) {
			c = r.b[r.i]
			if c == 0xff {
				if r.i+1 < len(r.b) && r.b[r.i+1] == 0x00 {
					r.i += 2
				} else {
					r.atMk = true
					c = 0
					r.zeros += 8
				}
			} else {
				r.i++
			}
		} else {
			r.atMk = true
			r.zeros += 8
		}
		r.acc |= uint64(c) << (56 - r.n)
		r.n += 8
	}
}

func (r *bitReader) overrun() bool { return r.zeros > r.n }

// pos is the offset of the first byte not wholly consumed.
func (r *bitReader) pos() int {
	i := r.i
	if r.n > r.zeros {
		i -= int(r.n-r.zeros) / 8 // whole unread bytes back (stuffing makes this an underestimate, which skipEntropy absorbs)
	}
	return max(i, 0)
}

// restart expects the restart marker RSTn and starts afresh after it.
func (r *bitReader) restart(n int) error {
	if r.overrun() {
		return fmt.Errorf("decode jpeg: entropy-coded data ends before a restart marker: %w", ErrCorrupt)
	}
	i := nextMarker(r.b, r.pos())
	if i+2 > len(r.b) || r.b[i+1] != byte(0xd0+n) {
		return fmt.Errorf("decode jpeg: restart marker %d missing: %w", n, ErrCorrupt)
	}
	*r = bitReader{b: r.b, i: i + 2}
	return nil
}

// nextMarker returns the offset of the first marker (0xFF followed by
// neither stuffing nor fill) at or after i, restart markers included.
func nextMarker(b []byte, i int) int {
	for ; i+1 < len(b); i++ {
		if b[i] == 0xff && b[i+1] != 0x00 && b[i+1] != 0xff {
			return i
		}
	}
	return len(b)
}

func (r *bitReader) bits(n uint) int32 {
	if r.n < n {
		r.fill()
	}
	v := int32(r.acc >> (64 - n))
	r.acc <<= n
	r.n -= n
	return v
}

func (r *bitReader) huff(t *huffTable) (byte, error) {
	if r.n < 16 {
		r.fill()
	}
	if e := t.look[r.acc>>(64-lookBits)]; e != 0 {
		l := uint(e >> 8)
		r.acc <<= l
		r.n -= l
		return byte(e), nil
	}
	code := int32(r.acc >> (64 - lookBits - 1))
	l := lookBits + 1
	for code > t.maxCode[l] {
		l++
		code = int32(r.acc >> (64 - uint(l)))
	}
	if l > 16 {
		return 0, fmt.Errorf("decode jpeg: bad Huffman code: %w", ErrCorrupt)
	}
	r.acc <<= uint(l)
	r.n -= uint(l)
	k := t.valPtr[l] + code
	if k < 0 || int(k) >= len(t.vals) {
		return 0, fmt.Errorf("decode jpeg: bad Huffman code: %w", ErrCorrupt)
	}
	return t.vals[k], nil
}

// extend turns s received bits into a signed coefficient (T.81 F.12).
func extend(v int32, s uint) int32 {
	if v < 1<<(s-1) {
		return v - (1 << s) + 1
	}
	return v
}

// block decodes one block's coefficients, dequantised, in natural order.
// With dcOnly the AC coefficients are read and dropped.
func (r *bitReader) block(blk *[64]int32, dc, ac *huffTable, q *[64]int32, pred *int, dcOnly bool) error {
	*blk = [64]int32{}
	t, err := r.huff(dc)
	if err != nil {
		return err
	}
	if t > 15 {
		return fmt.Errorf("decode jpeg: DC magnitude %d: %w", t, ErrCorrupt)
	}
	diff := int32(0)
	if t > 0 {
		diff = extend(r.bits(uint(t)), uint(t))
	}
	*pred = int(int16(int32(*pred) + diff)) // libjpeg keeps coefficients as 16 bits
	blk[0] = int32(*pred) * q[0]
	for k := 1; k < 64; k++ {
		if r.n < 16 {
			r.fill()
		}
		if e := ac.fastAC[r.acc>>(64-lookBits)]; e != 0 {
			l := uint(e & 0xff)
			r.acc <<= l
			r.n -= l
			k += int(e>>8) & 0xff
			if k > 63 {
				return fmt.Errorf("decode jpeg: coefficient index %d: %w", k, ErrCorrupt)
			}
			if !dcOnly {
				blk[zigzag[k]] = (e >> 16) * q[k]
			}
			continue
		}
		rs, err := r.huff(ac)
		if err != nil {
			return err
		}
		run, s := int(rs>>4), uint(rs&15)
		if s == 0 {
			if run != 15 {
				break // end of block
			}
			k += 15
			continue
		}
		k += run
		if k > 63 {
			return fmt.Errorf("decode jpeg: coefficient index %d: %w", k, ErrCorrupt)
		}
		v := extend(r.bits(s), s)
		if !dcOnly {
			blk[zigzag[k]] = int32(int16(v)) * q[k]
		}
	}
	return nil
}
