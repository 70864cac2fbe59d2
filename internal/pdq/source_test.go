package pdq

import (
	"image"
	"image/color"
	"testing"
)

// TestFillYCbCr checks the YCbCr fast path against the standard library's
// conversion on every (Y, Cb, Cr): one 4:4:4 image of 256×256 (Cb, Cr) per
// Y value.
func TestFillYCbCr(t *testing.T) {
	m := image.NewYCbCr(image.Rect(0, 0, 256, 256), image.YCbCrSubsampleRatio444)
	for cr := 0; cr < 256; cr++ {
		for cb := 0; cb < 256; cb++ {
			m.Cb[m.COffset(cb, cr)] = uint8(cb)
			m.Cr[m.COffset(cb, cr)] = uint8(cr)
		}
	}
	var s source
	row := make([]float32, 256)
	bad := 0
	for y := 0; y < 256; y++ {
		for i := range m.Y {
			m.Y[i] = uint8(y)
		}
		if w, h := s.setImage(m); w != 256 || h != 256 || s.kind != kindYCbCr || s.grey {
			t.Fatalf("setImage: %d×%d kind %d grey %v", w, h, s.kind, s.grey)
		}
		for cr := 0; cr < 256; cr++ {
			s.fillRow(cr, row)
			for cb, got := range row {
				r, g, b := color.YCbCrToRGB(uint8(y), uint8(cb), uint8(cr))
				if want := rgbLuma(r, g, b); got != want && bad < 5 {
					bad++
					t.Errorf("Y=%d Cb=%d Cr=%d: luma %v, want %v (RGB %d,%d,%d)", y, cb, cr, got, want, r, g, b)
				}
			}
		}
	}
}
