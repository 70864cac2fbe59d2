package variant

import (
	"fmt"
	"image"
	"slices"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/pdq"
)

// TestHashesAgainstReference checks, on the edit corpus (originals and
// copies), how each hash Hashes returns relates to the reference PDQ of its
// pixels: the original's hash, and from pixelDihedralMax up its 7 rotations
// and mirrors, are the reference's bit for bit (they are what exchanges
// compare); the regions and the small images' mirrored passes come from
// pdq's fast route and may differ from the reference hash of the same
// pixels only by float rounding. Those distances are logged and bounded at
// PDQ quality ≥ 50 (the hashes ever matched).
func TestHashesAgainstReference(t *testing.T) {
	buildCorpus(t)
	paths := slices.Sorted(func(yield func(string) bool) {
		for _, o := range corpus.origs {
			if !yield(o) {
				return
			}
		}
	})
	for i, e := range corpus.entries {
		if !testing.Short() || i%3 == 0 {
			paths = append(paths, e.path)
		}
	}
	hist := map[int]int{}
	sum, n, worst := 0, 0, 0
	for _, p := range paths {
		img := decodeFile(t, p).Image
		ref := pdq.HashImage(img)
		for _, s := range []Set{None, Borders, All} {
			got := Hashes(img, s)
			if got[0].Name != Original || got[0].PDQ != ref.Hash || got[0].Quality != ref.Quality {
				t.Errorf("%s %v: original %v q%d, reference %v q%d", p, s, got[0].PDQ, got[0].Quality, ref.Hash, ref.Quality)
			}
			if s != All {
				continue
			}
			b := img.Bounds()
			var want [8]pdq.Result
			exactDihedral := !pixelDihedral(b)
			if exactDihedral {
				d, q := pdq.HashImageDihedral(img)
				for k := range 8 {
					want[k] = pdq.Result{Hash: d[k], Quality: q}
				}
			} else {
				plane := pdq.NewPlane(img)
				for _, m := range []struct {
					op, tr int
					m      pdq.Mirror
				}{{0, 6, pdq.NoMirror}, {4, 3, pdq.MirrorY}, {5, 1, pdq.MirrorX}, {2, 7, pdq.MirrorX | pdq.MirrorY}} {
					h, tr, q := pdq.HashPlanePair(plane, plane.Bounds(), m.m)
					want[m.op], want[m.tr] = pdq.Result{Hash: h, Quality: q}, pdq.Result{Hash: tr, Quality: q}
				}
			}
			for k := 1; k < 8; k++ {
				h := got[k]
				if h.Name != dihedralNames[k] {
					t.Fatalf("%s: hash %d is %q, want %q", p, k, h.Name, dihedralNames[k])
				}
				d := pdq.Distance(h.PDQ, want[k].Hash)
				if exactDihedral && (d != 0 || h.Quality != want[k].Quality) {
					t.Errorf("%s: %s %d bits from the reference's dihedral hash", p, h.Name, d)
				}
				if !exactDihedral && want[k].Quality >= pdq.MinQuality {
					hist[d]++
					sum, n, worst = sum+d, n+1, max(worst, d)
				}
			}
			for _, h := range got[8:] {
				r := image.Rect(h.Rect[0], h.Rect[1], h.Rect[2], h.Rect[3])
				w := pdq.HashImage(subImage(img, r))
				if abs(w.Quality-h.Quality) > 1 {
					t.Errorf("%s: %s %v quality %d, reference %d", p, h.Name, r, h.Quality, w.Quality)
				}
				if w.Quality >= pdq.MinQuality {
					d := pdq.Distance(h.PDQ, w.Hash)
					hist[d]++
					sum, n, worst = sum+d, n+1, max(worst, d)
				}
			}
		}
	}
	var dist []string
	for _, k := range slices.Sorted(func(yield func(int) bool) {
		for k := range hist {
			if !yield(k) {
				return
			}
		}
	}) {
		dist = append(dist, fmt.Sprintf("%d bits: %d", k, hist[k]))
	}
	mean := float64(sum) / float64(max(n, 1))
	t.Logf("%d region and mirrored hashes of quality ≥ %d from %d images: mean %.4f bits from the reference, max %d (%s)",
		n, pdq.MinQuality, len(paths), mean, worst, strings.Join(dist, ", "))
	if n < len(paths) {
		t.Errorf("only %d region and mirrored hashes compared: the corpus lost its edits", n)
	}
	if mean > 0.1 || worst > 4 {
		t.Errorf("region and mirrored hashes: mean %.4f bits (bound 0.1), max %d (bound 4) from the reference", mean, worst)
	}
}
