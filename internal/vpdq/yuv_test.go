package vpdq

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nigehban/nigehban/internal/testtool"
	"github.com/nigehban/nigehban/internal/vpdq/yuv"
)

// ffmpegRaw runs the decode command vPDQ runs (ffmpegArgs: same filters,
// same scaler flags) with pixel format pixFmt instead of rgb24 and returns
// the raw bytes of the sampled frames.
func ffmpegRaw(t *testing.T, path, pixFmt string, frameMod, w, h int) []byte {
	t.Helper()
	args := ffmpegArgs(path, frameMod, w, h, 1000)
	i := slices.Index(args, "rgb24")
	if i < 0 {
		t.Fatalf("no rgb24 in the decode command %q", args)
	}
	args[i] = pixFmt
	cmd := exec.Command(testtool.Path(t, "ffmpeg"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg %q: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

// yuvCase is one clip and how its stream is tagged.
type yuvCase struct {
	name   string
	path   string
	pixFmt string // ffmpeg's decoded format: yuv420p, yuvj420p (full range), yuv422p
	matrix yuv.Matrix
	full   bool
}

// generated encodes a short synthetic clip (ffmpeg's moving test pattern,
// saturated colours and gradients) with the given encoder options.
func generated(t *testing.T, name string, size string, extra ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".mp4")
	args := append([]string{"-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=" + size + ":rate=30:duration=3"},
		extra...)
	args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-y", out)
	if b, err := exec.Command(testtool.Path(t, "ffmpeg"), args...).CombinedOutput(); err != nil {
		t.Fatalf("generate %s: %v\n%s", name, err, b)
	}
	return out
}

// TestYUVMatchesFFmpeg: yuv.RGB24 on the planes ffmpeg decodes is byte for
// byte the rgb24 that vPDQ's own ffmpeg command produces, for every sample
// clip (frames sampled at one a second as HashFile does) and for generated
// clips in full range, BT.709, 4:2:2 and an odd size.
func TestYUVMatchesFFmpeg(t *testing.T) {
	cases := []yuvCase{}
	for _, p := range clips(t) {
		cases = append(cases, yuvCase{clipName(p), p, "yuv420p", yuv.BT601, false})
	}
	if testing.Short() {
		cases = cases[:2]
	}
	cases = append(cases,
		yuvCase{"generated", generated(t, "generated", "320x240", "-pix_fmt", "yuv420p"), "yuv420p", yuv.BT601, false},
		yuvCase{"generated-odd", generated(t, "odd", "322x182", "-pix_fmt", "yuv420p"), "yuv420p", yuv.BT601, false},
		yuvCase{"generated-full", generated(t, "full", "320x240", "-pix_fmt", "yuvj420p"), "yuvj420p", yuv.BT601, true},
		yuvCase{"generated-709", generated(t, "bt709", "320x240", "-pix_fmt", "yuv420p",
			"-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"), "yuv420p", yuv.BT709, false},
		yuvCase{"generated-422", generated(t, "422", "320x240", "-pix_fmt", "yuv422p"), "yuv422p", yuv.BT601, false},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			si, err := probe(context.Background(), c.path)
			if err != nil {
				t.Fatal(err)
			}
			w, h := si.Width, si.Height
			mod := max(int(si.FPS), 1)
			rgb := ffmpegRaw(t, c.path, "rgb24", mod, w, h)
			raw := ffmpegRaw(t, c.path, c.pixFmt, mod, w, h)
			cw, ch := (w+1)/2, (h+1)/2
			sub := yuv.S420
			if c.pixFmt == "yuv422p" {
				ch, sub = h, yuv.S422
			}
			ysz, csz := w*h, cw*ch
			frames := len(rgb) / (3 * w * h)
			if frames == 0 || len(rgb) != frames*3*w*h || len(raw) != frames*(ysz+2*csz) {
				t.Fatalf("%d bytes of rgb24 and %d of %s for %d×%d", len(rgb), len(raw), c.pixFmt, w, h)
			}
			var out []byte
			same, diffBytes := 0, 0
			for f := range frames {
				fr := raw[f*(ysz+2*csz):]
				out, err = yuv.RGB24(out, yuv.Planes{Width: w, Height: h, Sub: sub,
					Y: fr[:ysz], U: fr[ysz : ysz+csz], V: fr[ysz+csz : ysz+2*csz],
					YStride: w, UStride: cw, VStride: cw}, c.matrix, c.full)
				if err != nil {
					t.Fatal(err)
				}
				want := rgb[f*3*w*h : (f+1)*3*w*h]
				if bytes.Equal(out, want) {
					same++
					continue
				}
				for i := range out {
					if out[i] != want[i] {
						if diffBytes == 0 {
							px := i / 3
							t.Errorf("frame %d: first difference at pixel (%d,%d) channel %d: %d, ffmpeg %d",
								f*mod, px%w, px/w, i%3, out[i], want[i])
						}
						diffBytes++
					}
				}
			}
			t.Logf("%d×%d %s: %d/%d sampled frames byte-identical, %d bytes differ", w, h, c.pixFmt, same, frames, diffBytes)
			if same != frames {
				t.Errorf("%d of %d frames differ from ffmpeg's rgb24 (%d bytes)", frames-same, frames, diffBytes)
			}
		})
	}
}
