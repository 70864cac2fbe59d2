package index

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/nigehban/nigehban/internal/pdq"
)

// bench1M is a clustered 1M-hash index with its queries (half near copies
// of indexed hashes, half unrelated), built once for all benchmarks.
var bench1M = sync.OnceValues(func() (*PDQ, []pdq.Hash) {
	rng := rand.New(rand.NewPCG(3, 4))
	hashes := clustered(rng, 1_000_000)
	entries := make([]Entry, len(hashes))
	for i, h := range hashes {
		entries[i] = Entry{uint64(i), h}
	}
	x := new(PDQ)
	x.AddBatch(entries)
	queries := make([]pdq.Hash, 1000)
	for i := range queries {
		if i%2 == 0 {
			queries[i] = flip(rng, hashes[rng.IntN(len(hashes))], rng.IntN(32))
		} else {
			queries[i] = randomHash(rng)
		}
	}
	return x, queries
})

// segmentBytes is the memory held by a segment's arrays.
func segmentBytes(s *segment) int {
	n := 40 * len(s.hashes) // hashes and ids
	for t := range s.off {
		n += 4 * len(s.off[t])
	}
	for t := range s.pos {
		n += 4 * len(s.pos[t])
	}
	for t := range s.post {
		n += 16 * len(s.post[t])
	}
	return n
}

// BenchmarkSearch1M measures queries on 1M clustered hashes at the
// thresholds of the issue, against the linear scan (the fallback and
// FAISS IndexBinaryFlat's method) in the same run. bench/index runs the
// full 1M/10M comparison with FAISS.
func BenchmarkSearch1M(b *testing.B) {
	x, queries := bench1M()
	bytesPerHash := float64(segmentBytes(x.segs[0])) / float64(x.Len())
	for _, th := range []int{0, 16, 31, 47} {
		b.Run(fmt.Sprintf("threshold=%d", th), func(b *testing.B) {
			var dst []Match
			i := 0
			for b.Loop() {
				dst = x.AppendSearch(dst[:0], queries[i%len(queries)], th)
				i++
			}
			b.ReportMetric(bytesPerHash, "bytes/hash")
		})
	}
	b.Run("scan/threshold=31", func(b *testing.B) {
		var dst []Match
		i := 0
		for b.Loop() {
			dst = x.segs[0].scan(dst[:0], queries[i%len(queries)], 31, nil)
			i++
		}
	})
}
