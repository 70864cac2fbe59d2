package exchange

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
)

// Staging in a table (migration 0014) is what an earlier version did with
// the pure additions of a large sync: it appended them to exchange_staging
// with their checkpoint and merged them later. Merges now take the pages
// from memory (merge.go); what an interrupted fetch of that version left
// staged is merged by the next fetch, before it fetches.

// StagingStore is implemented by stores that can merge what an earlier
// version staged.
type StagingStore interface {
	// MergeStaged merges up to limit of the exchange's staged hashes, the
	// oldest first, into its bank in one transaction: the signals in key
	// order (of equal values the first staged wins, the others count as
	// unchanged; excluded values are skipped), their change-log entries,
	// their exchange entries, the exchange's counts and an audit entry
	// ActSync (detail "merged"). done says the fetch is over (the store may
	// then release the memory a large write used).
	MergeStaged(ctx context.Context, name string, by audit.Actor, limit int, done bool) (Merged, error)
}

// Merged is what one MergeStaged transaction did.
type Merged struct {
	Applied
	// Hashes counts the staged rows merged; Remaining those still staged.
	Hashes    int64 `json:"hashes"`
	Remaining int64 `json:"remaining"`
}

// Staging sums up the staged part of a fetch (Result.Staging).
type Staging struct {
	Hashes       int64   `json:"hashes"` // staged by this fetch
	Merges       int     `json:"merges"` // merge transactions
	StageSeconds float64 `json:"stage_seconds"`
	MergeSeconds float64 `json:"merge_seconds"`
}

// DefaultMergeEvery is Syncer.MergeEvery's default: staged hashes merged
// in one transaction, which holds the store's write lock (match hits,
// audit entries and the console's writes wait for it). On the shared
// 2-core test machine, under load 6–10, a merge of 500,000 hashes took 5 s
// in a 1M bank, 12 s in a 3M bank and 20 s in a 10M bank; see the package
// README.
const DefaultMergeEvery = 500_000

// errNotPure aborts a StagePage whose pages replace stored signals.
var errNotPure = errors.New("pages update stored signals")

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

// StagedNote says what the exchange's staged hashes are waiting for, or ""
// when none are staged (the CLI's exchange show and the console show it).
func (s State) StagedNote() string {
	if s.Staged == 0 {
		return ""
	}
	return fmt.Sprintf("%d hashes staged by the fetch, not yet in the bank, its change log or the live index: "+
		"merged in key order every %d staged hashes (with Syncer.MergeEvery's default), before a page that deletes or "+
		"updates, and when the fetch ends (or at the start of the next fetch if the process died)", s.Staged, DefaultMergeEvery)
}
