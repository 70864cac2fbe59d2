package pdq

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// naive is a literal transcription of the C++ reference core (full-image
// float buffers, the strided box1DFloat, decimateFloat, the quality metric,
// dct64To16 and pdqBuffer16x16ToBits), written for clarity rather than
// speed. The streamed, batched and vectorised implementation must agree
// with it bit for bit.
type naive struct {
	a [64 * 64]float32
	b [16 * 16]float32
	q int
}

func naiveBox1D(in, out []float32, length, stride, full int) {
	half := (full + 2) / 2
	p1, p2, p3, p4 := half-1, full-half+1, length-full, half-1
	li, ri, oi := 0, 0, 0
	var sum float32
	cur := 0
	for i := 0; i < p1; i++ {
		sum += in[ri]
		cur++
		ri += stride
	}
	for i := 0; i < p2; i++ {
		sum += in[ri]
		cur++
		out[oi] = sum / float32(cur)
		ri += stride
		oi += stride
	}
	for i := 0; i < p3; i++ {
		sum += in[ri]
		sum -= in[li]
		out[oi] = sum / float32(cur)
		li += stride
		ri += stride
		oi += stride
	}
	for i := 0; i < p4; i++ {
		sum -= in[li]
		cur--
		out[oi] = sum / float32(cur)
		li += stride
		oi += stride
	}
}

// newNaive hashes luma (rows×cols, row-major; modified in place). skip64
// selects the non-dihedral entry point's no-blur copy for 64×64 input.
func newNaive(luma []float32, rows, cols int, skip64 bool) *naive {
	n := &naive{}
	if rows == 64 && cols == 64 && skip64 {
		copy(n.a[:], luma)
	} else {
		buf2 := make([]float32, len(luma))
		wr := (cols + 127) / 128
		wc := (rows + 127) / 128
		for rep := 0; rep < 2; rep++ {
			for i := 0; i < rows; i++ {
				naiveBox1D(luma[i*cols:], buf2[i*cols:], cols, 1, wr)
			}
			for j := 0; j < cols; j++ {
				naiveBox1D(buf2[j:], luma[j:], rows, cols, wc)
			}
		}
		for i := 0; i < 64; i++ {
			ini := int(((float64(i) + 0.5) * float64(rows)) / 64)
			for j := 0; j < 64; j++ {
				inj := int(((float64(j) + 0.5) * float64(cols)) / 64)
				n.a[i*64+j] = luma[ini*cols+inj]
			}
		}
	}
	sum := 0
	for i := 0; i < 63; i++ {
		for j := 0; j < 64; j++ {
			d := int32(float32(float32(n.a[i*64+j]-n.a[(i+1)*64+j])*100) / 255)
			sum += int(max(d, -d))
		}
	}
	for i := 0; i < 64; i++ {
		for j := 0; j < 63; j++ {
			d := int32(float32(float32(n.a[i*64+j]-n.a[i*64+j+1])*100) / 255)
			sum += int(max(d, -d))
		}
	}
	n.q = min(sum/90, 100)
	var t [16][64]float32
	for i := 0; i < 16; i++ {
		for j := 0; j < 64; j++ {
			var s float32
			for k := 0; k < 64; k++ {
				s += float32(dctMatrix[i*64+k] * n.a[k*64+j])
			}
			t[i][j] = s
		}
	}
	for i := 0; i < 16; i++ {
		for j := 0; j < 16; j++ {
			var s float32
			for k := 0; k < 64; k++ {
				s += float32(t[i][k] * dctMatrix[j*64+k])
			}
			n.b[i*16+j] = s
		}
	}
	return n
}

func (n *naive) hash() Hash {
	med := torben(n.b[:])
	var h Hash
	for k, v := range n.b {
		if v > med {
			h.SetBit(k)
		}
	}
	return h
}

// lumaOf is the reference luma of a packed RGB24 buffer.
func lumaOf(pix []byte) []float32 {
	l := make([]float32, len(pix)/3)
	for i := range l {
		l[i] = rgbLuma(pix[3*i], pix[3*i+1], pix[3*i+2])
	}
	return l
}

// stressFrame makes w×h RGB content of a given kind: the kinds where
// rounding differences show up most (flat and near-flat images hash pure
// float noise; gradients have long exact-looking runs).
func stressFrame(kind string, w, h int, rng *rand.Rand) []byte {
	pix := make([]byte, 3*w*h)
	c := [3]int{rng.IntN(256), rng.IntN(256), rng.IntN(256)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for ch := 0; ch < 3; ch++ {
				var v int
				switch kind {
				case "noise":
					v = rng.IntN(256)
				case "flat":
					v = c[ch]
				case "nearflat":
					v = c[ch] + rng.IntN(3) - 1
				case "gradient":
					v = (x*c[ch]/max(w, 1) + y*(255-c[ch])/max(h, 1)) % 256
				case "blocks":
					v = ((x/7 + y/5 + ch) % 3) * 120
				}
				pix[3*(y*w+x)+ch] = uint8(min(max(v, 0), 255))
			}
		}
	}
	return pix
}

// TestAgainstNaive compares the Hasher with the literal transcription on
// many sizes (windows 1 to 9, 64×64, sizes around every boundary) and kinds.
func TestAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	sizes := [][2]int{
		{5, 5}, {5, 9}, {6, 7}, {13, 5}, {34, 42}, {63, 64}, {64, 64}, {65, 64},
		{127, 129}, {128, 128}, {129, 130}, {256, 256}, {257, 255}, {300, 17},
		{511, 203}, {512, 512}, {640, 480}, {1100, 90}, {90, 1100},
	}
	for i := 0; i < 12; i++ {
		sizes = append(sizes, [2]int{5 + rng.IntN(700), 5 + rng.IntN(700)})
	}
	kinds := []string{"noise", "flat", "nearflat", "gradient", "blocks"}
	h := NewHasher()
	for _, sz := range sizes {
		for _, kind := range kinds {
			w, ht := sz[0], sz[1]
			if testing.Short() && w*ht > 300*300 {
				continue
			}
			name := fmt.Sprintf("%dx%d/%s", w, ht, kind)
			pix := stressFrame(kind, w, ht, rng)

			want := newNaive(lumaOf(pix), ht, w, true)
			got, err := h.HashRGB(pix, w, ht)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got.Hash != want.hash() || got.Quality != want.q {
				t.Errorf("%s: got %v q=%d, naive %v q=%d", name, got.Hash, got.Quality, want.hash(), want.q)
			}
			if h.a != want.a {
				t.Errorf("%s: 64×64 downsample differs from the naive one", name)
			}

			wantD := newNaive(lumaOf(pix), ht, w, false)
			var aux [256]float32
			d, q, err := h.HashRGBDihedral(pix, w, ht)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if dw := dihedralFromDCT(&wantD.b, &aux); d != dw || q != wantD.q {
				t.Errorf("%s: dihedral differs from naive (q %d vs %d)", name, q, wantD.q)
			}
		}
	}
}

// TestTorben checks the median against sorting: for 256 values Torben's
// method returns the 128th smallest (the lower median), ties included.
func TestTorben(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 500; trial++ {
		m := make([]float32, 256)
		levels := 1 + rng.IntN(300) // few levels ⇒ many ties
		for i := range m {
			m[i] = float32(rng.IntN(levels)-levels/2) * 0.37
		}
		sorted := slices.Clone(m)
		slices.Sort(sorted)
		if got := torben(m); got != sorted[127] {
			t.Fatalf("trial %d (%d levels): torben %v, sorted[127] %v", trial, levels, got, sorted[127])
		}
	}
}

// TestBoxCount checks the closed form of the window size at each output
// against simulating the four phases.
func TestBoxCount(t *testing.T) {
	for n := 1; n < 300; n++ {
		for full := 1; full <= n && full < 40; full++ {
			half := (full + 2) / 2
			var counts []int
			cur := half - 1
			for i := 0; i < full-half+1; i++ {
				cur++
				counts = append(counts, cur)
			}
			for i := 0; i < n-full; i++ {
				counts = append(counts, cur)
			}
			for i := 0; i < half-1; i++ {
				cur--
				counts = append(counts, cur)
			}
			if len(counts) != n {
				t.Fatalf("n=%d full=%d: simulated %d outputs", n, full, len(counts))
			}
			for o, c := range counts {
				if got := boxCount(o, n, full); got != c {
					t.Fatalf("n=%d full=%d o=%d: boxCount %d, simulated %d", n, full, o, got, c)
				}
			}
		}
	}
}

// TestColKernels checks the vectorised column kernels against the Go
// definitions bit for bit, on every length up to 70 (all tail sizes).
func TestColKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rnd := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 1000)
		}
		return v
	}
	for n := 0; n <= 70; n++ {
		s, in, old := rnd(n), rnd(n), rnd(n)
		fc := float32(1 + rng.IntN(9))
		for _, k := range []struct {
			name string
			fast func(s, out []float32)
			slow func(s, out []float32)
		}{
			{"slide", func(s, o []float32) { slideCols(s, in, old, o, fc) }, func(s, o []float32) { slideColsGo(s, in, old, o, fc) }},
			{"grow", func(s, o []float32) { growCols(s, in, o, fc) }, func(s, o []float32) { growColsGo(s, in, o, fc) }},
			{"shrink", func(s, o []float32) { shrinkCols(s, old, o, fc) }, func(s, o []float32) { shrinkColsGo(s, old, o, fc) }},
		} {
			s1, s2 := slices.Clone(s), slices.Clone(s)
			o1, o2 := make([]float32, n+1), make([]float32, n+1)
			o1[n], o2[n] = 42, 42 // must stay untouched
			k.fast(s1, o1)
			k.slow(s2, o2)
			if !slices.Equal(s1, s2) || !slices.Equal(o1, o2) {
				t.Fatalf("%s n=%d: vector and scalar kernels differ", k.name, n)
			}
		}
	}
}

// TestDCTMatrix checks the basis against its defining formula's key
// properties: rows are orthonormal to float32 precision and the values are
// the float32 rounding of the float-scale × double-cosine product.
func TestDCTMatrix(t *testing.T) {
	for i := 0; i < 16; i++ {
		for j := 0; j < 16; j++ {
			var dot float64
			for k := 0; k < 64; k++ {
				dot += float64(dctMatrix[i*64+k]) * float64(dctMatrix[j*64+k])
			}
			want := 0.0
			if i == j {
				want = 1
			}
			if d := dot - want; d > 1e-5 || d < -1e-5 {
				t.Errorf("row %d · row %d = %v, want %v", i, j, dot, want)
			}
		}
	}
	// Row 0 is frequency 1 (DC skipped): a half cosine, positive then negative.
	if dctMatrix[0] <= 0 || dctMatrix[63] >= 0 {
		t.Errorf("row 0 should run from positive to negative: %v … %v", dctMatrix[0], dctMatrix[63])
	}
}
