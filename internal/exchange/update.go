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

// updates returns the active signals of exchange x that the entries of
// page replace (see above).
func (s *Syncer) updates(ctx context.Context, w Writer, x Exchange, page Page) ([]bank.SignalRef, error) {
	var ids []string
	var refs []bank.SignalRef
	want := map[bank.SignalRef]bank.Signal{}       // the signal as the page leaves it, by value
	values := map[string]map[bank.SignalRef]bool{} // the values each entry id holds in the page
	for _, e := range page.Entries {
		if e.Deleted {
			continue
		}
		sig := e.Signal
		if sig.Normalize() != nil {
			continue
		}
		s.tag(&sig, x.Name, e)
		ref := bank.SignalRef{Type: sig.Type, Value: sig.Value}
		if _, ok := want[ref]; !ok {
			refs = append(refs, ref)
		}
		want[ref] = sig
		if e.ID != "" {
			if values[e.ID] == nil {
				values[e.ID] = map[bank.SignalRef]bool{}
				ids = append(ids, e.ID)
			}
			values[e.ID][ref] = true
		}
	}
	if len(refs) == 0 {
		return nil, nil
	}
	cur, err := w.Current(ctx, ids, refs)
	if err != nil {
		return nil, fmt.Errorf("signals the page updates: %w", err)
	}
	var out []bank.SignalRef
	seen := map[bank.SignalRef]bool{}
	for _, c := range cur {
		ref := bank.SignalRef{Type: c.Type, Value: c.Value}
		if c.Extra[MetaExchange] != x.Name || seen[ref] {
			continue
		}
		stale := false
		if nw, ok := want[ref]; ok {
			stale = nw.Category != c.Category || !maps.Equal(nw.Extra, c.Extra)
		} else if id := c.Extra[MetaEntry]; id != "" && values[id] != nil {
			stale = true
		}
		if stale {
			seen[ref] = true
			out = append(out, ref)
		}
	}
	return out, nil
}
