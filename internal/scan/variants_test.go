package scan

import (
	"bytes"
	"context"
	"image"
	"image/draw"
	"path/filepath"
	"testing"

	"github.com/nigehban/nigehban/internal/fingerprint"
	"github.com/nigehban/nigehban/internal/variant"
)

// TestScanVariants: a pillarboxed copy of a banked photo matches only when
// the scan matches variants, the match names the variant, and custody.json
// records each run's variant set.
func TestScanVariants(t *testing.T) {
	ctx := context.Background()
	bridge := readFile(t, imagePath("bridge-mods/aaa-orig.jpg"))
	rec := fingerprint.Reader(ctx, "x", bytes.NewReader(bridge), fingerprint.Options{})
	bankFile := filepath.Join(t.TempDir(), "bank.txt")
	writeFile(t, bankFile, []byte(rec.PDQ.String()+"\n"))

	src := decode(t, bridge)
	b := src.Bounds()
	boxed := image.NewRGBA(image.Rect(0, 0, b.Dx()*3/2, b.Dy()))
	draw.Draw(boxed, boxed.Bounds(), image.Black, image.Point{}, draw.Src)
	draw.Draw(boxed, b.Add(image.Pt(b.Dx()/4, 0)), src, b.Min, draw.Src)
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "boxed.jpg"), encodeJPEG(t, boxed, 90))

	for _, tc := range []struct {
		set  variant.Set
		want string // the variant matched; "" for no match
	}{{variant.None, ""}, {variant.Borders, "borders"}, {variant.All, "borders"}} {
		opts := DefaultFileBankOptions()
		opts.Type = "pdq"
		fb, err := LoadFileBanks(ctx, []string{bankFile}, opts)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out")
		if _, err := Run(ctx, Options{Case: "V", Examiner: "E", Out: out, Sources: []string{root}, Matcher: fb, Variants: tc.set}); err != nil {
			t.Fatal(err)
		}
		m := readEntries(t, out)["boxed.jpg"].Matches
		switch {
		case tc.want == "" && len(m) != 0:
			t.Errorf("%s: a pillarboxed copy matched plain PDQ: %+v", tc.set, m)
		case tc.want != "" && (len(m) != 1 || m[0].Variant != tc.want):
			t.Errorf("%s: %+v, want one match by %s", tc.set, m, tc.want)
		}
		c, err := ReadCustody(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Runs[0].Variants; got != tc.set.String() {
			t.Errorf("custody variants %q, want %q", got, tc.set)
		}
	}
}
