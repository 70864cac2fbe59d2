// Command index benchmarks the PDQ index at 1M and 10M hashes — build time,
// bytes per hash, queries per second and p50/p99 latency at thresholds 0,
// 16, 31 and 47 on one core — and writes the same hashes and queries for
// faiss_baseline.py, which measures FAISS on them in the same run (see run.sh).
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/nigehban/nigehban/internal/index"
	"github.com/nigehban/nigehban/internal/pdq"
)

func main() {
	n := flag.Int("n", 1_000_000, "hashes to index")
	nq := flag.Int("queries", 2000, "queries per threshold")
	dir := flag.String("dir", os.TempDir(), "where to write hashes.bin and queries.bin for faiss_baseline.py")
	flag.Parse()
	runtime.GOMAXPROCS(1) // one core, as the comparison requires
	debug.SetGCPercent(400)

	runtime.GC()
	baseline := heap()
	rng := rand.New(rand.NewPCG(42, uint64(*n)))
	hashes := generate(rng, *n)
	queries := make([]pdq.Hash, *nq)
	for i := range queries {
		if i%2 == 0 {
			queries[i] = flip(rng, hashes[rng.IntN(len(hashes))], rng.IntN(40))
		} else {
			queries[i] = pdq.Hash{rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()}
		}
	}
	must(writeHashes(filepath.Join(*dir, "hashes.bin"), hashes))
	must(writeHashes(filepath.Join(*dir, "queries.bin"), queries))

	entries := make([]index.Entry, len(hashes))
	for i, h := range hashes {
		entries[i] = index.Entry{ID: uint64(i), Hash: h}
	}
	hashes = nil
	start := time.Now()
	var x index.PDQ
	x.AddBatch(entries)
	x.Compact()
	build := time.Since(start)
	entries = nil
	runtime.GC()
	bytesPerHash := float64(heap()-baseline) / float64(*n) // only the index (and the small query set) is left
	fmt.Printf("nigehban n=%d build_s=%.2f bytes_per_hash=%.1f\n", *n, build.Seconds(), bytesPerHash)
	var dst []index.Match
	for _, th := range []int{0, 16, 31, 47} {
		lat := make([]time.Duration, len(queries))
		found := 0
		t0 := time.Now()
		for i, q := range queries {
			s := time.Now()
			dst = x.AppendSearch(dst[:0], q, th)
			lat[i] = time.Since(s)
			found += len(dst)
		}
		total := time.Since(t0)
		slices.Sort(lat)
		fmt.Printf("nigehban threshold=%d qps=%.0f p50_us=%.1f p99_us=%.1f matches=%d\n", th,
			float64(len(queries))/total.Seconds(), us(lat[len(lat)/2]), us(lat[len(lat)*99/100]), found)
	}
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

func heap() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// generate makes realistic banks: clusters of near-duplicates (edited copies
// of one photo) with a skewed size distribution, plus unrelated hashes.
func generate(rng *rand.Rand, n int) []pdq.Hash {
	out := make([]pdq.Hash, 0, n)
	for len(out) < n {
		c := pdq.Hash{rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()}
		size := 1 + int(rng.ExpFloat64()*8)
		for i := 0; i < size && len(out) < n; i++ {
			out = append(out, flip(rng, c, rng.IntN(32)))
		}
	}
	return out
}

func flip(rng *rand.Rand, h pdq.Hash, k int) pdq.Hash {
	for range k {
		b := rng.IntN(256)
		h[b/64] ^= 1 << (b % 64)
	}
	return h
}

// writeHashes writes the 32-byte big-endian form FAISS indexes.
func writeHashes(path string, hs []pdq.Hash) error {
	buf := make([]byte, 0, 32*len(hs))
	for _, h := range hs {
		for _, w := range h {
			buf = binary.BigEndian.AppendUint64(buf, w)
		}
	}
	return os.WriteFile(path, buf, 0o644)
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
