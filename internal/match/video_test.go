package match

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/signal"
	"github.com/nigehban/nigehban/internal/variant"
	"github.com/nigehban/nigehban/internal/vpdq"
)

func randomHash(r *rand.Rand) pdq.Hash {
	return pdq.Hash{r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64()}
}

// flip returns h with n distinct random bits flipped.
func flip(r *rand.Rand, h pdq.Hash, n int) pdq.Hash {
	for _, k := range r.Perm(256)[:n] {
		h[k/64] ^= 1 << (k % 64)
	}
	return h
}

// randomVideo returns frames drawn near the hashes of pool (so that videos
// share scenes), with repeated hashes and qualities on both sides of the
// usual minimum.
func randomVideo(r *rand.Rand, pool []pdq.Hash, n int) []vpdq.Frame {
	frames := make([]vpdq.Frame, n)
	for i := range frames {
		var h pdq.Hash
		switch {
		case i > 0 && r.IntN(5) == 0:
			h = frames[i-1].PDQ // a still scene: the same hash again
		case r.IntN(8) == 0:
			h = randomHash(r)
		default:
			h = flip(r, pool[r.IntN(len(pool))], r.IntN(48))
		}
		frames[i] = vpdq.Frame{Frame: i, Timestamp: float64(i), Quality: r.IntN(101), PDQ: h}
	}
	return frames
}

// nearDuplicate returns v re-encoded: every frame a few bits off, some
// dropped, some qualities changed.
func nearDuplicate(r *rand.Rand, v []vpdq.Frame) []vpdq.Frame {
	var out []vpdq.Frame
	for _, f := range v {
		if r.IntN(10) == 0 {
			continue
		}
		f.PDQ = flip(r, f.PDQ, r.IntN(20))
		if r.IntN(6) == 0 {
			f.Quality = r.IntN(101)
		}
		out = append(out, f)
	}
	return out
}

// TestVideoIndexEqualsReference: for random and near-duplicate videos
// under many rules, the indexed matcher decides exactly as vpdq.Match
// compared with every stored video, with the same percentages.
func TestVideoIndexEqualsReference(t *testing.T) {
	rules := []vpdq.MatchOptions{
		vpdq.DefaultMatchOptions(),
		{Distance: 0, MinQuality: 0, QueryPercent: 50, TargetPercent: 0},
		{Distance: 10, MinQuality: 80, QueryPercent: 30, TargetPercent: 30},
		{Distance: 31, MinQuality: 50, QueryPercent: 100, TargetPercent: 100},
		{Distance: 47, MinQuality: 20, QueryPercent: 0, TargetPercent: 10},
		{Distance: 31, MinQuality: 50, QueryPercent: 0, TargetPercent: 0}, // every non-empty pair
		{Distance: 31, MinQuality: 100, QueryPercent: 80, TargetPercent: 0},
	}
	for ri, rule := range rules {
		t.Run(fmt.Sprintf("rule%d", ri), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(ri), 17))
			pool := make([]pdq.Hash, 12)
			for i := range pool {
				pool[i] = randomHash(r)
			}
			m := &Matcher{banks: map[string]*bankIndex{}, pdqMax: -1, video: rule, store: true}
			stored := map[string]map[uint64][]vpdq.Frame{}
			for _, name := range []string{"a", "b"} {
				bi := newBankIndex(bank.NewBank(name))
				m.banks[name] = bi
				stored[name] = map[uint64][]vpdq.Frame{}
			}
			id := uint64(0)
			var all [][]vpdq.Frame
			for range 80 {
				id++
				v := randomVideo(r, pool, 1+r.IntN(40))
				name := []string{"a", "b"}[r.IntN(2)]
				m.banks[name].addVideo(id, v, "", rule.MinQuality)
				stored[name][id] = v
				all = append(all, v)
			}
			// Re-adding a video (a replayed change) replaces it.
			m.banks["a"].addVideo(1000, all[0], "", rule.MinQuality)
			m.banks["a"].addVideo(1000, all[1], "", rule.MinQuality)
			stored["a"][1000] = all[1]
			for qi := range 60 {
				var q []vpdq.Frame
				switch qi % 3 {
				case 0:
					q = randomVideo(r, pool, 1+r.IntN(40))
				case 1:
					q = nearDuplicate(r, all[r.IntN(len(all))])
				case 2:
					q = all[r.IntN(len(all))]
				}
				want := map[string]vpdq.MatchResult{}
				for name, vs := range stored {
					for id, v := range vs {
						if res := vpdq.Match(q, v, rule); res.Match {
							want[fmt.Sprintf("%s/%d", name, id)] = res
						}
					}
				}
				got := m.MatchVPDQ(q)
				if len(got) != len(want) {
					t.Fatalf("query %d: %d matches, reference %d", qi, len(got), len(want))
				}
				for _, h := range got {
					w, ok := want[fmt.Sprintf("%s/%d", h.Bank, h.SignalID)]
					if !ok || h.QueryPercent != w.QueryPercent || h.TargetPercent != w.TargetPercent || h.Type != signal.VPDQ {
						t.Fatalf("query %d: hit %+v, reference %+v (found %v)", qi, h, w, ok)
					}
				}
			}
			// A disabled bank is left out; a removed video too.
			m.banks["b"].bank.Enabled = false
			m.banks["a"].removeVideo(1000)
			for _, h := range m.MatchVPDQ(all[1]) {
				if h.Bank == "b" || h.SignalID == 1000 {
					t.Errorf("hit %+v from a disabled bank or a removed video", h)
				}
			}
		})
	}
}

// TestVideoTrimmedEqualsBrute: with trimmed frames (the query side's
// hashes of frames without their bars), the indexed matcher decides as
// vpdq.MatchTrimmed compared with every stored video, with its percentages,
// and names the variant: "original" when the frames match by the reference
// rule alone, "borders" when only the trimmed hashes make the match. With
// no trimmed frame it is MatchVPDQ.
func TestVideoTrimmedEqualsBrute(t *testing.T) {
	for ri, rule := range []vpdq.MatchOptions{
		vpdq.DefaultMatchOptions(),
		{Distance: 10, MinQuality: 80, QueryPercent: 30, TargetPercent: 30},
		{Distance: 31, MinQuality: 50, QueryPercent: 0, TargetPercent: 0},
	} {
		t.Run(fmt.Sprintf("rule%d", ri), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(ri), 20))
			pool := make([]pdq.Hash, 12)
			for i := range pool {
				pool[i] = randomHash(r)
			}
			m := &Matcher{banks: map[string]*bankIndex{}, pdqMax: -1, video: rule, store: true}
			bi := newBankIndex(bank.NewBank("a"))
			m.banks["a"] = bi
			var all [][]vpdq.Frame
			for id := uint64(1); id <= 60; id++ {
				v := randomVideo(r, pool, 1+r.IntN(30))
				bi.addVideo(id, v, "", rule.MinQuality)
				all = append(all, v)
			}
			variants := map[string]int{}
			for qi := range 90 {
				var q, trimmed []vpdq.Frame
				switch qi % 3 {
				case 0: // unrelated frames, some trimmed to unrelated content
					q = randomVideo(r, pool, 1+r.IntN(30))
				case 1: // a copy with bars: the frames differ, their trimmed content is the stored video's
					src := nearDuplicate(r, all[r.IntN(len(all))])
					for _, f := range src {
						q = append(q, vpdq.Frame{Frame: f.Frame, Quality: r.IntN(101), PDQ: randomHash(r)})
					}
					trimmed = src
				case 2: // a stored video as it is, with trimmed hashes of some frames
					q = all[r.IntN(len(all))]
				}
				if trimmed == nil {
					for _, f := range q {
						if r.IntN(3) == 0 {
							trimmed = append(trimmed, vpdq.Frame{Frame: f.Frame, Quality: r.IntN(101), PDQ: flip(r, f.PDQ, r.IntN(80))})
						}
					}
				}
				want := map[uint64]string{}
				wantRes := map[uint64]vpdq.MatchResult{}
				for i, v := range all {
					res, used := vpdq.MatchTrimmed(q, trimmed, v, rule)
					if res.Match {
						want[uint64(i+1)], wantRes[uint64(i+1)] = variant.Original, res
						if len(trimmed) == 0 {
							want[uint64(i+1)] = "" // no variant hashed: MatchVPDQ
						}
						if used {
							want[uint64(i+1)] = variant.Trimmed
						}
					}
				}
				got := m.MatchVPDQTrimmed(q, trimmed)
				if len(got) != len(want) {
					t.Fatalf("query %d: %d matches, brute force %d", qi, len(got), len(want))
				}
				for _, h := range got {
					id := uint64(h.SignalID)
					if h.Variant != want[id] || h.QueryPercent != wantRes[id].QueryPercent || h.TargetPercent != wantRes[id].TargetPercent {
						t.Fatalf("query %d: hit %+v, brute force %q %+v", qi, h, want[id], wantRes[id])
					}
					variants[h.Variant]++
				}
				if plain := m.MatchVPDQTrimmed(q, nil); len(plain) != len(m.MatchVPDQ(q)) || (len(plain) > 0 && plain[0].Variant != "") {
					t.Fatalf("query %d: without trimmed frames %+v, want MatchVPDQ's hits", qi, plain)
				}
			}
			if rule.QueryPercent > 0 && (variants[variant.Original] == 0 || variants[variant.Trimmed] == 0) {
				t.Errorf("hits by variant %v: the test should exercise both", variants)
			}
		})
	}
}
