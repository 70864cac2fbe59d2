package exchange

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
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

// Row is a signal waiting for a merge in the form the store writes it: a
// few dozen bytes instead of a bank.Signal and its Extra map, and the
// encoding done beside the merge rather than in it.
type Row struct {
	Key     []byte // bank.EncodeValue's key and body
	Body    string
	Type    bank.Type
	Quality int
	Meta    *RowMeta // shared by the signals of one entry
}

// RowMeta is what the signals of one entry share.
type RowMeta struct {
	Entry                  string // the exchange's entry id ("" if none)
	Category, Source, Note string
	Extra                  string // bank.EncodeExtra
}

// RowWriter is implemented by Writers that add Rows (the stores' own
// writers); a merge through another Writer adds them as bank.Signals.
type RowWriter interface {
	// AddRows is Writer.Add for rows.
	AddRows(ctx context.Context, rows []Row) (bank.AddCounts, error)
}

// waiting is a batch of pure additions waiting for its merge.
type waiting struct {
	prev, next Checkpoint
	entries    int
	invalid    int
	pages      int
	rows       []Row
	// check is the part of the batch's update query the bank may answer
	// (every id and value, unless mergedFilter rules them out); nil when
	// there is nothing to look up.
	check *updateQuery
}

// newWaiting turns an accepted batch into rows: each value encoded once,
// the keys in one allocation, the metadata of an entry's signals encoded
// once (they share one Extra map, see prepare).
func newWaiting(batch []fetched, check *updateQuery) waiting {
	w := waiting{prev: batch[0].prev, next: batch[len(batch)-1].page.Next, pages: len(batch), check: check}
	n, size := 0, 0
	for _, f := range batch {
		w.entries += f.entries
		w.invalid += f.prep.invalid
		for _, st := range f.prep.steps {
			n += len(st.adds)
			for i := range st.adds {
				size += len(st.adds[i].Value) / 2
			}
		}
	}
	w.rows = make([]Row, 0, n)
	arena := make([]byte, 0, size)
	var meta *RowMeta
	var metaOf *bank.Signal
	for _, f := range batch {
		for _, st := range f.prep.steps {
			for i := range st.adds {
				s := &st.adds[i]
				key, body := bank.EncodeValue(s.Type, s.Value)
				if len(arena)+len(key) <= cap(arena) {
					arena = append(arena, key...)
					key = arena[len(arena)-len(key) : len(arena) : len(arena)]
				}
				if metaOf == nil || !sameRowMeta(metaOf, s) {
					meta = &RowMeta{Entry: s.Extra[MetaEntry], Category: s.Category, Source: s.Source, Note: s.Note,
						Extra: bank.EncodeExtra(s.Extra)}
					metaOf = s
				}
				w.rows = append(w.rows, Row{Key: key, Body: body, Type: s.Type, Quality: s.Quality, Meta: meta})
			}
		}
	}
	return w
}

// sameRowMeta reports whether b's RowMeta is a's: same Extra map (prepare
// shares one per entry) and the same category, source and note.
func sameRowMeta(a, b *bank.Signal) bool {
	return len(a.Extra) == len(b.Extra) && (len(a.Extra) == 0 ||
		reflect.ValueOf(a.Extra).UnsafePointer() == reflect.ValueOf(b.Extra).UnsafePointer()) &&
		a.Category == b.Category && a.Source == b.Source && a.Note == b.Note
}

// RowSignals turns rows back into signals, the signals of one RowMeta
// sharing one Extra map (what a merge through a Writer or a store writer
// that takes no rows, and the rare fallback to applying pages, need).
func RowSignals(rows []Row) []bank.Signal {
	out := make([]bank.Signal, len(rows))
	var meta *RowMeta
	var extra map[string]string
	for i, r := range rows {
		if r.Meta != meta {
			meta = r.Meta
			extra, _ = bank.DecodeExtra(meta.Extra) // written by EncodeExtra
		}
		out[i] = bank.Signal{Type: r.Type, Value: bank.DecodeValue(r.Type, r.Key, r.Body), Category: meta.Category,
			Source: meta.Source, Note: meta.Note, Extra: extra, Quality: r.Quality}
	}
	return out
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
	check := mergedQuery(batch, m.mergedFilter)
	m.remember(batch)
	m.waiting = append(m.waiting, newWaiting(batch, check))
	m.n += n
	m.res.staging().Hashes += n
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
				out.has[id] = true
			}
		}
		for i, r := range q.refs {
			if f == nil || f.has(q.refKeys[i]) {
				out.refs = append(out.refs, r)
				out.want[r] = q.want[r]
			}
		}
	}
	if len(out.ids) == 0 && len(out.refs) == 0 {
		return nil
	}
	// stale also asks, of a signal found by an id, whether the page holds
	// its value, and of one found by a value, whether its entry is one of
	// the page's: neither can be a key f rules out, since the signal is
	// in the bank (a key f holds) and the pages of a batch share no id
	// and no value (stageable). So want and has need only the keys kept.
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
	if r.err != nil {
		// What waits was fetched after the pages that failed: it cannot
		// be committed before them (the next fetch fetches it again).
		m.waiting, m.n = nil, 0
	}
	m.res.staging().merged(r.took)
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
	var sets [][]Row
	invalid, entries, pages, hashes := 0, 0, 0, 0
	for _, w := range ws {
		sets = append(sets, w.rows)
		invalid += w.invalid
		entries += w.entries
		pages += w.pages
		hashes += len(w.rows)
	}
	order := sortRows(sets)
	next := ws[len(ws)-1].next
	detail := map[string]any{"entries": entries, "pages": pages, "merged": hashes}
	var a Applied
	err := m.ms.MergePages(ctx, m.x.Name, ws[0].prev, next, m.by, detail, last, func(w Writer) error {
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
		chunk := make([]Row, 0, min(hashes, 5000))
		for i := 0; i < len(order); i += cap(chunk) {
			chunk = chunk[:0]
			for _, o := range order[i:min(i+cap(chunk), len(order))] {
				chunk = append(chunk, sets[o.set][o.i])
			}
			var n bank.AddCounts
			var err error
			if rw, ok := w.(RowWriter); ok {
				n, err = rw.AddRows(ctx, chunk)
			} else {
				n, err = w.Add(ctx, RowSignals(chunk))
			}
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
			adds := RowSignals(w.rows)
			f := fetched{prev: w.prev, page: Page{Next: w.next, More: true}, entries: w.entries,
				prep: prepared{steps: []step{{adds: adds}}, invalid: w.invalid, upd: queryOf(adds)}}
			if _, err := m.s.apply(ctx, m.x, []fetched{f}, m.by, res); err != nil {
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

// rowRef is a row of a merge: sets[set][i].
type rowRef struct {
	typ string
	pre uint64 // the key's first 8 bytes
	set int32
	i   int32
}

// sortRows returns the rows of sets (in the order they came) sorted by
// type and key, the order of the bank's index; of equal values the first
// stays first (the one page by page would have added). It sorts small
// records (the type, the key's first 8 bytes, the position), not the rows:
// several times faster than comparing them, and no copy of the rows.
func sortRows(sets [][]Row) []rowRef {
	n := 0
	for _, rows := range sets {
		n += len(rows)
	}
	refs := make([]rowRef, 0, n)
	for s, rows := range sets {
		for i := range rows {
			var b [8]byte
			copy(b[:], rows[i].Key)
			refs = append(refs, rowRef{typ: string(rows[i].Type), pre: binary.BigEndian.Uint64(b[:]), set: int32(s), i: int32(i)})
		}
	}
	slices.SortFunc(refs, func(a, b rowRef) int {
		if c := strings.Compare(a.typ, b.typ); c != 0 {
			return c
		}
		if a.pre != b.pre {
			return cmp.Compare(a.pre, b.pre)
		}
		if c := bytes.Compare(sets[a.set][a.i].Key, sets[b.set][b.i].Key); c != 0 {
			return c
		}
		if a.set != b.set {
			return cmp.Compare(a.set, b.set)
		}
		return cmp.Compare(a.i, b.i)
	})
	return refs
}

// queryOf rebuilds a page's update query from its signals (as prepare
// made it).
func queryOf(adds []bank.Signal) *updateQuery {
	q := newUpdateQuery(len(adds))
	for i := range adds {
		s := &adds[i]
		q.add(s, bank.SignalRef{Type: s.Type, Value: s.Value}, s.Extra[MetaEntry])
	}
	return q
}
