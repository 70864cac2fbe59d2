package variant

import (
	"image"
	"slices"
)

// gridMax is the side of the PDQ reference's pre-resize.
const gridMax = 512

// grid is img as the PDQ reference reads it: resized by nearest neighbour
// to gridMax×gridMax when a side is over gridMax (CImg's mapping), else
// whole; 8-bit RGB. Regions are found on it, and its rotations and mirrors
// are hashed.
type grid struct {
	w, h int
	pix  []uint8 // 3 bytes a cell, row-major
	sw   int     // source width and height
	sh   int
}

func sample(img image.Image) *grid {
	b := img.Bounds()
	g := &grid{sw: b.Dx(), sh: b.Dy(), w: b.Dx(), h: b.Dy()}
	if g.w > gridMax || g.h > gridMax {
		g.w, g.h = gridMax, gridMax
	}
	if g.w <= 0 || g.h <= 0 {
		g.w, g.h = 0, 0
		return g
	}
	g.pix = make([]uint8, 3*g.w*g.h)
	xs := make([]int, g.w)
	for x := range xs {
		xs[x] = x * g.sw / g.w
	}
	for y := range g.h {
		sy := y * g.sh / g.h
		row := g.pix[3*y*g.w : 3*(y+1)*g.w]
		switch m := img.(type) {
		case *image.RGBA:
			src := m.Pix[sy*m.Stride:]
			for x, sx := range xs {
				copy(row[3*x:3*x+3], src[4*sx:4*sx+3])
			}
		case *image.NRGBA:
			src := m.Pix[sy*m.Stride:]
			for x, sx := range xs {
				copy(row[3*x:3*x+3], src[4*sx:4*sx+3])
			}
		case *image.Gray:
			src := m.Pix[sy*m.Stride:]
			for x, sx := range xs {
				v := src[sx]
				row[3*x], row[3*x+1], row[3*x+2] = v, v, v
			}
		default:
			for x, sx := range xs {
				r, gg, bb, _ := img.At(b.Min.X+sx, b.Min.Y+sy).RGBA()
				row[3*x], row[3*x+1], row[3*x+2] = uint8(r>>8), uint8(gg>>8), uint8(bb>>8)
			}
		}
	}
	return g
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

func median3(cells [][]uint8, buf []uint8) [3]int {
	var m [3]int
	for c := range 3 {
		buf = buf[:0]
		for _, p := range cells {
			buf = append(buf, p[c])
		}
		slices.Sort(buf)
		m[c] = int(buf[len(buf)/2])
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

// trim returns the grid rectangle left after removing, side by side, the
// edge lines the rule accepts.
func (g *grid) trim(ru rule) image.Rectangle {
	r := image.Rect(0, 0, g.w, g.h)
	if g.w == 0 {
		return r
	}
	var cells [][]uint8
	var buf []uint8
	var refs [4][3]int
	var eligible [4]bool
	for side := range 4 {
		if !ru.sides[side] {
			continue
		}
		cells = g.edge(r, side, 0, cells)
		refs[side] = median3(cells, buf)
		eligible[side] = share(cells, refs[side], ru.tol) >= edgeFrac
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
			sh := share(cells, refs[side], ru.tol)
			if sh >= edgeFrac {
				n = i + 1
			} else if sh < ru.frac {
				break
			}
		}
		if n > limit || float64(n) < ru.minCut*float64(size) {
			continue
		}
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
	return r
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

// transformed returns the grid turned by dihedral operation k (pdq.Dihedral
// order) and then undone: the image the query would be if it were a
// rotated or mirrored copy, as an NRGBA raster for pdq.HashImage. k = 1 is
// a counter-clockwise quarter turn, 3 a clockwise one.
func (g *grid) transformed(k int) *image.NRGBA {
	w, h := g.w, g.h
	if k == 1 || k == 3 || k == 6 || k == 7 {
		w, h = h, w
	}
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		row := dst.Pix[y*dst.Stride:]
		for x := range w {
			var sx, sy int
			switch k {
			case 1: // rotate 90° counter-clockwise
				sx, sy = g.w-1-y, x
			case 2: // rotate 180°
				sx, sy = g.w-1-x, g.h-1-y
			case 3: // rotate 90° clockwise
				sx, sy = y, g.h-1-x
			case 4: // flip top↔bottom
				sx, sy = x, g.h-1-y
			case 5: // flip left↔right
				sx, sy = g.w-1-x, y
			case 6: // transpose
				sx, sy = y, x
			default: // anti-transpose
				sx, sy = g.w-1-y, g.h-1-x
			}
			c := g.cell(sx, sy)
			copy(row[4*x:4*x+3], c)
			row[4*x+3] = 0xff
		}
	}
	return dst
}
