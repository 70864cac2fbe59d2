package media

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/nigehban/nigehban/internal/pdq"
)

// testdata is the shared reference data beside the repository.
const testdata = "../../../shared/testdata/pdq"

type refRow struct {
	hash    pdq.Hash
	quality int
	file    string
}

func readReference(t testing.TB, name string) []refRow {
	t.Helper()
	f, err := os.Open(filepath.Join(testdata, name))
	if err != nil {
		t.Fatalf("reference data missing (shared/ must sit beside the repository): %v", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var rows []refRow
	for _, r := range recs[1:] {
		q, err := strconv.Atoi(r[1])
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, refRow{pdq.MustParseHex(r[0]), q, r[2]})
	}
	if len(rows) == 0 {
		t.Fatalf("%s has no rows", name)
	}
	return rows
}

// TestReferenceImages decodes the reference images with this build's decoders
// (libjpeg-turbo to RGB with cgo, the standard library without), at full
// size and as fingerprint decodes them (DCT-scaled down to PDQMinSide), and
// checks the upstream rule for different decoders: quality ≥ 80 ⇒ distance
// ≤ 10. libjpeg-turbo at full size decodes as the reference's libjpeg does,
// and luma comes from RGB as in the reference, so there every hash and
// quality must be identical, whatever the quality.
func TestReferenceImages(t *testing.T) {
	for _, minSide := range []int{0, PDQMinSide} {
		var dists []int
		scaled := 0
		for _, ref := range readReference(t, "reference.csv") {
			data, err := os.ReadFile(filepath.Join(testdata, "images", ref.file))
			if err != nil {
				t.Fatal(err)
			}
			d, err := DecodeImageScaled(data, Limits{}, minSide)
			if err != nil {
				t.Errorf("%s: %v", ref.file, err)
				continue
			}
			if d.Scale > 1 {
				scaled++
			}
			got := pdq.HashImage(d.Image)
			dist := pdq.Distance(got.Hash, ref.hash)
			if TurboJPEG && minSide == 0 && (dist != 0 || got.Quality != ref.quality) {
				t.Errorf("%s: distance %d, quality %d, from the reference's quality %d: want identical",
					ref.file, dist, got.Quality, ref.quality)
			}
			if ref.quality >= 80 {
				dists = append(dists, dist)
				if dist > 10 {
					t.Errorf("%s (min side %d): distance %d from the reference (quality %d), want ≤ 10",
						ref.file, minSide, dist, ref.quality)
				}
			}
			if dist > 0 {
				t.Logf("%-40s min side %3d scale 1/%d q=%3d/%3d dist=%d", ref.file, minSide, d.Scale, got.Quality, ref.quality, dist)
			}
		}
		slices.Sort(dists)
		hist := map[int]int{}
		for _, d := range dists {
			hist[d]++
		}
		t.Logf("turbo=%v, min side %d (%d decoded scaled): %d images with quality ≥ 80: distance histogram %v, max %d",
			TurboJPEG, minSide, scaled, len(dists), hist, dists[len(dists)-1])
	}
}

// TestReferencePNG checks identical pixels give identical hashes and quality
// through the decoder.
func TestReferencePNG(t *testing.T) {
	for _, ref := range readReference(t, "reference-png.csv") {
		data, err := os.ReadFile(filepath.Join(testdata, "png", ref.file))
		if err != nil {
			t.Fatal(err)
		}
		d, err := DecodeImage(data, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", ref.file, err)
		}
		got := pdq.HashImage(d.Image)
		if got.Hash != ref.hash || got.Quality != ref.quality {
			t.Errorf("%s: got %v q=%d, want %v q=%d", ref.file, got.Hash, got.Quality, ref.hash, ref.quality)
		}
	}
}
