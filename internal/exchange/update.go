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
// above), worked out when the page is prepared, off the transaction.
type updateQuery struct {
	ids    []string
	refs   []bank.SignalRef
	want   map[bank.SignalRef]bank.Signal     // the signal as the page leaves it, by value
	values map[string]map[bank.SignalRef]bool // the values each entry id holds in the page
}

// updateQueryOf returns the update query of page's entries for exchange
// name, or nil when the page adds nothing.
func (s *Syncer) updateQueryOf(name string, page Page) *updateQuery {
	q := &updateQuery{want: map[bank.SignalRef]bank.Signal{}, values: map[string]map[bank.SignalRef]bool{}}
	for _, e := range page.Entries {
		if e.Deleted {
			continue
		}
		sig := e.Signal
		if sig.Normalize() != nil {
			continue
		}
		s.tag(&sig, name, e)
		ref := bank.SignalRef{Type: sig.Type, Value: sig.Value}
		if _, ok := q.want[ref]; !ok {
			q.refs = append(q.refs, ref)
		}
		q.want[ref] = sig
		if e.ID != "" {
			if q.values[e.ID] == nil {
				q.values[e.ID] = map[bank.SignalRef]bool{}
				q.ids = append(q.ids, e.ID)
			}
			q.values[e.ID][ref] = true
		}
	}
	if len(q.refs) == 0 {
		return nil
	}
	return q
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
		} else if id := c.Extra[MetaEntry]; id != "" && q.values[id] != nil {
			stale = true
		}
		if stale {
			seen[ref] = true
			out = append(out, ref)
		}
	}
	return out, nil
}
