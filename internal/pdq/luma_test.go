package pdq

import "testing"

// TestLumaRGBARows checks the whole-row RGBA luma (four pixels at a time
// on amd64) against the scalar per-pixel luma bit for bit: every one of the
// 2²⁴ opaque RGB values, then rows of every length 0…9 with translucent
// pixels at every position (un-premultiplied as rgbaLuma does).
func TestLumaRGBARows(t *testing.T) {
	var s source
	s.kind = kindRGBA
	xs := make([]int, 1<<16)
	for i := range xs {
		xs[i] = i
	}
	row := make([]byte, 4<<16)
	dst := make([]float32, 1<<16)
	bad := 0
	for r := range 256 {
		for i := range 1 << 16 {
			row[4*i], row[4*i+1], row[4*i+2], row[4*i+3] = byte(r), byte(i>>8), byte(i), 0xff
		}
		s.fillRGBA(row, xs, dst)
		for i, v := range dst {
			if want := rgbLuma(byte(r), byte(i>>8), byte(i)); v != want && bad < 10 {
				bad++
				t.Errorf("RGB %d,%d,%d: luma %v, want %v", r, byte(i>>8), byte(i), v, want)
			}
		}
	}
	for n := range 10 {
		for at := range n {
			for _, a := range []byte{0, 1, 128, 254} {
				px := make([]byte, 4*n)
				for i := range n {
					px[4*i], px[4*i+1], px[4*i+2], px[4*i+3] = byte(37*i), byte(200-11*i), byte(90+5*i), 0xff
				}
				px[4*at+3] = a
				px[4*at] = min(px[4*at], a) // premultiplied: no channel above alpha
				out := make([]float32, n)
				s.fillRGBA(px, xs[:n], out)
				for i := range n {
					p := px[4*i : 4*i+4]
					if want := rgbaLuma(p[0], p[1], p[2], p[3], false); out[i] != want {
						t.Errorf("%d pixels, alpha %d at %d: pixel %d luma %v, want %v", n, a, at, i, out[i], want)
					}
				}
			}
		}
	}
}
