package scan

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"path/filepath"
	"testing"

	"github.com/nigehban/nigehban/internal/fingerprint"
)

// TestDihedralMatching: a copy of a bank image rotated by 90° is missed
// by plain PDQ and found with Dihedral, its match naming the rotation.
func TestDihedralMatching(t *testing.T) {
	ctx := context.Background()
	orig := readFile(t, imagePath("bridge-mods/aaa-orig.jpg"))
	img := decode(t, orig)
	b := img.Bounds()
	rot := image.NewRGBA(image.Rect(0, 0, b.Dy(), b.Dx()))
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			rot.Set(y-b.Min.Y, b.Max.X-1-x, img.At(x, y)) // 90° counter-clockwise
		}
	}
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "rotated.png"), encodePNG(t, rot))
	rec := fingerprint.Reader(ctx, "orig", bytes.NewReader(orig), fingerprint.Options{})
	bank := filepath.Join(t.TempDir(), "bank.csv")
	writeFile(t, bank, []byte(fmt.Sprintf("type,value,category\npdq,%s,1\n", rec.PDQ)))
	banks, err := LoadFileBanks(ctx, []string{bank}, DefaultFileBankOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, dih := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "out")
		if _, err := Run(ctx, Options{Case: "D", Examiner: "E", Out: out, Sources: []string{src}, Matcher: banks, Dihedral: dih}); err != nil {
			t.Fatal(err)
		}
		e := readEntries(t, out)["rotated.png"]
		switch {
		case e == nil:
			t.Fatal("rotated.png not listed")
		case !dih && len(e.Matches) != 0:
			t.Errorf("without dihedral the rotated copy matched: %+v", e.Matches)
		case dih && (len(e.Matches) != 1 || e.Matches[0].Transform == ""):
			t.Errorf("with dihedral: matches %+v", e.Matches)
		}
	}
}
