package hasher

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/testtool"
	"github.com/nigehban/nigehban/internal/vpdq"
	"github.com/nigehban/nigehban/internal/vpdq/yuv"
)

// layoutAs lays a tightly packed yuv420p frame out as a browser's
// VideoFrame.copyTo would for format: planes at offsets with padded
// strides (pad bytes filled with junk that must not be read), NV12's
// chroma interleaved, I420A with an alpha plane.
func layoutAs(format string, raw []byte, w, h, pad int) ([]byte, YUVFrame) {
	cw, ch := (w+1)/2, (h+1)/2
	yp, up, vp := raw[:w*h], raw[w*h:w*h+cw*ch], raw[w*h+cw*ch:w*h+2*cw*ch]
	var buf []byte
	f := YUVFrame{Format: format, Width: w, Height: h, Matrix: MatrixUnspecified}
	plane := func(rows, stride int, row func(r int) []byte) {
		f.Offsets = append(f.Offsets, len(buf))
		f.Strides = append(f.Strides, stride)
		for r := range rows {
			line := make([]byte, stride)
			for i := range line {
				line[i] = 0xa5
			}
			copy(line, row(r))
			buf = append(buf, line...)
		}
	}
	plane(h, w+pad, func(r int) []byte { return yp[r*w : (r+1)*w] })
	switch format {
	case "NV12":
		plane(ch, 2*cw+pad, func(r int) []byte {
			out := make([]byte, 2*cw)
			for x := range cw {
				out[2*x], out[2*x+1] = up[r*cw+x], vp[r*cw+x]
			}
			return out
		})
	default:
		plane(ch, cw+pad, func(r int) []byte { return up[r*cw : (r+1)*cw] })
		plane(ch, cw+pad, func(r int) []byte { return vp[r*cw : (r+1)*cw] })
		if format == "I420A" {
			plane(h, w+pad, func(int) []byte { return nil })
		}
	}
	return buf, f
}

// TestHashFrameYUV: the first frame of a sample clip, given in its decoded
// planes in each layout the page passes, hashes exactly as `nigehban hash`
// hashes it; bad layouts are refused.
func TestHashFrameYUV(t *testing.T) {
	path := filepath.Join(videos, "chair-orig-22-sd-bar.mp4")
	native, err := vpdq.HashFile(context.Background(), path, vpdq.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, h := native.Width, native.Height
	raw, err := exec.Command(testtool.Path(t, "ffmpeg"), "-nostdin", "-v", "error", "-i", path,
		"-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := native.Frames[0]
	hs := pdq.NewHasher()
	var rgb []byte
	for _, format := range []string{"I420", "NV12", "I420A"} {
		for _, pad := range []int{0, 24} {
			buf, lay := layoutAs(format, raw, w, h, pad)
			var f Frame
			f, rgb, err = HashFrameYUV(hs, buf, lay, rgb)
			if err != nil {
				t.Fatalf("%s pad %d: %v", format, pad, err)
			}
			if f.PDQ != want.PDQ.String() || f.Quality != want.Quality {
				t.Errorf("%s pad %d: %s q=%d, nigehban hash %s q=%d", format, pad, f.PDQ, f.Quality, want.PDQ, want.Quality)
			}
		}
	}
	buf, lay := layoutAs("I420", raw, w, h, 0)
	bad := []struct {
		name string
		mod  func(*YUVFrame) []byte
		want error
	}{
		{"format", func(f *YUVFrame) []byte { f.Format = "RGBA"; return buf }, ErrFrameFormat},
		{"matrix", func(f *YUVFrame) []byte { f.Matrix = MatrixRGB; return buf }, ErrFrameFormat},
		{"short", func(*YUVFrame) []byte { return buf[:len(buf)-1] }, yuv.ErrLayout},
		{"planes", func(f *YUVFrame) []byte { f.Offsets = f.Offsets[:2]; return buf }, yuv.ErrLayout},
		{"offset", func(f *YUVFrame) []byte { f.Offsets = []int{0, len(buf) + 1, 0}; return buf }, yuv.ErrLayout},
		{"stride", func(f *YUVFrame) []byte { f.Strides = []int{w - 1, w / 2, w / 2}; return buf }, yuv.ErrLayout},
	}
	for _, b := range bad {
		l := lay
		l.Offsets, l.Strides = append([]int(nil), lay.Offsets...), append([]int(nil), lay.Strides...)
		if _, _, err := HashFrameYUV(hs, b.mod(&l), l, nil); !errors.Is(err, b.want) {
			t.Errorf("%s: %v, want %v", b.name, err, b.want)
		}
	}
}
