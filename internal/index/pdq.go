// Package index finds known hashes fast: an exact index for cryptographic
// digests (md5, sha1, sha256) and a near-neighbour index for 256-bit PDQ
// hashes under Hamming distance.
//
// The PDQ index is multi-index hashing (Norouzi et al.): each hash is cut
// into m disjoint chunks, and each chunk position has a table from chunk
// value to the hashes holding it. Two hashes within distance t agree within
// ⌊t/m⌋ bits on at least one chunk (pigeonhole), so probing every key within
// that radius in each table finds every match — the search is exact, not
// approximate. Tables are compact arrays (counting-sorted postings with
// offsets per key), not maps: about 300 bytes a hash up to 4M hashes and
// about 100 beyond, less than FAISS's IndexBinaryMultiHash (~265-325).
// Large radii, or queries whose buckets hold a large share of the index
// (real banks have clusters of near-duplicates), fall back to a linear scan,
// which is also the test oracle.
//
// Banks change while the service runs, so the index takes additions and
// removals while serving queries: new hashes go to a small linear-scanned
// buffer that is frozen into an indexed segment when full; segments of
// similar size are merged in the background (an LSM-style log of immutable
// segments); removals are tombstones by id, applied at query time and
// purged by merges. Readers and writers share a sync.RWMutex held only for
// short, bounded work.
//
// Many queries at once (retroactive matching: thousands of new signals
// against millions of retained uploads) go through SearchBatch, a join of
// the queries' probe keys with each table, sorted so that memory is read in
// order (batch.go): same answers as Search, 3.3× less CPU for 10,000
// queries on 10M hashes.
package index

import (
	"math/bits"
	"runtime"
	"slices"
	"sync"

	"github.com/nigehban/nigehban/internal/pdq"
)

// Match is one indexed hash within the query's threshold.
type Match struct {
	ID       uint64
	Hash     pdq.Hash
	Distance int
}

// Entry is a hash with the id it is indexed under. Several entries may share
// an id (the frames of one video) and several ids a hash (one image in two
// banks).
type Entry struct {
	ID   uint64
	Hash pdq.Hash
}

// testHookBuild runs before a batch is built off the lock (tests make
// writers race with it).
var testHookBuild = func() {}

// deltaMax is the size at which the linear buffer becomes a segment:
// scanning it costs ~1 ns a hash, so it adds at most ~30 µs to a query.
const deltaMax = 32 << 10

// PDQ is a concurrent-safe near-neighbour index of PDQ hashes. The zero
// value is an empty index ready for use.
//
// Removals are tombstones ordered by a logical clock (seq, bumped by each
// Remove). Every segment records the clock at which its content was fixed:
// a tombstone at or before it is already reflected in the segment (the
// removed entries were left out, or were added after the removal), one
// after it removes the id's entries from it. The buffer never holds a
// removed entry: Remove deletes them from it directly.
type PDQ struct {
	mu    sync.RWMutex
	segs  []*segment
	delta []Entry
	tomb  map[uint64]uint64 // id → clock of its last removal
	seq   uint64
	// building holds the clocks of batches being built off the lock: their
	// tombstones must outlive merges until they join segs.
	building []uint64

	merging   bool
	mergeDone chan struct{} // closed when the running merge ends
}

// Add indexes hash under id.
func (x *PDQ) Add(id uint64, hash pdq.Hash) {
	x.mu.Lock()
	x.delta = append(x.delta, Entry{id, hash})
	if len(x.delta) >= deltaMax {
		x.freezeLocked()
	}
	x.mu.Unlock()
}

// AddBatch indexes many entries at once; a large batch becomes one segment
// directly, which is how banks are loaded at start.
func (x *PDQ) AddBatch(entries []Entry) {
	if len(entries) == 0 {
		return
	}
	x.mu.Lock()
	if len(entries) < deltaMax {
		x.delta = append(x.delta, entries...)
		if len(x.delta) >= deltaMax {
			x.freezeLocked()
		}
		x.mu.Unlock()
		return
	}
	seq := x.seq
	x.building = append(x.building, seq)
	x.mu.Unlock()
	testHookBuild()
	seg := buildSegment(entries, seq) // off the lock: it takes seconds at 10M
	x.mu.Lock()
	i := slices.Index(x.building, seq)
	x.building = slices.Delete(x.building, i, i+1)
	x.segs = append(x.segs, seg)
	x.maybeMergeLocked()
	x.mu.Unlock()
}

// Remove removes every hash indexed under id.
func (x *PDQ) Remove(id uint64) {
	x.mu.Lock()
	x.seq++
	if x.tomb == nil {
		x.tomb = make(map[uint64]uint64)
	}
	x.tomb[id] = x.seq
	x.delta = slices.DeleteFunc(x.delta, func(e Entry) bool { return e.ID == id })
	x.mu.Unlock()
}

// Len returns the number of entries stored, counting removed ones not yet
// purged by a merge.
func (x *PDQ) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := len(x.delta)
	for _, s := range x.segs {
		n += len(s.ids)
	}
	return n
}

// Compact folds the buffer and every segment into one, purging removed
// entries, and waits for it: useful after a bulk load, before measuring.
// Entries added meanwhile stay outside the compacted segment.
func (x *PDQ) Compact() {
	x.mu.Lock()
	for x.merging {
		done := x.mergeDone
		x.mu.Unlock()
		<-done
		x.mu.Lock()
	}
	x.beginMergeLocked() // first, so that freezing starts no merge of its own
	x.freezeLocked()
	segs, tomb, seq := slices.Clone(x.segs), cloneMap(x.tomb), x.seq
	x.mu.Unlock()
	var merged *segment
	if len(segs) > 1 || (len(segs) == 1 && len(tomb) > 0) {
		merged = mergeSegments(segs, tomb, seq)
	}
	x.mu.Lock()
	if merged != nil {
		x.replaceLocked(segs, merged)
	}
	x.endMergeLocked()
	x.mu.Unlock()
}

// Search returns every indexed hash within distance threshold of q (0..256),
// nearest first (ties by id).
func (x *PDQ) Search(q pdq.Hash, threshold int) []Match {
	return x.AppendSearch(nil, q, threshold)
}

// AppendSearch is Search appending to dst, so hot paths can reuse a slice.
func (x *PDQ) AppendSearch(dst []Match, q pdq.Hash, threshold int) []Match {
	start := len(dst)
	x.mu.RLock()
	for _, s := range x.segs {
		dst = s.search(dst, q, threshold, x.tomb)
	}
	for _, e := range x.delta {
		if d := pdq.Distance(q, e.Hash); d <= threshold {
			dst = append(dst, Match{e.ID, e.Hash, d})
		}
	}
	x.mu.RUnlock()
	sortMatches(dst[start:])
	return dst
}

func sortMatches(m []Match) {
	slices.SortFunc(m, func(a, b Match) int {
		if a.Distance != b.Distance {
			return a.Distance - b.Distance
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		for i := range a.Hash {
			if a.Hash[i] != b.Hash[i] {
				if a.Hash[i] < b.Hash[i] {
					return -1
				}
				return 1
			}
		}
		return 0
	})
}

// freezeLocked turns the buffer into a segment.
func (x *PDQ) freezeLocked() {
	if len(x.delta) == 0 {
		return
	}
	x.segs = append(x.segs, buildSegment(x.delta, x.seq))
	x.delta = nil
	x.maybeMergeLocked()
}

func (x *PDQ) beginMergeLocked() {
	x.merging = true
	x.mergeDone = make(chan struct{})
}

// endMergeLocked ends a merge, drops the tombstones no segment needs any
// more, and starts the next merge if one is due.
func (x *PDQ) endMergeLocked() {
	x.merging = false
	close(x.mergeDone)
	if len(x.tomb) > 0 {
		oldest := x.seq
		for _, s := range x.segs {
			oldest = min(oldest, s.seq)
		}
		for _, b := range x.building {
			oldest = min(oldest, b)
		}
		for id, r := range x.tomb {
			if r <= oldest {
				delete(x.tomb, id)
			}
		}
	}
	x.maybeMergeLocked()
}

// maybeMergeLocked starts a background merge of the newest segments while
// the newest is at least half the size of the one before (so every entry is
// merged O(log n) times).
func (x *PDQ) maybeMergeLocked() {
	if x.merging || len(x.segs) < 2 {
		return
	}
	i := len(x.segs) - 1
	for i > 0 && 2*len(x.segs[len(x.segs)-1].ids) >= len(x.segs[i-1].ids) {
		i--
	}
	if i == len(x.segs)-1 {
		return
	}
	segs, tomb, seq := slices.Clone(x.segs[i:]), cloneMap(x.tomb), x.seq
	x.beginMergeLocked()
	go func() {
		merged := mergeSegments(segs, tomb, seq)
		x.mu.Lock()
		x.replaceLocked(segs, merged)
		x.endMergeLocked()
		x.mu.Unlock()
	}()
}

// replaceLocked swaps old, a run of x.segs, for merged. Only merges remove
// segments and they run one at a time, so the run is still in place.
func (x *PDQ) replaceLocked(old []*segment, merged *segment) {
	i := slices.Index(x.segs, old[0])
	if i < 0 || i+len(old) > len(x.segs) || !slices.Equal(x.segs[i:i+len(old)], old) {
		panic("index: merged segments no longer in place")
	}
	x.segs = slices.Replace(x.segs, i, i+len(old), merged)
}

func cloneMap(m map[uint64]uint64) map[uint64]uint64 {
	c := make(map[uint64]uint64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// live reports whether an entry under id of a segment fixed at clock seq is
// still indexed.
func live(tomb map[uint64]uint64, id, seq uint64) bool {
	if len(tomb) == 0 {
		return true
	}
	r, ok := tomb[id]
	return !ok || r <= seq
}

// Segment layouts. Small segments cut hashes into 16 chunks of 16 bits:
// 272 probes at threshold 31, cheap 256 KiB offset tables. From largeN
// hashes on, buckets of 16-bit keys grow long, so segments use 11 chunks of
// 22 bits (242 of the 256 bits: pigeonhole needs the chunks to be disjoint,
// not to cover every bit): 2,794 probes at threshold 31 but ~64× fewer
// candidates per probe — at 10M hashes ~7k candidates instead of ~41k.
const (
	smallBits      = 16
	numSmallTables = 256 / smallBits
	largeBits      = 22
	largeN         = 4 << 20
	// posBits is the width of a position in a small-layout posting, which
	// bounds the size of a small segment.
	posBits = 24
	posMask = 1<<posBits - 1
)

// largeFrom is the segment size from which the large layout is used
// (a variable so tests can exercise both layouts on small data).
var largeFrom = largeN

// key returns the b-bit chunk starting o bits from the top of h (the
// first hex digit), for a hash or an XOR of two hashes.
func key(h *pdq.Hash, o, b int) uint32 {
	w, sh := o>>6, o&63
	v := h[w] << sh
	if sh+b > 64 {
		v |= h[w+1] >> (64 - sh)
	}
	return uint32(v >> (64 - b))
}

// segment is an immutable, indexed run of entries.
type segment struct {
	hashes []pdq.Hash
	ids    []uint64
	seq    uint64     // the clock at which the content was fixed (see PDQ)
	bits   int        // chunk width
	off    [][]uint32 // per table: bucket k is postings off[t][k]:off[t][k+1]
	// pos holds the postings of the large layout: positions in hashes.
	pos [][]uint32
	// post holds the postings of the small layout, 16 bytes each: the
	// position in its low 24 bits, and 104 bits of the half of the hash
	// that does not contain the table's chunk. A candidate whose 104 bits
	// alone are farther than the threshold is rejected by a sequential
	// read instead of a cache miss on its hash: a random candidate passes
	// at threshold 31 with probability ~2e-5, which makes queries ~10×
	// faster at a million hashes. The large layout, whose buckets are ~64×
	// shorter, goes without.
	post [][][2]uint64
}

// filterWords returns the 104 filter bits of h for table t of the small
// layout (tables 0-7 lie in words 0-1, so the filter comes from words 2-3),
// with the low 24 bits, where postings keep the position, cleared.
func filterWords(h *pdq.Hash, t int) [2]uint64 {
	if t < numSmallTables/2 {
		return [2]uint64{h[2], h[3] &^ posMask}
	}
	return [2]uint64{h[0], h[1] &^ posMask}
}

func (s *segment) tables() int { return 256 / s.bits }

func buildSegment(entries []Entry, seq uint64) *segment {
	n := len(entries)
	s := &segment{hashes: make([]pdq.Hash, n), ids: make([]uint64, n), seq: seq, bits: smallBits}
	if n >= largeFrom || n > posMask {
		s.bits = largeBits
	}
	for i, e := range entries {
		s.hashes[i], s.ids[i] = e.Hash, e.ID
	}
	m := s.tables()
	s.off = make([][]uint32, m)
	if s.bits == smallBits {
		s.post = make([][][2]uint64, m)
	} else {
		s.pos = make([][]uint32, m)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for t := range m {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			o, b := t*s.bits, s.bits
			off := make([]uint32, 1<<b+1)
			for i := range s.hashes {
				off[key(&s.hashes[i], o, b)+1]++
			}
			for k := 1; k < len(off); k++ {
				off[k] += off[k-1]
			}
			next := slices.Clone(off[:1<<b])
			if s.post != nil {
				post := make([][2]uint64, n)
				for i := range s.hashes {
					k := key(&s.hashes[i], o, b)
					f := filterWords(&s.hashes[i], t)
					post[next[k]] = [2]uint64{f[0], f[1] | uint64(i)}
					next[k]++
				}
				s.post[t] = post
			} else {
				pos := make([]uint32, n)
				for i := range s.hashes {
					k := key(&s.hashes[i], o, b)
					pos[next[k]] = uint32(i)
					next[k]++
				}
				s.pos[t] = pos
			}
			s.off[t] = off
		})
	}
	wg.Wait()
	return s
}

// mergeSegments builds one segment of the live entries of segs, as of the
// clock seq at which tomb was copied.
func mergeSegments(segs []*segment, tomb map[uint64]uint64, seq uint64) *segment {
	var entries []Entry
	for _, s := range segs {
		for i := range s.ids {
			if live(tomb, s.ids[i], s.seq) {
				entries = append(entries, Entry{s.ids[i], s.hashes[i]})
			}
		}
	}
	return buildSegment(entries, seq)
}

// scan is the linear search of a segment.
func (s *segment) scan(dst []Match, q pdq.Hash, threshold int, tomb map[uint64]uint64) []Match {
	for i := range s.hashes {
		h := &s.hashes[i]
		d := bits.OnesCount64(q[0]^h[0]) + bits.OnesCount64(q[1]^h[1]) +
			bits.OnesCount64(q[2]^h[2]) + bits.OnesCount64(q[3]^h[3])
		if d <= threshold && live(tomb, s.ids[i], s.seq) {
			dst = append(dst, Match{s.ids[i], *h, d})
		}
	}
	return dst
}

// probes appends to buf[:0] the b-bit keys within radius r of k, stopping
// (and returning false) once more than limit keys would be needed.
func probes(buf []uint32, k uint32, b, r, limit int) ([]uint32, bool) {
	buf = append(buf[:0], k)
	var rec func(k uint32, from, left int) bool
	rec = func(k uint32, from, left int) bool {
		for i := from; i < b; i++ {
			if len(buf) >= limit {
				return false
			}
			k2 := k ^ 1<<i
			buf = append(buf, k2)
			if left > 1 && !rec(k2, i+1, left-1) {
				return false
			}
		}
		return true
	}
	if r > 0 && !rec(k, 0, r) {
		return buf, false
	}
	return buf, true
}

// probeLimit bounds the keys probed per query: past it a scan is cheaper.
const probeLimit = 150_000

// scratch holds a query's buffers, pooled to keep searches allocation-free.
type scratch struct {
	keys   []uint32
	ranges []bucket
	cands  []cand
}

type bucket struct{ lo, hi, table uint32 }

type cand struct{ pos, table uint32 }

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// search is the multi-index search of a segment, falling back to a scan
// when the radius or the probed buckets make a scan cheaper. It works in
// three tight passes — bucket bounds, candidate positions, verification —
// so the CPU overlaps the cache misses of independent loads.
func (s *segment) search(dst []Match, q pdq.Hash, threshold int, tomb map[uint64]uint64) []Match {
	n := len(s.hashes)
	if threshold < 0 || n == 0 {
		return dst
	}
	m, b := s.tables(), s.bits
	r := threshold / m
	if n < 1024 || r >= b {
		return s.scan(dst, q, threshold, tomb)
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	sc.ranges = sc.ranges[:0]
	total := 0
	for t := range m {
		var ok bool
		sc.keys, ok = probes(sc.keys, key(&q, t*b, b), b, r, probeLimit/m)
		if !ok {
			return s.scan(dst, q, threshold, tomb)
		}
		off := s.off[t]
		for _, k := range sc.keys {
			lo, hi := off[k], off[k+1]
			if lo != hi {
				sc.ranges = append(sc.ranges, bucket{lo, hi, uint32(t)})
				total += int(hi - lo)
			}
		}
		if total > n/4 {
			return s.scan(dst, q, threshold, tomb)
		}
	}
	sc.cands = sc.cands[:0]
	if s.post != nil {
		var qf [numSmallTables][2]uint64
		for t := range m {
			qf[t] = filterWords(&q, t)
		}
		for _, rg := range sc.ranges {
			f := qf[rg.table]
			for _, p := range s.post[rg.table][rg.lo:rg.hi] {
				if bits.OnesCount64(p[0]^f[0])+bits.OnesCount64((p[1]^f[1])>>posBits) <= threshold {
					sc.cands = append(sc.cands, cand{uint32(p[1] & posMask), rg.table})
				}
			}
		}
	} else {
		for _, rg := range sc.ranges {
			for _, p := range s.pos[rg.table][rg.lo:rg.hi] {
				sc.cands = append(sc.cands, cand{p, rg.table})
			}
		}
	}
	for _, c := range sc.cands {
		h := &s.hashes[c.pos]
		x := pdq.Hash{q[0] ^ h[0], q[1] ^ h[1], q[2] ^ h[2], q[3] ^ h[3]}
		d := bits.OnesCount64(x[0]) + bits.OnesCount64(x[1]) + bits.OnesCount64(x[2]) + bits.OnesCount64(x[3])
		if d > threshold {
			continue
		}
		// Report each hash once: from the first table in which it lies
		// within the radius, where it was necessarily probed.
		first := true
		for u := range int(c.table) {
			if bits.OnesCount32(key(&x, u*b, b)) <= r {
				first = false
				break
			}
		}
		if first && live(tomb, s.ids[c.pos], s.seq) {
			dst = append(dst, Match{s.ids[c.pos], *h, d})
		}
	}
	return dst
}
