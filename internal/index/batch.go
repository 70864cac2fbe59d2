package index

import (
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/nigehban/nigehban/internal/pdq"
)

// Batch search: many queries at once, as a join rather than one search per
// query. Searching one query probes thousands of buckets at random places in
// tables of tens of megabytes and reads each candidate's hash at a random
// place: at 10M hashes a query is ~3k probes and ~7k candidates, nearly all
// cache misses (~1 ms of CPU a query on the test machine under load). A
// batch instead, per table, lists every (probe key, query) pair, sorts the
// list by key and walks the table's buckets in ascending order; the
// candidates (position, query) are sorted by position and verified in one
// ascending sweep over the hashes. The work is the same, the memory
// accesses are sequential, and tables are joined in parallel.

// batchBlock is the number of queries joined at a time: it bounds the
// memory of a join (at 10M hashes, ~25 MiB of keys and ~50 MiB of
// candidates per table and worker).
const batchBlock = 8192

// SearchBatch returns, for every query qs[i], what Search(qs[i],
// thresholds[i]) returns (nearest first, ties by id), computed as one join
// over the index. thresholds must be as long as qs.
func (x *PDQ) SearchBatch(qs []pdq.Hash, thresholds []int) [][]Match {
	if len(thresholds) != len(qs) {
		panic("index: SearchBatch needs one threshold a query")
	}
	out := make([][]Match, len(qs))
	// Segments are immutable: search a snapshot, off the lock.
	x.mu.RLock()
	segs, delta, tomb := slices.Clone(x.segs), slices.Clone(x.delta), x.tomb
	if len(tomb) > 0 {
		tomb = cloneMap(tomb)
	}
	x.mu.RUnlock()
	for lo := 0; lo < len(qs); lo += batchBlock {
		hi := min(lo+batchBlock, len(qs))
		for _, s := range segs {
			s.searchBatch(out[lo:hi], qs[lo:hi], thresholds[lo:hi], tomb)
		}
	}
	for i, q := range qs {
		for _, e := range delta {
			if d := pdq.Distance(q, e.Hash); d <= thresholds[i] {
				out[i] = append(out[i], Match{e.ID, e.Hash, d})
			}
		}
		sortMatches(out[i])
	}
	return out
}

// batchHit is a match found by a table of a join.
type batchHit struct {
	q, pos uint32
	d      int32
}

// searchBatch appends to out[i] the matches of qs[i] in s.
func (s *segment) searchBatch(out [][]Match, qs []pdq.Hash, thresholds []int, tomb map[uint64]uint64) {
	n := len(s.hashes)
	if n == 0 {
		return
	}
	m, b := s.tables(), s.bits
	// radius[i] is the per-table radius of a joined query, -1 for a query
	// searched alone: one whose probes would be too many (search then
	// decides between probing and a scan), or none at all.
	radius := make([]int, len(qs))
	var alone []int
	for i, th := range thresholds {
		radius[i] = -1
		switch r := th / m; {
		case th < 0:
		case n < 1024 || r >= b || ballSize(b, r) > probeLimit/m:
			alone = append(alone, i)
		default:
			radius[i] = r
		}
	}
	// A query whose buckets in one table hold more than n/(4m) postings
	// (a dense cluster) is searched alone too, as search would scan it.
	dense := make([]atomic.Bool, len(qs))
	hits := make([][]batchHit, m)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), m) {
		wg.Go(func() {
			j := joinerPool.Get().(*joiner)
			defer joinerPool.Put(j)
			for {
				t := int(next.Add(1) - 1)
				if t >= m {
					return
				}
				hits[t] = j.table(s, t, qs, thresholds, radius, dense, tomb)
			}
		})
	}
	wg.Wait()
	for i := range qs {
		if dense[i].Load() {
			alone = append(alone, i)
		}
	}
	for _, h := range hits {
		for _, c := range h {
			if !dense[c.q].Load() {
				out[c.q] = append(out[c.q], Match{s.ids[c.pos], s.hashes[c.pos], int(c.d)})
			}
		}
	}
	for _, i := range alone {
		out[i] = s.search(out[i], qs[i], thresholds[i], tomb)
	}
}

// joinerPool keeps join buffers (tens of megabytes at 10M hashes) from one
// batch to the next: allocating them anew costs more than the join's
// sorting.
var joinerPool = sync.Pool{New: func() any { return new(joiner) }}

// joiner holds one worker's buffers across tables.
type joiner struct {
	keys, cands, tmp []uint64
	probe            []uint32
	count            []int
}

// table joins the queries with table t of s and returns the matches whose
// first table within radius is t (each match is reported by one table).
func (j *joiner) table(s *segment, t int, qs []pdq.Hash, thresholds, radius []int, dense []atomic.Bool,
	tomb map[uint64]uint64) []batchHit {
	b, o := s.bits, t*s.bits
	n := len(s.hashes)
	// Probe keys, (key << 32 | query), sorted by key.
	j.keys = j.keys[:0]
	for i := range qs {
		r := radius[i]
		if r < 0 {
			continue
		}
		j.probe, _ = probes(j.probe, key(&qs[i], o, b), b, r, probeLimit)
		for _, k := range j.probe {
			j.keys = append(j.keys, uint64(k)<<32|uint64(i))
		}
	}
	// Ordered by the key's top 11 bits only (one pass): within a group the
	// buckets' offsets span a few KiB.
	j.keys, j.tmp = radixSort(j.keys, j.tmp, max(32, 32+b-radixDigit), 32+b)
	// Postings per query in this table: a query past n/(4m) is dense.
	off := s.off[t]
	j.count = slices.Grow(j.count[:0], len(qs))[:len(qs)]
	clear(j.count)
	limit := n / (4 * s.tables())
	for _, kq := range j.keys {
		k, i := uint32(kq>>32), uint32(kq)
		j.count[i] += int(off[k+1] - off[k])
	}
	total := 0
	for i, c := range j.count {
		if c > limit {
			dense[i].Store(true)
		} else {
			total += c
		}
	}
	// Candidates, (position << 32 | query), sorted by position. The small
	// layout's postings carry 104 other bits of the hash: most candidates
	// are rejected here, reading postings in order.
	j.cands = slices.Grow(j.cands[:0], total)
	if s.post != nil {
		post := s.post[t]
		for _, kq := range j.keys {
			k, i := uint32(kq>>32), uint32(kq)
			if j.count[i] > limit {
				continue
			}
			f, th := filterWords(&qs[i], t), thresholds[i]
			for _, p := range post[off[k]:off[k+1]] {
				if bits.OnesCount64(p[0]^f[0])+bits.OnesCount64((p[1]^f[1])>>posBits) <= th {
					j.cands = append(j.cands, (p[1]&posMask)<<32|uint64(i))
				}
			}
		}
	} else {
		pos := s.pos[t]
		for _, kq := range j.keys {
			k, i := uint32(kq>>32), uint32(kq)
			if j.count[i] > limit {
				continue
			}
			for _, p := range pos[off[k]:off[k+1]] {
				j.cands = append(j.cands, uint64(p)<<32|uint64(i))
			}
		}
	}
	// Ordered by the position's top 11 bits only (one pass): verification
	// sweeps the hashes in ascending blocks of n/2048 hashes (160 KiB at
	// 10M), each read from the cache.
	hi := 32 + bits.Len(uint(n))
	j.cands, j.tmp = radixSort(j.cands, j.tmp, max(32, hi-radixDigit), hi)
	// Verification.
	var hits []batchHit
	for _, c := range j.cands {
		p, i := uint32(c>>32), uint32(c)
		q, h := &qs[i], &s.hashes[p]
		x := pdq.Hash{q[0] ^ h[0], q[1] ^ h[1], q[2] ^ h[2], q[3] ^ h[3]}
		d := bits.OnesCount64(x[0]) + bits.OnesCount64(x[1]) + bits.OnesCount64(x[2]) + bits.OnesCount64(x[3])
		if d > thresholds[i] {
			continue
		}
		first, r := true, radius[i]
		for u := range t {
			if bits.OnesCount32(key(&x, u*b, b)) <= r {
				first = false
				break
			}
		}
		if first && live(tomb, s.ids[p], s.seq) {
			hits = append(hits, batchHit{i, p, int32(d)})
		}
	}
	return hits
}

// ballSize is the number of b-bit keys within Hamming distance r of one.
func ballSize(b, r int) int {
	n, c := 0, 1
	for i := 0; i <= r && i <= b; i++ {
		n += c
		c = c * (b - i) / (i + 1)
	}
	return n
}

// radixDigit is the width of a digit of radixSort.
const radixDigit = 11

// radixSort sorts v by bits lo..hi (lo inclusive) with an LSD radix sort
// of 11-bit digits, using tmp as scratch; it returns the sorted slice and
// the scratch (either may be the other's backing array).
func radixSort(v, tmp []uint64, lo, hi int) ([]uint64, []uint64) {
	if len(v) < 2 {
		return v, tmp
	}
	tmp = slices.Grow(tmp[:0], len(v))[:len(v)]
	const digit = radixDigit
	var count [1 << digit]int
	for sh := lo; sh < hi; sh += digit {
		clear(count[:])
		for _, x := range v {
			count[(x>>sh)&(1<<digit-1)]++
		}
		sum := 0
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for _, x := range v {
			d := (x >> sh) & (1<<digit - 1)
			tmp[count[d]] = x
			count[d]++
		}
		v, tmp = tmp, v
	}
	return v, tmp
}
