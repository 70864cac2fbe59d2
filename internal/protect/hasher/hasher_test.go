package hasher

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/testtool"

	"github.com/nigehban/nigehban/internal/media"
	"github.com/nigehban/nigehban/internal/pdq"
)

const videos = "../../../../shared/testdata/vpdq/videos"

// moovOf walks an MP4's top-level boxes for 'moov', as the page's worker
// does.
func moovOf(t *testing.T, data []byte) []byte {
	t.Helper()
	for off := 0; off+8 <= len(data); {
		size := int(binary.BigEndian.Uint32(data[off:]))
		if size == 1 {
			size = int(binary.BigEndian.Uint64(data[off+8:]))
		}
		if size < 8 || off+size > len(data) {
			break
		}
		if string(data[off+4:off+8]) == "moov" {
			return data[off : off+size]
		}
		off += size
	}
	t.Fatal("no moov box")
	return nil
}

// ffprobe reports a clip's nb_frames and avg_frame_rate, what
// internal/vpdq samples by.
func ffprobe(t *testing.T, path string) (int, float64) {
	t.Helper()
	bin := testtool.Path(t, "ffprobe")
	out, err := exec.Command(bin, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=nb_frames,avg_frame_rate",
		"-of", "default=noprint_wrappers=1", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var frames int
	var fps float64
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "nb_frames":
			frames, _ = strconv.Atoi(v)
		case "avg_frame_rate":
			n, d, _ := strings.Cut(v, "/")
			nf, _ := strconv.ParseFloat(n, 64)
			df, _ := strconv.ParseFloat(d, 64)
			fps = nf / df
		}
	}
	return frames, fps
}

// TestMP4Timing reads every sample clip's frame count and rate as ffprobe
// reports them.
func TestMP4Timing(t *testing.T) {
	names, err := filepath.Glob(filepath.Join(videos, "*.mp4"))
	if err != nil || len(names) == 0 {
		t.Fatalf("sample videos missing (shared/ must sit beside the repository): %v", err)
	}
	for _, path := range names {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := MP4Timing(moovOf(t, data))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		frames, fps := ffprobe(t, path)
		if got.Frames != frames || math.Abs(got.FPS-fps) > 1e-6 || got.FrameMod != max(int(fps), 1) {
			t.Errorf("%s: %+v, ffprobe %d frames at %v fps", filepath.Base(path), got, frames, fps)
		}
	}
	if _, err := MP4Timing([]byte("not a box")); !errors.Is(err, ErrNoVideoTrack) {
		t.Errorf("garbage: %v", err)
	}
}

// TestHashFrameRGBA: an RGBA frame hashes as its RGB24 bytes do.
func TestHashFrameRGBA(t *testing.T) {
	data, err := os.ReadFile("../../../../shared/testdata/pdq/png/bridge-mods_aaa-orig.png")
	if err != nil {
		t.Fatal(err)
	}
	d, err := media.DecodeImage(data, media.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	b := d.Image.Bounds()
	w, h := b.Dx(), b.Dy()
	rgba := make([]byte, 0, 4*w*h)
	rgb := make([]byte, 0, 3*w*h)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := d.Image.At(x, y).RGBA()
			rgba = append(rgba, byte(r>>8), byte(g>>8), byte(bl>>8), 255)
			rgb = append(rgb, byte(r>>8), byte(g>>8), byte(bl>>8))
		}
	}
	f, _, err := HashFrameRGBA(pdq.NewHasher(), rgba, w, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := pdq.HashRGB(rgb, w, h)
	if f.PDQ != want.Hash.String() || f.Quality != want.Quality {
		t.Errorf("RGBA %s q=%d, RGB %s q=%d", f.PDQ, f.Quality, want.Hash, want.Quality)
	}
	if _, _, err := HashFrameRGBA(pdq.NewHasher(), rgba[:10], w, h, nil); !errors.Is(err, pdq.ErrBadFrame) {
		t.Errorf("short frame: %v", err)
	}
}

// TestHashImage: the page's image hashes are the server's on the same bytes.
func TestHashImage(t *testing.T) {
	data, err := os.ReadFile("../../../../shared/testdata/pdq/png/bridge-mods_aaa-orig.png")
	if err != nil {
		t.Fatal(err)
	}
	im, err := HashImage(data, true)
	if err != nil {
		t.Fatal(err)
	}
	if im.PDQ != "d8f8f0cce0f4a84f0e370a22028f67f0b36e2ed596623e1d33e6b39c4e9c9b22" || im.Quality != 100 || im.Format != "png" {
		t.Errorf("%+v", im)
	}
	if _, err := HashImage([]byte("not an image"), true); !errors.Is(err, media.ErrUnsupported) {
		t.Errorf("not an image: %v", err)
	}
}
