package variant

import (
	"image"
	"sync"
)

// detectMax is the longest side of the grid regions are found on: each
// side of the image is sampled by nearest neighbour to at most detectMax
// cells (the aspect ratio need not be kept). Regions found on it are then
// placed on the image's own pixels by refine, so the grid only has to be
// fine enough to see bars, bands and frames, not to place their edges.
const detectMax = 256

// grid is img sampled by nearest neighbour to at most max cells a side
// (CImg's mapping src = dst·size/n); 8-bit RGB. Regions are found on it.
type grid struct {
	w, h int
	pix  []uint8 // 3 bytes a cell, row-major
	sw   int     // source width and height
	sh   int
}

func sample(img image.Image, maxSide int) *grid {
	b := img.Bounds()
	g := &grid{sw: b.Dx(), sh: b.Dy(), w: min(b.Dx(), maxSide), h: min(b.Dy(), maxSide)}
	if g.w <= 0 || g.h <= 0 {
		g.w, g.h = 0, 0
		return g
	}
	n := 3 * g.w * g.h
	if b, ok := gridPix.Get().(*[]uint8); ok && cap(*b) >= n {
		g.pix = (*b)[:n] // every cell is written below
	} else {
		g.pix = make([]uint8, n)
	}
	xs := make([]int, g.w)
	for x := range xs {
		xs[x] = x * g.sw / g.w
	}
	for y := range g.h {
		readRow(img, y*g.sh/g.h, xs, g.pix[3*y*g.w:3*(y+1)*g.w])
	}
	return g
}

// gridPix holds grids' cell buffers (3·detectMax² bytes) between calls.
var gridPix sync.Pool

// release returns g's cell buffer for the next sample; g is not used after.
func (g *grid) release() {
	if cap(g.pix) > 0 && cap(g.pix) <= 3*detectMax*detectMax {
		b := g.pix[:0]
		gridPix.Put(&b)
	}
	g.pix = nil
}

// readRow writes the RGB of img's pixels at columns xs (relative to the
// bounds) of row y (relative) into dst, 3 bytes each.
func readRow(img image.Image, y int, xs []int, dst []uint8) {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.RGBA:
		rgbRow(m.Pix[y*m.Stride:], xs, dst)
	case *image.NRGBA:
		rgbRow(m.Pix[y*m.Stride:], xs, dst)
	case *image.Gray:
		src := m.Pix[y*m.Stride:]
		for x, sx := range xs {
			v := src[sx]
			dst[3*x], dst[3*x+1], dst[3*x+2] = v, v, v
		}
	default:
		for x, sx := range xs {
			r, gg, bb, _ := img.At(b.Min.X+sx, b.Min.Y+y).RGBA()
			dst[3*x], dst[3*x+1], dst[3*x+2] = uint8(r>>8), uint8(gg>>8), uint8(bb>>8)
		}
	}
}

// rgbRow copies the RGB of the 4-byte pixels of src at columns xs to dst.
func rgbRow(src []uint8, xs []int, dst []uint8) {
	dst = dst[:3*len(xs)]
	for x, sx := range xs {
		p := src[4*sx : 4*sx+3 : 4*sx+3]
		d := dst[3*x : 3*x+3 : 3*x+3]
		d[0], d[1], d[2] = p[0], p[1], p[2]
	}
}

// readCol is readRow for column x at rows ys.
func readCol(img image.Image, x int, ys []int, dst []uint8) {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.RGBA:
		for i, sy := range ys {
			o := sy*m.Stride + 4*x
			copy(dst[3*i:3*i+3], m.Pix[o:o+3])
		}
	case *image.NRGBA:
		for i, sy := range ys {
			o := sy*m.Stride + 4*x
			copy(dst[3*i:3*i+3], m.Pix[o:o+3])
		}
	case *image.Gray:
		for i, sy := range ys {
			v := m.Pix[sy*m.Stride+x]
			dst[3*i], dst[3*i+1], dst[3*i+2] = v, v, v
		}
	default:
		for i, sy := range ys {
			r, gg, bb, _ := img.At(b.Min.X+x, b.Min.Y+sy).RGBA()
			dst[3*i], dst[3*i+1], dst[3*i+2] = uint8(r>>8), uint8(gg>>8), uint8(bb>>8)
		}
	}
}

// rule says which edge lines (rows or columns) are trimmed. A side is
// trimmed only when its outermost line of the whole image is plain: at
// least 97 % of its cells within tol (per channel) of the line's
// per-channel median, the reference colour. Lines are then removed up to
// the last plain line before the first line with less than frac of its
// cells of that colour (with frac < 97 %, lines of text on the band's
// background may lie between plain ones). Checking the
// whole image's edge keeps a letterbox's trimming to its bars: the content's
// own plain side, seen only once the bars are gone, is not cut away.
type rule struct {
	tol  int
	frac float64
	// sides limits the rule to some sides (top, bottom, left, right).
	sides [4]bool
	// minCut and maxCut bound the share of a side removed on one edge:
	// less is noise at the edge, more is part of the picture.
	minCut, maxCut float64
}

// edgeFrac is the share of an outermost line that must be one colour for
// its side to be trimmed at all.
const edgeFrac = 0.97

// borderRule trims bars, frames and canvas: lines of one colour up to
// compression noise, on any side, 2–40 % of a side each (a picture
// embedded at a quarter of a side still has its content found).
var borderRule = rule{tol: 24, frac: edgeFrac, sides: [4]bool{true, true, true, true}, minCut: 0.02, maxCut: 0.4}

// captionRule trims a caption band at the top or bottom, 4–35 % of the
// height: from a plain edge line (the band's margin) through lines where
// at least 55 % of the cells have the band's background colour (text
// covers the rest) to the band's last plain line, its inner margin.
var captionRule = rule{tol: 32, frac: 0.55, sides: [4]bool{true, false, false, false}, minCut: 0.04, maxCut: 0.35}

// captionBottom is captionRule at the bottom: a caption is removed on one
// side at a time, so a plain strip of the picture at the other side is not
// cut with it.
var captionBottom = rule{tol: 32, frac: 0.55, sides: [4]bool{false, true, false, false}, minCut: 0.04, maxCut: 0.35}

// textFrac is the least share of a caption band's colour in a line of
// large text, which is then two-toned: the band's colour and the text's.
const textFrac = 0.2

// twoTone reports whether the cells not of colour ref (within tol) are,
// at 70 % or more, of one other colour (within twice tol): a line of text
// on a band, where a line of a picture has many colours.
func twoTone(cells [][]uint8, ref [3]int, tol int) bool {
	var other [][]uint8
	for _, p := range cells {
		if abs(int(p[0])-ref[0]) > tol || abs(int(p[1])-ref[1]) > tol || abs(int(p[2])-ref[2]) > tol {
			other = append(other, p)
		}
	}
	if len(other) == 0 {
		return true
	}
	return share(other, median3(other), 2*tol) >= 0.7
}

// cell returns the RGB of grid cell (x, y).
func (g *grid) cell(x, y int) []uint8 { o := 3 * (y*g.w + x); return g.pix[o : o+3 : o+3] }

// line returns the cells of row y (horizontal) in [a,b), or of column x.
func (g *grid) lineCells(horizontal bool, at, a, b int, dst [][]uint8) [][]uint8 {
	dst = dst[:0]
	for i := a; i < b; i++ {
		if horizontal {
			dst = append(dst, g.cell(i, at))
		} else {
			dst = append(dst, g.cell(at, i))
		}
	}
	return dst
}

// median3 returns the per-channel median of cells (the element at index
// len/2 of each channel's sorted values), counted in a histogram.
func median3(cells [][]uint8) [3]int {
	var m [3]int
	var hist [3][256]int32
	for _, p := range cells {
		hist[0][p[0]]++
		hist[1][p[1]]++
		hist[2][p[2]]++
	}
	k := int32(len(cells) / 2)
	for c := range 3 {
		var n int32
		for v := range 256 {
			n += hist[c][v]
			if n > k {
				m[c] = v
				break
			}
		}
	}
	return m
}

func share(cells [][]uint8, ref [3]int, tol int) float64 {
	n := 0
	for _, p := range cells {
		if abs(int(p[0])-ref[0]) <= tol && abs(int(p[1])-ref[1]) <= tol && abs(int(p[2])-ref[2]) <= tol {
			n++
		}
	}
	return float64(n) / float64(len(cells))
}

// cut is what trim removed: the grid rectangle left, and per side (top,
// bottom, left, right) the lines removed and the reference colour.
type cut struct {
	r    image.Rectangle
	n    [4]int
	refs [4][3]int
	tol  int
}

// trim returns the grid rectangle left after removing, side by side, the
// edge lines the rule accepts.
func (g *grid) trim(ru rule) cut {
	r := image.Rect(0, 0, g.w, g.h)
	c := cut{r: r, tol: ru.tol}
	if g.w == 0 {
		return c
	}
	var cells [][]uint8
	var eligible [4]bool
	for side := range 4 {
		if !ru.sides[side] {
			continue
		}
		cells = g.edge(r, side, 0, cells)
		c.refs[side] = median3(cells)
		eligible[side] = share(cells, c.refs[side], ru.tol) >= edgeFrac
	}
	for side := range 4 {
		if !eligible[side] {
			continue
		}
		span, size := r.Dy(), g.h
		if side >= 2 {
			span, size = r.Dx(), g.w
		}
		limit := int(ru.maxCut * float64(size))
		// n is one past the last plain line; lines with only frac of the
		// colour (text) may lie between plain ones, never beyond the last.
		n := 1
		for i := 1; i < span/2 && i <= limit; i++ {
			cells = g.edge(r, side, i, cells)
			sh := share(cells, c.refs[side], ru.tol)
			if sh >= edgeFrac {
				n = i + 1
			} else if sh < ru.frac && !(ru.frac < edgeFrac && sh >= textFrac && twoTone(cells, c.refs[side], ru.tol)) {
				break
			}
		}
		if n > limit || float64(n) < ru.minCut*float64(size) {
			continue
		}
		c.n[side] = n
		switch side {
		case 0:
			r.Min.Y += n
		case 1:
			r.Max.Y -= n
		case 2:
			r.Min.X += n
		default:
			r.Max.X -= n
		}
	}
	c.r = r
	return c
}

// refine places a cut on img's own pixels: each cut edge lies between the
// image line the last removed grid line sampled (plain) and the one the
// first kept grid line sampled (not plain); the image lines between them
// are read, from the outside in, up to the first that is not plain in the
// side's colour. With the grid as fine as the image nothing is read.
func (g *grid) refine(img image.Image, c cut) image.Rectangle {
	b := img.Bounds()
	if g.w == 0 {
		return b
	}
	r := g.toImage(c.r, image.Rect(0, 0, g.sw, g.sh)) // relative to b.Min
	// The lines are sampled across the grid rectangle's extent, at most
	// detectMax points.
	n := min(detectMax, max(r.Dx(), r.Dy()))
	pts := make([]int, n)
	px := make([]uint8, 3*n)
	cells := make([][]uint8, 0, n)
	plain := func(side, at int) bool {
		lo, hi := r.Min.X, r.Max.X
		if side >= 2 {
			lo, hi = r.Min.Y, r.Max.Y
		}
		k := min(n, hi-lo)
		if k <= 0 {
			return false
		}
		for i := range k {
			pts[i] = lo + i*(hi-lo)/k
		}
		if side < 2 {
			readRow(img, at, pts[:k], px)
		} else {
			readCol(img, at, pts[:k], px)
		}
		cells = cells[:0]
		for i := range k {
			cells = append(cells, px[3*i:3*i+3:3*i+3])
		}
		return share(cells, c.refs[side], c.tol) >= edgeFrac
	}
	for side := range 4 {
		k := c.n[side]
		if k == 0 {
			continue
		}
		switch side {
		case 0: // rows (k-1)·sh/h plain … k·sh/h not
			y := (k-1)*g.sh/g.h + 1
			for y < k*g.sh/g.h && plain(0, y) {
				y++
			}
			r.Min.Y = y
		case 1:
			last := g.h - k // last removed grid row (plain)
			y := last*g.sh/g.h - 1
			for y > (last-1)*g.sh/g.h && plain(1, y) {
				y--
			}
			r.Max.Y = y + 1
		case 2:
			x := (k-1)*g.sw/g.w + 1
			for x < k*g.sw/g.w && plain(2, x) {
				x++
			}
			r.Min.X = x
		default:
			last := g.w - k
			x := last*g.sw/g.w - 1
			for x > (last-1)*g.sw/g.w && plain(3, x) {
				x--
			}
			r.Max.X = x + 1
		}
	}
	return r.Add(b.Min)
}

// edge returns the cells of the i-th line in from side (0 top, 1 bottom,
// 2 left, 3 right) of r.
func (g *grid) edge(r image.Rectangle, side, i int, dst [][]uint8) [][]uint8 {
	switch side {
	case 0:
		return g.lineCells(true, r.Min.Y+i, r.Min.X, r.Max.X, dst)
	case 1:
		return g.lineCells(true, r.Max.Y-1-i, r.Min.X, r.Max.X, dst)
	case 2:
		return g.lineCells(false, r.Min.X+i, r.Min.Y, r.Max.Y, dst)
	default:
		return g.lineCells(false, r.Max.X-1-i, r.Min.Y, r.Max.Y, dst)
	}
}

// toImage maps a grid rectangle to the image rectangle b it samples:
// grid cell x covers source columns [x·sw/w, (x+1)·sw/w).
func (g *grid) toImage(r image.Rectangle, b image.Rectangle) image.Rectangle {
	if g.w == 0 {
		return b
	}
	return image.Rect(
		b.Min.X+ceilDiv(r.Min.X*g.sw, g.w), b.Min.Y+ceilDiv(r.Min.Y*g.sh, g.h),
		b.Min.X+r.Max.X*g.sw/g.w, b.Min.Y+r.Max.Y*g.sh/g.h,
	)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
