package exchange

import (
	"context"
	"fmt"
	"maps"

	"github.com/nigehban/nigehban/internal/bank"
)

// Entry updates. Exchanges send an entry again when it changes: NCMEC an
// entry whose classification or fingerprints changed, StopNCII a record
// whose status or tags changed, ThreatExchange a threat_updates element
// with new tags or a new indicator under the same id, a hash list a line
// with new metadata. None of them says "update"; an entry seen before is
// the update. Added as is, such an entry would be a no-op (the value is
// already active, its old metadata kept) or a duplicate (the entry's old
// value left active beside the new one).
//
// So before a page is applied, the signals this exchange brought that the
// page's entries touch are read in the page's transaction (Writer.Current:
// by the entries' ids and by their values, a few batched queries a page)
// and replaced: a signal whose value an entry sends again with other
// metadata (category, extra) is withdrawn and added again with the new
// metadata; a signal an entry (by id) brought under a value the entry no
// longer holds is withdrawn. Unchanged entries stay unchanged, so a window
// fetched twice changes nothing. Signals of the same value that a curator
// or another exchange added are left alone.

// updateQuery is what a page's entries ask of the stored signals (see
// above), worked out when the page is prepared (Syncer.prepare, from the
// signals it adds), off the transaction.
type updateQuery struct {
	ids  []string                  // the entries' ids, each once, in page order
	refs []bank.SignalRef          // the values added, each once, in page order
	want map[bank.SignalRef]wanted // the signal as the page leaves it, by value
	has  map[string]bool           // the ids in ids
	// idKeys and refKeys are the filter keys of ids and refs (idKey,
	// valueKey), for merges (merge.go).
	idKeys, refKeys []uint64
}

func newUpdateQuery(n int) *updateQuery {
	return &updateQuery{want: make(map[bank.SignalRef]wanted, n), has: make(map[string]bool, n/2)}
}

// wanted is what stale compares of the signal a page leaves for a value
// (the rest of the signal is not kept: a merge holds many pages' queries).
type wanted struct {
	Category string
	Extra    map[string]string
}

// add records a signal the page adds (normalised and tagged), its value
// and the id of its entry ("" if none); the last signal of a value wins.
func (q *updateQuery) add(sig *bank.Signal, ref bank.SignalRef, id string) {
	if _, ok := q.want[ref]; !ok {
		q.refs = append(q.refs, ref)
		q.refKeys = append(q.refKeys, valueKey(ref))
	}
	q.want[ref] = wanted{Category: sig.Category, Extra: sig.Extra}
	if id != "" && !q.has[id] {
		q.has[id] = true
		q.ids = append(q.ids, id)
		q.idKeys = append(q.idKeys, idKey(id))
	}
}

// stale returns the active signals of exchange name that the page's
// entries replace (see above), read through w in the page's transaction.
func (q *updateQuery) stale(ctx context.Context, w interface {
	Current(ctx context.Context, entries []string, refs []bank.SignalRef) ([]bank.Signal, error)
}, name string) ([]bank.SignalRef, error) {
	if q == nil {
		return nil, nil
	}
	cur, err := w.Current(ctx, q.ids, q.refs)
	if err != nil {
		return nil, fmt.Errorf("signals the page updates: %w", err)
	}
	var out []bank.SignalRef
	seen := map[bank.SignalRef]bool{}
	for _, c := range cur {
		ref := bank.SignalRef{Type: c.Type, Value: c.Value}
		if c.Extra[MetaExchange] != name || seen[ref] {
			continue
		}
		stale := false
		if nw, ok := q.want[ref]; ok {
			stale = nw.Category != c.Category || !maps.Equal(nw.Extra, c.Extra)
		} else if id := c.Extra[MetaEntry]; id != "" && q.has[id] {
			stale = true
		}
		if stale {
			seen[ref] = true
			out = append(out, ref)
		}
	}
	return out, nil
}
