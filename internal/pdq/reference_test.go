package pdq

import (
	"encoding/csv"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	_ "golang.org/x/image/webp"
)

// refDir holds the reference images and the C++ reference's outputs. The
// shared test data sits beside the repository (/work/main next to
// /work/shared), in CI as here.
const refDir = "../../../shared/testdata/pdq"

// refRow is one line of a reference CSV: hash,quality,file.
type refRow struct {
	hash    Hash
	quality int
	file    string
	line    int
}

// readRefCSV reads a hash,quality,file CSV with a header line. A missing
// file fails the test: the reference data is part of the build.
func readRefCSV(t *testing.T, name string) []refRow {
	t.Helper()
	f, err := os.Open(filepath.Join(refDir, name))
	if err != nil {
		t.Fatalf("reference data missing (the shared testdata must sit beside the repository): %v", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 3
	var rows []refRow
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if line == 1 {
			if strings.Join(rec, ",") != "hash,quality,file" {
				t.Fatalf("%s: unexpected header %q", name, rec)
			}
			continue
		}
		h, err := ParseHex(rec[0])
		if err != nil {
			t.Fatalf("%s:%d: %v", name, line, err)
		}
		q, err := strconv.Atoi(rec[1])
		if err != nil {
			t.Fatalf("%s:%d: quality: %v", name, line, err)
		}
		rows = append(rows, refRow{hash: h, quality: q, file: rec[2], line: line})
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no rows", name)
	}
	return rows
}

var (
	decodedMu sync.Mutex
	decoded   = map[string]image.Image{}
)

// decodeFile decodes an image file once per test binary (the reference
// photos include 12-megapixel JPEGs that several tests read). Callers must
// not modify the result.
func decodeFile(t *testing.T, path string) image.Image {
	t.Helper()
	decodedMu.Lock()
	defer decodedMu.Unlock()
	if img, ok := decoded[path]; ok {
		return img
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	decoded[path] = img
	return img
}

// TestReferencePNG: on identical pixels (lossless PNGs of at most 512 px, so
// the reference does no resizing) every hash and quality must be identical
// to the C++ reference.
func TestReferencePNG(t *testing.T) {
	for _, row := range readRefCSV(t, "reference-png.csv") {
		t.Run(row.file, func(t *testing.T) {
			img := decodeFile(t, filepath.Join(refDir, "png", row.file))
			got := HashImage(img)
			if got.Hash != row.hash || got.Quality != row.quality {
				t.Errorf("got %v q=%d, reference %v q=%d (distance %d)",
					got.Hash, got.Quality, row.hash, row.quality, Distance(got.Hash, row.hash))
			}
		})
	}
}

// TestReferencePNGDihedral: all 8 dihedral hashes of each PNG are identical
// to the reference's --pdqdih output (8 lines per file, reference order).
func TestReferencePNGDihedral(t *testing.T) {
	rows := readRefCSV(t, "reference-png-dihedral.csv")
	if len(rows)%8 != 0 {
		t.Fatalf("%d rows, want a multiple of 8", len(rows))
	}
	for i := 0; i < len(rows); i += 8 {
		file := rows[i].file
		t.Run(file, func(t *testing.T) {
			img := decodeFile(t, filepath.Join(refDir, "png", file))
			d, q := HashImageDihedral(img)
			for k := 0; k < 8; k++ {
				want := rows[i+k]
				if want.file != file {
					t.Fatalf("line %d: file %q inside the block of %q", want.line, want.file, file)
				}
				if d[k] != want.hash || q != want.quality {
					t.Errorf("dihedral %d: got %v q=%d, reference %v q=%d (distance %d)",
						k, d[k], q, want.hash, want.quality, Distance(d[k], want.hash))
				}
			}
		})
	}
}

// TestReferenceImages hashes the original reference files through Go's
// decoders. Decoders differ from the ImageMagick/libjpeg the reference used,
// so the upstream rule applies: quality ≥ 80 ⇒ distance ≤ 10. The lossless
// PNG originals (which exercise the 512×512 resize, alpha and grey/palette
// handling) must match exactly.
func TestReferenceImages(t *testing.T) {
	rows := readRefCSV(t, "reference.csv")
	dist := map[int][]string{}
	for _, row := range rows {
		img := decodeFile(t, filepath.Join(refDir, "images", row.file))
		got := HashImage(img)
		d := Distance(got.Hash, row.hash)
		dist[d] = append(dist[d], row.file)
		lossless := strings.HasSuffix(row.file, ".png")
		switch {
		case lossless && (d != 0 || got.Quality != row.quality):
			t.Errorf("%s (%T, lossless): got %v q=%d, reference %v q=%d (distance %d)",
				row.file, img, got.Hash, got.Quality, row.hash, row.quality, d)
		case row.quality >= 80 && d > 10:
			t.Errorf("%s (%T): distance %d > 10 (got q=%d, reference q=%d)", row.file, img, d, got.Quality, row.quality)
		case row.quality >= 80 && got.Quality < 80:
			t.Errorf("%s (%T): quality %d, reference %d", row.file, img, got.Quality, row.quality)
		}
	}
	t.Logf("distance distribution over %d reference images: %s", len(rows), formatDist(dist))
}

func formatDist(dist map[int][]string) string {
	var ds []int
	for d := range dist {
		ds = append(ds, d)
	}
	sort.Ints(ds)
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "\n  d=%-3d ×%-3d", d, len(dist[d]))
		if d > 0 {
			b.WriteString(" " + strings.Join(dist[d], " "))
		}
	}
	return b.String()
}

// TestYCbCrLumaChoice measures the two ways to take luma from a decoded
// JPEG (*image.YCbCr) against the reference: converting each pixel to RGB
// as the reference's decoder does (the default), or reading the Y plane.
// It logs both distance distributions and fails if the default is not the
// closer of the two, which is what justified choosing it.
func TestYCbCrLumaChoice(t *testing.T) {
	rows := readRefCSV(t, "reference.csv")
	var imgs []image.Image
	var jpegs []refRow
	for _, row := range rows {
		img := decodeFile(t, filepath.Join(refDir, "images", row.file))
		if _, ok := img.(*image.YCbCr); ok && row.quality >= 80 {
			imgs = append(imgs, img)
			jpegs = append(jpegs, row)
		}
	}
	if len(jpegs) < 20 {
		t.Fatalf("only %d colour JPEGs with quality ≥ 80 in reference.csv", len(jpegs))
	}
	measure := func(yPlane bool) (total, exact int, dist map[int][]string) {
		defer func(old bool) { yPlaneLuma = old }(yPlaneLuma)
		yPlaneLuma = yPlane
		dist = map[int][]string{}
		for i, img := range imgs {
			d := Distance(HashImage(img).Hash, jpegs[i].hash)
			total += d
			if d == 0 {
				exact++
			}
			dist[d] = append(dist[d], jpegs[i].file)
		}
		return total, exact, dist
	}
	rgbTotal, rgbExact, rgbDist := measure(false)
	yTotal, yExact, yDist := measure(true)
	t.Logf("%d colour JPEGs, quality ≥ 80", len(jpegs))
	t.Logf("via RGB (default): %d exact, %d bits in total:%s", rgbExact, rgbTotal, formatDist(rgbDist))
	t.Logf("via Y plane:       %d exact, %d bits in total:%s", yExact, yTotal, formatDist(yDist))
	if rgbTotal > yTotal {
		t.Errorf("the Y plane is now closer to the reference (%d vs %d bits): revisit yPlaneLuma", yTotal, rgbTotal)
	}
}
