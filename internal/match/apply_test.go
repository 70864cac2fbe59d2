package match

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/signal"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// TestApplyConcurrent applies a change log (a bank created, signals of
// every kind added and removed, the bank disabled) while other goroutines
// match, then checks the end state. Run with -race.
func TestApplyConcurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	m := &Matcher{banks: map[string]*bankIndex{}, all: true, store: true, pdqMax: -1, video: vpdq.DefaultMatchOptions()}
	b := bank.NewBank("live")
	changes := []bank.Change{{Seq: 1, Op: bank.OpBankCreate, Bank: "live", BankState: &b}}
	seq := int64(1)
	var videos [][]vpdq.Frame
	for i := range 200 {
		seq++
		s := &bank.Signal{ID: seq, Bank: "live", Category: "c"}
		switch i % 3 {
		case 0:
			s.Type, s.Value = signal.PDQ, randomHash(r).String()
		case 1:
			s.Type, s.Value = signal.MD5, randomHash(r).String()[:32]
		case 2:
			v := randomVideo(r, []pdq.Hash{randomHash(r)}, 10)
			for j := range v {
				v[j].Quality = 90
			}
			videos = append(videos, v)
			s.Type, s.Value = signal.VPDQ, signal.FormatVPDQ(v)
		}
		changes = append(changes, bank.Change{Seq: seq, Op: bank.OpSignalAdd, Bank: "live", Signal: s})
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 3 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				m.MatchPDQ(randomHash(r))
				m.MatchDigests(randomHash(r).String()[:32], "", "")
				if len(videos) > 0 {
					m.MatchVPDQ(videos[r.IntN(len(videos))])
				}
				m.Banks()
			}
		})
	}
	for i := 0; i < len(changes); i += 10 {
		m.Apply(changes[i:min(i+10, len(changes))])
	}
	m.Apply(changes) // replayed: no effect
	close(stop)
	wg.Wait()

	if n := m.Size("live", signal.PDQ) + m.Size("live", signal.MD5) + m.Size("live", signal.VPDQ); n != 200 {
		t.Errorf("%d signals indexed, want 200", n)
	}
	v := videos[0]
	hits := m.MatchVPDQ(v)
	if len(hits) != 1 || hits[0].Category != "c" || hits[0].QueryPercent != 100 {
		t.Fatalf("video hits %+v", hits)
	}
	// Remove it, then disable the bank: nothing matches.
	removed := *changes[3].Signal
	seq++
	off := b
	off.Enabled = false
	m.Apply([]bank.Change{{Seq: seq, Op: bank.OpSignalRemove, Bank: "live", Signal: &removed}})
	if h := m.MatchVPDQ(v); len(h) != 0 {
		t.Errorf("removed video matched: %+v", h)
	}
	pdqSig := changes[1].Signal
	if h := m.MatchPDQ(pdq.MustParseHex(pdqSig.Value)); len(h) != 1 || h[0].Category != "c" {
		t.Errorf("pdq hits %+v", h)
	}
	m.Apply([]bank.Change{{Seq: seq + 1, Op: bank.OpBankUpdate, Bank: "live", BankState: &off}})
	if h := m.MatchPDQ(pdq.MustParseHex(pdqSig.Value)); len(h) != 0 {
		t.Errorf("disabled bank matched: %+v", h)
	}
	if m.Seq() != seq+1 {
		t.Errorf("seq %d, want %d", m.Seq(), seq+1)
	}
}
