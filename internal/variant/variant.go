// Package variant derives, from one decoded image, the regions an original
// may hide in when it comes back edited — inside letterbox or pillarbox bars,
// a frame or a plain canvas, above or below a caption band, inside the
// straight edges of a picture pasted into a screenshot or a collage — and
// hashes each with PDQ, plus the dihedral hashes of the image so rotated and
// mirrored copies match plain bank hashes. Exchange hashes are reference PDQ
// of the original, so this is query-side work: a bank's signals stay
// reference PDQ, and the query tries every variant against them (see
// internal/match).
//
// Regions are found on a grid of at most 256 cells a side sampled from the
// decoded image, then their edges are placed on the image's own pixels.
// Once the regions are known, the image's luma is computed once
// (pdq.Plane) when more than one PDQ pass is due, and the original, every
// region and the mirrored passes read it instead of converting pixels
// again (no second decode, no second conversion). From 400 pixels a side
// the original and its 7 rotations and mirrors come from one PDQ pass;
// smaller images take 3 more passes over the mirrored luma, each giving
// two of the eight hashes.
//
// The original's hash, and from 400 pixels its rotations and mirrors, are
// reference PDQ bit for bit: that is what hash prints and exchanges
// compare. The regions and the small images' mirrored passes take pdq's
// fast route (HashPlaneFast, HashPlanePairFast, HashImageFast), which
// evaluates the tent filter only at the 64×64 samples PDQ keeps: its hashes
// are within float rounding of the reference's for the same pixels. On the
// report set's 274 images the 2,598 variant hashes (680 of them regions)
// came out identical, bit for bit and quality, to the exact passes; on the
// test corpus 1,073 region and mirrored hashes of quality ≥ 50 were 0 bits
// apart (TestHashesAgainstReference), and over 7,685 regions of the shared
// photos every hash of quality ≥ 50 was (pdq's TestFastMatchesExact;
// hashes that do differ are regions of a few pixels or flat ones, quality
// under 50, never matched).
//
// Cost, as thread CPU time of decoding and hashing against decoding and
// plain hashing, same run, on 2 shared cores at load 5.1–6.1: on
// bench/variants' report set Borders 0.94–1.06× and All 1.23–1.30×, mean
// 1.27× (the code before the fast route, interleaved with it: 0.97–1.23×
// and 1.37–1.64×, mean 1.50×); the figures and how they were measured are in
// bench/variants/README.md. Since then (the luma plane's load four pixels
// at a time, the edge-line search's row sums only where read; hashes and
// rectangles unchanged), five runs interleaved with that code at load
// 6–11 (two before the search's row fusion): All 1.03–1.30×, mean 1.22×
// (that code 1.37–1.54×, mean 1.44×, in the same session), and All's
// hashing alone, decoding left out, 2.25–2.80 ms against 2.72–4.20 ms;
// Borders 0.99–1.05× against 1.07–1.20×. Hashing regions from a luma
// plane reduced to 2–4× PDQ's 64×64 was tried before and dropped, as it
// moved region hashes 13 bits on average (the fast route moved none of
// the report set's).
//
// Where we own the originals (bank side), CentralCrops hashes the original's
// central crops at a few scales, so a copy with its borders cropped off
// still matches; those are extra signals linked to their parent.
//
// Every variant is one more chance of a false match, so each is measured
// against a distractor corpus before it is on by default (bench/variants).
package variant

import (
	"errors"
	"fmt"
	"image"
	"runtime"
	"strings"
	"sync"

	"github.com/nigehban/nigehban/internal/pdq"
)

// Set selects the query-side variants hashed beside the original.
type Set int

// The variant sets, in increasing order of work and of false-match risk.
const (
	// None hashes the original only: plain reference PDQ.
	None Set = iota
	// Borders adds the region inside uniform or near-uniform borders (bars,
	// frames, a plain canvas around an embedded picture).
	Borders
	// All adds the regions without a caption band at the top or at the
	// bottom, up to two rectangles bounded by straight edge lines (a
	// picture in a screenshot or collage), and the image's rotations and
	// mirrors.
	All
)

// Default is the set used when none is chosen: Borders, which adds no false
// match among the pairs of the distractor corpus (bench/variants).
const Default = Borders

// ErrBadSet is returned (wrapped) by ParseSet for an unknown name.
var ErrBadSet = errors.New("invalid variant set")

var setNames = [...]string{None: "none", Borders: "borders", All: "all"}

// String returns the set's name: none, borders or all.
func (s Set) String() string {
	if s < 0 || int(s) >= len(setNames) {
		return fmt.Sprintf("Set(%d)", int(s))
	}
	return setNames[s]
}

// ParseSet parses none, borders or all (either case; "" is Default).
func ParseSet(s string) (Set, error) {
	if s == "" {
		return Default, nil
	}
	for i, n := range setNames {
		if strings.EqualFold(s, n) {
			return Set(i), nil
		}
	}
	return None, fmt.Errorf("%w %q: want none, borders or all", ErrBadSet, s)
}

// MarshalText implements encoding.TextMarshaler.
func (s Set) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Set) UnmarshalText(b []byte) error {
	v, err := ParseSet(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Names of the variants, as outputs report which one matched.
const (
	Original = "original" // the whole image: reference PDQ
	Trimmed  = "borders"  // inside uniform borders, bars, frame or canvas
	Caption  = "caption"  // without a caption band at the top or bottom
	Embedded = "embedded" // inside a rectangle of strong straight edges (screenshot, collage)
)

// dihedralNames name pdq.Dihedral entries 1..7 (entry 0 is the image itself).
var dihedralNames = [8]string{"", "rotate90", "rotate180", "rotate270", "flipx", "flipy", "flip+1", "flip-1"}

// Hash is the PDQ hash of one variant of an image.
type Hash struct {
	// Name says which variant: Original, Trimmed, Caption, a dihedral
	// operation undone ("rotate90" … "flip-1", pdq.Dihedral's order), or a
	// central crop ("crop90").
	Name string `json:"name"`
	// Rect is the region hashed, in the coordinates of the image given
	// (omitted for the whole image).
	Rect    *Rect    `json:"rect,omitempty"`
	PDQ     pdq.Hash `json:"pdq"`
	Quality int      `json:"quality"`
}

// Rect is a region as [x0, y0, x1, y1]: columns x0 ≤ x < x1, rows y0 ≤ y < y1.
type Rect [4]int

func rectOf(r image.Rectangle) *Rect { return &Rect{r.Min.X, r.Min.Y, r.Max.X, r.Max.Y} }

// pixelDihedralMax is the size (longer side of what PDQ reads) from which
// rotations and mirrors are derived from the original's DCT alone rather
// than from hashes of mirrored pixels.
const pixelDihedralMax = 400

// minSide is the smallest side, in pixels, a region must keep to be hashed
// (PDQ needs 5; under 32 a region carries too little to be trusted).
const minSide = 32

// Hashes returns the PDQ hashes of img's variants in set s, the original
// first (the reference PDQ hash, as pdq.HashImage gives it). Regions equal
// to the whole image, under a third of a side, or duplicating an earlier
// region are left out, so an image without borders or captions costs one
// PDQ pass with either set: with All the dihedral hashes come from the
// original's own DCT. Rect is in img's coordinates.
//
// Regions are found first; when more than one pass is due, the image's
// luma is computed once (pdq.Plane) and every pass reads it, unless the
// image is so much larger than the 512×512 a pass reads that converting
// all of it would cost more.
func Hashes(img image.Image, s Set) []Hash {
	if s == None || img == nil {
		r := pdq.HashImage(img)
		return []Hash{{Name: Original, PDQ: r.Hash, Quality: r.Quality}}
	}
	b := img.Bounds()
	type region struct {
		name string
		r    image.Rectangle
	}
	regions := make([]region, 0, 8)
	seen := make([]image.Rectangle, 1, 8)
	seen[0] = b
	add := func(name string, r image.Rectangle) {
		if r.Dx() < minSide || r.Dy() < minSide || 3*r.Dx() < b.Dx() || 3*r.Dy() < b.Dy() {
			return
		}
		for _, o := range seen {
			if nearlyEqual(o, r) {
				return
			}
		}
		seen = append(seen, r)
		regions = append(regions, region{name, r})
	}
	g := sample(img, detectMax)
	defer g.release()
	for _, r := range barCuts(g.refine(img, g.trim(borderRule)), b) {
		add(Trimmed, r)
	}
	if s >= All {
		add(Caption, g.refine(img, g.trim(captionRule)))
		add(Caption, g.refine(img, g.trim(captionBottom)))
		for _, r := range g.framed(img) {
			add(Embedded, r)
		}
	}

	passes := 1 + len(regions)
	if s >= All && pixelDihedral(b) {
		passes += 3
	}
	var plane *pdq.Plane
	if passes > 1 && b.Dx()*b.Dy() <= passes*min(b.Dx(), 512)*min(b.Dy(), 512) {
		plane = getPlane()
		defer putPlane(plane)
		plane.Load(img)
	}
	out := make([]Hash, 0, 8+len(regions))
	if s >= All {
		out = dihedral(img, plane, out)
	} else {
		var r pdq.Result
		if plane != nil {
			r = pdq.HashPlane(plane, plane.Bounds(), pdq.NoMirror)
		} else {
			r = pdq.HashImage(img)
		}
		out = append(out, Hash{Name: Original, PDQ: r.Hash, Quality: r.Quality})
	}
	for _, rg := range regions {
		var h pdq.Result
		if plane != nil {
			h = pdq.HashPlaneFast(plane, rg.r.Sub(b.Min), pdq.NoMirror)
		} else {
			h = pdq.HashImageFast(subImage(img, rg.r))
		}
		out = append(out, Hash{Name: rg.name, Rect: rectOf(rg.r), PDQ: h.Hash, Quality: h.Quality})
	}
	return out
}

// planes keeps up to GOMAXPROCS luma planes of at most maxCachedPlane
// samples for Hashes to reuse. Unlike a sync.Pool it is not emptied by the
// garbage collector: a fresh plane of a few megabytes costs its page faults
// and zeroing, about as much as the PDQ pass it saves.
var planes struct {
	sync.Mutex
	free []*pdq.Plane
}

// maxCachedPlane is the largest plane kept (8 MB of float32: 1600×1250).
const maxCachedPlane = 2 << 20

func getPlane() *pdq.Plane {
	planes.Lock()
	defer planes.Unlock()
	if n := len(planes.free); n > 0 {
		p := planes.free[n-1]
		planes.free = planes.free[:n-1]
		return p
	}
	return new(pdq.Plane)
}

func putPlane(p *pdq.Plane) {
	if cap(p.Pix) > maxCachedPlane {
		return
	}
	planes.Lock()
	defer planes.Unlock()
	if len(planes.free) < runtime.GOMAXPROCS(0) {
		planes.free = append(planes.free, p)
	}
}

// pixelDihedral reports whether an image of bounds b has its rotations and
// mirrors hashed from mirrored pixels rather than from its DCT alone.
func pixelDihedral(b image.Rectangle) bool {
	return max(b.Dx(), b.Dy()) < pixelDihedralMax && (b.Dx() != 64 || b.Dy() != 64)
}

// dihedral appends the original's hash and its 7 rotations and mirrors.
// From the size pixelDihedralMax up they all come from one PDQ pass, by
// the reference's dihedral trick (sign flips and transposes of the DCT;
// within ~20 bits of the turned pixels' hash at this size). Smaller images
// blur less and the trick is tens of bits off, so the mirrored pixels are
// hashed, but only three times: a transpose is exact up to float rounding,
// so each pass gives two of the eight hashes. The passes read plane, img's
// luma, when it is given; the original's pass is the reference's, the three
// mirrored ones take pdq's fast route (within float rounding of it).
func dihedral(img image.Image, plane *pdq.Plane, out []Hash) []Hash {
	b := img.Bounds()
	var d [8]pdq.Result
	if !pixelDihedral(b) {
		// (A 64×64 image is hashed without blur but its dihedral with:
		// the original then needs its own pass.)
		var dh pdq.Dihedral
		var q int
		if plane != nil {
			dh, q = pdq.HashPlaneDihedral(plane, plane.Bounds(), pdq.NoMirror)
		} else {
			dh, q = pdq.HashImageDihedral(img)
		}
		for k := range 8 {
			d[k] = pdq.Result{Hash: dh[k], Quality: q}
		}
		if b.Dx() == 64 && b.Dy() == 64 {
			if plane != nil {
				d[0] = pdq.HashPlane(plane, plane.Bounds(), pdq.NoMirror)
			} else {
				d[0] = pdq.HashImage(img)
			}
		}
	} else {
		if plane == nil {
			plane = pdq.NewPlane(img)
		}
		// The pass on the image mirrored by op gives op, and its
		// transpose gives tr: op 4 flips top↔bottom, 5 left↔right, 2
		// turns by half (pdq.Dihedral's order).
		for _, p := range [4]struct {
			op, tr int
			m      pdq.Mirror
		}{{0, 6, pdq.NoMirror}, {4, 3, pdq.MirrorY}, {5, 1, pdq.MirrorX}, {2, 7, pdq.MirrorX | pdq.MirrorY}} {
			hash := pdq.HashPlanePair
			if p.m != pdq.NoMirror {
				hash = pdq.HashPlanePairFast
			}
			h, tr, q := hash(plane, plane.Bounds(), p.m)
			d[p.op] = pdq.Result{Hash: h, Quality: q}
			d[p.tr] = pdq.Result{Hash: tr, Quality: q}
		}
	}
	out = append(out, Hash{Name: Original, PDQ: d[0].Hash, Quality: d[0].Quality})
	for k := 1; k < 8; k++ {
		out = append(out, Hash{Name: dihedralNames[k], PDQ: d[k].Hash, Quality: d[k].Quality})
	}
	return out
}

// barCuts returns the regions worth hashing for a border trim r of b:
// r itself (a frame, or a canvas around an embedded picture), and the cut
// made symmetric, both ways and along each axis alone. Bars come in
// symmetric pairs on one axis, and the picture's own plain edge defeats
// the trim in two ways: merged with a bar it makes one side's cut too deep
// (the smaller of the two is the bar), and as a dark sky or floor it is
// cut on the other axis too (the axis alone is the bars). A bar on one side
// only (the picture's edge there matching the bar's colour everywhere
// within the tolerance is rare, but the trim then stops at the picture's
// edge on the other side) is mirrored to the side not cut.
func barCuts(r, b image.Rectangle) []image.Rectangle {
	sym := func(a, c int) int {
		if a > 0 && c > 0 {
			return min(a, c)
		}
		return max(a, c)
	}
	cx := sym(r.Min.X-b.Min.X, b.Max.X-r.Max.X)
	cy := sym(r.Min.Y-b.Min.Y, b.Max.Y-r.Max.Y)
	return []image.Rectangle{
		r,
		image.Rect(b.Min.X+cx, b.Min.Y+cy, b.Max.X-cx, b.Max.Y-cy),
		image.Rect(b.Min.X+cx, b.Min.Y, b.Max.X-cx, b.Max.Y),
		image.Rect(b.Min.X, b.Min.Y+cy, b.Max.X, b.Max.Y-cy),
	}
}

// nearlyEqual reports whether two regions differ by at most 1 % of their
// size on every edge: hashing both would add nothing.
func nearlyEqual(a, b image.Rectangle) bool {
	tx, ty := max(a.Dx()/100, 1), max(a.Dy()/100, 1)
	return abs(a.Min.X-b.Min.X) <= tx && abs(a.Max.X-b.Max.X) <= tx &&
		abs(a.Min.Y-b.Min.Y) <= ty && abs(a.Max.Y-b.Max.Y) <= ty
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// subImage returns the part of img inside r, sharing its pixels when img
// can (every decoder's types can), else a copy.
func subImage(img image.Image, r image.Rectangle) image.Image {
	if s, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	}); ok {
		return s.SubImage(r)
	}
	dst := image.NewNRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			dst.Set(x-r.Min.X, y-r.Min.Y, img.At(x, y))
		}
	}
	return dst
}

// CropScales are the central crops CentralCrops hashes: a copy with 2–10 %
// cut off each border lands near one of them.
var CropScales = []int{97, 94, 90, 85, 80}

// CentralCrops returns the PDQ hashes of img's central crops at CropScales
// percent of each side, named "crop95" … "crop80": bank-side variants of an
// original we hold, so a copy cropped at its borders still matches.
func CentralCrops(img image.Image) []Hash {
	if img == nil {
		return nil
	}
	b := img.Bounds()
	var out []Hash
	for _, p := range CropScales {
		w, h := b.Dx()*p/100, b.Dy()*p/100
		if w < minSide || h < minSide {
			continue
		}
		x0, y0 := b.Min.X+(b.Dx()-w)/2, b.Min.Y+(b.Dy()-h)/2
		r := image.Rect(x0, y0, x0+w, y0+h)
		res := pdq.HashImage(subImage(img, r))
		out = append(out, Hash{Name: fmt.Sprintf("crop%d", p), Rect: rectOf(r), PDQ: res.Hash, Quality: res.Quality})
	}
	return out
}
