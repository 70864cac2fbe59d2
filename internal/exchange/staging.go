package exchange

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
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

// Staging sums up the merged part of a fetch (Result.Staging): the hashes
// that waited for a merge, the merge transactions and the time they took
// (merges run beside the fetch).
type Staging struct {
	Hashes       int64   `json:"hashes"` // taken to wait for a merge
	Merges       int     `json:"merges"` // merge transactions
	MergeSeconds float64 `json:"merge_seconds"`
	// LongestMerge is the longest merge's time in seconds: how long it
	// held the store's write lock, at most.
	LongestMerge float64 `json:"longest_merge"`
}

// merged counts a merge that took took.
func (st *Staging) merged(took time.Duration) {
	st.Merges++
	st.MergeSeconds += took.Seconds()
	st.LongestMerge = max(st.LongestMerge, took.Seconds())
}

// staging is r.Staging, made if need be.
func (r *Result) staging() *Staging {
	if r.Staging == nil {
		r.Staging = &Staging{}
	}
	return r.Staging
}

// DefaultMergeEvery is Syncer.MergeEvery's default: hashes merged in one
// transaction, which holds the store's write lock (match hits, audit
// entries and the console's writes wait for it), and half of what a fetch
// may hold in memory (a merge is written while the next one gathers). On
// the idle 2-core test machine the longest merge of 500,000 hashes took
// 5.6 s in a 1M sync and 11.1 s in the 10M sync; see the package README.
const DefaultMergeEvery = 500_000

// errNotPure aborts a merge whose pages replace stored signals.
var errNotPure = errors.New("pages update stored signals")

// StagedNote says what hashes staged by an earlier version wait for, or
// "" when none are staged (the CLI's exchange show and the console show
// it).
func (s State) StagedNote() string {
	if s.Staged == 0 {
		return ""
	}
	return fmt.Sprintf("%d hashes staged by an interrupted fetch of an earlier version, not yet in the bank, its change log "+
		"or the live index: the next fetch merges them before it fetches", s.Staged)
}
