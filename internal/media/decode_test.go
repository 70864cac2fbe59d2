package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func readTestImage(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, "images", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSniff(t *testing.T) {
	tests := []struct {
		file string
		kind Kind
		f    Format
	}{
		{"bridge-mods/aaa-orig.jpg", Image, JPEG},
		{"pen-and-coaster.png", Image, PNG},
		{"misc-images/modes/F.webp", Image, WebP},
		{"../../vpdq/videos/chair-19-sd-bar.mp4", Video, MP4},
	}
	for _, tt := range tests {
		k, f := Sniff(readTestImage(t, tt.file))
		if k != tt.kind || f != tt.f {
			t.Errorf("%s: got %s/%s, want %s/%s", tt.file, k, f, tt.kind, tt.f)
		}
	}
	synthetic := []struct {
		name string
		head []byte
		f    Format
	}{
		{"gif", []byte("GIF89a\x01\x00\x01\x00"), GIF},
		{"tiff-le", []byte("II*\x00\x08\x00\x00\x00"), TIFF},
		{"zip", []byte("PK\x03\x04\x14\x00"), Zip},
		{"gzip", []byte{0x1f, 0x8b, 8, 0}, Gzip},
		{"pdf", []byte("%PDF-1.7\n"), PDF},
		{"matroska", []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska"), Matroska},
		{"webm", []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm"), WebM},
		{"avi", []byte("RIFF\x00\x00\x00\x00AVI LIST"), AVI},
		{"mov", []byte("\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  "), MOV},
		{"heic", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), HEIC},
		{"text starting BM", []byte("BMW is a car brand, not a bitmap at all"), Unknown},
		{"empty", nil, Unknown},
		{"text", []byte("hello world"), Unknown},
	}
	for _, tt := range synthetic {
		if _, f := Sniff(tt.head); f != tt.f {
			t.Errorf("%s: got %q, want %q", tt.name, f, tt.f)
		}
	}
	tarHead := make([]byte, 512)
	copy(tarHead[257:], "ustar\x0000")
	if _, f := Sniff(tarHead); f != Tar {
		t.Errorf("tar: got %q", f)
	}
}

func TestExtensionMatches(t *testing.T) {
	tests := []struct {
		f    Format
		ext  string
		want bool
	}{
		{JPEG, ".JPG", true}, {JPEG, ".jpeg", true}, {JPEG, ".txt", false},
		{PNG, ".jpg", false}, {Zip, ".docx", true}, {Unknown, ".anything", true},
	}
	for _, tt := range tests {
		if got := ExtensionMatches(tt.f, tt.ext); got != tt.want {
			t.Errorf("ExtensionMatches(%s, %q) = %v", tt.f, tt.ext, got)
		}
	}
}

// TestTruncated cuts real images at many offsets: every cut must be an error
// (never a silently partial image, never a panic).
func TestTruncated(t *testing.T) {
	for _, file := range []string{"bridge-mods/aaa-orig.jpg", "misc-images/c.png", "misc-images/modes/F.webp", "misc-images/small.jpg"} {
		data := readTestImage(t, file)
		for _, frac := range []float64{0.01, 0.1, 0.5, 0.9, 0.99} {
			n := int(float64(len(data)) * frac)
			_, err := DecodeImage(data[:n], Limits{})
			if err == nil {
				t.Errorf("%s cut to %d of %d bytes: decoded without error", file, n, len(data))
			} else if !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s cut to %d bytes: got %v, want ErrCorrupt", file, n, err)
			}
		}
	}
}

func TestGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 50 {
		b := make([]byte, rng.IntN(4096))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		if i%2 == 0 && len(b) > 4 { // keep a valid JPEG magic so the decoder itself is exercised
			copy(b, "\xff\xd8\xff\xe0")
		}
		if _, err := DecodeImage(b, Limits{}); err == nil {
			t.Errorf("random bytes %d decoded without error", i)
		}
	}
	if _, err := DecodeImage(nil, Limits{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("empty input: got %v, want ErrUnsupported", err)
	}
}

// pngHeaderOnly is a PNG whose IHDR claims w×h pixels, with no image data:
// a decompression bomb as far as the header is concerned.
func pngHeaderOnly(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	binary.Write(&b, binary.BigEndian, uint32(13))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestLimits(t *testing.T) {
	if _, err := DecodeImage(pngHeaderOnly(100000, 100000), Limits{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("10-gigapixel PNG header: got %v, want ErrTooLarge", err)
	}
	data := readTestImage(t, "pen-and-coaster.png")
	if _, err := DecodeImage(data, Limits{MaxBytes: 1000}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("byte limit: got %v, want ErrTooLarge", err)
	}
	if _, err := DecodeImage(data, Limits{MaxPixels: 1000}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("pixel limit: got %v, want ErrTooLarge", err)
	}
}

// TestHugeJPEG decodes a real 100-megapixel JPEG: the cgo build decodes it
// scaled in the DCT domain, the pure-Go build refuses it by limit; either
// way the memory allocated stays bounded by the pixel limit, not the image.
func TestHugeJPEG(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100-megapixel JPEG")
	}
	const side = 10000
	src := image.NewGray(image.Rect(0, 0, side, side))
	for y := 0; y < side; y++ {
		row := src.Pix[y*side : (y+1)*side]
		for x := range row {
			row[x] = byte((x/100 + y/100) * 7)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 50}); err != nil {
		t.Fatal(err)
	}
	src = nil
	lim := Limits{MaxPixels: 32 << 20}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	d, err := DecodeImage(buf.Bytes(), lim)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("turbo=%v: %d-byte JPEG, err=%v, scale=%d, allocated %d MiB", TurboJPEG, buf.Len(), err, d.Scale, alloc>>20)
	if TurboJPEG {
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		b := d.Image.Bounds()
		if d.Width != side || d.Height != side || int64(b.Dx())*int64(b.Dy()) > lim.MaxPixels || d.Scale < 2 {
			t.Errorf("got %d×%d decoded at %v scale 1/%d", d.Width, d.Height, b, d.Scale)
		}
	} else if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("pure-Go decode of 100 MP: got %v, want ErrTooLarge", err)
	}
	if alloc > uint64(2*lim.MaxPixels) {
		t.Errorf("allocated %d bytes, want ≤ %d", alloc, 2*lim.MaxPixels)
	}
}

func TestDecodeFormats(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, img); err != nil {
		t.Fatal(err)
	}
	d, err := DecodeImage(pngBuf.Bytes(), Limits{})
	if err != nil || d.Format != PNG || d.Width != 40 || d.Height != 30 {
		t.Fatalf("png: %+v, %v", d, err)
	}
	if c := color.NRGBAModel.Convert(d.Image.At(3, 2)).(color.NRGBA); c != img.NRGBAAt(3, 2) {
		t.Errorf("pixel: got %v want %v", c, img.NRGBAAt(3, 2))
	}
}

// TestJPEGLayout checks the marker walk against files whose layout is known,
// and that layouts that make decoding expensive are refused up front by
// both decoders.
func TestJPEGLayout(t *testing.T) {
	prog := readTestImage(t, "dih/bridge-2-rotate-90.jpg")
	base := readTestImage(t, "bridge-mods/aaa-orig.jpg")
	lp, lb := inspectJPEG(prog), inspectJPEG(base)
	if !lp.progressive || lp.scans < 2 || lp.scans > 20 {
		t.Errorf("progressive file: %+v", lp)
	}
	if lb.progressive {
		t.Errorf("baseline file: %+v", lb)
	}

	// A progressive JPEG over the pixel limit is refused even where a
	// baseline one would be decoded scaled: its coefficients are held at
	// full size.
	d, err := DecodeImage(prog, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	small := Limits{MaxPixels: int64(d.Width*d.Height) / 2}
	if _, err := DecodeImage(prog, small); !errors.Is(err, ErrTooLarge) {
		t.Errorf("progressive over the limit: got %v, want ErrTooLarge", err)
	}
	if _, err := DecodeImage(base, Limits{MaxPixels: 1000 * 1004 / 2}); TurboJPEG && err != nil {
		t.Errorf("baseline over the limit with libjpeg-turbo: %v, want a scaled decode", err)
	}

	// A scan bomb: the last scan of a real progressive file repeated until
	// there are more scans than maxScans.
	last := bytes.LastIndex(prog, []byte{0xff, 0xda})
	eoi := bytes.LastIndex(prog, []byte{0xff, 0xd9})
	if last < 0 || eoi < last {
		t.Fatal("no final scan found")
	}
	bomb := append([]byte(nil), prog[:eoi]...)
	for range maxScans {
		bomb = append(bomb, prog[last:eoi]...)
	}
	bomb = append(bomb, 0xff, 0xd9)
	if l := inspectJPEG(bomb); l.scans <= maxScans {
		t.Fatalf("bomb has %d scans", l.scans)
	}
	if _, err := DecodeImage(bomb, Limits{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("scan bomb: got %v, want ErrTooLarge", err)
	}
}

// TestDecodeScaled checks DecodeImageScaled's choice of scale: the largest of
// 1/2 and 1/4 that keeps both sides ≥ minSide with libjpeg-turbo; without
// cgo only 1/4 (the pure-Go reduced decoder has no 1/2); the image's own
// dimensions reported either way.
func TestDecodeScaled(t *testing.T) {
	tests := []struct {
		w, h, minSide int
		scale         int // with libjpeg-turbo; the pure-Go decoders only scale by 1/4
	}{
		{1200, 1100, PDQMinSide, 2},
		{2100, 2050, PDQMinSide, 4},
		{4200, 4200, PDQMinSide, 4}, // never beyond 1/4
		{1023, 3000, PDQMinSide, 1}, // one side would fall under 512
		{2048, 1024, PDQMinSide, 2},
		{1200, 1100, 0, 1},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, tt.w, tt.h)), nil); err != nil {
			t.Fatal(err)
		}
		d, err := DecodeImageScaled(buf.Bytes(), Limits{}, tt.minSide)
		if err != nil {
			t.Fatalf("%d×%d: %v", tt.w, tt.h, err)
		}
		want := tt.scale
		if !TurboJPEG && want != 4 {
			want = 1
		}
		b := d.Image.Bounds()
		if d.Scale != want || d.Width != tt.w || d.Height != tt.h ||
			b.Dx() != (tt.w+want-1)/want || b.Dy() != (tt.h+want-1)/want {
			t.Errorf("%d×%d min side %d: scale 1/%d, %d×%d, raster %v; want scale 1/%d",
				tt.w, tt.h, tt.minSide, d.Scale, d.Width, d.Height, b, want)
		}
		if tt.minSide > 0 && (b.Dx() < min(tt.w, tt.minSide) || b.Dy() < min(tt.h, tt.minSide)) {
			t.Errorf("%d×%d: raster %v under the minimum side %d", tt.w, tt.h, b, tt.minSide)
		}
	}
}

func FuzzDecodeImage(f *testing.F) {
	for _, file := range []string{"misc-images/wee.jpg", "misc-images/modes/P.png"} {
		f.Add(readTestImage(f, file))
	}
	f.Add(pngHeaderOnly(5, 5))
	f.Add([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"))
	f.Add([]byte("RIFF\x10\x00\x00\x00WEBPVP8 "))
	f.Fuzz(func(t *testing.T, data []byte) {
		Sniff(data)
		d, err := DecodeImage(data, Limits{MaxPixels: 1 << 22})
		if err == nil && d.Image == nil {
			t.Fatal("nil image without error")
		}
	})
}
