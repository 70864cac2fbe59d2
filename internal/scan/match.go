package scan

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/hashlist"
	"github.com/nigehban/nigehban/internal/index"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// Matcher looks a file's hashes up in banks of known material. Methods are
// called concurrently by the scan's workers. Implementations return nil
// slices when nothing matches.
type Matcher interface {
	// MatchDigests returns the signals equal to one of the digests (lower-case hex).
	MatchDigests(ctx context.Context, md5, sha1, sha256 string) ([]Match, error)
	// MatchPDQ returns the PDQ signals near h, nearest first.
	MatchPDQ(ctx context.Context, h pdq.Hash) ([]Match, error)
	// MatchVPDQ returns the vPDQ signals a video's frames match.
	MatchVPDQ(ctx context.Context, frames []vpdq.Frame) ([]Match, error)
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
	// Threshold is the PDQ distance matches may reach (default
	// pdq.DefaultThreshold).
	Threshold int
	// Video is the vPDQ match rule (zero value: the reference defaults).
	Video vpdq.MatchOptions
}

// FileBanks matches against hash-list files (any internal/hashlist format),
// held in memory: one bank per file, named after the file.
type FileBanks struct {
	info      []BankInfo
	threshold int
	vopts     vpdq.MatchOptions
	pdq       index.PDQ
	md5       index.Exact[index.MD5]
	sha1      index.Exact[index.SHA1]
	sha256    index.Exact[index.SHA256]
	sigs      []fileSignal // by ID
	videos    []videoSignal
}

type fileSignal struct {
	bank     int
	typ      string
	value    string
	category string
	label    string
}

type videoSignal struct {
	id     uint64
	frames []vpdq.Frame
}

// LoadFileBanks reads the hash-list files at paths. A bad line makes the
// whole file an error naming it and the line: a bank is never used
// half-read, since a missing signal is a missed match.
func LoadFileBanks(ctx context.Context, paths []string, opts FileBankOptions) (*FileBanks, error) {
	if opts.Threshold == 0 {
		opts.Threshold = pdq.DefaultThreshold
	}
	if opts.Threshold < 0 || opts.Threshold > 256 {
		return nil, fmt.Errorf("PDQ threshold %d: want 0..256", opts.Threshold)
	}
	fb := &FileBanks{threshold: opts.Threshold, vopts: opts.Video}
	var entries []index.Entry
	names := map[string]bool{}
	for _, p := range paths {
		name := filepath.Base(p)
		if names[name] {
			name = p
		}
		names[name] = true
		info, err := fb.load(ctx, p, name, opts.Type, &entries)
		if err != nil {
			return nil, err
		}
		fb.info = append(fb.info, info)
	}
	fb.pdq.AddBatch(entries)
	return fb, nil
}

func (fb *FileBanks) load(ctx context.Context, path, name, typ string, entries *[]index.Entry) (BankInfo, error) {
	info := BankInfo{Name: name, Kind: "file", Path: absPath(path), PDQThreshold: fb.threshold, Signals: map[string]int{}}
	f, err := os.Open(path)
	if err != nil {
		return info, fmt.Errorf("open bank: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(f, h), 64<<10)
	head, _ := br.Peek(hashlist.DetectSize)
	format := hashlist.Detect(head, path)
	if format == "" {
		return info, fmt.Errorf("bank %s: cannot tell its format (plain, csv, jsonl, te or vics)", path)
	}
	info.Format = string(format)
	r, err := hashlist.NewReader(br, format, hashlist.ReaderOptions{Type: typ})
	if err != nil {
		return info, fmt.Errorf("bank %s: %w", path, err)
	}
	bankIdx := len(fb.info)
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return info, err
			}
		}
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, hashlist.ErrAmbiguousType) {
				err = fmt.Errorf("%w (give the type of 64-digit lines: sha256 or pdq)", err)
			}
			return info, fmt.Errorf("bank %s: %w", path, err)
		}
		id := uint64(len(fb.sigs))
		fb.sigs = append(fb.sigs, fileSignal{bank: bankIdx, typ: string(e.Type), value: e.Value, category: e.Category, label: e.Note})
		info.Signals[string(e.Type)]++
		switch e.Type {
		case hashlist.TypePDQ:
			ph, err := pdq.ParseHex(e.Value)
			if err != nil {
				return info, fmt.Errorf("bank %s: line %d: %w", path, e.Line, err)
			}
			*entries = append(*entries, index.Entry{ID: id, Hash: ph})
		case hashlist.TypeMD5:
			k, err := index.ParseDigest[index.MD5](e.Value)
			if err != nil {
				return info, fmt.Errorf("bank %s: line %d: %w", path, e.Line, err)
			}
			fb.md5.Add(id, k)
		case hashlist.TypeSHA1:
			k, err := index.ParseDigest[index.SHA1](e.Value)
			if err != nil {
				return info, fmt.Errorf("bank %s: line %d: %w", path, e.Line, err)
			}
			fb.sha1.Add(id, k)
		case hashlist.TypeSHA256:
			k, err := index.ParseDigest[index.SHA256](e.Value)
			if err != nil {
				return info, fmt.Errorf("bank %s: line %d: %w", path, e.Line, err)
			}
			fb.sha256.Add(id, k)
		case hashlist.TypeVPDQ:
			frames, err := vpdq.Decode(e.Value)
			if err != nil {
				return info, fmt.Errorf("bank %s: line %d: %w", path, e.Line, err)
			}
			fb.videos = append(fb.videos, videoSignal{id: id, frames: frames})
			fb.sigs[id].value = "" // kept in frames; too long for a manifest line
		}
	}
	// Drain what the reader did not need, so the digest covers the file.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return info, fmt.Errorf("bank %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		return info, fmt.Errorf("bank %s: %w", path, err)
	}
	info.Size = st.Size()
	info.SHA256 = hex.EncodeToString(h.Sum(nil))
	return info, nil
}

func (fb *FileBanks) match(id uint64, distance int) Match {
	s := fb.sigs[id]
	return Match{Bank: fb.info[s.bank].Name, Category: s.category, SignalType: s.typ, Value: s.value,
		Distance: distance, Label: s.label}
}

// MatchDigests implements Matcher.
func (fb *FileBanks) MatchDigests(_ context.Context, md5, sha1, sha256 string) ([]Match, error) {
	var out []Match
	if k, err := index.ParseDigest[index.MD5](md5); err == nil {
		for _, id := range fb.md5.Lookup(k) {
			out = append(out, fb.match(id, 0))
		}
	}
	if k, err := index.ParseDigest[index.SHA1](sha1); err == nil {
		for _, id := range fb.sha1.Lookup(k) {
			out = append(out, fb.match(id, 0))
		}
	}
	if k, err := index.ParseDigest[index.SHA256](sha256); err == nil {
		for _, id := range fb.sha256.Lookup(k) {
			out = append(out, fb.match(id, 0))
		}
	}
	return out, nil
}

// MatchPDQ implements Matcher.
func (fb *FileBanks) MatchPDQ(_ context.Context, h pdq.Hash) ([]Match, error) {
	var out []Match
	for _, m := range fb.pdq.Search(h, fb.threshold) {
		out = append(out, fb.match(m.ID, m.Distance))
	}
	return out, nil
}

// MatchVPDQ implements Matcher: each vPDQ signal is compared with the
// reference rule (the lists a scan uses hold few videos).
func (fb *FileBanks) MatchVPDQ(ctx context.Context, frames []vpdq.Frame) ([]Match, error) {
	var out []Match
	for i, v := range fb.videos {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if r := vpdq.Match(frames, v.frames, fb.vopts); r.Match {
			m := fb.match(v.id, 0)
			m.QueryPercent, m.TargetPercent = r.QueryPercent, r.TargetPercent
			out = append(out, m)
		}
	}
	return out, nil
}

// Banks implements Matcher.
func (fb *FileBanks) Banks() []BankInfo { return slices.Clone(fb.info) }

// StoreBanks matches against banks kept in a store (internal/bank),
// loaded into memory when the scan starts. Each bank matches PDQ with its
// own threshold, narrowed by Threshold when that is smaller.
type StoreBanks struct {
	st        bank.Store
	dsn       string
	threshold int
	vopts     vpdq.MatchOptions
	x         *bank.Index
	videos    []storedVideo
	info      []BankInfo

	mu   sync.Mutex
	sigs map[int64]bank.Signal // metadata of matched signals, fetched once
}

type storedVideo struct {
	bank   string
	id     int64
	frames []vpdq.Frame
}

// StoreBankOptions tunes LoadStoreBanks.
type StoreBankOptions struct {
	// DSN names the store in custody.json (give it redacted).
	DSN string
	// Threshold, when ≥ 0, narrows every bank's PDQ threshold to at most it.
	Threshold int
	Video     vpdq.MatchOptions
}

// LoadStoreBanks loads the named banks (every enabled bank when names is
// empty) from st. A named bank that is disabled is an error.
func LoadStoreBanks(ctx context.Context, st bank.Store, names []string, opts StoreBankOptions) (*StoreBanks, error) {
	x, err := bank.LoadIndex(ctx, st, names)
	if err != nil {
		return nil, err
	}
	sb := &StoreBanks{st: st, dsn: opts.DSN, threshold: opts.Threshold, vopts: opts.Video, x: x, sigs: map[int64]bank.Signal{}}
	var bankNames []string
	for _, b := range x.Banks() {
		if !b.Enabled {
			continue
		}
		stats, err := st.BankStats(ctx, b.Name)
		if err != nil {
			return nil, fmt.Errorf("bank %q: %w", b.Name, err)
		}
		sig := map[string]int{}
		for t, n := range stats.Active {
			sig[string(t)] = int(n)
		}
		th := b.PDQThreshold
		if opts.Threshold >= 0 && opts.Threshold < th {
			th = opts.Threshold
		}
		sb.info = append(sb.info, BankInfo{Name: b.Name, Kind: "store", Store: opts.DSN, ChangeSeq: x.Seq(),
			Description: b.Description, PDQThreshold: th, Signals: sig})
		bankNames = append(bankNames, b.Name)
	}
	if len(bankNames) == 0 {
		return sb, nil
	}
	q := bank.SignalQuery{Banks: bankNames, Types: []bank.Type{bank.VPDQ}, EnabledOnly: true}
	err = st.ScanSignals(ctx, q, func(s *bank.Signal) error {
		frames, err := vpdq.Decode(s.Value)
		if err != nil {
			return fmt.Errorf("vPDQ signal %d of bank %q: %w", s.ID, s.Bank, err)
		}
		sb.videos = append(sb.videos, storedVideo{bank: s.Bank, id: s.ID, frames: frames})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load vPDQ signals: %w", err)
	}
	return sb, nil
}

// signal returns a matched signal's metadata, cached.
func (sb *StoreBanks) signal(ctx context.Context, id int64) (bank.Signal, error) {
	sb.mu.Lock()
	s, ok := sb.sigs[id]
	sb.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := sb.st.GetSignal(ctx, id)
	if err != nil {
		return s, fmt.Errorf("signal %d: %w", id, err)
	}
	if s.Type == bank.VPDQ {
		s.Value = ""
	}
	sb.mu.Lock()
	sb.sigs[id] = s
	sb.mu.Unlock()
	return s, nil
}

func (sb *StoreBanks) hits(ctx context.Context, hits []bank.Hit) ([]Match, error) {
	var out []Match
	for _, h := range hits {
		s, err := sb.signal(ctx, h.SignalID)
		if err != nil {
			return nil, err
		}
		out = append(out, Match{Bank: h.Bank, Category: s.Category, SignalType: string(h.Type), Value: s.Value,
			Distance: h.Distance, Label: s.Note, SignalID: h.SignalID})
	}
	return out, nil
}

// MatchDigests implements Matcher.
func (sb *StoreBanks) MatchDigests(ctx context.Context, md5, sha1, sha256 string) ([]Match, error) {
	var all []bank.Hit
	for _, d := range []struct {
		t bank.Type
		v string
	}{{bank.MD5, md5}, {bank.SHA1, sha1}, {bank.SHA256, sha256}} {
		if d.v == "" {
			continue
		}
		hits, err := sb.x.MatchDigest(d.t, d.v)
		if err != nil {
			return nil, err
		}
		all = append(all, hits...)
	}
	return sb.hits(ctx, all)
}

// MatchPDQ implements Matcher.
func (sb *StoreBanks) MatchPDQ(ctx context.Context, h pdq.Hash) ([]Match, error) {
	hits := sb.x.MatchPDQ(h)
	if sb.threshold >= 0 {
		hits = slices.DeleteFunc(hits, func(h bank.Hit) bool { return h.Distance > sb.threshold })
	}
	return sb.hits(ctx, hits)
}

// MatchVPDQ implements Matcher.
func (sb *StoreBanks) MatchVPDQ(ctx context.Context, frames []vpdq.Frame) ([]Match, error) {
	var out []Match
	for _, v := range sb.videos {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r := vpdq.Match(frames, v.frames, sb.vopts)
		if !r.Match {
			continue
		}
		s, err := sb.signal(ctx, v.id)
		if err != nil {
			return nil, err
		}
		out = append(out, Match{Bank: v.bank, Category: s.Category, SignalType: string(bank.VPDQ),
			QueryPercent: r.QueryPercent, TargetPercent: r.TargetPercent, Label: s.Note, SignalID: v.id})
	}
	return out, nil
}

// Banks implements Matcher.
func (sb *StoreBanks) Banks() []BankInfo { return slices.Clone(sb.info) }

// absPath returns p made absolute and clean (p itself if that fails).
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
