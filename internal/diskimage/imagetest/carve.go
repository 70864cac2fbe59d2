package imagetest

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
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

// FATReformat makes a new empty FAT file system (bits 12, 16 or 32) over
// the FAT image img with mkfs.vfat, in place: the old files' clusters
// keep their bytes (mkfs.vfat writes only the boot sector, FATs and root
// directory), but nothing describes them any more.
func FATReformat(t testing.TB, img string, bits int) {
	t.Helper()
	args := []string{"-F", strconv.Itoa(bits), "-n", "EVIDENCE"}
	if bits != 12 {
		args = append(args, "-s", "1")
	}
	Run(t, "mkfs.vfat", append(args, img)...)
}

// FATCopy copies files into the FAT image img with mtools.
func FATCopy(t testing.TB, img string, files []File) {
	t.Helper()
	src := t.TempDir()
	WriteTree(t, src, files)
	for _, d := range Dirs(files) {
		Run(t, "mmd", "-D", "s", "-i", img, "::/"+d)
	}
	for _, f := range files {
		Run(t, "mcopy", "-i", img, "-m", filepath.Join(src, filepath.FromSlash(f.Path)), "::/"+f.Path)
	}
}

// WriteAt writes data into the file p at off (planting bytes in an
// image's free space, as a tool that wrote and then lost them would).
func WriteAt(t testing.TB, p string, off int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
}

// Noise returns n deterministic pseudo-random bytes (a file no carver
// recognises).
func Noise(seed uint64, n int) []byte {
	b := make([]byte, n)
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}
