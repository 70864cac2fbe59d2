package hasher

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/testtool"
)

// h273 maps ffprobe's colour space names to H.273 matrix codes.
var h273 = map[string]int{"gbr": 0, "bt709": 1, "unknown": 2, "reserved": 3, "fcc": 4, "bt470bg": 5,
	"smpte170m": 6, "smpte240m": 7, "ycgco": 8, "bt2020nc": 9, "bt2020c": 10}

// frameColour is what ffprobe says the first decoded frame is tagged with:
// the oracle for what ffmpeg converts by.
func frameColour(t *testing.T, path string) (int, bool) {
	t.Helper()
	out, err := exec.Command(testtool.Path(t, "ffprobe"), "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#1",
		"-show_entries", "frame=color_space,color_range", "-of", "default=noprint_wrappers=1", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	matrix, full := -1, false
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "color_space":
			c, ok := h273[v]
			if !ok {
				t.Fatalf("%s: ffprobe colour space %q", path, v)
			}
			matrix = c
		case "color_range":
			full = v == "pc"
		}
	}
	if matrix < 0 {
		t.Fatalf("%s: no colour space from ffprobe: %s", path, out)
	}
	return matrix, full
}

// TestTrackColour: the colours MP4Timing reads from a track's header are
// those ffmpeg tags the decoded frames with, for the sample clips (which
// declare none) and for generated clips that declare them in the H.264
// VUI, in the MP4 'colr' box only, or in both and differently (the VUI
// wins), with scaling lists in the SPS, and in full range.
func TestTrackColour(t *testing.T) {
	ffmpeg := testtool.Path(t, "ffmpeg")
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		if b, err := exec.Command(ffmpeg, append([]string{"-nostdin", "-v", "error", "-y"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg %q: %v\n%s", args, err, b)
		}
	}
	src := []string{"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30:duration=1", "-c:v", "libx264", "-preset", "ultrafast"}
	gen := func(name string, args ...string) string {
		out := filepath.Join(dir, name+".mp4")
		run(append(append(append([]string(nil), src...), args...), out)...)
		return out
	}
	remux := func(name, in string, args ...string) string {
		out := filepath.Join(dir, name+".mp4")
		run(append(append([]string{"-i", in, "-c", "copy"}, args...), "-movflags", "+write_colr", out)...)
		return out
	}
	tag := func(cs string) []string { return []string{"-colorspace", cs} }
	plain := gen("plain", "-pix_fmt", "yuv420p")
	vui709 := gen("vui709", append([]string{"-pix_fmt", "yuv420p", "-color_primaries", "bt709", "-color_trc", "bt709"}, tag("bt709")...)...)
	paths, _ := filepath.Glob(filepath.Join(videos, "*.mp4"))
	if len(paths) == 0 {
		t.Fatal("sample videos missing (shared/ must sit beside the repository)")
	}
	if testing.Short() {
		paths = paths[:2] // all declare nothing; TestMP4Timing reads them all
	}
	paths = append(paths,
		plain, vui709,
		gen("vui2020", append([]string{"-pix_fmt", "yuv420p"}, tag("bt2020nc")...)...),
		gen("full", "-pix_fmt", "yuvj420p"),
		gen("high-cqm", "-pix_fmt", "yuv420p", "-profile:v", "high", "-x264-params", "cqm=jvt:transform8x8=1", "-colorspace", "smpte240m"),
		gen("yuv444", "-pix_fmt", "yuv444p", "-colorspace", "fcc"),
		remux("colr709", plain, tag("bt709")...),
		remux("colr601-vui709", vui709, tag("bt470bg")...),
	)
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := MP4Timing(moovOf(t, data))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		m, full := frameColour(t, path)
		if got.Matrix != m || got.FullRange != full {
			t.Errorf("%s: matrix %d full range %v, ffmpeg's frames %d %v", filepath.Base(path), got.Matrix, got.FullRange, m, full)
		}
	}
	if c := parseSPSColour([]byte{0x67, 0x64}); c != (spsColour{}) {
		t.Errorf("truncated SPS: %+v", c)
	}
}
