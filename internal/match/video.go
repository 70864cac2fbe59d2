package match

import (
	"cmp"
	"slices"

	"github.com/nigehban/nigehban/internal/index"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/signal"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// videoEntries returns the index entries of a stored video: its distinct
// hashes of quality ≥ minQuality (vpdq.Distinct), under id.
func videoEntries(id uint64, frames []signal.Frame, minQuality int, dst []index.Entry) []index.Entry {
	seen := make(map[pdq.Hash]struct{}, len(frames))
	for _, f := range frames {
		if _, ok := seen[f.PDQ]; ok {
			continue
		}
		seen[f.PDQ] = struct{}{}
		if f.Quality >= minQuality {
			dst = append(dst, index.Entry{ID: id, Hash: f.PDQ})
		}
	}
	return dst
}

// addVideo indexes a stored video (value in canonical vPDQ form); one
// already indexed under id is replaced. A video without a usable frame is
// kept (it counts as a signal of the bank) but can never match.
func (bi *bankIndex) addVideo(id uint64, frames []signal.Frame, category string, minQuality int) {
	if _, ok := bi.videos[id]; ok {
		bi.frames.Remove(id)
	}
	entries := videoEntries(id, frames, minQuality, nil)
	bi.frames.AddBatch(entries)
	bi.videos[id] = video{frames: len(entries), category: category}
}

func (bi *bankIndex) removeVideo(id uint64) {
	if _, ok := bi.videos[id]; ok {
		bi.frames.Remove(id)
		delete(bi.videos, id)
	}
}

// videoCount is the per-video tally of one query.
type videoCount struct {
	query  int // query hashes with a stored hash within the distance
	target int // distinct stored hashes within the distance of a query hash
	last   int // 1 + the query hash that last counted for this video
	bank   *bankIndex
}

// MatchVPDQ returns the stored videos that frames match by the matcher's
// rule (see the package doc), best query percentage first.
func (m *Matcher) MatchVPDQ(frames []vpdq.Frame) []Hit {
	opts := m.video
	q := vpdq.Distinct(frames, opts.MinQuality)
	if len(q) == 0 {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	counts := map[uint64]*videoCount{}
	hit := map[index.Entry]struct{}{} // stored hashes already counted, by video
	var buf []index.Match
	for _, bi := range m.enabled() {
		if len(bi.videos) == 0 {
			continue
		}
		for qi, h := range q {
			buf = bi.frames.AppendSearch(buf[:0], h, opts.Distance)
			for _, x := range buf {
				c := counts[x.ID]
				if c == nil {
					c = &videoCount{bank: bi}
					counts[x.ID] = c
				}
				if c.last != qi+1 { // each video once per query hash
					c.last = qi + 1
					c.query++
				}
				e := index.Entry{ID: x.ID, Hash: x.Hash}
				if _, ok := hit[e]; !ok {
					hit[e] = struct{}{}
					c.target++
				}
			}
		}
		if opts.QueryPercent <= 0 && opts.TargetPercent <= 0 {
			// Every non-empty video passes such a rule, matched or not.
			for id, v := range bi.videos {
				if _, ok := counts[id]; !ok && v.frames > 0 {
					counts[id] = &videoCount{bank: bi}
				}
			}
		}
	}
	var hits []Hit
	for id, c := range counts {
		v := c.bank.videos[id]
		if v.frames == 0 {
			continue
		}
		// The same arithmetic as vpdq.Match, so the decisions are equal.
		qp := float64(c.query) * 100 / float64(len(q))
		tp := float64(c.target) * 100 / float64(v.frames)
		if qp < opts.QueryPercent || tp < opts.TargetPercent {
			continue
		}
		h := m.hit(c.bank, id, signal.VPDQ)
		if m.store {
			h.Category = v.category
		}
		h.QueryPercent, h.TargetPercent = qp, tp
		hits = append(hits, h)
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		switch {
		case a.QueryPercent != b.QueryPercent:
			if a.QueryPercent > b.QueryPercent {
				return -1
			}
			return 1
		case a.TargetPercent != b.TargetPercent:
			if a.TargetPercent > b.TargetPercent {
				return -1
			}
			return 1
		case a.Bank != b.Bank:
			if a.Bank < b.Bank {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.id, b.id)
	})
	return hits
}
