package match

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/signal"
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
