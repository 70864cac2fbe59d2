package media

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// writeZeros streams n zero bytes through w without holding them.
func writeZeros(w io.Writer, n int64) error {
	buf := make([]byte, 64<<10)
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := w.Write(buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// bombTIFF returns a deflate-compressed TIFF of a w×h 16-bit RGBA image of
// zeros: about 0.5 MB for 8192×8192, 512 MiB of raster once decoded. It is
// written by hand so the test never holds the raster itself.
func bombTIFF(t testing.TB, w, h int) []byte {
	var strip bytes.Buffer
	zw := zlib.NewWriter(&strip)
	if err := writeZeros(zw, int64(w)*int64(h)*8); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	type entry struct {
		tag, typ uint16
		count    uint32
		value    uint32
	}
	const short, long = 3, 4
	bitsOffset := uint32(8)      // 4 × uint16 bits-per-sample values
	dataOffset := bitsOffset + 8 // the strip
	ifdOffset := dataOffset + uint32(strip.Len())
	entries := []entry{
		{256, long, 1, uint32(w)},           // ImageWidth
		{257, long, 1, uint32(h)},           // ImageLength
		{258, short, 4, bitsOffset},         // BitsPerSample 16,16,16,16
		{259, short, 1, 8},                  // Compression: deflate
		{262, short, 1, 2},                  // Photometric: RGB
		{273, long, 1, dataOffset},          // StripOffsets
		{277, short, 1, 4},                  // SamplesPerPixel
		{278, long, 1, uint32(h)},           // RowsPerStrip
		{279, long, 1, uint32(strip.Len())}, // StripByteCounts
		{338, short, 1, 2},                  // ExtraSamples: unassociated alpha
	}
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("II")
	binary.Write(&b, le, uint16(42))
	binary.Write(&b, le, ifdOffset)
	binary.Write(&b, le, [4]uint16{16, 16, 16, 16})
	b.Write(strip.Bytes())
	binary.Write(&b, le, uint16(len(entries)))
	for _, e := range entries {
		binary.Write(&b, le, e.tag)
		binary.Write(&b, le, e.typ)
		binary.Write(&b, le, e.count)
		if e.typ == short && e.count == 1 {
			binary.Write(&b, le, [2]uint16{uint16(e.value), 0})
		} else {
			binary.Write(&b, le, e.value)
		}
	}
	binary.Write(&b, le, uint32(0))
	return b.Bytes()
}

// bombPNG returns a PNG of a w×h image of zeros with the given bit depth
// (8 or 16) and colour type 6 (RGBA), streamed as bombTIFF is.
func bombPNG(t testing.TB, w, h, depth int) []byte {
	var idat bytes.Buffer
	zw := zlib.NewWriter(&idat)
	row := int64(w)*4*int64(depth/8) + 1 // filter byte + samples
	if err := writeZeros(zw, row*int64(h)); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		c := crc32.NewIEEE()
		c.Write([]byte(typ))
		c.Write(data)
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, c.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = byte(depth), 6
	chunk("IHDR", ihdr)
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	return b.Bytes()
}

// TestDecodeChild is not a test of its own: run by decodeInChild, it
// decodes the file in NIGEHBAN_DECODE_FILE on NIGEHBAN_DECODE_PARALLEL
// goroutines with the given budget, then prints each outcome and the
// process's peak resident memory.
func TestDecodeChild(t *testing.T) {
	path := os.Getenv("NIGEHBAN_DECODE_FILE")
	if path == "" {
		t.Skip("helper process for TestDecodeBombs")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(os.Getenv("NIGEHBAN_DECODE_PARALLEL"))
	b, _ := strconv.ParseInt(os.Getenv("NIGEHBAN_DECODE_BUDGET"), 10, 64)
	SetDecodeBudget(b)
	var wg sync.WaitGroup
	outcomes := make([]string, n)
	for i := range n {
		wg.Go(func() {
			d, err := DecodeImage(data, Limits{})
			switch {
			case errors.Is(err, ErrTooLarge):
				outcomes[i] = "too-large"
			case err != nil:
				outcomes[i] = "error:" + strings.ReplaceAll(err.Error(), " ", "_")
			default:
				outcomes[i] = fmt.Sprintf("ok-%dx%d", d.Width, d.Height)
			}
		})
	}
	wg.Wait()
	status, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			fmt.Printf("RESULT %s %s\n", strings.Join(outcomes, ","), strings.Fields(l)[1])
		}
	}
}

// decodeInChild runs TestDecodeChild in a fresh process and returns the
// outcomes and its peak resident memory in MiB.
func decodeInChild(t *testing.T, data []byte, parallel int, budget int64) ([]string, int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bomb")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDecodeChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "NIGEHBAN_DECODE_FILE="+path, "NIGEHBAN_DECODE_PARALLEL="+strconv.Itoa(parallel),
		"NIGEHBAN_DECODE_BUDGET="+strconv.FormatInt(budget, 10), "GOGC=50", "GOMEMLIMIT=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "RESULT" {
			kb, _ := strconv.ParseInt(f[2], 10, 64)
			return strings.Split(f[1], ","), kb >> 10
		}
	}
	t.Fatalf("child printed no result:\n%s", out)
	return nil, 0
}

// TestDecodeBombs: small files declaring deep rasters inside the pixel
// limit are refused before allocation, measured by the peak memory of a
// process decoding four of them at once.
func TestDecodeBombs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds half-gigabyte rasters' worth of compressed zeros")
	}
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"tiff-16bit-rgba-8192", bombTIFF(t, 8192, 8192)},
		{"png-16bit-rgba-8192", bombPNG(t, 8192, 8192, 16)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.data) > 2<<20 {
				t.Fatalf("bomb of %d bytes: the test wants a small file", len(tt.data))
			}
			outcomes, peak := decodeInChild(t, tt.data, 4, 0)
			for _, o := range outcomes {
				if o != "too-large" {
					t.Errorf("outcome %q, want too-large", o)
				}
			}
			t.Logf("%d-byte file, 4 parallel decodes: peak %d MiB", len(tt.data), peak)
			if peak > 150 {
				t.Errorf("peak resident memory %d MiB, want < 150 (the raster alone would be 512 MiB)", peak)
			}
		})
	}
}

// TestDecodeBudget: images each within the per-image limit, decoded on six
// goroutines with a budget that admits one at a time, never have more than
// a few rasters alive: six at once would be 384 MiB. (The peak without a
// budget is logged for comparison, not asserted: on a loaded 2-core machine
// the decodes may not overlap by themselves.)
func TestDecodeBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 64 MiB rasters in child processes")
	}
	img := bombPNG(t, 4096, 4096, 8) // 64 MiB of RGBA each
	okAll := func(outcomes []string) {
		for _, o := range outcomes {
			if o != "ok-4096x4096" {
				t.Errorf("outcome %q, want ok", o)
			}
		}
	}
	free, peakFree := decodeInChild(t, img, 6, 4<<30)
	okAll(free)
	tight, peakTight := decodeInChild(t, img, 6, 80<<20)
	okAll(tight)
	t.Logf("6 parallel 64 MiB decodes: peak %d MiB without a budget, %d MiB with an 80 MiB budget", peakFree, peakTight)
	// One raster being decoded, at most two finished ones the collector has
	// not yet returned (peaks of 136, 200 and, at GOGC=100, 264 MiB were
	// seen on the same machine: 2, 3 and 4 rasters), and the process itself;
	// six at once are about 392 MiB.
	if peakTight >= 260 {
		t.Errorf("budgeted peak %d MiB, want < 260 (one decode at a time, at most two finished rasters not yet collected)", peakTight)
	}
}
