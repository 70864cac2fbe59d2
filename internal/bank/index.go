package bank

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/nigehban/nigehban/internal/index"
	"github.com/nigehban/nigehban/internal/pdq"
)

// Index is an in-memory match index over the active signals of some banks:
// a PDQ near-neighbour index and exact md5/sha1/sha256 sets per bank, keyed
// by signal ID. It is built from a store by LoadIndex and kept current by
// Apply with the change log, which is how `serve` replicas follow a shared
// PostgreSQL store. vPDQ signals are not indexed: matching a video is a
// frame-set comparison done by internal/vpdq.
//
// An Index is safe for concurrent use: matches run under a read lock, Apply
// takes the write lock.
type Index struct {
	mu    sync.RWMutex
	banks map[string]*bankIndex
	all   bool  // built over every bank: new banks join when created
	seq   int64 // the change log position the index reflects
}

type bankIndex struct {
	bank   Bank
	pdq    index.PDQ
	md5    index.Exact[index.MD5]
	sha1   index.Exact[index.SHA1]
	sha256 index.Exact[index.SHA256]
}

// Hit is a signal an input matched.
type Hit struct {
	Bank     string `json:"bank"`
	SignalID int64  `json:"signal_id"`
	Type     Type   `json:"type"`
	Distance int    `json:"distance"` // PDQ Hamming distance; 0 for exact matches
	Action   Action `json:"action"`   // the bank's default action
	// Hash is the matched PDQ hash (PDQ hits only), so callers can answer
	// with the bank's value without reading the store.
	Hash pdq.Hash `json:"-"`
}

// LoadIndex builds an Index over the named banks (all enabled banks when
// names is empty) by streaming their active signals from st. A named bank
// that is disabled is an error (ErrInvalid): matching against it would
// contradict the curator who disabled it. The index records the change-log
// position it was built at (Seq); applying the changes after it brings the
// index up to date, even if some of them were already visible to the scan.
func LoadIndex(ctx context.Context, st Store, names []string) (*Index, error) {
	seq, err := st.LastSeq(ctx)
	if err != nil {
		return nil, fmt.Errorf("load index: %w", err)
	}
	x := &Index{banks: map[string]*bankIndex{}, all: len(names) == 0, seq: seq}
	var banks []Bank
	if len(names) == 0 {
		all, err := st.ListBanks(ctx)
		if err != nil {
			return nil, fmt.Errorf("load index: %w", err)
		}
		for _, b := range all {
			if b.Enabled {
				banks = append(banks, b)
			}
		}
	} else {
		for _, name := range names {
			if _, dup := x.banks[name]; dup {
				continue
			}
			b, err := st.GetBank(ctx, name)
			if err != nil {
				return nil, fmt.Errorf("load index: bank %q: %w", name, err)
			}
			if !b.Enabled {
				return nil, fmt.Errorf("load index: %w: bank %q is disabled", ErrInvalid, name)
			}
			banks = append(banks, b)
			x.banks[name] = nil
		}
	}
	for _, b := range banks {
		bi, err := loadBank(ctx, st, b)
		if err != nil {
			return nil, err
		}
		x.banks[b.Name] = bi
	}
	return x, nil
}

func newBankIndex(b Bank) *bankIndex { return &bankIndex{bank: b} }

// parallelScanMin is the number of signal IDs above which a bank is
// loaded by several scans of ID ranges at once (the store scan, not the
// index build, dominates loading).
var parallelScanMin int64 = 200_000

func loadBank(ctx context.Context, st Store, b Bank) (*bankIndex, error) {
	bi := newBankIndex(b)
	maxID, err := st.MaxSignalID(ctx)
	if err != nil {
		return nil, fmt.Errorf("load index of bank %q: %w", b.Name, err)
	}
	parts := 1
	if maxID > parallelScanMin {
		parts = min(runtime.GOMAXPROCS(0), 4)
	}
	step := maxID/int64(parts) + 1
	entries := make([][]index.Entry, parts)
	g, gctx := errgroup.WithContext(ctx)
	for p := range parts {
		q := SignalQuery{Banks: []string{b.Name}, Types: []Type{PDQ, MD5, SHA1, SHA256}, KeysOnly: true,
			AfterID: int64(p) * step, BeforeID: int64(p+1)*step + 1}
		if p == parts-1 {
			q.BeforeID = 0 // and whatever was added since MaxSignalID
		}
		g.Go(func() error {
			return st.ScanSignals(gctx, q, func(s *Signal) error {
				if s.Type != PDQ {
					return bi.addDigest(s) // the digest sets lock for themselves
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
		return nil, fmt.Errorf("load index of bank %q: %w", b.Name, err)
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
	return bi, nil
}

func (bi *bankIndex) addDigest(s *Signal) error {
	id := uint64(s.ID)
	var err error
	switch s.Type {
	case MD5:
		var k index.MD5
		if k, err = index.ParseDigest[index.MD5](s.Value); err == nil {
			bi.md5.Add(id, k)
		}
	case SHA1:
		var k index.SHA1
		if k, err = index.ParseDigest[index.SHA1](s.Value); err == nil {
			bi.sha1.Add(id, k)
		}
	case SHA256:
		var k index.SHA256
		if k, err = index.ParseDigest[index.SHA256](s.Value); err == nil {
			bi.sha256.Add(id, k)
		}
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("signal %d: %w", s.ID, err)
	}
	return nil
}

func (bi *bankIndex) remove(s *Signal) {
	id := uint64(s.ID)
	switch s.Type {
	case PDQ:
		bi.pdq.Remove(id)
	case MD5:
		if k, err := index.ParseDigest[index.MD5](s.Value); err == nil {
			bi.md5.Remove(id, k)
		}
	case SHA1:
		if k, err := index.ParseDigest[index.SHA1](s.Value); err == nil {
			bi.sha1.Remove(id, k)
		}
	case SHA256:
		if k, err := index.ParseDigest[index.SHA256](s.Value); err == nil {
			bi.sha256.Remove(id, k)
		}
	}
}

// Seq returns the change-log sequence number the index reflects: call
// Store.Changes(Seq, …) and Apply to catch up.
func (x *Index) Seq() int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.seq
}

// Size returns the number of signals of type t indexed for bank name (0
// when the bank is not indexed or t is vPDQ): what `serve` reports as
// metrics.
func (x *Index) Size(name string, t Type) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	bi := x.banks[name]
	if bi == nil {
		return 0
	}
	switch t {
	case PDQ:
		return bi.pdq.Len()
	case MD5:
		return bi.md5.Len()
	case SHA1:
		return bi.sha1.Len()
	case SHA256:
		return bi.sha256.Len()
	}
	return 0
}

// Banks returns the indexed banks (as of the last applied change), by name.
func (x *Index) Banks() []Bank {
	x.mu.RLock()
	defer x.mu.RUnlock()
	bs := make([]Bank, 0, len(x.banks))
	for _, bi := range x.banks {
		bs = append(bs, bi.bank)
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].Name < bs[j].Name })
	return bs
}

// MatchPDQ returns the PDQ signals within each enabled bank's threshold of
// h, nearest first.
func (x *Index) MatchPDQ(h pdq.Hash) []Hit {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var hits []Hit
	var buf []index.Match
	for _, bi := range x.banks {
		if !bi.bank.Enabled {
			continue
		}
		buf = bi.pdq.AppendSearch(buf[:0], h, bi.bank.PDQThreshold)
		for _, m := range buf {
			hits = append(hits, Hit{Bank: bi.bank.Name, SignalID: int64(m.ID), Type: PDQ, Distance: m.Distance, Action: bi.bank.Action, Hash: m.Hash})
		}
	}
	sortHits(hits)
	return hits
}

// MatchDigest returns the signals of type t (md5, sha1 or sha256) equal to
// the hex digest value, in enabled banks. An invalid digest is ErrInvalid.
func (x *Index) MatchDigest(t Type, value string) ([]Hit, error) {
	v, err := NormalizeValue(t, value)
	if err != nil {
		return nil, err
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	var hits []Hit
	for _, bi := range x.banks {
		if !bi.bank.Enabled {
			continue
		}
		var ids []uint64
		switch t {
		case MD5:
			k, _ := index.ParseDigest[index.MD5](v)
			ids = bi.md5.Lookup(k)
		case SHA1:
			k, _ := index.ParseDigest[index.SHA1](v)
			ids = bi.sha1.Lookup(k)
		case SHA256:
			k, _ := index.ParseDigest[index.SHA256](v)
			ids = bi.sha256.Lookup(k)
		default:
			return nil, fmt.Errorf("%w: %s is not an exact-match type", ErrInvalid, t)
		}
		for _, id := range ids {
			hits = append(hits, Hit{Bank: bi.bank.Name, SignalID: int64(id), Type: t, Action: bi.bank.Action})
		}
	}
	sortHits(hits)
	return hits, nil
}

func sortHits(h []Hit) {
	sort.Slice(h, func(i, j int) bool {
		if h[i].Distance != h[j].Distance {
			return h[i].Distance < h[j].Distance
		}
		if h[i].Bank != h[j].Bank {
			return h[i].Bank < h[j].Bank
		}
		return h[i].SignalID < h[j].SignalID
	})
}

// Apply brings the index up to date with changes read from the log after
// Seq, in order. Applying a change twice, or one the index already
// reflects, is harmless, so a replica may re-read an overlapping page.
func (x *Index) Apply(changes []Change) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for i := range changes {
		c := &changes[i]
		if c.Seq <= x.seq {
			continue
		}
		x.seq = c.Seq
		bi := x.banks[c.Bank]
		switch c.Op {
		case OpBankCreate:
			if x.all && bi == nil && c.BankState != nil {
				x.banks[c.Bank] = newBankIndex(*c.BankState)
			}
		case OpBankUpdate:
			if bi != nil && c.BankState != nil {
				bi.bank = *c.BankState
			}
		case OpSignalAdd:
			// The signal as stored now: one removed since is skipped here and
			// its removal, later in the log, is a no-op.
			if bi == nil || c.Signal == nil || !c.Signal.Active() {
				continue
			}
			bi.remove(c.Signal) // the scan may have seen it already
			if c.Signal.Type == PDQ {
				if h, err := pdq.ParseHex(c.Signal.Value); err == nil {
					bi.pdq.Add(uint64(c.Signal.ID), h)
				}
			} else {
				bi.addDigest(c.Signal) // values come normalised from the store
			}
		case OpSignalRemove:
			if bi != nil && c.Signal != nil {
				bi.remove(c.Signal)
			}
		}
	}
}
