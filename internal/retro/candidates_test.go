package retro_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/retro"
	"github.com/nigehban/nigehban/internal/signal"
)

// memStore is a retro.Store in memory.
type memStore struct{ us []retro.Upload }

func (s *memStore) RetainUploads(_ context.Context, us []retro.Upload) ([]int64, error) {
	ids := make([]int64, len(us))
	for i, u := range us {
		u.ID = int64(len(s.us) + 1)
		s.us = append(s.us, u)
		ids[i] = u.ID
	}
	return ids, nil
}

func (s *memStore) ScanRetained(_ context.Context, since time.Time, fn func(*retro.Upload) error) error {
	for i := range s.us {
		if !s.us[i].At.Before(since) {
			if err := fn(&s.us[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *memStore) GetRetained(context.Context, []int64) ([]retro.Upload, error) { return nil, nil }
func (s *memStore) PruneRetained(context.Context, time.Time) (int64, error)      { return 0, nil }

// TestCandidatesBruteForce: Candidates finds exactly what comparing every
// signal with every retained upload finds — PDQ within each bank's own
// threshold (near-duplicates planted at distances around it), digests by
// equality — for uploads loaded from the store and uploads retained after.
func TestCandidatesBruteForce(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 8))
	st := &memStore{}
	m := retro.New(st, time.Hour)
	now := time.Now()
	var pdqs []pdq.Hash
	retain := func(n int) {
		for range n {
			h := randHash(r)
			if len(pdqs) > 0 && r.IntN(4) == 0 { // clusters of near-duplicate uploads
				h = flipRandom(r, pdqs[r.IntN(len(pdqs))], r.IntN(20))
			}
			pdqs = append(pdqs, h)
			hs := []retro.Hash{{Type: signal.PDQ, Value: h.String()}}
			if r.IntN(10) == 0 {
				hs = append(hs, retro.Hash{Type: signal.MD5, Value: fmt.Sprintf("%032x", r.IntN(50))})
			}
			if err := m.Retain(ctx, now, "key:1", "c", hs); err != nil {
				t.Fatal(err)
			}
		}
	}
	retain(20000)
	if _, err := m.Load(ctx, now); err != nil {
		t.Fatal(err)
	}
	retain(500) // after Load: the index's buffer
	thresholds := map[string]int{"strict": 10, "default": signal.DefaultPDQThreshold, "zero": 0}
	banks := []string{"strict", "default", "zero"}
	var sigs []bank.Signal
	for i := range 3000 {
		b := banks[i%3]
		switch {
		case i%7 == 0:
			sigs = append(sigs, bank.Signal{Bank: b, Type: bank.MD5, Value: fmt.Sprintf("%032x", r.IntN(60))})
		case i%2 == 0:
			d := r.IntN(40) // around every bank's threshold
			sigs = append(sigs, bank.Signal{Bank: b, Type: bank.PDQ, Value: flipRandom(r, pdqs[r.IntN(len(pdqs))], d).String()})
		default:
			sigs = append(sigs, bank.Signal{Bank: b, Type: bank.PDQ, Value: randHash(r).String()})
		}
	}
	got := m.Candidates(sigs, func(b string) int { return thresholds[b] })

	var want []retro.Candidate
	parsed := make([]pdq.Hash, len(st.us))
	for j, u := range st.us {
		if u.Type == signal.PDQ {
			parsed[j], _ = pdq.ParseHex(u.Value)
		}
	}
	for i, s := range sigs {
		q, _ := pdq.ParseHex(s.Value)
		for j, u := range st.us {
			switch {
			case s.Type == bank.PDQ && u.Type == signal.PDQ:
				h := parsed[j]
				if d := pdq.Distance(q, h); d <= thresholds[s.Bank] {
					want = append(want, retro.Candidate{UploadID: u.ID, Signal: i, Distance: d})
				}
			case s.Type != bank.PDQ && u.Type == s.Type && u.Value == s.Value:
				want = append(want, retro.Candidate{UploadID: u.ID, Signal: i})
			}
		}
	}
	order := func(a, b retro.Candidate) int {
		return cmp.Or(cmp.Compare(a.Signal, b.Signal), cmp.Compare(a.UploadID, b.UploadID))
	}
	slices.SortFunc(got, order)
	slices.SortFunc(want, order)
	if len(want) < 1000 {
		t.Fatalf("only %d expected candidates: the test plants too few", len(want))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Candidates found %d, brute force %d", len(got), len(want))
	}
}

// flipRandom returns h with n distinct random bits flipped.
func flipRandom(r *rand.Rand, h pdq.Hash, n int) pdq.Hash {
	for _, b := range r.Perm(256)[:n] {
		h[b/64] ^= 1 << (b % 64)
	}
	return h
}
