package imagetest

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// MP4 returns a small benign MP4 made by ffmpeg from its test pattern
// (testsrc, mpeg4, no audio), seconds long, with the moov box at the end
// (as a camera writes it) unless faststart is set.
func MP4(t testing.TB, seconds int, faststart bool) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "clip.mp4")
	args := []string{"-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10",
		"-t", strconv.Itoa(seconds), "-an", "-c:v", "mpeg4", "-q:v", "8"}
	if faststart {
		args = append(args, "-movflags", "+faststart")
	}
	Run(t, "ffmpeg", append(args, p)...)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// JPEGWithThumbnail returns a benign JPEG whose APP1 (Exif) segment holds
// a smaller JPEG, as cameras embed thumbnails: its own SOI and EOI sit
// inside the outer file.
func JPEGWithThumbnail(t testing.TB, seed uint8) []byte {
	t.Helper()
	enc := func(w, h int) []byte {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				img.Set(x, y, color.RGBA{uint8(x) + seed, uint8(y * 2), seed * 3, 255})
			}
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	main, thumb := enc(320, 240), enc(40, 30)
	payload := append([]byte("Exif\x00\x00"), thumb...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	out := append([]byte{}, main[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, main[2:]...)
}
