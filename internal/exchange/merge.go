package exchange

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
)

// Merged syncs (issue 15). An initial sync of a large exchange (NCMEC:
// millions of hashes) applied page by page writes, in every transaction,
// the leaves of the signals_active index that its random keys land in: the
// cost per hash grows with the bank. So while a fetch runs, batches of
// pages that only add hashes (no deletion, no snapshot, and no update of
// an entry or a value the exchange brought before) wait in memory, and up
// to MergeEvery of their hashes are committed in one transaction
// (MergeStore.MergePages) with the checkpoint after their last page, the
// signals in key order and the exchange entries in entry order, so that
// each index leaf is written once per merge instead of once per page. A
// batch that is not a pure addition first merges what waits, then goes
// through ApplyPage as before, so deletions and updates keep their
// meaning exactly.
//
// Crash safety: what waits is not committed, and neither is its
// checkpoint. A fetch killed (or cancelled) before a merge loses nothing
// but the fetching of the pages that waited: the next fetch starts from
// the last committed checkpoint and fetches them again (at most
// MergeEvery hashes). A merge is one transaction.
//
// Purity. A page is a pure addition when none of its entry ids or values
// was seen earlier in the waiting batches (pendingFilter) and when the
// bank holds no active signal of this exchange under its ids or values
// (the page's update query, stale, is empty). The second is checked in the
// merge's transaction (Writer.Current), except where it is known without
// reading: when the bank held no active signal at all as the fetch began,
// every signal of this exchange in it was merged by this fetch, whose ids
// and values mergedFilter holds; a value that filter does not hold is
// not in the bank, and only the ids and values it may hold (its false
// positives, about one key in 1,700, and the true ones) are looked up.

// MergeStore is implemented by stores that commit many pages of pure
// additions in one transaction (both engines).
type MergeStore interface {
	// BankEmpty reports whether the exchange's bank holds no active
	// signal.
	BankEmpty(ctx context.Context, name string) (bool, error)
	// MergePages is ApplyPage for a merge of many pages: one transaction,
	// the same checks, checkpoint, audit entry and change log. The store
	// keeps the caches the write filled (the next merge needs them) until
	// a merge with last set.
	MergePages(ctx context.Context, name string, prev, next Checkpoint, by audit.Actor,
		detail map[string]any, last bool, fn func(w Writer) error) error
}

// waiting is a batch of pure additions waiting for its merge.
type waiting struct {
	batch []fetched
	// check is the part of the batch's update query the bank may answer
	// (every id and value, unless mergedFilter rules them out); nil when
	// there is nothing to look up.
	check *updateQuery
}

// merger holds the batches waiting for a merge and the filters that tell
// whether a batch is a pure addition.
type merger struct {
	s       *Syncer
	ms      MergeStore
	x       Exchange
	by      audit.Actor
	res     *Result
	every   int64
	waiting []waiting
	n       int64 // hashes waiting
	// pendingFilter holds the ids and values of the waiting batches;
	// mergedFilter those of every batch merged by this fetch, when the
	// bank was empty as it began (fresh), nil otherwise.
	pendingFilter *seenFilter
	mergedFilter  *growFilter
	inflight      chan merged // the running merge's outcome
}

func (s *Syncer) newMerger(ctx context.Context, x Exchange, by audit.Actor, res *Result, every int) (*merger, error) {
	ms, ok := s.Store.(MergeStore)
	if !ok || s.NoStaging || s.OnAdded != nil {
		return nil, nil
	}
	m := &merger{s: s, ms: ms, x: x, by: by, res: res, every: int64(every)}
	empty, err := ms.BankEmpty(ctx, x.Name)
	if err != nil {
		return nil, fmt.Errorf("is bank %s empty: %w", x.Bank, err)
	}
	if empty {
		m.mergedFilter = &growFilter{}
	}
	return m, nil
}

func (m *merger) stats() *Staging {
	if m.res.Staging == nil {
		m.res.Staging = &Staging{}
	}
	return m.res.Staging
}

// offer takes batch to wait for a merge if it only adds and touches
// nothing waiting, merging first when the batch would make the merge too
// large; it reports whether it took it (if not, the caller merges what
// waits and applies the batch).
func (m *merger) offer(ctx context.Context, batch []fetched) (bool, error) {
	last := batch[len(batch)-1].page
	n := int64(addsOf(batch))
	if n == 0 || (m.n == 0 && !last.More && m.res.Staging == nil) {
		return false, nil // nothing to gain: a fetch of one batch
	}
	for _, b := range batch {
		if b.page.Snapshot {
			return false, nil
		}
		for _, st := range b.prep.steps {
			if len(st.withdraw) > 0 || len(st.entries) > 0 {
				return false, nil
			}
		}
	}
	if m.n > 0 && m.n+n > m.every {
		if err := m.start(ctx, false); err != nil {
			return false, err
		}
	}
	if m.pendingFilter == nil {
		m.pendingFilter = newSeenFilter(int(m.every) * 4 / 3) // NCMEC: three hashes and one id an entry
	}
	if !stageable(batch, m.pendingFilter) {
		return false, nil
	}
	w := waiting{batch: batch}
	if m.mergedFilter == nil {
		w.check = mergedQuery(batch, nil)
	} else {
		w.check = mergedQuery(batch, m.mergedFilter)
		m.remember(batch)
	}
	// What the merge needs of the pages is their signals: the update
	// queries go (check keeps what is left to look up).
	for i := range w.batch {
		w.batch[i].prep.upd = nil
	}
	m.waiting = append(m.waiting, w)
	m.n += n
	m.stats().Hashes += n
	if !last.More {
		return true, m.merge(ctx, true)
	}
	return true, nil
}

// mergedQuery is the part of the batch's update queries that the bank may
// answer: all of it when f is nil, else the ids and values f may hold; nil
// when nothing is left.
func mergedQuery(batch []fetched, f *growFilter) *updateQuery {
	out := newUpdateQuery(0)
	for _, b := range batch {
		q := b.prep.upd
		if q == nil {
			continue
		}
		for i, id := range q.ids {
			if f == nil || f.has(q.idKeys[i]) {
				out.ids = append(out.ids, id)
			}
		}
		for i, r := range q.refs {
			if f == nil || f.has(q.refKeys[i]) {
				out.refs = append(out.refs, r)
			}
		}
	}
	if len(out.ids) == 0 && len(out.refs) == 0 {
		return nil
	}
	// stale also needs, for each signal found, the page's signal of its
	// value and whether its entry is one of the page's (the pages of a
	// batch share no id and no value: stageable).
	for _, b := range batch {
		if q := b.prep.upd; q != nil {
			maps.Copy(out.has, q.has)
			maps.Copy(out.want, q.want)
		}
	}
	return out
}

// remember adds the ids and values of a batch applied page by page to
// mergedFilter (they are in the bank now).
func (m *merger) remember(batch []fetched) {
	if m == nil || m.mergedFilter == nil {
		return
	}
	for _, b := range batch {
		if q := b.prep.upd; q != nil {
			for _, k := range q.idKeys {
				m.mergedFilter.add(k)
			}
			for _, k := range q.refKeys {
				m.mergedFilter.add(k)
			}
		}
	}
}

// merged is what one merge did, for the fetch's Result.
type merged struct {
	res  Result // Applied and Invalid
	took time.Duration
	err  error
}

// start hands the waiting batches to a merge that runs beside the fetch
// (the committer goes on taking batches meanwhile); last: the fetch ends
// with it. At most one merge runs: start waits for the one before.
func (m *merger) start(ctx context.Context, last bool) error {
	if err := m.wait(); err != nil {
		return err
	}
	if len(m.waiting) == 0 {
		return nil
	}
	ws := m.waiting
	m.waiting, m.n = nil, 0
	if m.pendingFilter != nil {
		m.pendingFilter.reset()
	}
	done := make(chan merged, 1)
	m.inflight = done
	go func() {
		t := time.Now()
		var r merged
		r.err = m.commit(ctx, ws, last, &r.res)
		r.took = time.Since(t)
		done <- r
	}()
	return nil
}

// wait waits for the running merge, if any, and counts what it did.
func (m *merger) wait() error {
	if m.inflight == nil {
		return nil
	}
	r := <-m.inflight
	m.inflight = nil
	st := m.stats()
	st.Merges++
	st.MergeSeconds += r.took.Seconds()
	m.res.Invalid += r.res.Invalid
	m.res.Applied.Added += r.res.Applied.Added
	m.res.Applied.Unchanged += r.res.Applied.Unchanged
	m.res.Applied.Excluded += r.res.Applied.Excluded
	m.res.Applied.Withdrawn += r.res.Applied.Withdrawn
	return r.err
}

// merge merges what waits and waits for it (and for the merge before).
func (m *merger) merge(ctx context.Context, last bool) error {
	if err := m.start(ctx, last); err != nil {
		return err
	}
	return m.wait()
}

// commit commits batches of pure additions in one transaction. If one
// turns out to update a stored signal, nothing is merged and every batch
// is applied on its own instead, in order.
func (m *merger) commit(ctx context.Context, ws []waiting, last bool, res *Result) error {
	var sigs []*bank.Signal
	invalid, entries, pages := 0, 0, 0
	for _, w := range ws {
		for _, f := range w.batch {
			for _, st := range f.prep.steps {
				for i := range st.adds {
					sigs = append(sigs, &st.adds[i])
				}
			}
			invalid += f.prep.invalid
			entries += f.entries
			pages++
		}
	}
	sortSignals(sigs)
	first := ws[0].batch[0]
	lw := ws[len(ws)-1].batch
	next := lw[len(lw)-1].page.Next
	detail := map[string]any{"entries": entries, "pages": pages, "merged": len(sigs)}
	var a Applied
	err := m.ms.MergePages(ctx, m.x.Name, first.prev, next, m.by, detail, last, func(w Writer) error {
		a = Applied{}
		for _, wt := range ws {
			upd, err := wt.check.stale(ctx, w, m.x.Name)
			if err != nil {
				return err
			}
			if len(upd) > 0 {
				return errNotPure
			}
		}
		chunk := make([]bank.Signal, 0, min(len(sigs), 5000))
		for i := 0; i < len(sigs); i += cap(chunk) {
			chunk = chunk[:0]
			for _, s := range sigs[i:min(i+cap(chunk), len(sigs))] {
				chunk = append(chunk, *s)
			}
			n, err := w.Add(ctx, chunk)
			if err != nil {
				return err
			}
			a.Added += n.Added
			a.Unchanged += n.Unchanged
			a.Excluded += n.Excluded
		}
		detail["result"] = a
		return nil
	})
	if errors.Is(err, errNotPure) {
		// Rare: the bank changed under the fetch, or a key the filters
		// could not rule out was an update after all. Each batch on its
		// own then, with its whole update query, as if nothing had waited.
		for _, w := range ws {
			for i := range w.batch {
				w.batch[i].prep.upd = queryOf(w.batch[i].prep.steps)
			}
			if _, err := m.s.apply(ctx, m.x, w.batch, m.by, res); err != nil {
				return err
			}
		}
		return nil
	}
	if err != nil {
		return err
	}
	res.Invalid += invalid
	res.Applied.Added += a.Added
	res.Applied.Unchanged += a.Unchanged
	res.Applied.Excluded += a.Excluded
	m.s.log().Debug("exchange pages merged", "exchange", m.x.Name, "pages", pages, "entries", entries, "to", next.Pos,
		"added", a.Added)
	return nil
}

// sortSignals sorts sigs by type and value (hex is in byte order), the
// order of the bank's index; of equal values the first stays first (the
// one page by page would have added). It sorts small records (the type,
// the value's first 64 bits, the position) rather than the signals: ten
// times faster on 500,000 signals than comparing their strings.
func sortSignals(sigs []*bank.Signal) {
	type rec struct {
		typ string
		pre uint64
		i   int32
	}
	recs := make([]rec, len(sigs))
	for i, s := range sigs {
		recs[i] = rec{typ: string(s.Type), pre: hexPrefix(s.Value), i: int32(i)}
	}
	slices.SortFunc(recs, func(a, b rec) int {
		if c := strings.Compare(a.typ, b.typ); c != 0 {
			return c
		}
		if a.pre != b.pre {
			return cmp.Compare(a.pre, b.pre)
		}
		if c := strings.Compare(sigs[a.i].Value, sigs[b.i].Value); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	sorted := make([]*bank.Signal, len(sigs))
	for k, r := range recs {
		sorted[k] = sigs[r.i]
	}
	copy(sigs, sorted)
}

// hexPrefix is the value of the first 16 characters of a lowercase hex
// string (fewer: padded with zeros), in the same order as the strings;
// a character that is not a hex digit counts as 0 (the full comparison
// decides then).
func hexPrefix(s string) uint64 {
	var x uint64
	for i := range 16 {
		var d byte
		if i < len(s) {
			switch c := s[i]; {
			case '0' <= c && c <= '9':
				d = c - '0'
			case 'a' <= c && c <= 'f':
				d = c - 'a' + 10
			}
		}
		x = x<<4 | uint64(d)
	}
	return x
}

// queryOf rebuilds a page's update query from its signals (as prepare made
// it: a pure addition's page is one step of adds).
func queryOf(steps []step) *updateQuery {
	var q *updateQuery
	for _, st := range steps {
		for i := range st.adds {
			s := &st.adds[i]
			if q == nil {
				q = newUpdateQuery(len(st.adds))
			}
			q.add(s, bank.SignalRef{Type: s.Type, Value: s.Value}, s.Extra[MetaEntry])
		}
	}
	return q
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
