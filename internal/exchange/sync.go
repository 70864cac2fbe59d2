package exchange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
)

// Syncer fetches exchanges into their banks.
type Syncer struct {
	Store Store
	// Banks is read to find what a snapshot (a whole list) no longer holds.
	Banks bank.Store
	// By is the actor of the changes ("exchange:<name>" if zero).
	By audit.Actor
	// Log receives one line per page and per failure (slog.Default if nil).
	Log *slog.Logger
	// Progress, if set, is called after each committed page, or each
	// batch taken to wait for a merge, with the hashes taken so far in
	// this fetch.
	Progress func(applied int64)
	// MaxRetries bounds the rate-limit waits of one fetch (default 5);
	// MaxWait caps one wait (default 5 minutes).
	MaxRetries int
	MaxWait    time.Duration
	// OnAdded, if set, is called after each committed page with the
	// signals it added (retroactive matching hooks in here).
	OnAdded func(ctx context.Context, bankName string, sigs []bank.Signal)
	// Now returns the time (time.Now if nil).
	Now func() time.Time
	// MaxAhead bounds how many pages the fetcher gets ahead of the
	// committer (DefaultMaxAhead if 0): memory stays flat at about
	// MaxAhead+1 pages however long the fetch.
	MaxAhead int
	// MaxBatch bounds the entries of the pages committed together in one
	// transaction (DefaultMaxBatch if 0); 1 commits each page alone.
	MaxBatch int
	// MergeEvery is how many hashes of pure additions wait in memory for
	// one merge transaction (DefaultMergeEvery if 0; see merge.go): it
	// bounds a merge, which holds the store's write lock, and the memory
	// of the hashes waiting (two merges' worth: one waits while the one
	// before is written).
	MergeEvery int
	// NoStaging applies every page directly (ApplyPage), without merges;
	// merges are also off when OnAdded is set.
	NoStaging bool
}

// Defaults of Syncer.MaxAhead and Syncer.MaxBatch. Committing several
// pages together saves SQLite a WAL write (and an fsync) of the same index
// pages per page; see the package README for measurements.
const (
	DefaultMaxAhead = 4
	DefaultMaxBatch = 10_000
)

// Result is the outcome of one Fetch.
type Result struct {
	Pages   int     `json:"pages"`
	Applied Applied `json:"applied"`
	Invalid int     `json:"invalid"` // entries whose hash was not valid, skipped
	Reset   bool    `json:"reset"`   // the checkpoint was stale and started over
	From    int64   `json:"from"`
	To      int64   `json:"to"`
	// Staging is set when pages waited for merges (or the fetch merged
	// what an earlier version staged): Applied counts them once merged.
	Staging *Staging `json:"staging,omitempty"`
}

func (s *Syncer) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Syncer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Fetch brings the exchange's bank up to date: pages from the committed
// checkpoint until the adapter has no more, each committed with its
// checkpoint. It records progress and the last error on the exchange.
func (s *Syncer) Fetch(ctx context.Context, name string, ad Adapter) (Result, error) {
	var res Result
	x, err := s.Store.GetExchange(ctx, name)
	if err != nil {
		return res, fmt.Errorf("exchange %s: %w", name, err)
	}
	if !x.Enabled {
		return res, fmt.Errorf("exchange %s: %w", name, ErrDisabled)
	}
	by := s.By
	if by.Name == "" {
		by = audit.Actor{Name: "exchange:" + name}
	}
	if x.StaleAfter > 0 && x.Checkpoint.Pos != 0 && (x.State.LastOKAt == nil || s.now().Sub(*x.State.LastOKAt) > x.StaleAfter) {
		reason := fmt.Sprintf("no successful fetch for more than %s: refetch from scratch", x.StaleAfter)
		if err := s.Store.ResetCheckpoint(ctx, name, reason, by); err != nil {
			return res, fmt.Errorf("exchange %s: reset stale checkpoint: %w", name, err)
		}
		x.Checkpoint = Checkpoint{}
		res.Reset = true
		s.log().Info("exchange checkpoint stale, refetching", "exchange", name, "stale_after", x.StaleAfter)
	}
	if err := s.Store.RecordFetch(ctx, name, true, 0, "", false); err != nil {
		return res, fmt.Errorf("exchange %s: %w", name, err)
	}
	res.From = x.Checkpoint.Pos
	res.To = x.Checkpoint.Pos
	err = s.fetch(ctx, x, ad, by, &res)
	// Where the fetch got to is the checkpoint it committed (pages that
	// waited for a merge when it was cancelled are not there).
	if y, gerr := s.Store.GetExchange(context.WithoutCancel(ctx), name); gerr == nil {
		res.To = y.Checkpoint.Pos
	}
	errText := ""
	if err != nil {
		errText = err.Error()
		s.log().Warn("exchange fetch failed", "exchange", name, "err", err)
	}
	if rerr := s.Store.RecordFetch(context.WithoutCancel(ctx), name, false, 0, errText, true); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return res, fmt.Errorf("exchange %s: %w", name, err)
	}
	return res, nil
}

// fetched is what the fetcher hands the committer: a page prepared for
// writing with the checkpoint it was fetched from, or the error that ended
// the fetch.
type fetched struct {
	prev    Checkpoint
	page    Page // without its Entries once prepared (prep holds them)
	entries int  // how many entries the page had
	prep    prepared
	err     error
}

// fetch runs the fetch as a pipeline of two goroutines: the fetcher gets
// and prepares page N+1 (HTTP, parsing, normalisation, metadata) while the
// committer writes page N. The fetcher runs at most MaxAhead pages ahead;
// the committer takes every page already waiting (up to MaxBatch entries)
// into one transaction, committed with the checkpoint after its last page.
// Checkpoints are still committed in order and each with exactly the pages
// before it, so a crash (or a cancelled context) at any point leaves the
// bank and its checkpoint consistent: pages fetched ahead but not committed
// are simply fetched again by the next Fetch. On a store that stages, a
// batch that only adds is staged instead of applied, and the staged hashes
// are merged as staging.go describes.
func (s *Syncer) fetch(ctx context.Context, x Exchange, ad Adapter, by audit.Actor, res *Result) error {
	ahead := s.MaxAhead
	if ahead <= 0 {
		ahead = DefaultMaxAhead
	}
	maxBatch := s.MaxBatch
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	fctx, stop := context.WithCancel(ctx)
	out := make(chan fetched, ahead)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(out)
		s.fetcher(fctx, x, ad, out)
	}()
	defer func() {
		stop()
		wg.Wait()
	}()
	mergeEvery := s.MergeEvery
	if mergeEvery <= 0 {
		mergeEvery = DefaultMergeEvery
	}
	// What an older version staged in its table and did not merge goes
	// first: the updates this fetch looks for must see it.
	if staged := x.State.Staged; staged > 0 {
		stager, ok := s.Store.(StagingStore)
		if !ok {
			return fmt.Errorf("%d hashes staged but the store cannot merge them", staged)
		}
		for staged > 0 {
			t := time.Now()
			m, err := stager.MergeStaged(ctx, x.Name, by, mergeEvery, true)
			if err != nil {
				return fmt.Errorf("merge staged hashes: %w", err)
			}
			res.staging().merged(time.Since(t))
			res.Applied.Added += m.Added
			res.Applied.Unchanged += m.Unchanged
			res.Applied.Excluded += m.Excluded
			if m.Hashes == 0 && m.Remaining > 0 {
				return fmt.Errorf("merge staged hashes: %d staged, none merged", m.Remaining)
			}
			staged = m.Remaining
		}
	}
	mg, err := s.newMerger(ctx, x, by, res, mergeEvery)
	if err != nil {
		return err
	}
	err = s.commitLoop(ctx, out, res, maxBatch, func(batch []fetched) (int64, error) {
		if mg == nil {
			return s.apply(ctx, x, batch, by, res)
		}
		if ok, err := mg.offer(ctx, batch); err != nil || ok {
			return int64(addsOf(batch)), err
		}
		// Not a pure addition: what waits goes first.
		if err := mg.merge(ctx, false); err != nil {
			return 0, err
		}
		mg.remember(batch)
		return s.apply(ctx, x, batch, by, res)
	})
	if mg != nil {
		// A fetch that fails (not one cancelled) keeps what it fetched;
		// a merge that runs is waited for in any case.
		if merr := mg.wait(); merr != nil && !errors.Is(merr, err) {
			err = errors.Join(err, merr)
		}
		if len(mg.waiting) > 0 && ctx.Err() == nil {
			if merr := mg.merge(ctx, true); merr != nil {
				err = errors.Join(err, merr)
			}
		}
	}
	return err
}

// addsOf counts the signals the batch's pages add.
func addsOf(batch []fetched) int {
	n := 0
	for _, f := range batch {
		for _, st := range f.prep.steps {
			n += len(st.adds)
		}
	}
	return n
}

// commitLoop takes the fetcher's pages in batches and commits each batch
// with commit until the last page, a failure or ctx's end.
func (s *Syncer) commitLoop(ctx context.Context, out <-chan fetched, res *Result, maxBatch int,
	commit func(batch []fetched) (int64, error)) error {
	var applied int64
	var held *fetched // received, but not part of the last batch
	next := func() (fetched, bool) {
		if held != nil {
			f := *held
			held = nil
			return f, true
		}
		f, ok := <-out
		return f, ok
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, ok := next()
		if !ok {
			return ctx.Err() // the fetcher stops early only when cancelled
		}
		if f.err != nil {
			return f.err
		}
		if f.page.NotModified {
			return nil
		}
		batch := []fetched{f}
		n := f.entries
	gather:
		for more := f.page.More && !f.page.Snapshot; more && n < maxBatch; {
			select {
			case g, ok := <-out:
				if !ok {
					break gather
				}
				if g.err != nil || g.page.NotModified || g.page.Snapshot {
					held = &g
					break gather
				}
				batch = append(batch, g)
				n += g.entries
				more = g.page.More
			default:
				break gather
			}
		}
		k, err := commit(batch)
		if err != nil {
			return err
		}
		last := batch[len(batch)-1]
		res.Pages += len(batch)
		applied += k
		res.To = last.page.Next.Pos
		if s.Progress != nil {
			s.Progress(applied)
		}
		if !last.page.More && held == nil {
			return nil
		}
	}
}

// fetcher gets pages from the checkpoint x has, one after the other, and
// sends each (prepared) to out; it ends after the last page, after a
// failure (sent as fetched.err) or when ctx is cancelled.
func (s *Syncer) fetcher(ctx context.Context, x Exchange, ad Adapter, out chan<- fetched) {
	maxRetries, maxWait := s.MaxRetries, s.MaxWait
	if maxRetries == 0 {
		maxRetries = 5
	}
	if maxWait == 0 {
		maxWait = 5 * time.Minute
	}
	retries := 0
	cp := x.Checkpoint
	send := func(f fetched) bool {
		select {
		case out <- f:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		page, err := ad.Fetch(ctx, cp)
		var re *RetryError
		if errors.As(err, &re) && retries < maxRetries {
			retries++
			wait := min(max(re.After, time.Second/10), maxWait)
			s.log().Info("exchange asks to wait", "exchange", x.Name, "wait", wait, "err", re.Err)
			select {
			case <-ctx.Done():
				send(fetched{err: ctx.Err()})
				return
			case <-time.After(wait):
			}
			continue
		}
		if err != nil {
			send(fetched{err: err})
			return
		}
		retries = 0
		f := fetched{prev: cp, page: page, entries: len(page.Entries)}
		if !page.NotModified {
			f.prep = s.prepare(x.Name, page)
			f.page.Entries = nil // the pages waiting hold only what will be written
		}
		if !send(f) || page.NotModified || !page.More {
			return
		}
		cp = page.Next
	}
}

// step is a run of entries applied together: adds, or withdrawals.
type step struct {
	adds     []bank.Signal
	withdraw []bank.SignalRef
	entries  []string // withdrawn by entry id
}

// prepared is a page turned into steps: its valid signals normalised and
// tagged with the exchange's metadata.
type prepared struct {
	upd     *updateQuery // the stored signals the page's entries may update
	steps   []step
	invalid int
	seen    map[bank.SignalRef]bool // a snapshot's values
}

// prepare turns a page into the steps that apply it in order, and works
// out the page's update query (see update.go) from the same normalised and
// tagged signals.
func (s *Syncer) prepare(name string, page Page) prepared {
	var p prepared
	source := "exchange:" + name
	q := newUpdateQuery(len(page.Entries))
	// Every step's adds are a run of all, which is never reallocated (the
	// update query points into it).
	all := make([]bank.Signal, 0, len(page.Entries))
	start := 0 // where the last step's adds begin in all
	newStep := func() {
		p.steps = append(p.steps, step{})
		start = len(all)
	}
	cur := func() *step {
		if len(p.steps) == 0 {
			newStep()
		}
		return &p.steps[len(p.steps)-1]
	}
	if page.Snapshot {
		p.seen = map[bank.SignalRef]bool{}
	}
	var extra map[string]string // shared by the signals of one entry
	var extraOf Entry
	for _, e := range page.Entries {
		if e.Deleted && e.Signal.Value == "" && e.ID != "" {
			if len(cur().adds) > 0 {
				newStep()
			}
			cur().entries = append(cur().entries, e.ID)
			continue
		}
		sig := e.Signal
		if err := sig.Normalize(); err != nil {
			p.invalid++
			continue
		}
		ref := bank.SignalRef{Type: sig.Type, Value: sig.Value}
		if page.Snapshot {
			p.seen[ref] = true
		}
		if e.Deleted || e.Update {
			if len(cur().adds) > 0 {
				newStep()
			}
			cur().withdraw = append(cur().withdraw, ref)
			if e.Deleted {
				continue
			}
		}
		if (len(cur().withdraw) > 0 || len(cur().entries) > 0) && !e.Update {
			newStep()
		}
		// The hashes of one entry (NCMEC: md5, sha1, PDQ) carry the same
		// metadata: they share one map, encoded once by the store.
		if extra != nil && sameMeta(extraOf, e) {
			tagShared(&sig, source, e, extra)
		} else {
			tag(&sig, source, name, e)
			extra, extraOf = sig.Extra, e
		}
		all = append(all, sig)
		cur().adds = all[start:len(all):len(all)]
		q.add(&all[len(all)-1], ref, e.ID)
	}
	if len(q.refs) > 0 {
		p.upd = q
	}
	return p
}

// sameMeta reports whether two entries give their signals the same Extra
// and category.
func sameMeta(a, b Entry) bool {
	return a.ID == b.ID && a.Member == b.Member && a.Class == b.Class &&
		a.Signal.Category == b.Signal.Category && maps.Equal(a.Signal.Extra, b.Signal.Extra)
}

// tagShared is tag for a signal whose entry's metadata is already in extra.
func tagShared(sig *bank.Signal, source string, e Entry, extra map[string]string) {
	sig.Source = source
	sig.Extra = extra
	if e.Class != "" && sig.Category == "" {
		sig.Category = e.Class
	}
}

// apply commits a batch of consecutive pages with the checkpoint after the
// last one, in one transaction.
func (s *Syncer) apply(ctx context.Context, x Exchange, batch []fetched, by audit.Actor, res *Result) (int64, error) {
	// Each page's updates are read after the pages before it are applied
	// (an entry may be updated by the next page of the same batch).
	type group struct {
		upd   *updateQuery
		steps []step
	}
	var groups []group
	var added []bank.Signal
	invalid, entries := 0, 0
	for _, f := range batch {
		groups = append(groups, group{f.prep.upd, f.prep.steps})
		invalid += f.prep.invalid
		entries += f.entries
	}
	last := batch[len(batch)-1].page
	if last.Snapshot {
		seen := batch[len(batch)-1].prep.seen
		var gone []bank.SignalRef
		err := s.Banks.ScanSignals(ctx, bank.SignalQuery{Banks: []string{x.Bank}}, func(sg *bank.Signal) error {
			ref := bank.SignalRef{Type: sg.Type, Value: sg.Value}
			if sg.Extra[MetaExchange] == x.Name && !seen[ref] {
				gone = append(gone, ref)
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("read bank %s: %w", x.Bank, err)
		}
		if len(gone) > 0 {
			groups = append(groups, group{steps: []step{{withdraw: gone}}})
		}
	}
	var a Applied
	detail := map[string]any{"entries": entries}
	if len(batch) > 1 {
		detail["pages"] = len(batch)
	}
	err := s.Store.ApplyPage(ctx, x.Name, batch[0].prev, last.Next, by, detail, func(w Writer) error {
		a = Applied{}
		added = added[:0]
		for _, g := range groups {
			if upd, err := g.upd.stale(ctx, w, x.Name); err != nil {
				return err
			} else if len(upd) > 0 {
				n, err := w.Withdraw(ctx, upd, "updated by exchange "+x.Name)
				if err != nil {
					return err
				}
				a.Withdrawn += n
			}
			for _, st := range g.steps {
				if len(st.withdraw) > 0 {
					n, err := w.Withdraw(ctx, st.withdraw, "withdrawn by exchange "+x.Name)
					if err != nil {
						return err
					}
					a.Withdrawn += n
				}
				if len(st.entries) > 0 {
					n, err := w.WithdrawEntries(ctx, st.entries, "withdrawn by exchange "+x.Name)
					if err != nil {
						return err
					}
					a.Withdrawn += n
				}
				for i := 0; i < len(st.adds); i += 5000 {
					chunk := st.adds[i:min(i+5000, len(st.adds))]
					n, err := w.Add(ctx, chunk)
					if err != nil {
						return err
					}
					a.Added += n.Added
					a.Unchanged += n.Unchanged
					a.Excluded += n.Excluded
					if s.OnAdded != nil && n.Added > 0 {
						added = append(added, chunk...)
					}
				}
			}
		}
		detail["result"] = a
		return nil
	})
	if err != nil {
		return 0, err
	}
	res.Invalid += invalid
	res.Applied.Added += a.Added
	res.Applied.Unchanged += a.Unchanged
	res.Applied.Excluded += a.Excluded
	res.Applied.Withdrawn += a.Withdrawn
	s.log().Debug("exchange pages applied", "exchange", x.Name, "pages", len(batch), "entries", entries, "to", last.Next.Pos,
		"added", a.Added, "withdrawn", a.Withdrawn)
	if s.OnAdded != nil && len(added) > 0 {
		s.OnAdded(ctx, x.Bank, added)
	}
	return int64(a.Added + a.Withdrawn), nil
}

// tag sets the source ("exchange:<name>") and the exchange's metadata on
// sig, in a new Extra map (the entry's own map is left as the adapter gave
// it: adapters may share one map between entries).
func tag(sig *bank.Signal, source, name string, e Entry) {
	sig.Source = source
	extra := make(map[string]string, len(sig.Extra)+4)
	maps.Copy(extra, sig.Extra)
	sig.Extra = extra
	sig.Extra[MetaExchange] = name
	if e.ID != "" {
		sig.Extra[MetaEntry] = e.ID
	}
	if e.Member != "" {
		sig.Extra[MetaMember] = e.Member
	}
	if e.Class != "" {
		sig.Extra[MetaClass] = e.Class
		if sig.Category == "" {
			sig.Category = e.Class
		}
	}
}
