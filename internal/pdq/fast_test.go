package pdq

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTentWeights checks the fast route's weights against the reference
// filter itself: boxRow applied twice to a unit impulse at input c, read at
// each decimation position, is the weight of c there (up to float32
// rounding of the impulse response), for windows 1 to 6 and lengths that
// are and are not multiples of 64.
func TestTentWeights(t *testing.T) {
	for _, n := range []int{5, 7, 63, 64, 65, 127, 128, 129, 200, 255, 256, 257, 383, 384, 511, 512, 700} {
		full := windowSize(n)
		for _, window := range []int{full, 1, 2, 3, 4, 5, 6} {
			if window > n {
				continue
			}
			var at [64]int
			for k := range 64 {
				at[k] = int(((float64(k) + 0.5) * float64(n)) / 64)
			}
			var tt tent
			tt.build(n, window, &at)
			in := make([]float32, n)
			mid := make([]float32, n)
			out := make([]float32, n)
			for c := range n {
				clear(in)
				in[c] = 1
				boxRow(in, mid, window)
				boxRow(mid, out, window)
				for k, o := range at {
					var got float64
					if i := c - tt.start[k]; i >= 0 && i < tt.n[k] {
						got = tt.w[tt.off[k]+i]
					}
					if math.Abs(got-float64(out[o])) > 1e-6 {
						t.Fatalf("n %d window %d: weight of input %d at output %d = %g, reference filter %g",
							n, window, c, o, got, out[o])
					}
				}
			}
			for k := range 64 {
				if tt.n[k] > 2*window-1 {
					t.Errorf("n %d window %d: output %d has %d taps, more than 2·window−1", n, window, k, tt.n[k])
				}
				var sum float64
				for _, w := range tt.w[tt.off[k] : tt.off[k]+tt.n[k]] {
					sum += w
				}
				if math.Abs(sum-1) > 1e-12 {
					t.Errorf("n %d window %d: weights of output %d sum to %v", n, window, k, sum)
				}
			}
		}
	}
}

// fastRegions returns a deterministic set of regions of a w×h plane: the
// whole, its halves, tiny and odd-sized ones, and random ones of every
// window size (sides 5 … the whole, resized when over 512).
func fastRegions(w, h int, seed uint64) []image.Rectangle {
	rng := rand.New(rand.NewPCG(seed, 11))
	rs := []image.Rectangle{
		image.Rect(0, 0, w, h),
		image.Rect(0, 0, w/2+1, h),
		image.Rect(w/3, h/4, w, h),
		image.Rect(0, 0, min(w, 5), min(h, 5)),
		image.Rect(1, 2, min(w, 8), min(h, 13)),
		image.Rect(0, 0, min(w, 64), min(h, 64)),
		image.Rect(w-min(w, 65), h-min(h, 63), w, h),
	}
	for _, side := range []int{7, 31, 100, 129, 255, 257, 385, 511, 513, 800, 1500} {
		for range 2 {
			rw, rh := min(w, side+rng.IntN(side/2+1)), min(h, side-rng.IntN(side/3+1))
			x, y := rng.IntN(w-rw+1), rng.IntN(h-rh+1)
			rs = append(rs, image.Rect(x, y, x+rw, y+rh))
		}
	}
	return rs
}

// fastCase is one region hashed both ways.
type fastCase struct {
	name      string
	dist      int
	qExact    int
	qFast     int
	transDist int // HashPlanePairFast's transpose against HashPlanePair's
	small     int // the region's shorter side
}

// TestFastMatchesExact hashes many regions of the test corpus's images
// (every photo and synthetic image of the shared reference set, all four
// mirrorings) by HashPlaneFast and by the exact HashPlane, and each region
// by HashImageFast and HashImage, and bounds how far apart they are: the route differs from the reference by float rounding
// only, so almost every region hashes identically. The distribution is
// logged (go test -v -run TestFastMatchesExact).
func TestFastMatchesExact(t *testing.T) {
	var files []string
	err := filepath.Walk(filepath.Join(refDir, "images"), func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() && (strings.HasSuffix(p, ".jpg") || strings.HasSuffix(p, ".png")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("reference images missing (the shared testdata must sit beside the repository): %v", err)
	}
	slices.Sort(files)
	if testing.Short() {
		files = files[:len(files)/3]
	}
	type src struct {
		name string
		img  image.Image
		p    *Plane
	}
	var srcs []src
	for _, f := range files {
		img := decodeFile(t, f)
		srcs = append(srcs, src{filepath.Base(f), img, NewPlane(img)})
	}
	for i, k := range []string{"rgba", "gray", "ycbcr"} {
		for _, sz := range [][2]int{{300, 200}, {777, 513}, {129, 1025}} {
			img := planeTestImage(t, k, sz[0], sz[1], uint64(i+7))
			srcs = append(srcs, src{fmt.Sprintf("%s-%dx%d", k, sz[0], sz[1]), img, NewPlane(img)})
		}
	}
	var cases []fastCase
	hist := map[int]int{}
	for si, s := range srcs {
		for _, r := range fastRegions(s.p.W, s.p.H, uint64(si)) {
			// HashImageFast against HashImage on the region's own pixels.
			sub := s.img.(interface {
				SubImage(image.Rectangle) image.Image
			}).SubImage(r.Add(s.img.Bounds().Min))
			want, got := HashImage(sub), HashImageFast(sub)
			c := fastCase{
				name:   fmt.Sprintf("%s %v image", s.name, r),
				dist:   Distance(got.Hash, want.Hash),
				qExact: want.Quality,
				qFast:  got.Quality,
				small:  min(r.Dx(), r.Dy()),
			}
			cases = append(cases, c)
			hist[c.dist]++
			for _, m := range []Mirror{NoMirror, MirrorX, MirrorY, MirrorX | MirrorY} {
				want := HashPlane(s.p, r, m)
				got := HashPlaneFast(s.p, r, m)
				wo, wt, wq := HashPlanePair(s.p, r, m)
				go_, gt, gq := HashPlanePairFast(s.p, r, m)
				c := fastCase{
					name:      fmt.Sprintf("%s %v mirror %d", s.name, r, m),
					dist:      Distance(got.Hash, want.Hash),
					qExact:    want.Quality,
					qFast:     got.Quality,
					transDist: Distance(gt, wt),
					small:     min(r.Dx(), r.Dy()),
				}
				if d := Distance(go_, wo); d > c.dist {
					c.dist = d
				}
				if gq != wq && abs(gq-wq) > abs(c.qFast-c.qExact) {
					c.qFast, c.qExact = gq, wq
				}
				cases = append(cases, c)
				hist[c.dist]++
			}
		}
	}
	sum, worst, qOff := 0, 0, 0
	for _, c := range cases {
		sum += c.dist
		worst = max(worst, c.dist)
		if c.qFast != c.qExact {
			qOff++
		}
		if c.dist > 0 {
			t.Logf("%s: %d bits apart (quality %d)", c.name, c.dist, c.qExact)
		}
		if d := abs(c.qFast - c.qExact); d > 1 {
			t.Errorf("%s: quality %d, exact %d", c.name, c.qFast, c.qExact)
		}
		if c.transDist > c.dist {
			t.Errorf("%s: transposes %d bits apart, hashes %d", c.name, c.transDist, c.dist)
		}
	}
	keys := slices.Sorted(func(yield func(int) bool) {
		for k := range hist {
			if !yield(k) {
				return
			}
		}
	})
	var dist []string
	for _, k := range keys {
		dist = append(dist, fmt.Sprintf("%d bits: %d", k, hist[k]))
	}
	t.Logf("all %d regions (%d images): mean %.4f bits, max %d; %s; quality off by 1 on %d",
		len(cases), len(srcs), float64(sum)/float64(len(cases)), worst, strings.Join(dist, ", "), qOff)
	// Hashes that are ever matched (quality ≥ MinQuality) must agree.
	sum, worst, n := 0, 0, 0
	for _, c := range cases {
		if c.qExact >= MinQuality {
			sum += c.dist
			worst = max(worst, c.dist)
			n++
		}
	}
	mean := float64(sum) / float64(n)
	t.Logf("%d regions of quality ≥ %d: mean %.4f bits, max %d", n, MinQuality, mean, worst)
	if n < len(cases)/4 {
		t.Errorf("only %d of %d regions have quality ≥ %d: the test set is too flat", n, len(cases), MinQuality)
	}
	if mean > 0.1 || worst > maxFastBits {
		t.Errorf("fast route at quality ≥ %d: mean %.4f bits (bound 0.1), max %d (bound %d) from the exact hash",
			MinQuality, mean, worst, maxFastBits)
	}
	// The rest differ only where the reference's own rounding decides:
	// regions of a few pixels a side blown up to 64×64, or flat ones.
	for _, c := range cases {
		if c.dist > maxFastBits && c.qExact >= 20 && c.small > 16 {
			t.Errorf("%s: %d bits apart at quality %d, side %d", c.name, c.dist, c.qExact, c.small)
		}
	}
}

// maxFastBits bounds the distance of one region's fast hash to its exact
// one in TestFastMatchesExact.
const maxFastBits = 4

// BenchmarkHashPlaneFast compares, interleaved in the same run, the exact
// HashPlane and HashPlaneFast on regions of a 1024×768 photo-like plane:
// the whole image and a 600×500 region (both resized to 512×512), a
// 400×300 region (windows 4 and 3) and a 200×150 one (windows 2 and 2). It
// reports each route's time per hash and the ratio exact/fast.
//
//	go test -run '^$' -bench HashPlaneFast ./internal/pdq
func BenchmarkHashPlaneFast(b *testing.B) {
	p := NewPlane(rgbaFrom(photoLike(1024, 768, 3), 1024, 768))
	for _, r := range []image.Rectangle{
		image.Rect(0, 0, 1024, 768), image.Rect(100, 100, 700, 600),
		image.Rect(300, 200, 700, 500), image.Rect(50, 60, 250, 210),
	} {
		b.Run(fmt.Sprintf("%dx%d", r.Dx(), r.Dy()), func(b *testing.B) {
			var exact, fast time.Duration
			for b.Loop() {
				t0 := time.Now()
				HashPlane(p, r, NoMirror)
				t1 := time.Now()
				HashPlaneFast(p, r, NoMirror)
				exact, fast = exact+t1.Sub(t0), fast+time.Since(t1)
			}
			b.ReportMetric(float64(exact.Microseconds())/float64(b.N), "µs-exact/hash")
			b.ReportMetric(float64(fast.Microseconds())/float64(b.N), "µs-fast/hash")
			b.ReportMetric(float64(exact)/float64(fast), "ratio-exact/fast")
		})
	}
}

// downsamples returns the exact and the fast 64×64 downsample of region r
// of p mirrored by m (false when PDQ does not hash it).
func downsamples(p *Plane, r image.Rectangle, m Mirror) (exact, fast *[64 * 64]float32, ok bool) {
	h := NewHasher()
	w, ht := h.src.setPlane(p, r, m)
	if w < minDim || ht < minDim {
		return nil, nil, false
	}
	exact, fast = new([64 * 64]float32), new([64 * 64]float32)
	if w == 64 && ht == 64 {
		for y := range 64 {
			h.src.fillRow(y, h.a[y*64:y*64+64])
		}
	} else {
		h.downsample(w, ht, false)
	}
	*exact = h.a
	h.downsampleFast(w, ht, false)
	*fast = h.a
	return exact, fast, true
}

// FuzzFast compares the fast route with the exact one on random planes
// (noise, gradients, flat areas and steps; every size up to 1100 and every
// region and mirroring). The 64×64 downsamples must agree within 0.01 on
// the 0…255 luma scale, and a hash bit may differ only where the exact DCT
// coefficient lies within what that difference can move it of the median.
func FuzzFast(f *testing.F) {
	f.Add(uint64(1), uint16(300), uint16(200), uint16(10), uint16(20), uint16(290), uint16(180), uint8(0))
	f.Add(uint64(2), uint16(1100), uint16(700), uint16(0), uint16(0), uint16(1100), uint16(700), uint8(3))
	f.Add(uint64(3), uint16(64), uint16(64), uint16(0), uint16(0), uint16(64), uint16(64), uint8(1))
	f.Add(uint64(4), uint16(9), uint16(600), uint16(1), uint16(3), uint16(8), uint16(599), uint8(2))
	f.Add(uint64(5), uint16(513), uint16(129), uint16(0), uint16(1), uint16(513), uint16(128), uint8(1))
	f.Fuzz(func(t *testing.T, seed uint64, w, h, x0, y0, x1, y1 uint16, mirror uint8) {
		pw, ph := 1+int(w)%1100, 1+int(h)%1100
		rng := rand.New(rand.NewPCG(seed, 3))
		p := &Plane{W: pw, H: ph, Pix: make([]float32, pw*ph)}
		style := seed % 4
		for y := range ph {
			for x := range pw {
				var v float32
				switch style {
				case 0: // noise
					v = float32(rng.IntN(256))
				case 1: // gradient plus noise
					v = float32((x*255/pw+y*255/ph)/2) + float32(rng.IntN(16))
				case 2: // steps
					v = float32(((x/17 + y/23) % 5) * 60)
				default: // luma-like non-integers
					v = rgbLuma(uint8(x*7+y), uint8(rng.IntN(256)), uint8(y*3))
				}
				p.Pix[y*pw+x] = v
			}
		}
		r := image.Rect(int(x0)%pw, int(y0)%ph, int(x1)%(pw+1), int(y1)%(ph+1))
		m := Mirror(mirror % 4)
		exact, fast, ok := downsamples(p, r, m)
		if !ok {
			if got := HashPlaneFast(p, r, m); got != (Result{}) {
				t.Fatalf("%v: region PDQ does not hash gave %v", r, got)
			}
			return
		}
		var worst float32
		for k := range exact {
			worst = max(worst, float32(math.Abs(float64(exact[k]-fast[k]))))
		}
		if worst > 0.01 {
			t.Fatalf("%d×%d plane, region %v mirror %d: downsamples differ by %g", pw, ph, r, m, worst)
		}
		// A bit differs only when the coefficient is within reach of the
		// median: each DCT output is Σ d·a·d over 64×64 samples with
		// Σ|d| ≤ 64·√(2/64) per axis, so it moves by at most 128·worst, and
		// the median by as much.
		var tmp [16 * 64]float32
		var b [16 * 16]float32
		dct64To16(exact, &tmp, &b)
		med := torben(b[:])
		got := HashPlaneFast(p, r, m)
		want := HashPlane(p, r, m)
		reach := 2*128*float64(worst) + 1e-3
		for k := range 256 {
			if got.Hash.Bit(k) != want.Hash.Bit(k) && math.Abs(float64(b[k]-med)) > reach {
				t.Errorf("%d×%d plane, region %v mirror %d: bit %d differs, coefficient %g from the median (reach %g)",
					pw, ph, r, m, k, b[k]-med, reach)
			}
		}
		if d := abs(got.Quality - want.Quality); d > 1 {
			t.Errorf("region %v: quality %d, exact %d", r, got.Quality, want.Quality)
		}
	})
}
