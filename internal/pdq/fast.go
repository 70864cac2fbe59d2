package pdq

import "image"

// This file is a second route from a Plane's region, or an image, to the
// 64×64 downsample, for callers that hash many regions of one image and can
// take a hash within float rounding of the reference instead of bit for
// bit (internal/variant's region and mirrored passes).
//
// The reference's tent filter is four box passes (rows, columns, rows,
// columns) and decimation reads only 64×64 of its outputs. Each pass is
// linear along one axis, so the output at decimation row i and column j is
//
//	Σ_r a_i[r] · Σ_c b_j[c] · luma[r][c]
//
// where a_i is the column box applied twice, read at output row rowAt[i],
// and b_j the row box applied twice at column at[j]: a tent of at most
// 2·window−1 taps with the reference's shrinking windows (and their counts)
// at the edges. The fast route computes those weights once per size (in
// float64, applied in float32) and, for each decimation row, first sums
// its ≤ 2·window−1 luma rows with a_i's weights over the columns some b_j
// reads, then takes the 64 dot products with the b_j: for a 512×512 input
// (window 4) about 230,000 multiply-adds instead of four full passes, and
// only the luma under the supports is read. The DCT, median and quality
// that follow are the reference's.
//
// The sums run in another order than the reference's float32 running
// sums, so the downsample differs by rounding (the reference's, for the
// most part) and a DCT coefficient within that rounding of the median can
// land on the other side: TestFastMatchesExact measures the hash distance
// on many regions (0 at quality ≥ 50) and FuzzFast bounds the downsample's
// difference.

// tent is the twice-applied 1-D box filter of one axis read at the 64
// decimation positions: output k reads inputs start[k] … start[k]+n[k]−1
// with weights w[off[k] : off[k]+n[k]].
type tent struct {
	size, window int // the axis length and box window the weights are for
	start        [64]int
	n            [64]int
	off          [64]int
	w            []float64
}

// boxWindow returns the inputs [lo, hi] the reference box filter (boxRow)
// averages at output o of an n-long axis with window full.
func boxWindow(o, n, full int) (lo, hi int) {
	half := (full + 2) / 2
	return max(0, o+half-full), min(n-1, o+half-1)
}

// build computes the tent weights of an n-long axis with window full at the
// decimation positions at, reusing t's buffers, and reports whether it did:
// it does nothing when t already holds them.
func (t *tent) build(n, full int, at *[64]int) bool {
	if t.size == n && t.window == full && len(t.w) > 0 {
		return false
	}
	t.size, t.window = n, full
	t.w = t.w[:0]
	for k, o := range at {
		lo, hi := boxWindow(o, n, full)
		first, _ := boxWindow(lo, n, full)
		_, last := boxWindow(hi, n, full)
		t.start[k], t.n[k], t.off[k] = first, last-first+1, len(t.w)
		for range last - first + 1 {
			t.w = append(t.w, 0)
		}
		w := t.w[t.off[k]:]
		co := float64(hi - lo + 1)
		for m := lo; m <= hi; m++ {
			mlo, mhi := boxWindow(m, n, full)
			f := 1 / (co * float64(mhi-mlo+1))
			for c := mlo; c <= mhi; c++ {
				w[c-first] += f
			}
		}
	}
	return true
}

// fastBufs is the fast route's scratch, kept in a Hasher.
type fastBufs struct {
	rows, cols tent
	rowW, colW []float32 // the tents' weights in float32
	planeCol   []int     // gathered route: plane column of each accumulator
	accIdx     []int     // accumulator of every horizontal tap, in output order
	acc        []float32 // one decimation row filtered vertically
	cache      []float32 // tentImage: rowSlots luma rows
	cacheY     [rowSlots]int
}

// HashPlaneFast is HashPlane with the tent filter evaluated only where
// decimation reads it (see the file comment in fast.go): the hash is within
// float rounding of HashPlane's, not bit for bit (measured on the test
// corpus's regions: 0 bits apart on every one of quality ≥ 50, see
// TestFastMatchesExact), and the quality within 1. Use HashPlane for a hash that is exchanged or
// printed as an image's PDQ.
func HashPlaneFast(p *Plane, r image.Rectangle, m Mirror) Result {
	h := pool.Get().(*Hasher)
	res := h.HashPlaneFast(p, r, m)
	pool.Put(h)
	return res
}

// HashImageFast is HashImage by the fast route of HashPlaneFast, reading
// img's pixels directly: only the luma rows the tents read are converted
// (for a 512×512 resize 448 of the 512). Its hash is within float rounding
// of HashImage's, and its quality within 1.
func HashImageFast(img image.Image) Result {
	h := pool.Get().(*Hasher)
	res := h.HashImageFast(img)
	pool.Put(h)
	return res
}

// HashImageFast is the package-level HashImageFast using h's buffers.
func (h *Hasher) HashImageFast(img image.Image) Result {
	w, ht := h.src.setImage(img)
	defer h.src.release()
	if w < minDim || ht < minDim {
		return Result{}
	}
	q := h.downsampleFast(w, ht, false)
	dct64To16(&h.a, &h.t, &h.b)
	return Result{Hash: bitsFromDCT(&h.b), Quality: q}
}

// HashPlanePairFast is HashPlanePair by the fast route of HashPlaneFast.
func HashPlanePairFast(p *Plane, r image.Rectangle, m Mirror) (orig, transposed Hash, quality int) {
	h := pool.Get().(*Hasher)
	orig, transposed, quality = h.HashPlanePairFast(p, r, m)
	pool.Put(h)
	return orig, transposed, quality
}

// HashPlaneFast is the package-level HashPlaneFast using h's buffers.
func (h *Hasher) HashPlaneFast(p *Plane, r image.Rectangle, m Mirror) Result {
	w, ht := h.src.setPlane(p, r, m)
	defer h.src.release()
	if w < minDim || ht < minDim {
		return Result{}
	}
	q := h.downsampleFast(w, ht, false)
	dct64To16(&h.a, &h.t, &h.b)
	return Result{Hash: bitsFromDCT(&h.b), Quality: q}
}

// HashPlanePairFast is the package-level HashPlanePairFast using h's
// buffers.
func (h *Hasher) HashPlanePairFast(p *Plane, r image.Rectangle, m Mirror) (orig, transposed Hash, quality int) {
	w, ht := h.src.setPlane(p, r, m)
	defer h.src.release()
	if w < minDim || ht < minDim {
		return Hash{}, Hash{}, 0
	}
	quality = h.downsampleFast(w, ht, true)
	dct64To16(&h.a, &h.t, &h.b)
	orig = bitsFromDCT(&h.b)
	return orig, transpose(orig), quality
}

// transpose returns h with bit i·16+j moved to j·16+i.
func transpose(h Hash) Hash {
	var t Hash
	for i := range 16 {
		for j := range 16 {
			if h.Bit(i*16 + j) {
				t.SetBit(j*16 + i)
			}
		}
	}
	return t
}

// downsampleFast is downsample by the tents' dot products, for a plane
// source (set by setPlane) or an image (setImage, see tentImage): it
// fills h.a with the w×ht luma's tent-filtered 64×64 decimation, computed
// as the two tents' dot products, and returns its quality.
//
// Each decimation row is first filtered vertically: its ≤ 2·window−1 luma
// rows are summed with the row tent's weights into one accumulator per
// plane column the column tents read (for a region at full resolution the
// contiguous span of plane columns they cover, read straight from the
// plane's rows; for a resized region only the sampled columns). The 64
// horizontal dot products of that row then read the accumulators, through
// the column map that applies the mirroring.
func (h *Hasher) downsampleFast(w, ht int, blur64 bool) int {
	s := &h.src
	if w == 64 && ht == 64 && !blur64 {
		for y := range 64 {
			s.fillRow(y, h.a[y*64:y*64+64])
		}
		return quality(&h.a)
	}
	for k := range 64 {
		h.at[k] = int(((float64(k) + 0.5) * float64(w)) / 64)
		h.rowAt[k] = int(((float64(k) + 0.5) * float64(ht)) / 64)
	}
	f := &h.fast
	if f.cols.build(w, windowSize(w), &h.at) {
		f.colW = to32(f.colW, f.cols.w)
	}
	if f.rows.build(ht, windowSize(ht), &h.rowAt) {
		f.rowW = to32(f.rowW, f.rows.w)
	}

	if s.kind != kindPlane {
		h.tentImage(w)
		return quality(&h.a)
	}
	pl := s.plane
	rw, rh := s.rect.Dx(), s.rect.Dy()
	mirX := s.mirror&MirrorX != 0
	// Plane column (relative to the region) of luma column x.
	col := func(x int) int {
		sx := s.xs[x]
		if mirX {
			sx = rw - 1 - sx
		}
		return sx
	}
	first := f.cols.start[0]
	last := f.cols.start[63] + f.cols.n[63] - 1
	var c0, span int // contiguous route: accumulators for region columns c0 … c0+span−1
	gather := s.scaled
	if !gather {
		c0, span = min(col(first), col(last)), abs(col(last)-col(first))+1
		f.accIdx = f.accIdx[:0]
		for k := range 64 {
			for x := f.cols.start[k]; x < f.cols.start[k]+f.cols.n[k]; x++ {
				f.accIdx = append(f.accIdx, col(x)-c0)
			}
		}
	} else {
		// Luma columns are read in increasing order, so each new one is
		// the next accumulator.
		f.planeCol, f.accIdx = f.planeCol[:0], f.accIdx[:0]
		next := first
		for k := range 64 {
			for x := f.cols.start[k]; x < f.cols.start[k]+f.cols.n[k]; x++ {
				for ; next <= x; next++ {
					f.planeCol = append(f.planeCol, s.rect.Min.X+col(next))
				}
				f.accIdx = append(f.accIdx, x-first)
			}
		}
		span = len(f.planeCol)
	}
	if cap(f.acc) < span {
		f.acc = make([]float32, span)
	}
	acc := f.acc[:span]
	base := s.rect.Min.X + c0
	for i := range 64 {
		r0, nr := f.rows.start[i], f.rows.n[i]
		rws := f.rowW[f.rows.off[i] : f.rows.off[i]+nr]
		// Rows are added four at a time (then two, then one), so each
		// accumulator is loaded and stored once per four rows.
		for t := 0; t < nr; {
			k := 4
			switch {
			case nr-t >= 4:
			case nr-t >= 2:
				k = 2
			default:
				k = 1
			}
			var rows [4][]float32
			for u := range k {
				sy := s.srcY(r0 + t + u)
				if s.mirror&MirrorY != 0 {
					sy = rh - 1 - sy
				}
				o := (s.rect.Min.Y + sy) * pl.W
				if gather {
					rows[u] = pl.Pix[o : o+pl.W]
				} else {
					rows[u] = pl.Pix[o+base : o+base+span]
				}
			}
			wt := rws[t : t+k]
			if gather {
				addRowsGather(acc, f.planeCol, &rows, wt, t == 0)
			} else {
				addRows(acc, &rows, wt, t == 0)
			}
			t += k
		}
		h.tentRow(i, acc)
	}
	return quality(&h.a)
}

// rowSlots is the size of tentImage's cache of luma rows: a decimation
// row's tent spans at most 7 rows, and two consecutive ones at most 14.
const rowSlots = 16

// tentImage fills h.a from an image source (set by setImage), whose luma
// rows are converted on demand, each at most once: only the rows some tent
// reads (for a 512×512 resize, 448 of them) are read from the image.
func (h *Hasher) tentImage(w int) {
	s, f := &h.src, &h.fast
	first := f.cols.start[0]
	span := f.cols.start[63] + f.cols.n[63] - first
	f.accIdx = f.accIdx[:0]
	for k := range 64 {
		for x := f.cols.start[k]; x < f.cols.start[k]+f.cols.n[k]; x++ {
			f.accIdx = append(f.accIdx, x-first)
		}
	}
	if cap(f.cache) < rowSlots*w {
		f.cache = make([]float32, rowSlots*w)
	}
	f.cache = f.cache[:rowSlots*w]
	for i := range f.cacheY {
		f.cacheY[i] = -1
	}
	row := func(y int) []float32 {
		k := y % rowSlots
		buf := f.cache[k*w : k*w+w]
		if f.cacheY[k] != y {
			s.fillRow(y, buf)
			f.cacheY[k] = y
		}
		return buf[first : first+span]
	}
	if cap(f.acc) < span {
		f.acc = make([]float32, span)
	}
	acc := f.acc[:span]
	for i := range 64 {
		r0, nr := f.rows.start[i], f.rows.n[i]
		rws := f.rowW[f.rows.off[i] : f.rows.off[i]+nr]
		for t := 0; t < nr; {
			k := 4
			switch {
			case nr-t >= 4:
			case nr-t >= 2:
				k = 2
			default:
				k = 1
			}
			var rows [4][]float32
			for u := range k {
				rows[u] = row(r0 + t + u)
			}
			addRows(acc, &rows, rws[t:t+k], t == 0)
			t += k
		}
		h.tentRow(i, acc)
	}
}

// tentRow writes decimation row i of h.a: the column tents over acc, the
// row's vertically filtered accumulators (f.accIdx maps the taps to them).
func (h *Hasher) tentRow(i int, acc []float32) {
	f := &h.fast
	dst := (*[64]float32)(h.a[i*64 : i*64+64])
	idx, cw := f.accIdx, f.colW
	for k := range 64 {
		n := f.cols.n[k]
		var sum float32
		for t, ci := range idx[:n] {
			sum += cw[t] * acc[ci]
		}
		idx, cw = idx[n:], cw[n:]
		dst[k] = sum
	}
}

// addRows sets (first) or adds to acc the weighted sum of the len(wt) ≤ 4
// rows, each len(acc) long.
func addRows(acc []float32, rows *[4][]float32, wt []float32, first bool) {
	n := len(acc)
	switch len(wt) {
	case 4:
		r0, r1, r2, r3 := rows[0][:n], rows[1][:n], rows[2][:n], rows[3][:n]
		w0, w1, w2, w3 := wt[0], wt[1], wt[2], wt[3]
		if first {
			for c := range acc {
				acc[c] = (w0*r0[c] + w1*r1[c]) + (w2*r2[c] + w3*r3[c])
			}
		} else {
			for c := range acc {
				acc[c] += (w0*r0[c] + w1*r1[c]) + (w2*r2[c] + w3*r3[c])
			}
		}
	case 2:
		r0, r1 := rows[0][:n], rows[1][:n]
		w0, w1 := wt[0], wt[1]
		if first {
			for c := range acc {
				acc[c] = w0*r0[c] + w1*r1[c]
			}
		} else {
			for c := range acc {
				acc[c] += w0*r0[c] + w1*r1[c]
			}
		}
	default:
		r0, w0 := rows[0][:n], wt[0]
		if first {
			for c := range acc {
				acc[c] = w0 * r0[c]
			}
		} else {
			for c := range acc {
				acc[c] += w0 * r0[c]
			}
		}
	}
}

// addRowsGather is addRows reading row entry cols[c] for accumulator c.
func addRowsGather(acc []float32, cols []int, rows *[4][]float32, wt []float32, first bool) {
	cols = cols[:len(acc)]
	switch len(wt) {
	case 4:
		r0, r1, r2, r3 := rows[0], rows[1][:len(rows[0])], rows[2][:len(rows[0])], rows[3][:len(rows[0])]
		w0, w1, w2, w3 := wt[0], wt[1], wt[2], wt[3]
		for c, x := range cols {
			v := (w0*r0[x] + w1*r1[x]) + (w2*r2[x] + w3*r3[x])
			if !first {
				v += acc[c]
			}
			acc[c] = v
		}
	case 2:
		r0, r1 := rows[0], rows[1][:len(rows[0])]
		w0, w1 := wt[0], wt[1]
		for c, x := range cols {
			v := w0*r0[x] + w1*r1[x]
			if !first {
				v += acc[c]
			}
			acc[c] = v
		}
	default:
		r0, w0 := rows[0], wt[0]
		for c, x := range cols {
			v := w0 * r0[x]
			if !first {
				v += acc[c]
			}
			acc[c] = v
		}
	}
}

// to32 returns w in float32, reusing dst's buffer.
func to32(dst []float32, w []float64) []float32 {
	dst = dst[:0]
	for _, v := range w {
		dst = append(dst, float32(v))
	}
	return dst
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
