package variant

import (
	"encoding/binary"
	"image"
	"slices"
	"sync"
)

// A picture pasted into a screenshot or a collage keeps straight edges
// where it meets the busy surroundings (other pictures, UI chrome): at
// each row crossing its left or right side the luma steps, at the same
// column, more than at the neighbouring columns. framed looks for
// rectangles whose four sides are such lines along most of their length,
// where trimming finds nothing because the surroundings are not plain.

const (
	// edgeStep is the smallest luma step (0..255) that counts as an edge.
	edgeStep = 12
	// edgeCover is the share of a side's length that must be edge, on
	// three sides at least; the fourth may be the image's border or, at
	// edgeWeak, faint.
	edgeCover, edgeWeak = 0.6, 0.25
	// frameMinArea and frameMaxArea bound a framed rectangle's share of
	// the image: smaller is a thumbnail, larger is the image itself.
	frameMinArea, frameMaxArea = 0.3, 0.92
	// frameLines is how many candidate lines per direction are paired.
	frameLines = 12
	// frameMax is the most rectangles returned.
	frameMax = 2
)

// framed returns up to frameMax rectangles (in img's coordinates, best
// first) bounded on at least three sides by straight edge lines covering
// edgeCover of each side; a fourth side may be the image's own border.
func (g *grid) framed(img image.Image) []image.Rectangle {
	w, h := g.w, g.h
	if w < 16 || h < 16 {
		return nil
	}
	sc := frameScratches.Get().(*frameScratch)
	defer frameScratches.Put(sc)
	sc.size(w, h)
	// lum: the grid's luma, one byte a cell, computed a row at a time in
	// the loop below, which also takes the steps along and across it
	// while the row is in cache.
	lum := sc.lum
	// An edge at column boundary x of row y (between cells x-1 and x) is
	// a luma step of at least edgeStep and no less than the steps at the
	// boundaries beside it; likewise at row boundary y of column x.
	// Counts are kept as prefix sums, with each edge widened by one cell
	// across its line (a step sampled mid-transition shows at the
	// boundary beside): pv[y*(w+1)+x] counts rows < y with an edge at
	// column boundary x; ph[y*(w+1)+x] counts columns < x with an edge at
	// row boundary y. colN and rowN are the lines' totals. Steps beyond
	// the grid count as 0, so a line at the border has only one
	// neighbour to beat, and the arithmetic is branch-free.
	pv, ph := sc.pv, sc.ph
	colN := make([]int, w+1)
	rowN := make([]int, h+1)
	d := sc.d // d[x]: step at boundary x of the row; d[0] = d[w] = 0
	e := sc.e // e[x]: 1 for an edge at boundary x; e[0] = e[w] = 0
	// dy[y*w+x]: step between rows y-1 and y of column x, 0 for rows 0
	// and h; eh[y*w+x]: 1 for an edge at row boundary y of column x.
	dy, eh := sc.dy, sc.eh
	for y := range h {
		// (Slices cut to a constant length, so the loops run without
		// bounds checks.)
		row, d, e := lum[y*w:][:w], d[:w+1], e[:w+1]
		px := g.pix[3*y*w:][:3*w]
		for x := range row {
			p := px[3*x : 3*x+3 : 3*x+3]
			row[x] = uint8((299*uint32(p[0]) + 587*uint32(p[1]) + 114*uint32(p[2]) + 500) / 1000)
		}
		if y > 0 {
			up, dd := lum[(y-1)*w:][:w], dy[y*w:][:w]
			for x := range w {
				dd[x] = absStep(row[x], up[x])
			}
		}
		for x := 1; x < w; x++ {
			d[x] = absStep(row[x], row[x-1])
		}
		for x := 1; x < w; x++ {
			v := d[x]
			e[x] = b2u(v >= edgeStep) & b2u(d[x-1] <= v) & b2u(d[x+1] <= v)
		}
		prev, next := pv[y*(w+1):][:w+1], pv[(y+1)*(w+1):][:w+1]
		next[0], next[w] = 0, 0
		for x := 1; x < w; x++ {
			next[x] = prev[x] + uint16(e[x-1]|e[x]|e[x+1])
		}
	}
	for x := range w + 1 {
		colN[x] = int(pv[h*(w+1)+x])
	}
	for y := 1; y < h; y++ {
		up, cur, down, f := dy[(y-1)*w:][:w], dy[y*w:][:w], dy[(y+1)*w:][:w], eh[y*w:][:w]
		for x := range w {
			v := cur[x]
			f[x] = b2u(v >= edgeStep) & b2u(up[x] <= v) & b2u(down[x] <= v)
		}
	}
	// rowN[y]: edge cells of row boundary y, widened across the line,
	// summed eight cells at a time (each byte of the OR is 0 or 1).
	for y := 1; y < h; y++ {
		f, fu, fd := eh[y*w:][:w], eh[(y-1)*w:][:w], eh[(y+1)*w:][:w]
		var n uint64
		x := 0
		for ; x+8 <= w; x += 8 {
			v := binary.LittleEndian.Uint64(f[x:]) | binary.LittleEndian.Uint64(fu[x:]) | binary.LittleEndian.Uint64(fd[x:])
			n += (v * 0x0101010101010101) >> 56
		}
		for ; x < w; x++ {
			n += uint64(f[x] | fu[x] | fd[x])
		}
		rowN[y] = int(n)
	}
	cols := topLines(colN, int(0.3*edgeCover*float64(h)))
	rows := topLines(rowN, int(0.3*edgeCover*float64(w)))
	// ph is read only at the candidate rows and the rows 4 away that
	// contrast compares them with, so only those get prefix sums.
	for _, r := range rows {
		for _, y := range [3]int{r - 4, r, r + 4} {
			if y <= 0 || y >= h || sc.phRow[y] {
				continue
			}
			sc.phRow[y] = true
			f, fu, fd := eh[y*w:][:w], eh[(y-1)*w:][:w], eh[(y+1)*w:][:w]
			p := ph[y*(w+1):][:w+1]
			p[0] = 0
			var v uint16
			for x := range w {
				v += uint16(f[x] | fu[x] | fd[x])
				p[x+1] = v
			}
		}
	}
	if len(cols) == 0 && len(rows) == 0 {
		return nil
	}
	// The image's own borders stand in for at most one side.
	cols = append(cols, 0, w)
	rows = append(rows, 0, h)
	coverV := func(x, y0, y1 int) float64 {
		if x == 0 || x == w {
			return -1
		}
		if y1 <= y0 {
			return 0
		}
		return contrast(func(x int) int32 { return int32(pv[y1*(w+1)+x]) - int32(pv[y0*(w+1)+x]) }, x, w) / float64(y1-y0)
	}
	coverH := func(y, x0, x1 int) float64 {
		if y == 0 || y == h {
			return -1
		}
		if x1 <= x0 {
			return 0
		}
		return contrast(func(y int) int32 { return int32(ph[y*(w+1)+x1]) - int32(ph[y*(w+1)+x0]) }, y, h) / float64(x1-x0)
	}
	type cand struct {
		r     image.Rectangle
		score float64
	}
	var cands []cand
	area := float64(w * h)
	for i, xa := range cols {
		for _, xb := range cols[i+1:] {
			x0, x1 := min(xa, xb), max(xa, xb)
			if x1-x0 < 3 {
				continue
			}
			for j, ya := range rows {
				for _, yb := range rows[j+1:] {
					y0, y1 := min(ya, yb), max(ya, yb)
					if y1-y0 < 3 {
						continue
					}
					a := float64((x1-x0)*(y1-y0)) / area
					if a < frameMinArea || a > frameMaxArea {
						continue
					}
					sides := [4]float64{coverV(x0, y0, y1), coverV(x1, y0, y1), coverH(y0, x0, x1), coverH(y1, x0, x1)}
					border, score, ok := 0, 0.0, true
					for _, c := range sides {
						switch {
						case c < 0:
							border++
						case c < edgeWeak:
							ok = false
						case c < edgeCover:
							// One side may be faint (the picture's edge
							// close in colour to what lies beyond it).
							border++
							score += c
						default:
							score += c
						}
					}
					if !ok || border > 1 {
						continue
					}
					// A side of the picture ends at its corners: a line
					// that goes on past them is a longer line (a
					// picture's own, or the surroundings'). (Measured
					// only for rectangles kept.)
					lx, ly := max((x1-x0)/8, 2), max((y1-y0)/8, 2)
					past := max(0, coverV(x0, max(y0-ly, 0), y0)) + max(0, coverV(x0, y1, min(y1+ly, h))) +
						max(0, coverV(x1, max(y0-ly, 0), y0)) + max(0, coverV(x1, y1, min(y1+ly, h))) +
						max(0, coverH(y0, max(x0-lx, 0), x0)) + max(0, coverH(y0, x1, min(x1+lx, w))) +
						max(0, coverH(y1, max(x0-lx, 0), x0)) + max(0, coverH(y1, x1, min(x1+lx, w)))
					cands = append(cands, cand{image.Rect(x0, y0, x1, y1), score + float64(1-border) - past/2})
				}
			}
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	var out []image.Rectangle
	var kept []image.Rectangle
	for _, c := range cands {
		if len(out) == frameMax {
			break
		}
		dup := false
		for _, k := range kept {
			if near2(k, c.r) {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		kept = append(kept, c.r)
		out = append(out, g.placeFrame(img, c.r))
	}
	return out
}

// frameScratch holds framed's buffers for a grid of w×h cells (at most
// detectMax a side, so every count fits a uint16), reused across calls.
type frameScratch struct {
	lum, d, e, dy, eh []uint8
	pv, ph            []uint16
	phRow             []bool // rows of ph that hold prefix sums
}

var frameScratches = sync.Pool{New: func() any { return new(frameScratch) }}

// size makes the buffers fit a w×h grid and zeroes the entries framed
// reads without writing: the steps beyond the grid and the first row of
// the column prefix sums (framed writes the rest, and the row prefix sums
// only where it reads them).
func (sc *frameScratch) size(w, h int) {
	fit := func(b []uint8, n int) []uint8 {
		if cap(b) < n {
			return make([]uint8, n)
		}
		return b[:n]
	}
	fit16 := func(b []uint16, n int) []uint16 {
		if cap(b) < n {
			return make([]uint16, n)
		}
		return b[:n]
	}
	sc.lum = fit(sc.lum, w*h)
	sc.d, sc.e = fit(sc.d, w+1), fit(sc.e, w+1)
	clear(sc.d)
	clear(sc.e)
	sc.dy, sc.eh = fit(sc.dy, (h+1)*w), fit(sc.eh, (h+1)*w)
	clear(sc.dy[:w])
	clear(sc.dy[h*w:])
	clear(sc.eh[:w])
	clear(sc.eh[h*w:])
	sc.pv, sc.ph = fit16(sc.pv, (h+1)*(w+1)), fit16(sc.ph, (h+1)*(w+1))
	clear(sc.pv[:w+1])
	if cap(sc.phRow) < h+1 {
		sc.phRow = make([]bool, h+1)
	}
	sc.phRow = sc.phRow[:h+1]
	clear(sc.phRow)
}

// contrast returns the edge count of the line at p less the smaller of
// those of the lines 4 cells to either side (within 0..n): in busy
// surroundings every line has edges, and a picture's side is a line with
// many more than the picture's own lines next to it.
func contrast(count func(int) int32, p, n int) float64 {
	c, m := float64(count(p)), -1.0
	for _, q := range [2]int{p - 4, p + 4} {
		if q > 0 && q < n && (m < 0 || float64(count(q)) < m) {
			m = float64(count(q))
		}
	}
	return max(c-max(m, 0), 0)
}

// near2 reports whether every edge of a and b is within 2 cells.
func near2(a, b image.Rectangle) bool {
	return abs(a.Min.X-b.Min.X) <= 2 && abs(a.Max.X-b.Max.X) <= 2 && abs(a.Min.Y-b.Min.Y) <= 2 && abs(a.Max.Y-b.Max.Y) <= 2
}

// topLines returns the positions of up to frameLines lines with at least
// min edge cells, strongest first, each at least 3 cells from a stronger one.
func topLines(n []int, minN int) []int {
	idx := make([]int, 0, len(n))
	for i, v := range n {
		// Lines within 2 cells of the border are the border's.
		if v >= max(minN, 1) && i > 2 && i < len(n)-3 {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int { return n[b] - n[a] })
	var out []int
	for _, i := range idx {
		if len(out) == frameLines {
			break
		}
		ok := true
		for _, o := range out {
			if abs(o-i) < 3 {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, i)
		}
	}
	return out
}

// placeFrame maps a grid rectangle of edge lines onto img's pixels: each
// side that is a line moves to the image boundary, within the cells the
// line may have been seen at, where the luma steps most in total along
// the side (read at up to 64 points).
func (g *grid) placeFrame(img image.Image, r image.Rectangle) image.Rectangle {
	b := img.Bounds()
	full := image.Rect(0, 0, g.sw, g.sh)
	out := image.Rect(r.Min.X*g.sw/g.w, r.Min.Y*g.sh/g.h, r.Max.X*g.sw/g.w, r.Max.Y*g.sh/g.h)
	if r.Max.X == g.w {
		out.Max.X = g.sw
	}
	if r.Max.Y == g.h {
		out.Max.Y = g.sh
	}
	const pts = 64
	var ys, xs [pts]int
	var a, c [3 * pts]uint8
	// best returns the boundary in [lo, hi] (between lines p-1 and p)
	// with the largest total step, reading lines across [s0, s1).
	best := func(vertical bool, lo, hi, s0, s1 int) int {
		n := min(pts, s1-s0)
		at := ys[:n]
		if !vertical {
			at = xs[:n]
		}
		for i := range n {
			at[i] = s0 + i*(s1-s0)/n
		}
		limit := g.sw
		if !vertical {
			limit = g.sh
		}
		lo, hi = max(lo, 1), min(hi, limit-1)
		bp, bs := lo, -1
		for p := lo; p <= hi; p++ {
			if vertical {
				readCol(img, p-1, at, a[:])
				readCol(img, p, at, c[:])
			} else {
				readRow(img, p-1, at, a[:])
				readRow(img, p, at, c[:])
			}
			s := 0
			for i := range n {
				s += abs(luma8(a[3*i:]) - luma8(c[3*i:]))
			}
			if s > bs {
				bp, bs = p, s
			}
		}
		return bp
	}
	cx := func(x int) int { return x * g.sw / g.w }
	cy := func(y int) int { return y * g.sh / g.h }
	if r.Min.X > 0 {
		out.Min.X = best(true, cx(r.Min.X-2)+1, cx(min(r.Min.X+1, g.w-1)), out.Min.Y, out.Max.Y)
	}
	if r.Max.X < g.w {
		out.Max.X = best(true, cx(r.Max.X-2)+1, cx(min(r.Max.X+1, g.w-1)), out.Min.Y, out.Max.Y)
	}
	if r.Min.Y > 0 {
		out.Min.Y = best(false, cy(r.Min.Y-2)+1, cy(min(r.Min.Y+1, g.h-1)), out.Min.X, out.Max.X)
	}
	if r.Max.Y < g.h {
		out.Max.Y = best(false, cy(r.Max.Y-2)+1, cy(min(r.Max.Y+1, g.h-1)), out.Min.X, out.Max.X)
	}
	return out.Intersect(full).Add(b.Min)
}

// absStep is |a − b|, without a branch.
func absStep(a, b uint8) uint8 {
	d := int32(a) - int32(b)
	m := d >> 31
	return uint8((d ^ m) - m)
}

// b2u is 1 for true, 0 for false.
func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func luma8(p []uint8) int { return (299*int(p[0]) + 587*int(p[1]) + 114*int(p[2]) + 500) / 1000 }
