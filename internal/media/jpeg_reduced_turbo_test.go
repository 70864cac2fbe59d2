//go:build cgo

package media

import (
	"errors"
	"image"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// jpegFiles lists the JPEGs of the shared PDQ test data.
func jpegFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join(testdata, "images"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(strings.ToLower(p), ".jpg") {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no JPEGs under %s: %v", testdata, err)
	}
	return files
}

// turboAt decodes with libjpeg-turbo at 1/scale (4 or 8).
func turboAt(t testing.TB, data []byte, w, h, scale int) Decoded {
	t.Helper()
	lim := DefaultLimits
	minSide := 1
	if scale == 8 { // the pixel limit forces 1/8
		lim.MaxPixels, minSide = int64((w+3)/4)*int64((h+3)/4)-1, 0
	}
	d, err := decodeTurbo(data, lim, minSide)
	if err != nil || d.Scale != scale {
		t.Fatalf("libjpeg-turbo at 1/%d: scale 1/%d, %v", scale, d.Scale, err)
	}
	return d
}

// TestReducedMatchesTurbo: the pure-Go reduced decoder produces the same
// pixels as libjpeg-turbo at 1/4 and 1/8 scale, on every JPEG of the PDQ
// test data it accepts (baseline 4:2:0, 4:4:4 and grey).
func TestReducedMatchesTurbo(t *testing.T) {
	accepted := 0
	for _, f := range jpegFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, scale := range []int{4, 8} {
			got, err := decodeJPEGReducedAt(data, DefaultLimits, scale)
			if errors.Is(err, errNotReduced) {
				t.Logf("%s: left to image/jpeg: %v", filepath.Base(f), err)
				break
			}
			if err != nil {
				t.Errorf("%s at 1/%d: %v", f, scale, err)
				continue
			}
			accepted++
			want := turboAt(t, data, got.Width, got.Height, scale)
			if n, worst := pixelDiff(got.Image, want.Image); n > 0 {
				t.Errorf("%s at 1/%d: %d samples differ from libjpeg-turbo's (worst by %d)", f, scale, n, worst)
			}
		}
	}
	if accepted < 40 {
		t.Errorf("only %d decodes by the reduced decoder", accepted)
	}
	t.Logf("%d decodes compared", accepted)
}

// pixelDiff counts differing samples of two rasters of the same type.
func pixelDiff(a, b image.Image) (n, worst int) {
	if a.Bounds().Size() != b.Bounds().Size() {
		return 1 << 30, 255
	}
	var pa, pb []byte
	var sa, sb, bpp int
	switch a := a.(type) {
	case *image.RGBA:
		b, ok := b.(*image.RGBA)
		if !ok {
			return 1 << 30, 255
		}
		pa, pb, sa, sb, bpp = a.Pix, b.Pix, a.Stride, b.Stride, 4
	case *image.Gray:
		b, ok := b.(*image.Gray)
		if !ok {
			return 1 << 30, 255
		}
		pa, pb, sa, sb, bpp = a.Pix, b.Pix, a.Stride, b.Stride, 1
	default:
		return 1 << 30, 255
	}
	w, h := a.Bounds().Dx(), a.Bounds().Dy()
	for y := range h {
		for x := range w * bpp {
			d := int(pa[y*sa+x]) - int(pb[y*sb+x])
			if d != 0 {
				n++
				worst = max(worst, d, -d)
			}
		}
	}
	return n, worst
}
