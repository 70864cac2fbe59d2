package match

import (
	"cmp"
	"math/bits"
	"slices"

	"github.com/nigehban/nigehban/internal/index"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/signal"
	"github.com/nigehban/nigehban/internal/variant"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// usable returns the hashes of a stored video the reference rule compares
// (vpdq.Distinct), clipped: the index holds them for the video's life.
func usable(frames []signal.Frame, minQuality int) []pdq.Hash {
	return slices.Clip(vpdq.Distinct(frames, minQuality))
}

// appendEntries appends the index entries of a video's hashes, under id.
func appendEntries(dst []index.Entry, id uint64, hashes []pdq.Hash) []index.Entry {
	for _, h := range hashes {
		dst = append(dst, index.Entry{ID: id, Hash: h})
	}
	return dst
}

// addVideo indexes a stored video; one already indexed under id is
// replaced. A video without a usable frame is kept (it counts as a signal
// of the bank) but can never match.
func (bi *bankIndex) addVideo(id uint64, frames []signal.Frame, category string, minQuality int) {
	if _, ok := bi.videos[id]; ok {
		bi.frames.Remove(id)
	}
	v := video{hashes: usable(frames, minQuality), category: category}
	bi.frames.AddBatch(appendEntries(nil, id, v.hashes))
	bi.videos[id] = v
}

func (bi *bankIndex) removeVideo(id uint64) {
	if _, ok := bi.videos[id]; ok {
		bi.frames.Remove(id)
		delete(bi.videos, id)
	}
}

// minMatched returns the fewest of n query hashes that must match for the
// query percentage to reach pct, computed as vpdq.Match computes the
// percentage; n+1 when no number does.
func minMatched(n int, pct float64) int {
	k := 0
	for k <= n && float64(k)*100/float64(n) < pct {
		k++
	}
	return k
}

// MatchVPDQ returns the stored videos that frames match by the matcher's
// rule (see the package doc), best query percentage first.
//
// Candidates come from the frame index: when the rule wants a share p of
// the query's hashes to match, a matching video must match at least need =
// ⌈p·n⌉ of the n query hashes, so it is within the frame distance of one
// of any n−need+1 of them (pigeonhole): only those are searched (13 of 60
// at 80 %). Each candidate is then decided by the reference computation on
// its hashes, so the result is the reference's.
func (m *Matcher) MatchVPDQ(frames []vpdq.Frame) []Hit {
	opts := m.video
	q := vpdq.Distinct(frames, opts.MinQuality)
	if len(q) == 0 {
		return nil
	}
	probe := len(q)
	if opts.QueryPercent > 0 {
		need := minMatched(len(q), opts.QueryPercent)
		if need > len(q) {
			return nil
		}
		probe = len(q) - need + 1
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	cands := map[uint64]*bankIndex{}
	var buf []index.Match
	for _, bi := range m.enabled() {
		if opts.QueryPercent <= 0 && opts.TargetPercent <= 0 {
			// Every non-empty video passes such a rule, matched or not.
			for id := range bi.videos {
				cands[id] = bi
			}
			continue
		}
		if len(bi.videos) == 0 {
			continue
		}
		for _, h := range q[:probe] {
			buf = bi.frames.AppendSearch(buf[:0], h, opts.Distance)
			for _, x := range buf {
				cands[x.ID] = bi
			}
		}
	}
	var hits []Hit
	for id, bi := range cands {
		v := bi.videos[id]
		if len(v.hashes) == 0 {
			continue
		}
		qp := matchedPercent(q, v.hashes, opts.Distance)
		if qp < opts.QueryPercent {
			continue
		}
		tp := matchedPercent(v.hashes, q, opts.Distance)
		if tp < opts.TargetPercent {
			continue
		}
		h := m.hit(bi, id, signal.VPDQ)
		if m.store {
			h.Category = v.category
		}
		h.QueryPercent, h.TargetPercent = qp, tp
		hits = append(hits, h)
	}
	sortVideoHits(hits)
	return hits
}

// sortVideoHits orders vPDQ hits best query percentage first.
func sortVideoHits(hits []Hit) {
	slices.SortFunc(hits, func(a, b Hit) int {
		if c := cmp.Compare(b.QueryPercent, a.QueryPercent); c != 0 {
			return c
		}
		if c := cmp.Compare(b.TargetPercent, a.TargetPercent); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Bank, b.Bank); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
}

// MatchVPDQTrimmed matches a query video hashed with its trimmed frames
// (vpdq.Options.TrimBorders: the content of frames with black bars,
// without them) against the stored videos, whose hashes are the
// reference's. A video the frames match by the reference rule (MatchVPDQ)
// is a hit with Variant "original"; one that matches only when each query
// frame may stand by either of its hashes (vpdq.MatchTrimmed) is a hit
// with Variant variant.Trimmed ("borders"). Without trimmed frames it is
// MatchVPDQ.
func (m *Matcher) MatchVPDQTrimmed(frames, trimmed []vpdq.Frame) []Hit {
	hits := m.MatchVPDQ(frames)
	if len(trimmed) == 0 {
		return hits
	}
	for i := range hits {
		hits[i].Variant = variant.Original
	}
	opts := m.video
	units := vpdq.QueryUnits(frames, trimmed, opts.MinQuality)
	if len(units) == 0 {
		return hits
	}
	probe := len(units)
	if opts.QueryPercent > 0 {
		need := minMatched(len(units), opts.QueryPercent)
		if need > len(units) {
			return hits
		}
		probe = len(units) - need + 1
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	type cand struct {
		bi *bankIndex
		id uint64
	}
	found := map[cand]bool{}
	for _, h := range hits {
		found[cand{m.banks[h.Bank], h.id}] = true
	}
	cands := map[cand]bool{}
	var buf []index.Match
	for _, bi := range m.enabled() {
		if len(bi.videos) == 0 {
			continue
		}
		if opts.QueryPercent <= 0 && opts.TargetPercent <= 0 {
			for id := range bi.videos {
				cands[cand{bi, id}] = true
			}
			continue
		}
		for _, u := range units[:probe] {
			for _, h := range u {
				buf = bi.frames.AppendSearch(buf[:0], h, opts.Distance)
				for _, x := range buf {
					cands[cand{bi, x.ID}] = true
				}
			}
		}
	}
	for c := range cands {
		if found[c] {
			continue
		}
		v := c.bi.videos[c.id]
		if len(v.hashes) == 0 {
			continue
		}
		qp := vpdq.UnitsMatchedPercent(units, v.hashes, opts.Distance)
		if qp < opts.QueryPercent {
			continue
		}
		tp := vpdq.MatchedByUnitsPercent(v.hashes, units, opts.Distance)
		if tp < opts.TargetPercent {
			continue
		}
		h := m.hit(c.bi, c.id, signal.VPDQ)
		if m.store {
			h.Category = v.category
		}
		h.QueryPercent, h.TargetPercent, h.Variant = qp, tp, variant.Trimmed
		hits = append(hits, h)
	}
	sortVideoHits(hits)
	return hits
}

// matchedPercent is the share of a's hashes within d of some hash of b, in
// vpdq.Match's arithmetic.
func matchedPercent(a, b []pdq.Hash, d int) float64 {
	n := 0
	for i := range a {
		x := &a[i]
		for j := range b {
			y := &b[j]
			if bits.OnesCount64(x[0]^y[0])+bits.OnesCount64(x[1]^y[1])+
				bits.OnesCount64(x[2]^y[2])+bits.OnesCount64(x[3]^y[3]) <= d {
				n++
				break
			}
		}
	}
	return float64(n) * 100 / float64(len(a))
}
