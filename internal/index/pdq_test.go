package index

import (
	"bufio"
	"math/bits"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/nigehban/nigehban/internal/pdq"
)

func randomHash(rng *rand.Rand) pdq.Hash {
	return pdq.Hash{rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()}
}

// flip returns h with n distinct random bits flipped.
func flip(rng *rand.Rand, h pdq.Hash, n int) pdq.Hash {
	for _, b := range rng.Perm(256)[:n] {
		h[b/64] ^= 1 << (b % 64)
	}
	return h
}

// clustered makes near-duplicate clusters with a skewed size distribution,
// like real banks (edited copies of the same photos), plus uniform noise.
func clustered(rng *rand.Rand, n int) []pdq.Hash {
	out := make([]pdq.Hash, 0, n)
	for len(out) < n {
		c := randomHash(rng)
		size := 1 + int(rng.ExpFloat64()*20)
		for i := 0; i < size && len(out) < n; i++ {
			out = append(out, flip(rng, c, rng.IntN(40)))
		}
		if rng.IntN(4) == 0 {
			out = append(out, randomHash(rng))
		}
	}
	return out[:n]
}

// model is the oracle: a plain list, scanned.
type model struct{ entries []Entry }

func (m *model) search(q pdq.Hash, t int) []Match {
	var out []Match
	for _, e := range m.entries {
		if d := pdq.Distance(q, e.Hash); d <= t {
			out = append(out, Match{e.ID, e.Hash, d})
		}
	}
	sortMatches(out)
	return out
}

func (m *model) remove(id uint64) {
	m.entries = slices.DeleteFunc(m.entries, func(e Entry) bool { return e.ID == id })
}

var thresholds = []int{0, 1, 15, 16, 17, 31, 32, 47, 48, 64, 100}

func checkAgainstModel(t *testing.T, x *PDQ, m *model, queries []pdq.Hash) {
	t.Helper()
	for _, q := range queries {
		for _, th := range thresholds {
			got, want := x.Search(q, th), m.search(q, th)
			if !slices.Equal(got, want) {
				t.Fatalf("threshold %d: index returned %d matches, brute force %d", th, len(got), len(want))
			}
		}
	}
}

func queriesFor(rng *rand.Rand, hashes []pdq.Hash, n int) []pdq.Hash {
	var qs []pdq.Hash
	for range n {
		switch rng.IntN(3) {
		case 0:
			qs = append(qs, randomHash(rng))
		default:
			qs = append(qs, flip(rng, hashes[rng.IntN(len(hashes))], rng.IntN(50)))
		}
	}
	return qs
}

func TestMatchesBruteForce(t *testing.T) {
	for _, kind := range []string{"uniform", "clustered"} {
		t.Run(kind, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(len(kind))))
			var hashes []pdq.Hash
			if kind == "uniform" {
				for range 60000 {
					hashes = append(hashes, randomHash(rng))
				}
			} else {
				hashes = clustered(rng, 60000)
			}
			var x PDQ
			m := &model{}
			var batch []Entry
			for i, h := range hashes {
				e := Entry{ID: uint64(i % 50000), Hash: h} // some ids hold several hashes
				m.entries = append(m.entries, e)
				if i < 40000 {
					batch = append(batch, e)
				} else {
					x.Add(e.ID, e.Hash) // through the buffer and small segments
				}
			}
			x.AddBatch(batch)
			checkAgainstModel(t, &x, m, queriesFor(rng, hashes, 40))

			// Removals, re-additions, then compaction.
			for i := range 300 {
				id := uint64(rng.IntN(50000))
				x.Remove(id)
				m.remove(id)
				if i%3 == 0 {
					h := randomHash(rng)
					x.Add(id, h)
					m.entries = append(m.entries, Entry{id, h})
				}
			}
			checkAgainstModel(t, &x, m, queriesFor(rng, hashes, 20))
			x.Compact()
			checkAgainstModel(t, &x, m, queriesFor(rng, hashes, 20))
			if x.Len() != len(m.entries) {
				t.Errorf("after compaction Len = %d, want %d", x.Len(), len(m.entries))
			}
		})
	}
}

// TestReferenceHaystack runs the reference MIH regression data: every needle
// against the haystack must give exactly the brute-force answer.
func TestReferenceHaystack(t *testing.T) {
	read := func(name string) []pdq.Hash {
		f, err := os.Open("../../../shared/testdata/index/" + name)
		if err != nil {
			t.Fatalf("shared test data missing: %v", err)
		}
		defer f.Close()
		var out []pdq.Hash
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			h, err := pdq.ParseHex(sc.Text())
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, h)
		}
		return out
	}
	hay, needles := read("haystack.txt"), read("needles.txt")
	var x PDQ
	m := &model{}
	var batch []Entry
	for i, h := range hay {
		batch = append(batch, Entry{uint64(i), h})
	}
	m.entries = batch
	x.AddBatch(batch)
	x.Compact() // one segment of 1350: large enough for the tables
	found := 0
	for _, q := range needles {
		for _, th := range thresholds {
			got, want := x.Search(q, th), m.search(q, th)
			if !slices.Equal(got, want) {
				t.Fatalf("needle %v threshold %d: %d vs brute force %d", q, th, len(got), len(want))
			}
			if th == 31 {
				found += len(got)
			}
		}
	}
	t.Logf("%d needles, %d matches at 31 in a haystack of %d", len(needles), found, len(hay))
	if found == 0 {
		t.Error("no needle found at threshold 31: the data does not exercise matching")
	}
}

// TestConcurrent runs readers while writers add and remove (run with -race).
func TestConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	base := clustered(rng, 20000)
	var x PDQ
	var batch []Entry
	for i, h := range base {
		batch = append(batch, Entry{uint64(i), h})
	}
	x.AddBatch(batch)
	stable := base[:100] // ids 0..99 are never touched by the writers
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := (i + r) % len(stable)
				got := x.Search(stable[id], 0)
				if !slices.ContainsFunc(got, func(m Match) bool { return m.ID == uint64(id) }) {
					t.Errorf("id %d vanished during concurrent writes", id)
					return
				}
			}
		})
	}
	wrng := rand.New(rand.NewPCG(7, 8))
	for i := range 35000 { // crosses one buffer freeze and a merge
		id := uint64(100000 + i)
		x.Add(id, randomHash(wrng))
		if i%7 == 0 {
			x.Remove(uint64(100000 + wrng.IntN(i+1)))
		}
	}
	close(stop)
	wg.Wait()
	x.Compact()
}

func TestExact(t *testing.T) {
	var x Exact[SHA256]
	k, err := ParseDigest[SHA256]("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	if err != nil {
		t.Fatal(err)
	}
	x.Add(1, k)
	x.Add(2, k)
	x.Add(1, k)
	if got := x.Lookup(k); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("lookup %v", got)
	}
	x.Remove(1, k)
	if got := x.Lookup(k); !slices.Equal(got, []uint64{2}) {
		t.Errorf("after remove %v", got)
	}
	x.Remove(2, k)
	if x.Len() != 0 || x.Lookup(k) != nil {
		t.Errorf("not empty")
	}
	for _, bad := range []string{"zz", "e3b0", ""} {
		if _, err := ParseDigest[MD5](bad); err == nil {
			t.Errorf("ParseDigest(%q) accepted", bad)
		}
	}
	if _, err := ParseDigest[MD5]("d41d8cd98f00b204e9800998ecf8427e"); err != nil {
		t.Error(err)
	}
}

// TestLargeLayout runs the brute-force comparison with the 22-bit layout,
// which real use only reaches at millions of hashes.
func TestLargeLayout(t *testing.T) {
	old := largeFrom
	largeFrom = 20000
	defer func() { largeFrom = old }()
	rng := rand.New(rand.NewPCG(9, 10))
	hashes := clustered(rng, 50000)
	var x PDQ
	m := &model{}
	for i, h := range hashes {
		m.entries = append(m.entries, Entry{uint64(i), h})
	}
	x.AddBatch(m.entries)
	if x.segs[0].bits != largeBits {
		t.Fatalf("segment uses %d-bit chunks, want %d", x.segs[0].bits, largeBits)
	}
	checkAgainstModel(t, &x, m, queriesFor(rng, hashes, 30))
}

func TestProbes(t *testing.T) {
	for _, tt := range []struct{ b, r, want int }{{16, 0, 1}, {16, 1, 17}, {16, 2, 137}, {22, 2, 254}, {22, 3, 1794}} {
		keys, ok := probes(nil, 5, tt.b, tt.r, 1<<20)
		if !ok || len(keys) != tt.want {
			t.Errorf("b=%d r=%d: %d keys (ok=%v), want %d", tt.b, tt.r, len(keys), ok, tt.want)
		}
		seen := map[uint32]bool{}
		for _, k := range keys {
			if seen[k] || bits.OnesCount32(k^5) > tt.r || k >= 1<<tt.b {
				t.Fatalf("b=%d r=%d: bad or repeated key %b", tt.b, tt.r, k)
			}
			seen[k] = true
		}
	}
	if _, ok := probes(nil, 0, 22, 4, 1000); ok {
		t.Error("limit not enforced")
	}
}
