package vpdq

// borderLuma is the mean luma (0-255) at or under which an edge row or
// column counts as a black bar: ffmpeg's cropdetect default limit, which
// tolerates compression noise in the bars.
const borderLuma = 24

// borders finds the black bars around a packed RGB24 frame: it returns the
// content rectangle [x0,x1)×[y0,y1), or the whole frame when cropping
// would leave less than half of either side (a dark frame, not bars).
func borders(pix []byte, w, h int) (x0, y0, x1, y1 int) {
	lineDark := func(off, stride, n int) bool {
		sum := 0
		for i := range n {
			p := pix[off+i*stride:]
			sum += 77*int(p[0]) + 150*int(p[1]) + 29*int(p[2])
		}
		return sum>>8 <= borderLuma*n
	}
	row := func(y int) bool { return lineDark(y*w*3, 3, w) }
	x0, y0, x1, y1 = 0, 0, w, h
	for y0 < y1 && row(y0) {
		y0++
	}
	for y1 > y0 && row(y1-1) {
		y1--
	}
	col := func(x int) bool { return lineDark((y0*w+x)*3, w*3, y1-y0) }
	for x0 < x1 && col(x0) {
		x0++
	}
	for x1 > x0 && col(x1-1) {
		x1--
	}
	if 2*(x1-x0) < w || 2*(y1-y0) < h {
		return 0, 0, w, h
	}
	return x0, y0, x1, y1
}

// cropRGB copies the rectangle of a packed RGB24 frame of width w into
// dst (grown as needed) and returns it packed.
func cropRGB(dst, pix []byte, w, x0, y0, x1, y1 int) []byte {
	cw := (x1 - x0) * 3
	dst = dst[:0]
	for y := y0; y < y1; y++ {
		dst = append(dst, pix[(y*w+x0)*3:][:cw]...)
	}
	return dst
}
