package variant

import (
	"image"
	"runtime"
	"slices"
	"testing"
	"time"
)

// TestFramedAgainstOld checks that framed finds exactly the rectangles of
// the edge-line search before its row prefix sums were limited to the rows
// read (framedRef below, that code verbatim with fresh buffers), on every
// original and copy of the edit corpus, on the usual grid and on one of
// 97 cells a side (a width that is not a multiple of 8).
func TestFramedAgainstOld(t *testing.T) {
	buildCorpus(t)
	var paths []string
	for _, o := range corpus.origs {
		paths = append(paths, o)
	}
	slices.Sort(paths)
	for _, e := range corpus.entries {
		paths = append(paths, e.path)
	}
	found := 0
	for _, p := range paths {
		img := decodeFile(t, p).Image
		for _, max := range []int{detectMax, 97} {
			g := sample(img, max)
			got, want := g.framed(img), g.framedRef(img)
			if !slices.Equal(got, want) {
				t.Errorf("%s (grid %d): framed %v, old code %v", p, max, got, want)
			}
			found += len(got)
		}
	}
	if found == 0 {
		t.Fatal("no rectangle found on the corpus: the comparison checks nothing")
	}
	t.Logf("%d images, %d rectangles, all equal", len(paths), found)
}

// refScratch is framedRef's buffers (the tests run it on one goroutine).
var refScratch frameScratch

// framedRef is framed as it was before the row prefix sums were limited
// to the rows read.
func (g *grid) framedRef(img image.Image) []image.Rectangle {
	w, h := g.w, g.h
	if w < 16 || h < 16 {
		return nil
	}
	sc := &refScratch
	if len(sc.pv) < (h+1)*(w+1) {
		*sc = frameScratch{
			lum: make([]uint8, w*h), d: make([]uint8, w+1), e: make([]uint8, w+1),
			dy: make([]uint8, (h+1)*w), eh: make([]uint8, (h+1)*w),
			pv: make([]uint16, (h+1)*(w+1)), ph: make([]uint16, (h+1)*(w+1)),
		}
	}
	// The old code's reuse: its buffers cleared in full.
	sc.lum, sc.d, sc.e = sc.lum[:w*h], sc.d[:w+1], sc.e[:w+1]
	sc.dy, sc.eh = sc.dy[:(h+1)*w], sc.eh[:(h+1)*w]
	sc.pv, sc.ph = sc.pv[:(h+1)*(w+1)], sc.ph[:(h+1)*(w+1)]
	clear(sc.d)
	clear(sc.e)
	clear(sc.dy)
	clear(sc.eh)
	clear(sc.pv)
	clear(sc.ph)
	// The grid's luma, one byte a cell.
	lum := sc.lum
	for i := range lum {
		p := g.pix[3*i : 3*i+3 : 3*i+3]
		lum[i] = uint8((299*uint32(p[0]) + 587*uint32(p[1]) + 114*uint32(p[2]) + 500) / 1000)
	}
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
	for y := range h {
		// (Slices cut to a constant length, so the loops run without
		// bounds checks.)
		row, d, e := lum[y*w:][:w], d[:w+1], e[:w+1]
		for x := 1; x < w; x++ {
			d[x] = absStep(row[x], row[x-1])
		}
		for x := 1; x < w; x++ {
			v := d[x]
			e[x] = b2u(v >= edgeStep) & b2u(d[x-1] <= v) & b2u(d[x+1] <= v)
		}
		prev, next := pv[y*(w+1):][:w+1], pv[(y+1)*(w+1):][:w+1]
		for x := 1; x < w; x++ {
			next[x] = prev[x] + uint16(e[x-1]|e[x]|e[x+1])
		}
	}
	for x := range w + 1 {
		colN[x] = int(pv[h*(w+1)+x])
	}
	// dy[y*w+x]: step between rows y-1 and y of column x, 0 for rows 0
	// and h; eh[y*w+x]: 1 for an edge at row boundary y of column x.
	dy, eh := sc.dy, sc.eh
	for y := 1; y < h; y++ {
		up, cur, dd := lum[(y-1)*w:][:w], lum[y*w:][:w], dy[y*w:][:w]
		for x := range w {
			dd[x] = absStep(cur[x], up[x])
		}
	}
	for y := 1; y < h; y++ {
		up, cur, down, f := dy[(y-1)*w:][:w], dy[y*w:][:w], dy[(y+1)*w:][:w], eh[y*w:][:w]
		for x := range w {
			v := cur[x]
			f[x] = b2u(v >= edgeStep) & b2u(up[x] <= v) & b2u(down[x] <= v)
		}
	}
	for y := 1; y < h; y++ {
		f, fu, fd := eh[y*w:][:w], eh[(y-1)*w:][:w], eh[(y+1)*w:][:w]
		p := ph[y*(w+1):][1 : w+1]
		var v uint16
		for x := range w {
			v += uint16(f[x] | fu[x] | fd[x])
			p[x] = v
		}
		rowN[y] = int(v)
	}
	cols := topLines(colN, int(0.3*edgeCover*float64(h)))
	rows := topLines(rowN, int(0.3*edgeCover*float64(w)))
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

// BenchmarkFramed times the edge-line search against the code before
// (framedRef), interleaved in the same run, on every copy of the edit
// corpus (the search runs on every image `all` hashes), and reports the ratio (thread CPU time).
//
//	go test -run '^$' -bench Framed -benchtime 5x ./internal/variant
func BenchmarkFramed(b *testing.B) {
	buildCorpus(b)
	var grids []*grid
	var imgs []image.Image
	for _, e := range corpus.entries {
		img := decodeFile(b, e.path).Image
		imgs, grids = append(imgs, img), append(grids, sample(img, detectMax))
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var now, old time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := threadCPU()
		for i, g := range grids {
			g.framedRef(imgs[i])
		}
		t1 := threadCPU()
		for i, g := range grids {
			g.framed(imgs[i])
		}
		now, old = now+threadCPU()-t1, old+t1-t0
	}
	b.ReportMetric(float64(now.Microseconds())/float64(b.N*len(grids)), "µs/img")
	b.ReportMetric(float64(now)/float64(old), "ratio-to-old")
}
