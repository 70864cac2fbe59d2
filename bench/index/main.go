// Command index benchmarks the PDQ index at 1M and 10M hashes — build time,
// memory per hash, queries per second and p50/p99 latency at thresholds 0,
// 16, 31 and 47 on one core — on the hashes and queries that
// faiss_baseline.py measures FAISS on in the same run (see run.sh).
//
// The hashes are realistic rather than uniform: clusters of near-duplicates
// (edited copies of one photo) with a skewed size distribution, plus the
// reference haystack of the shared test data; half the queries are edited
// copies of indexed hashes (and the reference needles), half unrelated.
// They are generated once into a cache directory and reused, so every run
// and FAISS see the same data.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/index"
	"github.com/nigehban/nigehban/internal/pdq"
)

func main() {
	n := flag.Int("n", 1_000_000, "hashes to index")
	nq := flag.Int("queries", 2000, "queries per threshold")
	dir := flag.String("dir", defaultCache(), "cache of hashes-N.bin and queries-N.bin (read by faiss_baseline.py)")
	testdata := flag.String("testdata", "../shared/testdata/index", "directory of the reference haystack.txt and needles.txt")
	label := flag.String("label", "nigehban", "name printed on result lines")
	countsPath := flag.String("counts", "", "write per threshold the number of matches of each query to this file")
	flag.Parse()
	runtime.GOMAXPROCS(1) // one core, as the comparison requires
	debug.SetGCPercent(400)

	runtime.GC()
	rssBefore, heapBefore := rss("VmRSS"), heap()
	hashes, queries, err := load(*dir, *testdata, *n, *nq)
	must(err)
	entries := make([]index.Entry, len(hashes))
	for i, h := range hashes {
		entries[i] = index.Entry{ID: uint64(i), Hash: h}
	}
	hashes = nil
	runtime.GC()
	debug.FreeOSMemory() // so that peak_rss is the build's: the input entries and the index

	start := time.Now()
	var x index.PDQ
	x.AddBatch(entries)
	x.Compact()
	build := time.Since(start)
	entries = nil
	runtime.GC()
	debug.FreeOSMemory()
	heapPerHash := float64(heap()-heapBefore) / float64(*n)
	rssPerHash := float64(rss("VmRSS")-rssBefore) / float64(*n)
	fmt.Printf("%s n=%d build_s=%.2f bytes_per_hash=%.1f heap_bytes_per_hash=%.1f rss_mib=%d peak_rss_mib=%d\n",
		*label, *n, build.Seconds(), rssPerHash, heapPerHash, rss("VmRSS")>>20, rss("VmHWM")>>20)

	var dst []index.Match
	var counts strings.Builder
	for _, th := range []int{0, 16, 31, 47} {
		lat := make([]time.Duration, len(queries))
		found := 0
		fmt.Fprintf(&counts, "%d", th)
		t0 := time.Now()
		for i, q := range queries {
			s := time.Now()
			dst = x.AppendSearch(dst[:0], q, th)
			lat[i] = time.Since(s)
			found += len(dst)
		}
		total := time.Since(t0)
		for _, q := range queries {
			fmt.Fprintf(&counts, " %d", len(x.AppendSearch(dst[:0], q, th)))
		}
		counts.WriteString("\n")
		slices.Sort(lat)
		fmt.Printf("%s threshold=%d qps=%.0f p50_us=%.1f p99_us=%.1f matches=%d\n", *label, th,
			float64(len(queries))/total.Seconds(), us(lat[len(lat)/2]), us(lat[len(lat)*99/100]), found)
	}
	if *countsPath != "" {
		must(os.WriteFile(*countsPath, []byte(counts.String()), 0o644))
	}
}

func defaultCache() string {
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "nigehban", "bench-index")
}

// load reads the cached data set of n hashes and nq queries, or generates
// and caches it.
func load(dir, testdata string, n, nq int) (hashes, queries []pdq.Hash, err error) {
	hp := filepath.Join(dir, fmt.Sprintf("hashes-%d.bin", n))
	qp := filepath.Join(dir, fmt.Sprintf("queries-%d-%d.bin", n, nq))
	hashes, err1 := readHashes(hp, n)
	queries, err2 := readHashes(qp, nq)
	if err1 == nil && err2 == nil {
		return hashes, queries, nil
	}
	haystack, err := readHexFile(filepath.Join(testdata, "haystack.txt"))
	if err != nil {
		return nil, nil, err
	}
	needles, err := readHexFile(filepath.Join(testdata, "needles.txt"))
	if err != nil {
		return nil, nil, err
	}
	rng := rand.New(rand.NewPCG(42, uint64(n)))
	hashes = generate(rng, n-len(haystack))
	hashes = append(hashes, haystack...)
	rng.Shuffle(len(hashes), func(i, j int) { hashes[i], hashes[j] = hashes[j], hashes[i] })
	queries = make([]pdq.Hash, nq)
	for i := range queries {
		switch {
		case i%2 == 1:
			queries[i] = pdq.Hash{rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()}
		case i/2 < len(needles):
			queries[i] = needles[i/2]
		default:
			queries[i] = flip(rng, hashes[rng.IntN(len(hashes))], rng.IntN(40))
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	if err := writeHashes(hp, hashes); err != nil {
		return nil, nil, err
	}
	return hashes, queries, writeHashes(qp, queries)
}

// generate makes clusters of near-duplicates with a skewed (exponential)
// size distribution: most photos appear once or a few times, some in
// dozens of edited copies.
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

func readHexFile(path string) ([]pdq.Hash, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reference data: %w", err)
	}
	defer f.Close()
	var out []pdq.Hash
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		h, err := pdq.ParseHex(strings.TrimSpace(sc.Text()))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, h)
	}
	return out, sc.Err()
}

// writeHashes writes the 32-byte big-endian form FAISS indexes.
func writeHashes(path string, hs []pdq.Hash) error {
	buf := make([]byte, 0, 32*len(hs))
	for _, h := range hs {
		for _, w := range h {
			buf = binary.BigEndian.AppendUint64(buf, w)
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readHashes(path string, n int) ([]pdq.Hash, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) != 32*n {
		return nil, fs.ErrInvalid
	}
	out := make([]pdq.Hash, n)
	for i := range out {
		for w := range 4 {
			out[i][w] = binary.BigEndian.Uint64(b[32*i+8*w:])
		}
	}
	return out, nil
}

// rss returns a memory figure of /proc/self/status in bytes.
func rss(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	must(err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			must(err)
			return kb << 10
		}
	}
	must(errors.New("no " + field + " in /proc/self/status"))
	return 0
}

func heap() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/index:", err)
		os.Exit(1)
	}
}
