package exchange

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
)

// Write-behind staging (issue 15). An initial sync of a large exchange
// (NCMEC: millions of hashes) inserted in arrival order writes, in every
// transaction, the leaves of the signals_active index its random keys land
// in: the cost per hash grows with the bank. So while a fetch runs, a batch
// of pages that only adds hashes (no deletion, no update of an entry or a
// value the exchange brought before, staged or merged, no snapshot) is
// appended to the store's staging table in the transaction of its
// checkpoint (StagingStore.StagePage), and the staged rows are merged into
// the bank in key order, many pages at once (StagingStore.MergeStaged):
// when MergeEvery hashes are staged, before any batch that is not a pure
// addition (which then goes through ApplyPage as before, so deletions and
// updates keep their meaning exactly), and when the fetch ends. A fetch
// also merges what an interrupted one left staged before it fetches.
//
// Crash safety is unchanged: staged rows commit with their checkpoint, and
// a merge is one transaction. What changes is when the bank sees a staged
// hash: its signal, change-log entry (which replicas' live indexes and
// partner subscribers follow) and exchange entry appear at its merge, not
// at its page's commit. Exchange.State.Staged counts what waits.

// StagingStore is implemented by stores that can stage a fetch's pure
// additions and merge them later in key order.
type StagingStore interface {
	// CanStage reports whether the store's engine stages.
	CanStage() bool
	// StagePage is ApplyPage for pages that only add: in one transaction,
	// fn checks through w that the pages replace nothing stored
	// (StageWriter.Current) and stages their signals; the checkpoint moves
	// to next and the audit entry ActSync records the pages (detail, with
	// "staged": the hashes staged). If fn fails, nothing is staged.
	StagePage(ctx context.Context, name string, prev, next Checkpoint, by audit.Actor,
		detail map[string]any, fn func(w StageWriter) error) error
	// MergeStaged merges up to limit of the exchange's staged hashes, the
	// oldest first, into its bank in one transaction: the signals in key
	// order (of equal values the first staged wins, the others count as
	// unchanged; excluded values are skipped), their change-log entries,
	// their exchange entries, the exchange's counts and an audit entry
	// ActSync (detail "merged"). done says the fetch is over (the store may
	// then release the memory a large write used).
	MergeStaged(ctx context.Context, name string, by audit.Actor, limit int, done bool) (Merged, error)
}

// StageWriter is what StagingStore.StagePage's function writes through.
type StageWriter interface {
	// Current is Writer.Current on the merged bank.
	Current(ctx context.Context, entries []string, refs []bank.SignalRef) ([]bank.Signal, error)
	// Stage appends sigs (normalised, tagged) to the exchange's staging
	// table.
	Stage(ctx context.Context, sigs []bank.Signal) error
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

// seenFilter is a Bloom filter of the entry ids and values staged since
// the last merge: a batch touching one of them may update a staged entry,
// so it is not staged but applied after a merge. A false positive only
// merges early; there are no false negatives. 64 bits a key and 8 probes:
// at most one false positive in about 28 million lookups when full (an
// NCMEC sync looks up four keys per three hashes).
type seenFilter struct {
	seed maphash.Seed
	bits []uint64
}

func newSeenFilter(keys int) *seenFilter {
	words := max(keys, 1024) // 64 bits a key
	return &seenFilter{seed: maphash.MakeSeed(), bits: make([]uint64, words)}
}

func (f *seenFilter) probes(kind byte, s string, fn func(i uint64) bool) bool {
	var h maphash.Hash
	h.SetSeed(f.seed)
	h.WriteByte(kind)
	h.WriteString(s)
	x := h.Sum64()
	a, b := x&0xffffffff, x>>32|1
	m := uint64(len(f.bits) * 64)
	for i := range uint64(8) {
		if !fn((a + i*b) % m) {
			return false
		}
	}
	return true
}

func (f *seenFilter) add(kind byte, s string) {
	f.probes(kind, s, func(i uint64) bool { f.bits[i/64] |= 1 << (i % 64); return true })
}

func (f *seenFilter) has(kind byte, s string) bool {
	return f.probes(kind, s, func(i uint64) bool { return f.bits[i/64]&(1<<(i%64)) != 0 })
}

func (f *seenFilter) reset() { clear(f.bits) }

// stageable reports whether the batch only adds and touches nothing staged
// since the last merge (f), and if so adds its ids and values to f.
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
		for _, id := range q.ids {
			if f.has('e', id) {
				return false
			}
		}
		for _, r := range q.refs {
			if f.has('v', string(r.Type)+"\x00"+r.Value) {
				return false
			}
		}
		// Later pages of the batch must not touch this one either.
		for _, id := range q.ids {
			f.add('e', id)
		}
		for _, r := range q.refs {
			f.add('v', string(r.Type)+"\x00"+r.Value)
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
