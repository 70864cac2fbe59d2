// Package match is the one matcher of nigehban: `match`, `scan` and `serve`
// all look hashes up through a Matcher.
//
// A Matcher holds, per bank, a PDQ near-neighbour index, exact md5, sha1
// and sha256 sets, and the frames of its vPDQ signals in a second PDQ index
// whose entries point back to their video; plus each signal's category. It
// is built from hash-list files (LoadFiles: every format internal/hashlist
// reads) or from stored banks (LoadStore), and a store-built Matcher is
// kept current by Apply with the bank change log, which is how `serve`
// replicas follow a shared PostgreSQL store.
//
// # Thresholds
//
// Every threshold is used as given: a PDQ threshold of 0 matches identical
// hashes only, never "the default". DefaultFileOptions and
// DefaultStoreOptions return the defaults of internal/signal.
//
// # Videos
//
// A video matches by the reference rule of internal/vpdq.Match (the
// python-threatexchange rule): each side is reduced to its distinct frame
// hashes of quality ≥ MinQuality; the query percentage is the share of
// query hashes within Distance of some stored hash, the target percentage
// the share of stored hashes within Distance of some query hash. Instead of
// comparing the query with every stored video, each stored video's distinct
// hashes are indexed under its signal id; query hashes are searched once
// each (only as many as a match needs: see MatchVPDQ) and only the videos
// they hit are compared. The result equals vpdq.Match for every stored
// video (a property test checks it); a rule with both percentages 0, which
// accepts every pair of non-empty videos, has to list every video.
//
// A query video hashed with its frames' trimmed content (frames with black
// bars also hashed without them: vpdq.Options.TrimBorders) is matched by
// MatchVPDQTrimmed: a query frame counts when either of its hashes is near
// (vpdq.MatchTrimmed); stored videos stay plain reference vPDQ, and the hit
// says whether the frames alone matched ("original") or the trimmed hashes
// were needed ("borders"). Its candidates come from the same pigeonhole
// search over the query's frames, each searched by both hashes.
//
// A Matcher is safe for concurrent use: matches run under a read lock,
// Apply takes the write lock.
package match

import (
	"cmp"
	"fmt"
	"slices"
	"sync"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/index"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/signal"
	"github.com/nigehban/nigehban/internal/variant"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// Hit is one signal an input matched.
type Hit struct {
	Bank string `json:"bank"`
	// SignalID is the stored signal's id; 0 for signals read from files.
	SignalID int64       `json:"signal_id,omitempty"`
	Type     signal.Type `json:"type"`
	// Distance is the PDQ Hamming distance; 0 for exact and vPDQ matches.
	Distance int `json:"distance"`
	// Action is the bank's default action (stored banks; ActionReview for
	// files).
	Action bank.Action `json:"action"`
	// ReviewAbove and Negative are the bank's policy (bank.Bank): the
	// decision layer (internal/review) reads them.
	ReviewAbove int    `json:"-"`
	Negative    bool   `json:"-"`
	Category    string `json:"category,omitempty"`
	// Value is the matched value: the bank's PDQ hash, the digest; empty
	// for vPDQ (values can be megabytes long).
	Value string `json:"value,omitempty"`
	// Label is the note a hash-list file gave the signal (files only: a
	// stored signal's note is in the store).
	Label string `json:"label,omitempty"`
	// QueryPercent and TargetPercent are the shares of the query's and the
	// stored video's distinct frames that matched (vPDQ only).
	QueryPercent  float64 `json:"query_match_percent,omitempty"`
	TargetPercent float64 `json:"target_match_percent,omitempty"`
	// Variant names the query variant that matched (internal/variant:
	// "original", "borders", "caption", "rotate90", …); set by MatchVariants.
	Variant string `json:"variant,omitempty"`

	id uint64 // the signal's id inside the matcher: the last tie-break
}

// Matcher matches hashes against banks in memory. Build it with LoadFiles
// or LoadStore.
type Matcher struct {
	mu     sync.RWMutex
	banks  map[string]*bankIndex
	all    bool  // built over every bank: new banks join when created
	seq    int64 // the change-log position the matcher reflects
	pdqMax int   // ≥ 0: every bank's PDQ threshold is narrowed to it
	video  vpdq.MatchOptions
	store  bool         // built from a store: hits carry signal ids
	cats   categories   // categories of stored signals
	files  []fileSignal // signals read from files, by id-1
}

// fileSignal is what a hash-list file says about a signal.
type fileSignal struct {
	category, label string
}

// bankIndex is one bank's signals.
type bankIndex struct {
	bank   bank.Bank
	file   *BankInfo // for banks read from files
	pdq    index.PDQ
	md5    index.Exact[index.MD5]
	sha1   index.Exact[index.SHA1]
	sha256 index.Exact[index.SHA256]
	frames index.PDQ // distinct usable frame hashes, under their video's id
	videos map[uint64]video
	// scanned is the highest signal id the load scan saw: a change adding
	// a signal above it cannot be in the index already, so Apply skips the
	// removal that guards against indexing a signal twice (a removal costs
	// a pass over the index's buffer: 200,000 of them took 40 s).
	scanned int64
}

// video is a stored vPDQ signal.
type video struct {
	hashes   []pdq.Hash // distinct hashes of quality ≥ the minimum (vpdq.Distinct)
	category string
}

func newBankIndex(b bank.Bank) *bankIndex {
	return &bankIndex{bank: b, videos: map[uint64]video{}}
}

// BankInfo describes a bank a Matcher holds: for a file its path, format,
// size and sha256; for a stored bank its description.
type BankInfo struct {
	Name         string `json:"name"`
	Kind         string `json:"kind"` // "file" or "store"
	Path         string `json:"path,omitempty"`
	Format       string `json:"format,omitempty"`
	Size         int64  `json:"size,omitempty"`
	SHA256       string `json:"sha256,omitempty"`
	Description  string `json:"description,omitempty"`
	Enabled      bool   `json:"enabled"`
	PDQThreshold int    `json:"pdq_threshold"` // the one in force (narrowed by the options)
	// Signals counts the indexed signals by type (PDQ counts removed ones
	// until the index merges them away).
	Signals map[string]int `json:"signals"`
}

// Seq returns the change-log sequence number the matcher reflects: call
// Store.Changes(Seq, …) and Apply to catch up. 0 for files.
func (m *Matcher) Seq() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.seq
}

// Video returns the vPDQ rule the matcher applies.
func (m *Matcher) Video() vpdq.MatchOptions { return m.video }

// threshold returns the PDQ threshold in force for b.
func (m *Matcher) threshold(b *bank.Bank) int {
	if m.pdqMax >= 0 && m.pdqMax < b.PDQThreshold {
		return m.pdqMax
	}
	return b.PDQThreshold
}

// Banks returns the banks the matcher holds (as of the last applied
// change), by name.
func (m *Matcher) Banks() []BankInfo {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]BankInfo, 0, len(m.banks))
	for _, bi := range m.banks {
		info := BankInfo{Name: bi.bank.Name, Kind: "store", Description: bi.bank.Description, Enabled: bi.bank.Enabled}
		if bi.file != nil {
			info = *bi.file
		}
		info.PDQThreshold = m.threshold(&bi.bank)
		info.Signals = map[string]int{}
		for _, t := range signal.Types {
			if n := bi.size(t); n > 0 {
				info.Signals[string(t)] = n
			}
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b BankInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Size returns the number of signals of type t indexed for bank name (0
// when the bank is not held): what `serve` reports as metrics.
func (m *Matcher) Size(name string, t signal.Type) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if bi := m.banks[name]; bi != nil {
		return bi.size(t)
	}
	return 0
}

func (bi *bankIndex) size(t signal.Type) int {
	switch t {
	case signal.PDQ:
		return bi.pdq.Len()
	case signal.MD5:
		return bi.md5.Len()
	case signal.SHA1:
		return bi.sha1.Len()
	case signal.SHA256:
		return bi.sha256.Len()
	case signal.VPDQ:
		return len(bi.videos)
	}
	return 0
}

// enabled returns the enabled banks in name order, under the read lock.
func (m *Matcher) enabled() []*bankIndex {
	out := make([]*bankIndex, 0, len(m.banks))
	for _, bi := range m.banks {
		if bi.bank.Enabled {
			out = append(out, bi)
		}
	}
	slices.SortFunc(out, func(a, b *bankIndex) int { return cmp.Compare(a.bank.Name, b.bank.Name) })
	return out
}

// hit fills the parts of a hit every type shares.
func (m *Matcher) hit(bi *bankIndex, id uint64, t signal.Type) Hit {
	h := Hit{Bank: bi.bank.Name, Type: t, Action: bi.bank.Action, ReviewAbove: bi.bank.ReviewAbove, Negative: bi.bank.Negative, id: id}
	if m.store {
		h.SignalID = int64(id)
		h.Category = m.cats.get(int64(id))
	} else if id > 0 && int(id) <= len(m.files) {
		s := m.files[id-1]
		h.Category, h.Label = s.category, s.label
	}
	return h
}

// MatchPDQ returns the PDQ signals within each enabled bank's threshold of
// h, nearest first.
func (m *Matcher) MatchPDQ(h pdq.Hash) []Hit {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var hits []Hit
	var buf []index.Match
	for _, bi := range m.enabled() {
		buf = bi.pdq.AppendSearch(buf[:0], h, m.threshold(&bi.bank))
		for _, x := range buf {
			hit := m.hit(bi, x.ID, signal.PDQ)
			hit.Distance, hit.Value = x.Distance, x.Hash.String()
			hits = append(hits, hit)
		}
	}
	sortHits(hits)
	return hits
}

// MatchVariants matches the PDQ hashes of a query's variants (the original
// first, as variant.Hashes returns them) and returns each signal once, with
// the nearest variant's distance and name (the earlier variant on a tie, so
// the original wins when it matches as well), nearest first. Variants other
// than the original with a quality under pdq.MinQuality are not matched:
// the original's quality is the caller's to judge, as with MatchPDQ.
func (m *Matcher) MatchVariants(vs []variant.Hash) []Hit {
	type key struct {
		bank string
		id   uint64
	}
	best := map[key]int{}
	var hits []Hit
	for _, v := range vs {
		if v.Name != variant.Original && v.Quality < pdq.MinQuality {
			continue
		}
		for _, h := range m.MatchPDQ(v.PDQ) {
			h.Variant = v.Name
			k := key{h.Bank, h.id}
			if j, ok := best[k]; ok {
				if h.Distance < hits[j].Distance {
					hits[j] = h
				}
				continue
			}
			best[k] = len(hits)
			hits = append(hits, h)
		}
	}
	sortHits(hits)
	return hits
}

// MatchDigest returns the signals of type t (md5, sha1 or sha256) equal to
// the hex digest value in enabled banks. An invalid digest or a type that
// is no digest is an error wrapping bank.ErrInvalid (and the
// internal/signal sentinel).
func (m *Matcher) MatchDigest(t signal.Type, value string) ([]Hit, error) {
	if !t.Digest() {
		return nil, fmt.Errorf("%w: %s is not an exact-match type", bank.ErrInvalid, t)
	}
	v, err := bank.NormalizeValue(t, value)
	if err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	var hits []Hit
	for _, bi := range m.enabled() {
		var ids []uint64
		switch t {
		case signal.MD5:
			k, _ := index.ParseDigest[index.MD5](v)
			ids = bi.md5.Lookup(k)
		case signal.SHA1:
			k, _ := index.ParseDigest[index.SHA1](v)
			ids = bi.sha1.Lookup(k)
		case signal.SHA256:
			k, _ := index.ParseDigest[index.SHA256](v)
			ids = bi.sha256.Lookup(k)
		}
		for _, id := range ids {
			hit := m.hit(bi, id, t)
			hit.Value = v
			hits = append(hits, hit)
		}
	}
	sortHits(hits)
	return hits, nil
}

// MatchDigests returns the signals equal to any of the digests given (an
// empty or invalid one is skipped), md5 first: what a file's hashes match.
func (m *Matcher) MatchDigests(md5, sha1, sha256 string) []Hit {
	var hits []Hit
	for _, d := range [...]struct {
		t signal.Type
		v string
	}{{signal.MD5, md5}, {signal.SHA1, sha1}, {signal.SHA256, sha256}} {
		if d.v == "" {
			continue
		}
		if h, err := m.MatchDigest(d.t, d.v); err == nil {
			hits = append(hits, h...)
		}
	}
	return hits
}

func sortHits(h []Hit) {
	slices.SortFunc(h, func(a, b Hit) int {
		if c := cmp.Compare(a.Distance, b.Distance); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Bank, b.Bank); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
}
