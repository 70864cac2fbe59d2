package exchange

import (
	"hash/maphash"

	"github.com/nigehban/nigehban/internal/bank"
)

// The filters a merge decides purity by (merge.go): Bloom filters of
// entry ids and values, keyed by 64-bit hashes computed once a key when a
// page is prepared.

// filterSeed seeds the hashes of the keys the filters hold.
var filterSeed = maphash.MakeSeed()

// idKey and valueKey are the filters' keys of an entry id and of a value
// (computed once, by prepare).
func idKey(id string) uint64 {
	var h maphash.Hash
	h.SetSeed(filterSeed)
	h.WriteByte('e')
	h.WriteString(id)
	return h.Sum64()
}

func valueKey(r bank.SignalRef) uint64 {
	var h maphash.Hash
	h.SetSeed(filterSeed)
	h.WriteByte('v')
	h.WriteString(string(r.Type))
	h.WriteByte(0)
	h.WriteString(r.Value)
	return h.Sum64()
}

// seenFilter is a Bloom filter of keys (idKey, valueKey): no false
// negatives; newSeenFilter's is 64 bits a key with 8 probes, at most one
// false positive in about 28 million lookups when full (an NCMEC sync
// looks up four keys per three hashes).
type seenFilter struct {
	bits []uint64
}

func newSeenFilter(keys int) *seenFilter {
	return &seenFilter{bits: make([]uint64, max(keys, 1024))} // 64 bits a key
}

func (f *seenFilter) add(x uint64) {
	a, b, m := x&0xffffffff, x>>32|1, uint64(len(f.bits)*64)
	for i := range uint64(8) {
		j := (a + i*b) % m
		f.bits[j/64] |= 1 << (j % 64)
	}
}

func (f *seenFilter) has(x uint64) bool {
	a, b, m := x&0xffffffff, x>>32|1, uint64(len(f.bits)*64)
	for i := range uint64(8) {
		j := (a + i*b) % m
		if f.bits[j/64]&(1<<(j%64)) == 0 {
			return false
		}
	}
	return true
}

func (f *seenFilter) reset() { clear(f.bits) }

// stageable reports whether the batch only adds and touches nothing that
// waits for a merge (f), and if so adds its ids and values to f.
func stageable(batch []fetched, f *seenFilter) bool {
	for _, b := range batch {
		if b.page.Snapshot {
			return false
		}
		for _, st := range b.prep.steps {
			if len(st.withdraw) > 0 || len(st.entries) > 0 {
				return false
			}
		}
	}
	for _, b := range batch {
		q := b.prep.upd
		if q == nil {
			continue
		}
		for _, k := range q.idKeys {
			if f.has(k) {
				return false
			}
		}
		for _, k := range q.refKeys {
			if f.has(k) {
				return false
			}
		}
		// Later pages of the batch must not touch this one either.
		for _, k := range q.idKeys {
			f.add(k)
		}
		for _, k := range q.refKeys {
			f.add(k)
		}
	}
	return true
}

// growFilter is a Bloom filter that grows: a chain of seenFilters of 16
// bits a key (8 probes: about one false positive in 1,700 lookups when
// full), each twice the size of the one before, the first for 1<<20 keys.
type growFilter struct {
	chain []*seenFilter
	n     int // keys in the last filter
	limit int // its capacity
}

func (g *growFilter) add(x uint64) {
	if len(g.chain) == 0 || g.n >= g.limit {
		g.limit = max(2*g.limit, 1<<20)
		g.chain = append(g.chain, &seenFilter{bits: make([]uint64, g.limit/4)}) // 16 bits a key
		g.n = 0
	}
	g.chain[len(g.chain)-1].add(x)
	g.n++
}

func (g *growFilter) has(x uint64) bool {
	for _, f := range g.chain {
		if f.has(x) {
			return true
		}
	}
	return false
}
