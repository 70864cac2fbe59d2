package yuv

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"testing"

	"github.com/nigehban/nigehban/internal/testtool"
)

// ffmpegConvert has ffmpeg convert raw frames of pixFmt to rgb24 at the
// same size with the scaler flags vPDQ uses.
func ffmpegConvert(t *testing.T, raw []byte, pixFmt string, w, h int) []byte {
	t.Helper()
	cmd := exec.Command(testtool.Path(t, "ffmpeg"), "-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt", pixFmt,
		"-s", fmt.Sprintf("%dx%d", w, h), "-i", "pipe:0", "-sws_flags", "area", "-vf", fmt.Sprintf("scale=%d:%d:flags=area", w, h),
		"-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1")
	cmd.Stdin = bytes.NewReader(raw)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	return out
}

// TestRawSizes: on raw planes of every sample value and several sizes
// (widths off the converter's 8-pixel step), RGB24 equals ffmpeg's rgb24
// byte for byte where ffmpeg runs the same converter (even heights), and
// refuses odd heights, where ffmpeg's bytes differ from that arithmetic. The
// planes are a deterministic pseudo-random fill, so every Y, U and V value
// and clamp both ways occur.
func TestRawSizes(t *testing.T) {
	sizes := [][2]int{{64, 48}, {66, 34}, {322, 182}, {7, 2}, {64, 33}}
	for _, sz := range sizes {
		w, h := sz[0], sz[1]
		cw, ch := (w+1)/2, (h+1)/2
		raw := make([]byte, w*h+2*cw*ch)
		x := uint32(12345)
		for i := range raw {
			x = x*1664525 + 1013904223
			raw[i] = byte(x >> 24)
		}
		for _, full := range []bool{false, true} {
			pixFmt := "yuv420p"
			if full {
				pixFmt = "yuvj420p"
			}
			want := ffmpegConvert(t, raw, pixFmt, w, h)
			got, err := RGB24(nil, Planes{Width: w, Height: h, Y: raw[:w*h], U: raw[w*h : w*h+cw*ch], V: raw[w*h+cw*ch:],
				YStride: w, UStride: cw, VStride: cw}, BT601, full)
			if h%2 == 1 {
				if !errors.Is(err, ErrOddHeight) {
					t.Errorf("%d×%d: %v, want ErrOddHeight", w, h, err)
				}
				// ffmpeg's generic path differs: the test shows it does.
				if equalAsIfEven(t, raw, w, h, full, want) {
					t.Errorf("%d×%d %s: the converter's arithmetic equals ffmpeg's here; ErrOddHeight is not needed", w, h, pixFmt)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				diff := 0
				for i := range min(len(got), len(want)) {
					if got[i] != want[i] {
						diff++
					}
				}
				t.Errorf("%d×%d %s: %d of %d bytes differ from ffmpeg (lengths %d, %d)", w, h, pixFmt, diff, len(want), len(got), len(want))
			}
		}
	}
}

// TestLayoutErrors: planes that do not fit the size and strides are
// refused, not read out of bounds.
func TestLayoutErrors(t *testing.T) {
	y, c := make([]byte, 16*4), make([]byte, 8*2)
	ok := Planes{Width: 16, Height: 4, Y: y, U: c, V: c, YStride: 16, UStride: 8, VStride: 8}
	if _, err := RGB24(nil, ok, BT709, false); err != nil {
		t.Fatalf("valid planes: %v", err)
	}
	for name, mod := range map[string]func(*Planes){
		"zero width":   func(p *Planes) { p.Width = 0 },
		"short Y":      func(p *Planes) { p.Y = y[:len(y)-1] },
		"short V":      func(p *Planes) { p.V = c[:len(c)-1] },
		"Y stride":     func(p *Planes) { p.YStride = 15 },
		"4:2:2 chroma": func(p *Planes) { p.Sub = S422 },
		"NV12 step":    func(p *Planes) { p.ChromaStep = 2 },
	} {
		p := ok
		mod(&p)
		if _, err := RGB24(nil, p, BT601, false); !errors.Is(err, ErrLayout) {
			t.Errorf("%s: %v, want ErrLayout", name, err)
		}
	}
}

// equalAsIfEven converts an odd-height frame with the converter's
// arithmetic (one row more, the last chroma row repeated) and says whether
// its first h rows equal want.
func equalAsIfEven(t *testing.T, raw []byte, w, h int, full bool, want []byte) bool {
	t.Helper()
	cw, ch := (w+1)/2, (h+1)/2
	y := append(append([]byte(nil), raw[:w*h]...), raw[w*(h-1):w*h]...)
	got, err := RGB24(nil, Planes{Width: w, Height: h + 1, Y: y, U: raw[w*h : w*h+cw*ch], V: raw[w*h+cw*ch:],
		YStride: w, UStride: cw, VStride: cw}, BT601, full)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(got[:3*w*h], want)
}

// BenchmarkRGB24 converts a 1280×720 4:2:0 frame (what the page does per
// sampled frame of an HD video, in WebAssembly there).
func BenchmarkRGB24(b *testing.B) {
	w, h := 1280, 720
	p := Planes{Width: w, Height: h, Y: make([]byte, w*h), U: make([]byte, w*h/4), V: make([]byte, w*h/4),
		YStride: w, UStride: w / 2, VStride: w / 2}
	for i := range p.Y {
		p.Y[i] = byte(i * 7)
	}
	var dst []byte
	b.SetBytes(int64(3 * w * h))
	for b.Loop() {
		var err error
		if dst, err = RGB24(dst, p, BT601, false); err != nil {
			b.Fatal(err)
		}
	}
}
