package match

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/index"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/signal"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// Source is what LoadStore reads: the read side of bank.Store and the
// signals' categories (internal/store implements it).
type Source interface {
	ListBanks(ctx context.Context) ([]bank.Bank, error)
	GetBank(ctx context.Context, name string) (bank.Bank, error)
	ScanSignals(ctx context.Context, q bank.SignalQuery, fn func(s *bank.Signal) error) error
	MaxSignalID(ctx context.Context) (int64, error)
	LastSeq(ctx context.Context) (int64, error)
	// SignalCategories calls fn with the id and category of every active
	// non-vPDQ signal that has one.
	SignalCategories(ctx context.Context, fn func(id int64, category string) error) error
}

// StoreOptions are the thresholds of a Matcher over stored banks. Each
// bank matches PDQ with its own threshold, set by its curator.
type StoreOptions struct {
	// MaxPDQThreshold, when ≥ 0, narrows every bank's PDQ threshold to at
	// most it (a curator's threshold is never widened); -1 leaves them.
	MaxPDQThreshold int
	// Video is the vPDQ rule.
	Video vpdq.MatchOptions
}

// DefaultStoreOptions returns the banks' own PDQ thresholds and the
// reference vPDQ rule.
func DefaultStoreOptions() StoreOptions {
	return StoreOptions{MaxPDQThreshold: -1, Video: vpdq.DefaultMatchOptions()}
}

func (o StoreOptions) validate() error {
	if o.MaxPDQThreshold < -1 || o.MaxPDQThreshold > signal.MaxPDQThreshold {
		return fmt.Errorf("PDQ threshold %d: want 0..%d (or -1: the banks' own)", o.MaxPDQThreshold, signal.MaxPDQThreshold)
	}
	return o.Video.Validate()
}

// LoadStore builds a Matcher over the named banks (every enabled bank when
// names is empty) by streaming their active signals from st. A named bank
// that is disabled is an error (bank.ErrInvalid): matching against it
// would contradict the curator who disabled it. The matcher records the
// change-log position it was built at (Seq); applying the changes after it
// brings it up to date, even if some of them were already visible to the
// scan.
func LoadStore(ctx context.Context, st Source, names []string, opts StoreOptions) (*Matcher, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("load banks: %w", err)
	}
	seq, err := st.LastSeq(ctx)
	if err != nil {
		return nil, fmt.Errorf("load banks: %w", err)
	}
	m := &Matcher{banks: map[string]*bankIndex{}, all: len(names) == 0, seq: seq, store: true,
		pdqMax: opts.MaxPDQThreshold, video: opts.Video}
	var banks []bank.Bank
	if len(names) == 0 {
		all, err := st.ListBanks(ctx)
		if err != nil {
			return nil, fmt.Errorf("load banks: %w", err)
		}
		for _, b := range all {
			if b.Enabled {
				banks = append(banks, b)
			}
		}
	} else {
		seen := map[string]bool{}
		for _, name := range names {
			if seen[name] {
				continue
			}
			seen[name] = true
			b, err := st.GetBank(ctx, name)
			if err != nil {
				return nil, fmt.Errorf("load banks: bank %q: %w", name, err)
			}
			if !b.Enabled {
				return nil, fmt.Errorf("load banks: %w: bank %q is disabled", bank.ErrInvalid, name)
			}
			banks = append(banks, b)
		}
	}
	for _, b := range banks {
		bi, err := m.loadBank(ctx, st, b)
		if err != nil {
			return nil, err
		}
		m.banks[b.Name] = bi
	}
	// After the signals: the categories cover every signal the indexes
	// hold, and the change log brings both up from Seq.
	if err := m.cats.load(ctx, st); err != nil {
		return nil, fmt.Errorf("load signal categories: %w", err)
	}
	return m, nil
}

// parallelScanMin is the number of signal IDs above which a bank is
// loaded by several scans of ID ranges at once (the store scan, not the
// index build, dominates loading).
var parallelScanMin int64 = 200_000

func (m *Matcher) loadBank(ctx context.Context, st Source, b bank.Bank) (*bankIndex, error) {
	bi := newBankIndex(b)
	maxID, err := st.MaxSignalID(ctx)
	if err != nil {
		return nil, fmt.Errorf("load bank %q: %w", b.Name, err)
	}
	parts := 1
	if maxID > parallelScanMin {
		parts = min(runtime.GOMAXPROCS(0), 4)
	}
	step := maxID/int64(parts) + 1
	entries := make([][]index.Entry, parts)
	var scanned atomic.Int64
	seen := func(id int64) {
		for cur := scanned.Load(); id > cur && !scanned.CompareAndSwap(cur, id); cur = scanned.Load() {
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for p := range parts {
		q := bank.SignalQuery{Banks: []string{b.Name}, Types: []bank.Type{bank.PDQ, bank.MD5, bank.SHA1, bank.SHA256}, KeysOnly: true,
			AfterID: int64(p) * step, BeforeID: int64(p+1)*step + 1}
		if p == parts-1 {
			q.BeforeID = 0 // and whatever was added since MaxSignalID
		}
		g.Go(func() error {
			return st.ScanSignals(gctx, q, func(s *bank.Signal) error {
				seen(s.ID)
				if s.Type != bank.PDQ {
					return bi.addDigest(uint64(s.ID), s.Type, s.Value) // the digest sets lock for themselves
				}
				h, err := pdq.ParseHex(s.Value)
				if err != nil {
					return fmt.Errorf("signal %d: %w", s.ID, err)
				}
				entries[p] = append(entries[p], index.Entry{ID: uint64(s.ID), Hash: h})
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("load bank %q: %w", b.Name, err)
	}
	all := entries[0]
	if parts > 1 {
		n := 0
		for _, e := range entries {
			n += len(e)
		}
		all = make([]index.Entry, 0, n)
		for i, e := range entries {
			all = append(all, e...)
			entries[i] = nil
		}
	}
	bi.pdq.AddBatch(all)
	all = nil

	// Videos: their frames go into one batch too, with their categories
	// (which SignalCategories leaves out).
	var frames []index.Entry
	q := bank.SignalQuery{Banks: []string{b.Name}, Types: []bank.Type{bank.VPDQ}}
	err = st.ScanSignals(ctx, q, func(s *bank.Signal) error {
		seen(s.ID)
		fs, err := signal.ParseVPDQ(s.Value)
		if err != nil {
			return fmt.Errorf("vPDQ signal %d: %w", s.ID, err)
		}
		v := video{hashes: usable(fs, m.video.MinQuality), category: s.Category}
		frames = appendEntries(frames, uint64(s.ID), v.hashes)
		bi.videos[uint64(s.ID)] = v
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load bank %q: %w", b.Name, err)
	}
	bi.frames.AddBatch(frames)
	bi.scanned = scanned.Load()
	return bi, nil
}

// addDigest indexes a digest signal (the value in canonical form).
func (bi *bankIndex) addDigest(id uint64, t signal.Type, v string) error {
	var err error
	switch t {
	case signal.MD5:
		var k index.MD5
		if k, err = index.ParseDigest[index.MD5](v); err == nil {
			bi.md5.Add(id, k)
		}
	case signal.SHA1:
		var k index.SHA1
		if k, err = index.ParseDigest[index.SHA1](v); err == nil {
			bi.sha1.Add(id, k)
		}
	case signal.SHA256:
		var k index.SHA256
		if k, err = index.ParseDigest[index.SHA256](v); err == nil {
			bi.sha256.Add(id, k)
		}
	}
	if err != nil {
		return fmt.Errorf("signal %d: %w", id, err)
	}
	return nil
}

// remove drops a signal from the indexes.
func (bi *bankIndex) remove(s *bank.Signal) {
	id := uint64(s.ID)
	switch s.Type {
	case signal.PDQ:
		bi.pdq.Remove(id)
	case signal.VPDQ:
		bi.removeVideo(id)
	case signal.MD5:
		if k, err := index.ParseDigest[index.MD5](s.Value); err == nil {
			bi.md5.Remove(id, k)
		}
	case signal.SHA1:
		if k, err := index.ParseDigest[index.SHA1](s.Value); err == nil {
			bi.sha1.Remove(id, k)
		}
	case signal.SHA256:
		if k, err := index.ParseDigest[index.SHA256](s.Value); err == nil {
			bi.sha256.Remove(id, k)
		}
	}
}

// Apply brings the matcher up to date with changes read from the log after
// Seq, in order: banks created (when built over every bank), updated
// (enabled, action, threshold), signals added and removed, with their
// categories. Applying a change twice, or one the matcher already
// reflects, is harmless, so a replica may re-read an overlapping page.
func (m *Matcher) Apply(changes []bank.Change) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cats.apply(changes) // videos keep their category with their frames
	for i := range changes {
		c := &changes[i]
		if c.Seq <= m.seq {
			continue
		}
		m.seq = c.Seq
		bi := m.banks[c.Bank]
		switch c.Op {
		case bank.OpBankCreate:
			if m.all && bi == nil && c.BankState != nil {
				m.banks[c.Bank] = newBankIndex(*c.BankState)
			}
		case bank.OpBankUpdate:
			if bi != nil && c.BankState != nil {
				bi.bank = *c.BankState
			}
		case bank.OpSignalAdd:
			// The signal as stored now: one removed since is skipped here and
			// its removal, later in the log, is a no-op.
			s := c.Signal
			if bi == nil || s == nil || !s.Active() {
				continue
			}
			if s.ID <= bi.scanned {
				bi.remove(s) // the scan may have seen it already
			}
			switch s.Type {
			case bank.PDQ:
				if h, err := pdq.ParseHex(s.Value); err == nil {
					bi.pdq.Add(uint64(s.ID), h)
				}
			case bank.VPDQ:
				if fs, err := signal.ParseVPDQ(s.Value); err == nil {
					bi.addVideo(uint64(s.ID), fs, s.Category, m.video.MinQuality)
				}
			default:
				bi.addDigest(uint64(s.ID), s.Type, s.Value) // values come normalised from the store
			}
		case bank.OpSignalRemove:
			if bi != nil && c.Signal != nil {
				bi.remove(c.Signal)
			}
		}
	}
}
