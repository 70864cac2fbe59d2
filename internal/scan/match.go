package scan

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/match"
	"github.com/nigehban/nigehban/internal/signal"
	"github.com/nigehban/nigehban/internal/variant"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// Matcher looks a file's hashes up in banks of known material. Methods are
// called concurrently by the scan's workers. Implementations return nil
// slices when nothing matches.
type Matcher interface {
	// MatchDigests returns the signals equal to one of the digests (lower-case hex).
	MatchDigests(ctx context.Context, md5, sha1, sha256 string) ([]Match, error)
	// MatchPDQ returns the PDQ signals near one of an image's variant
	// hashes (the original first, as internal/variant returns them), each
	// signal once with the variant that matched, nearest first.
	MatchPDQ(ctx context.Context, vs []variant.Hash) ([]Match, error)
	// MatchVPDQ returns the vPDQ signals a video's frames match; trimmed
	// are the query-side hashes of its frames without black bars
	// (vpdq.Video.Trimmed, nil when none or not hashed), which a frame may
	// match by too (match.Matcher.MatchVPDQTrimmed, Variant says which).
	MatchVPDQ(ctx context.Context, frames, trimmed []vpdq.Frame) ([]Match, error)
	// Banks describes the banks as they are now, for custody.json: enough to
	// show which exact bank state the scan matched against.
	Banks() []BankInfo
}

// BankInfo describes one bank a scan matched against: for a file its path,
// size and sha256; for a stored bank the store and the change-log sequence
// number the matcher's index reflects.
type BankInfo struct {
	Name         string         `json:"name"`
	Kind         string         `json:"kind"` // "file" or "store"
	Path         string         `json:"path,omitempty"`
	Format       string         `json:"format,omitempty"`
	Size         int64          `json:"size,omitempty"`
	SHA256       string         `json:"sha256,omitempty"`
	Store        string         `json:"store,omitempty"` // DSN with any password redacted
	ChangeSeq    int64          `json:"change_seq,omitempty"`
	Description  string         `json:"description,omitempty"`
	PDQThreshold int            `json:"pdq_threshold"`
	Signals      map[string]int `json:"signals"` // active signals by type
}

// FileBankOptions tunes LoadFileBanks.
type FileBankOptions struct {
	// Type is the signal type of plain-list lines whose length does not
	// say (64 hex digits: sha256 or pdq).
	Type string
	// Threshold is the PDQ distance matches may reach (0..256; 0 matches
	// identical hashes only).
	Threshold int
	// Video is the vPDQ match rule; nil means vpdq.DefaultMatchOptions.
	Video *vpdq.MatchOptions
}

// DefaultFileBankOptions returns the default PDQ threshold and vPDQ rule.
func DefaultFileBankOptions() FileBankOptions {
	return FileBankOptions{Threshold: signal.DefaultPDQThreshold}
}

// Banks matches against banks through internal/match: hash-list files
// (LoadFileBanks) or banks kept in a store (LoadStoreBanks), loaded into
// memory when the scan starts.
type Banks struct {
	m    *match.Matcher
	info []BankInfo
	st   SignalStore // stored banks: where matched signals' notes are read

	mu    sync.Mutex
	notes map[int64]string // notes of matched stored signals, fetched once
}

// SignalStore is what LoadStoreBanks reads.
type SignalStore interface {
	match.Source
	// GetSignal returns a signal (for its note, shown as the match label).
	GetSignal(ctx context.Context, id int64) (bank.Signal, error)
}

// LoadFileBanks reads the hash-list files at paths (any internal/hashlist
// format): one bank per file, named after the file. A bad line makes the
// whole file an error naming it and the line: a bank is never used
// half-read, since a missing signal is a missed match.
func LoadFileBanks(ctx context.Context, paths []string, opts FileBankOptions) (*Banks, error) {
	mo := match.FileOptions{Type: opts.Type, PDQThreshold: opts.Threshold, Video: videoRule(opts.Video)}
	m, err := match.LoadFiles(ctx, paths, mo)
	if err != nil {
		return nil, err
	}
	b := &Banks{m: m}
	for _, i := range m.Banks() {
		b.info = append(b.info, BankInfo{Name: i.Name, Kind: i.Kind, Path: i.Path, Format: i.Format, Size: i.Size,
			SHA256: i.SHA256, PDQThreshold: i.PDQThreshold, Signals: i.Signals})
	}
	// In the order given, as custody.json lists them.
	slices.SortStableFunc(b.info, func(x, y BankInfo) int {
		return slices.IndexFunc(paths, func(p string) bool { return absPath(p) == x.Path }) -
			slices.IndexFunc(paths, func(p string) bool { return absPath(p) == y.Path })
	})
	return b, nil
}

func videoRule(o *vpdq.MatchOptions) vpdq.MatchOptions {
	if o == nil {
		return vpdq.DefaultMatchOptions()
	}
	return *o
}

// StoreBankOptions tunes LoadStoreBanks.
type StoreBankOptions struct {
	// DSN names the store in custody.json (give it redacted).
	DSN string
	// Threshold, when ≥ 0, narrows every bank's PDQ threshold to at most
	// it; -1 keeps each bank's own.
	Threshold int
	// Video is the vPDQ match rule; nil means vpdq.DefaultMatchOptions.
	Video *vpdq.MatchOptions
}

// LoadStoreBanks loads the named banks (every enabled bank when names is
// empty) from st. A named bank that is disabled is an error.
func LoadStoreBanks(ctx context.Context, st SignalStore, names []string, opts StoreBankOptions) (*Banks, error) {
	m, err := match.LoadStore(ctx, st, names, match.StoreOptions{MaxPDQThreshold: opts.Threshold, Video: videoRule(opts.Video)})
	if err != nil {
		return nil, err
	}
	b := &Banks{m: m, st: st, notes: map[int64]string{}}
	for _, i := range m.Banks() {
		if !i.Enabled {
			continue
		}
		b.info = append(b.info, BankInfo{Name: i.Name, Kind: "store", Store: opts.DSN, ChangeSeq: m.Seq(),
			Description: i.Description, PDQThreshold: i.PDQThreshold, Signals: i.Signals})
	}
	return b, nil
}

// note returns a matched stored signal's note, cached.
func (b *Banks) note(ctx context.Context, id int64) (string, error) {
	b.mu.Lock()
	n, ok := b.notes[id]
	b.mu.Unlock()
	if ok {
		return n, nil
	}
	s, err := b.st.GetSignal(ctx, id)
	if err != nil {
		return "", fmt.Errorf("signal %d: %w", id, err)
	}
	b.mu.Lock()
	b.notes[id] = s.Note
	b.mu.Unlock()
	return s.Note, nil
}

func (b *Banks) matches(ctx context.Context, hits []match.Hit) ([]Match, error) {
	var out []Match
	for _, h := range hits {
		m := Match{Bank: h.Bank, Category: h.Category, SignalType: string(h.Type), Value: h.Value,
			Distance: h.Distance, Label: h.Label, SignalID: h.SignalID,
			QueryPercent: h.QueryPercent, TargetPercent: h.TargetPercent, Variant: h.Variant}
		if b.st != nil {
			var err error
			if m.Label, err = b.note(ctx, h.SignalID); err != nil {
				return nil, err
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// MatchDigests implements Matcher.
func (b *Banks) MatchDigests(ctx context.Context, md5, sha1, sha256 string) ([]Match, error) {
	return b.matches(ctx, b.m.MatchDigests(md5, sha1, sha256))
}

// MatchPDQ implements Matcher.
func (b *Banks) MatchPDQ(ctx context.Context, vs []variant.Hash) ([]Match, error) {
	return b.matches(ctx, b.m.MatchVariants(vs))
}

// MatchVPDQ implements Matcher: each query frame is searched once in the
// stored videos' frame index (internal/match).
func (b *Banks) MatchVPDQ(ctx context.Context, frames, trimmed []vpdq.Frame) ([]Match, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return b.matches(ctx, b.m.MatchVPDQTrimmed(frames, trimmed))
}

// Banks implements Matcher.
func (b *Banks) Banks() []BankInfo { return slices.Clone(b.info) }

// absPath returns p made absolute and clean (p itself if that fails).
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
