package diskimage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/diskimage"
	"github.com/nigehban/nigehban/internal/diskimage/imagetest"
)

// planted is a file written into a synthetic image for the carver.
type planted struct {
	name   string
	off    int64
	data   []byte
	format string // "" when it must not be carved
}

// carveAll runs the carver over the extents of img and returns what it found.
func carveAll(t testing.TB, img []byte, ext []diskimage.Extent, o diskimage.CarveOptions) ([]diskimage.Carved, error) {
	t.Helper()
	var got []diskimage.Carved
	err := diskimage.Carve(context.Background(), diskimage.NewExtentReader(bytes.NewReader(img), ext), o, func(c diskimage.Carved) error {
		got = append(got, c)
		return nil
	})
	return got, err
}

// TestCarve plants benign JPEG (one with an embedded thumbnail), PNG and
// MP4 files (moov last and first) in noise, some of them damaged, cut
// short, split around data outside the unallocated extents, or off the
// sector grid, and checks that exactly the intact contiguous ones are
// carved, at their offsets, with their bytes.
func TestCarve(t *testing.T) {
	photos := imagetest.Photos(3, 3) // jpg, jpg, png
	mp4 := imagetest.MP4(t, 2, false)
	mp4fast := imagetest.MP4(t, 1, true)
	thumbJPEG := imagetest.JPEGWithThumbnail(t, 5)
	badPNG := slices.Clone(photos[2].Data)
	badPNG[40] ^= 0xFF // inside IHDR or IDAT: a CRC fails
	noMoov := mp4Without(t, mp4, "moov")

	img := make([]byte, 8<<20)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(img)
	files := []planted{
		{"thumbnail jpeg", 0x1000, thumbJPEG, diskimage.CarveJPEG},
		{"jpeg", 0x40000, photos[0].Data, diskimage.CarveJPEG},
		{"png", 0x80200, photos[2].Data, diskimage.CarvePNG},
		{"mp4 moov last", 0x100000, mp4, diskimage.CarveMP4},
		{"mp4 faststart", 0x300000, mp4fast, diskimage.CarveMP4},
		{"truncated jpeg", 0x400000, photos[1].Data[:len(photos[1].Data)/2], ""},
		{"png with a bad crc", 0x480000, badPNG, ""},
		{"mp4 without moov", 0x500000, noMoov, ""},
		{"jpeg split by allocated data", 0x600000, photos[1].Data, ""},
		{"jpeg off the sector grid", 0x700007, photos[0].Data, ""},
	}
	for _, f := range files {
		copy(img[f.off:], f.data)
		if end := f.off + int64(len(f.data)); end < int64(len(img)) {
			img[end] = 0 // noise right after must not extend anything
		}
	}
	// Unallocated: all but 8 KiB inside the split JPEG, and the first sector.
	split := int64(0x600000 + 1024)
	ext := []diskimage.Extent{{Off: 512, N: split - 512}, {Off: split + 8192, N: int64(len(img)) - split - 8192}}
	got, err := carveAll(t, img, ext, diskimage.CarveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]planted{}
	for _, f := range files {
		if f.format != "" {
			want[f.off] = f
		}
	}
	for _, c := range got {
		f, ok := want[c.ImageOffset]
		if !ok {
			t.Errorf("carved %s at %#x (%d bytes): nothing intact was planted there", c.Format, c.ImageOffset, c.Size)
			continue
		}
		delete(want, c.ImageOffset)
		data := img[c.ImageOffset : c.ImageOffset+c.Size]
		if c.Format != f.format || sha256.Sum256(data) != sha256.Sum256(f.data) {
			t.Errorf("%s: carved %s of %d bytes, planted %d bytes", f.name, c.Format, c.Size, len(f.data))
		}
		if c.Offset != c.ImageOffset-512 && c.ImageOffset < split {
			t.Errorf("%s: stream offset %#x for image offset %#x", f.name, c.Offset, c.ImageOffset)
		}
	}
	for _, f := range want {
		t.Errorf("%s at %#x not carved", f.name, f.off)
	}

	// Every byte tried: the JPEG off the sector grid is found too.
	got, err = carveAll(t, img, ext, diskimage.CarveOptions{Align: 1})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range got {
		found = found || c.ImageOffset == 0x700007 && c.Size == int64(len(photos[0].Data))
	}
	if !found {
		t.Error("with Align 1 the unaligned JPEG is not carved")
	}
	// Size caps: a JPEG over MaxJPEG is skipped.
	got, err = carveAll(t, img, []diskimage.Extent{{Off: 0x40000, N: 0x40000}}, diskimage.CarveOptions{MaxJPEG: int64(len(photos[0].Data)) - 1})
	if err != nil || len(got) != 0 {
		t.Errorf("over MaxJPEG: carved %+v, %v", got, err)
	}
	if _, err := carveAll(t, img, ext, diskimage.CarveOptions{Align: 3}); err == nil {
		t.Error("alignment 3 accepted")
	}
}

// mp4Without returns data with its top-level box typ renamed to an
// unknown type, so the walk ends before it.
func mp4Without(t *testing.T, data []byte, typ string) []byte {
	t.Helper()
	out := slices.Clone(data)
	for off := 0; off+8 <= len(out); {
		n := int(binary.BigEndian.Uint32(out[off:]))
		if string(out[off+4:off+8]) == typ {
			copy(out[off+4:], "zzzz")
			return out
		}
		if n < 8 {
			break
		}
		off += n
	}
	t.Fatalf("no %s box", typ)
	return nil
}

// TestCarveHostile feeds the carver structures built to make it work
// hard or run away: nested JPEG headers without an end, a PNG chunk
// claiming 2 GiB, MP4 boxes claiming exabytes, and endless tiny boxes.
func TestCarveHostile(t *testing.T) {
	img := make([]byte, 4<<20)
	// Every sector starts a JPEG whose APP segments nest the next ones and
	// whose scan never ends.
	for off := 0; off+512 <= 1<<20; off += 512 {
		b := img[off:]
		copy(b, []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10})
		copy(b[20:], []byte{0xFF, 0xC0, 0x00, 0x05, 1, 2, 3, 0xFF, 0xDA, 0x00, 0x02})
		for i := 31; i < 512; i++ {
			b[i] = 0x55
		}
	}
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), make([]byte, 13)...)
	png = binary.BigEndian.AppendUint32(png, crc32.ChecksumIEEE(png[12:]))
	png = append(png, 0x7F, 0xFF, 0xFF, 0xFF, 'I', 'D', 'A', 'T')
	copy(img[1<<20:], png)
	mp4 := []byte("\x00\x00\x00\x10ftypisom\x00\x00\x00\x00\x00\x00\x00\x01mdat\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF")
	copy(img[2<<20:], mp4)
	tiny := []byte("\x00\x00\x00\x10ftypisom\x00\x00\x00\x00")
	for i := 0; i < 100000; i++ {
		tiny = append(tiny, 0, 0, 0, 8, 'f', 'r', 'e', 'e')
	}
	copy(img[3<<20:], tiny)
	got, err := carveAll(t, img, []diskimage.Extent{{Off: 0, N: int64(len(img))}}, diskimage.CarveOptions{})
	if err != nil && !errors.Is(err, diskimage.ErrCarveBudget) {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("carved %+v from hostile data", got)
	}
}

// FuzzCarve checks on any bytes, split into two extents around a gap,
// that the carver ends, reports files inside one extent, in order and
// without overlap, within the size limits, and that each file carved
// alone is carved the same.
func FuzzCarve(f *testing.F) {
	photos := imagetest.Photos(4, 3)
	f.Add(photos[0].Data[:2000], uint16(700))
	f.Add(append(slices.Clone(photos[2].Data), photos[0].Data...), uint16(100))
	f.Add([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isommp41\x00\x00\x00\x08moov"), uint16(0))
	f.Add(imagetest.JPEGWithThumbnail(f, 1), uint16(30))
	o := diskimage.CarveOptions{Align: 1, MaxJPEG: 1 << 20, MaxPNG: 1 << 20, MaxMP4: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		at := int64(cut) % (int64(len(data)) + 1)
		img := make([]byte, len(data)+64)
		copy(img, data[:at])
		copy(img[at+64:], data[at:])
		ext := []diskimage.Extent{{Off: 0, N: at}, {Off: at + 64, N: int64(len(data)) - at}}
		got, err := carveAll(t, img, ext, o)
		if err != nil && !errors.Is(err, diskimage.ErrCarveBudget) {
			t.Fatal(err)
		}
		var last int64
		for _, c := range got {
			inOne := c.ImageOffset+c.Size <= at || c.ImageOffset >= at+64
			if c.Size <= 0 || c.Size > 1<<20 || c.Offset < last || !inOne {
				t.Fatalf("carved %+v (cut at %d, previous end %d)", c, at, last)
			}
			last = c.Offset + c.Size
			alone, err := carveAll(t, img, []diskimage.Extent{{Off: c.ImageOffset, N: c.Size}}, o)
			if err != nil || len(alone) == 0 || alone[0].Size != c.Size || alone[0].Format != c.Format {
				t.Fatalf("%s at %d (%d bytes) carved alone: %+v, %v", c.Format, c.ImageOffset, c.Size, alone, err)
			}
		}
	})
}

func ExampleCarve() {
	photo := imagetest.Photos(1, 1)[0].Data
	img := make([]byte, 64<<10)
	copy(img[4096:], photo)
	x := diskimage.NewExtentReader(bytes.NewReader(img), []diskimage.Extent{{Off: 1024, N: 60 << 10}})
	_ = diskimage.Carve(context.Background(), x, diskimage.CarveOptions{}, func(c diskimage.Carved) error {
		fmt.Printf("%s at image offset %#x, stream offset %#x, %v\n", c.Ext, c.ImageOffset, c.Offset, c.Size == int64(len(photo)))
		return nil
	})
	// Output: jpg at image offset 0x1000, stream offset 0xc00, true
}

// BenchmarkCarve measures carving throughput over 64 MiB of unallocated
// space (noise with a photo every MiB), beside a baseline in the same run:
// a plain sequential read of the same bytes through the same ExtentReader.
// The ratio carve/read is what carving adds to reading free space.
func BenchmarkCarve(b *testing.B) {
	photos := imagetest.Photos(9, 6)
	img := make([]byte, 64<<20)
	_, _ = rand.NewChaCha8([32]byte{2}).Read(img)
	for i, off := 0, 4096; off+(1<<20) < len(img); i, off = i+1, off+1<<20 {
		copy(img[off:], photos[i%len(photos)].Data)
	}
	ext := []diskimage.Extent{{Off: 0, N: int64(len(img))}}
	b.Run("read", func(b *testing.B) {
		b.SetBytes(int64(len(img)))
		buf := make([]byte, 1<<20)
		for b.Loop() {
			x := diskimage.NewExtentReader(bytes.NewReader(img), ext)
			for {
				if _, err := x.Read(buf); err != nil {
					break
				}
			}
		}
	})
	b.Run("carve", func(b *testing.B) {
		b.SetBytes(int64(len(img)))
		for b.Loop() {
			got, err := carveAll(b, img, ext, diskimage.CarveOptions{})
			if err != nil || len(got) < 60 {
				b.Fatalf("%d carved, %v", len(got), err)
			}
		}
	})
	b.Run("carve-every-byte", func(b *testing.B) {
		b.SetBytes(int64(len(img)))
		for b.Loop() {
			if _, err := carveAll(b, img, ext, diskimage.CarveOptions{Align: 1}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// failingAt is an image whose bytes in [from, to) cannot be read.
type failingAt struct {
	r        *bytes.Reader
	from, to int64
}

func (f failingAt) ReadAt(p []byte, off int64) (int, error) {
	if off < f.to && off+int64(len(p)) > f.from {
		return 0, errors.New("damaged chunk")
	}
	return f.r.ReadAt(p, off)
}

// TestCarveUnreadable checks that bytes that cannot be read (a damaged
// E01 chunk) are passed over: the file after them is still carved, and
// the read error is returned at the end.
func TestCarveUnreadable(t *testing.T) {
	photo := imagetest.Photos(6, 1)[0].Data
	img := make([]byte, 4<<20)
	copy(img[3<<20:], photo)
	x := diskimage.NewExtentReader(failingAt{bytes.NewReader(img), 1 << 20, 1<<20 + 4096}, []diskimage.Extent{{Off: 0, N: int64(len(img))}})
	var got []diskimage.Carved
	err := diskimage.Carve(context.Background(), x, diskimage.CarveOptions{}, func(c diskimage.Carved) error {
		got = append(got, c)
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "damaged chunk") {
		t.Errorf("error %v, want the read error", err)
	}
	if len(got) != 1 || got[0].ImageOffset != 3<<20 || got[0].Size != int64(len(photo)) {
		t.Errorf("carved %+v", got)
	}
}
