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
			if len(x.tomb) != 0 {
				t.Errorf("%d tombstones left after compaction", len(x.tomb))
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
	wg.Go(func() { // compactions racing with the writers' freezes and merges
		for {
			select {
			case <-stop:
				return
			default:
			}
			x.Compact()
		}
	})
	wrng := rand.New(rand.NewPCG(7, 8))
	m := &model{entries: batch}
	for i := 0; i < 40000; i += 50 { // crosses a freeze and merges
		var adds []Entry
		for j := range 50 {
			adds = append(adds, Entry{uint64(100000 + i + j), randomHash(wrng)})
		}
		if i%100 == 0 {
			x.AddBatch(adds)
		} else {
			for _, e := range adds {
				x.Add(e.ID, e.Hash)
			}
		}
		m.entries = append(m.entries, adds...)
		for range 3 {
			id := uint64(100000 + wrng.IntN(i+50))
			x.Remove(id)
			m.remove(id)
		}
	}
	close(stop)
	wg.Wait()
	x.Compact()
	checkAgainstModel(t, &x, m, queriesFor(wrng, base, 10))
}

// TestRemoveWhileBatchBuilds removes an id of a batch while the batch is
// built off the lock, with a compaction in between that purges tombstones:
// the removal must still hide the batch's entries.
func TestRemoveWhileBatchBuilds(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	hashes := clustered(rng, deltaMax+100)
	var x PDQ
	x.AddBatch([]Entry{{1, hashes[0]}}) // something for the compaction to fold
	building, release := make(chan struct{}), make(chan struct{})
	testHookBuild = func() { close(building); <-release }
	defer func() { testHookBuild = func() {} }()
	var batch []Entry
	for i, h := range hashes {
		batch = append(batch, Entry{uint64(1000 + i), h})
	}
	done := make(chan struct{})
	go func() { x.AddBatch(batch); close(done) }()
	<-building
	x.Remove(1000)
	x.Remove(1)
	x.Compact()
	close(release)
	<-done
	for _, th := range []int{0, 31} {
		for _, m := range x.Search(hashes[0], th) {
			if m.ID == 1000 || m.ID == 1 {
				t.Errorf("threshold %d: removed id %d still matches", th, m.ID)
			}
		}
	}
	if got := x.Search(hashes[1], 0); len(got) == 0 || got[0].ID != 1001 {
		t.Errorf("id 1001 lost: %v", got)
	}
	x.Compact()
	if len(x.tomb) != 0 || x.Len() != len(batch)-1 {
		t.Errorf("after compaction: %d tombstones, %d entries (want 0, %d)", len(x.tomb), x.Len(), len(batch)-1)
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
