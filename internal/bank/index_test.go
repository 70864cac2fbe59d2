package bank_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// flip returns h with n distinct random bits flipped.
func flip(r *rand.Rand, h pdq.Hash, n int) pdq.Hash {
	for _, k := range r.Perm(256)[:n] {
		h[k/64] ^= 1 << (k % 64)
	}
	return h
}

// bruteForce is the oracle: every active pdq signal of enabled banks within
// the bank's threshold, by a linear scan of the store.
func bruteForce(t *testing.T, svc *bank.Service, q pdq.Hash) []bank.Hit {
	t.Helper()
	ctx := context.Background()
	banks := map[string]bank.Bank{}
	bs, _ := svc.ListBanks(ctx)
	for _, b := range bs {
		banks[b.Name] = b
	}
	var hits []bank.Hit
	err := svc.ScanSignals(ctx, bank.SignalQuery{Types: []bank.Type{bank.PDQ}, EnabledOnly: true}, func(s *bank.Signal) error {
		b := banks[s.Bank]
		h := pdq.MustParseHex(s.Value)
		if d := pdq.Distance(q, h); d <= b.PDQThreshold {
			hits = append(hits, bank.Hit{Bank: s.Bank, SignalID: s.ID, Type: bank.PDQ, Distance: d, Action: b.Action, Hash: h})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func sameHits(a, b []bank.Hit) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	key := func(h []bank.Hit) map[bank.Hit]int {
		m := map[bank.Hit]int{}
		for _, x := range h {
			m[x]++
		}
		return m
	}
	return reflect.DeepEqual(key(a), key(b))
}

func TestIndex(t *testing.T) {
	engines(t, func(t *testing.T, svc *bank.Service) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(5, 5))
		mk := func(name string, threshold int, enabled bool) {
			b := bank.NewBank(name)
			b.PDQThreshold, b.Enabled, b.Action = threshold, enabled, bank.ActionBlock
			if _, err := svc.CreateBank(ctx, b, audit.Actor{Name: "alice"}); err != nil {
				t.Fatal(err)
			}
		}
		mk("wide", 31, true)
		mk("narrow", 5, true)
		mk("off", 31, false)
		// Clusters: a base hash and near variants in every bank, plus noise.
		var bases []pdq.Hash
		for range 20 {
			bases = append(bases, pdq.MustParseHex(storetest.RandomPDQ(r)))
		}
		add := func(name string, sigs []bank.Signal) {
			if err := svc.Store().WriteSignals(ctx, name, audit.Actor{Name: "alice"}, func(w bank.SignalWriter) error {
				_, err := w.Add(ctx, sigs)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		md5 := storetest.RandomHex(r, 32)
		for _, name := range []string{"wide", "narrow", "off"} {
			var sigs []bank.Signal
			for _, b := range bases {
				for _, d := range []int{0, 3, 8, 20, 40} {
					sigs = append(sigs, bank.Signal{Type: bank.PDQ, Value: flip(r, b, d).String(), Quality: -1})
				}
			}
			for range 500 {
				sigs = append(sigs, bank.Signal{Type: bank.PDQ, Value: storetest.RandomPDQ(r), Quality: -1})
			}
			sigs = append(sigs, bank.Signal{Type: bank.MD5, Value: md5, Quality: -1},
				bank.Signal{Type: bank.SHA256, Value: storetest.RandomHex(r, 64), Quality: -1})
			add(name, sigs)
		}

		x, err := bank.LoadIndex(ctx, svc.Store(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := x.Banks(); len(got) != 2 || got[0].Name != "narrow" || got[1].Name != "wide" {
			t.Errorf("indexed banks = %+v, want narrow and wide (off is disabled)", got)
		}
		check := func(stage string) {
			t.Helper()
			for i := range 60 {
				q := flip(r, bases[i%len(bases)], r.IntN(12))
				if i%3 == 0 {
					q = pdq.MustParseHex(storetest.RandomPDQ(r))
				}
				if got, want := x.MatchPDQ(q), bruteForce(t, svc, q); !sameHits(got, want) {
					t.Fatalf("%s: MatchPDQ = %+v, brute force %+v", stage, got, want)
				}
			}
		}
		check("loaded")
		hits, err := x.MatchDigest(bank.MD5, md5)
		if err != nil || len(hits) != 2 || hits[0].Bank != "narrow" || hits[1].Bank != "wide" || hits[0].Action != bank.ActionBlock {
			t.Errorf("MatchDigest(md5) = %+v, %v", hits, err)
		}
		if _, err := x.MatchDigest(bank.MD5, "xyz"); !errors.Is(err, bank.ErrInvalid) {
			t.Errorf("MatchDigest(bad) = %v, want ErrInvalid", err)
		}

		// Follow the log: removals, additions, a threshold change, a new bank,
		// enabling the disabled bank (not in this index: it stays out).
		seq := x.Seq()
		first := bruteForce(t, svc, bases[0])
		for _, h := range first[:2] {
			if _, _, err := svc.RemoveSignal(ctx, h.Bank, bank.SignalRef{ID: h.SignalID}, "fp", audit.Actor{Name: "bob"}); err != nil {
				t.Fatal(err)
			}
		}
		add("wide", []bank.Signal{{Type: bank.PDQ, Value: flip(r, bases[1], 2).String(), Quality: -1}})
		th := 20
		if _, _, err := svc.UpdateBank(ctx, "narrow", bank.BankUpdate{PDQThreshold: &th}, audit.Actor{Name: "bob"}); err != nil {
			t.Fatal(err)
		}
		mk("late", 31, true)
		add("late", []bank.Signal{{Type: bank.PDQ, Value: bases[2].String(), Quality: -1}, {Type: bank.MD5, Value: md5, Quality: -1}})
		on := true
		if _, _, err := svc.UpdateBank(ctx, "off", bank.BankUpdate{Enabled: &on}, audit.Actor{Name: "bob"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.UpdateBank(ctx, "off", bank.BankUpdate{Enabled: new(bool)}, audit.Actor{Name: "bob"}); err != nil {
			t.Fatal(err)
		}
		cs, err := svc.Changes(ctx, seq, 1000)
		if err != nil {
			t.Fatal(err)
		}
		x.Apply(cs)
		x.Apply(cs) // twice: no effect
		check("after Apply")
		if hits, _ := x.MatchDigest(bank.MD5, md5); len(hits) != 3 {
			t.Errorf("md5 hits after a new bank = %+v, want 3 banks", hits)
		}
		if x.Seq() != cs[len(cs)-1].Seq {
			t.Errorf("Seq = %d, want %d", x.Seq(), cs[len(cs)-1].Seq)
		}
		// A fresh load agrees with the followed index.
		y, err := bank.LoadIndex(ctx, svc.Store(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bases {
			if a, c := x.MatchPDQ(b), y.MatchPDQ(b); !sameHits(a, c) {
				t.Errorf("followed index %+v, fresh %+v", a, c)
			}
		}
		// Re-applying the whole log onto a fresh load changes nothing.
		all, _ := svc.Changes(ctx, 0, 100000)
		z, _ := bank.LoadIndex(ctx, svc.Store(), nil)
		z.Apply(all)
		for _, b := range bases {
			if a, c := z.MatchPDQ(b), y.MatchPDQ(b); !sameHits(a, c) {
				t.Errorf("re-applied index %+v, fresh %+v", a, c)
			}
		}

		// Loading by parallel range scans gives the same index.
		restore := bank.SetParallelScanMin(0)
		p, err := bank.LoadIndex(ctx, svc.Store(), nil)
		restore()
		if err != nil {
			t.Fatal(err)
		}
		for i := range 40 {
			q := flip(r, bases[i%len(bases)], r.IntN(12))
			if a, c := p.MatchPDQ(q), y.MatchPDQ(q); !sameHits(a, c) || len(a) != len(bruteForce(t, svc, q)) {
				t.Errorf("parallel load %+v, single scan %+v", a, c)
			}
		}
		if a, _ := p.MatchDigest(bank.MD5, md5); len(a) != 3 {
			t.Errorf("parallel load md5 hits %+v", a)
		}

		// Named banks.
		if n, err := bank.LoadIndex(ctx, svc.Store(), []string{"narrow"}); err != nil || len(n.Banks()) != 1 {
			t.Errorf("LoadIndex(narrow) = %v, %v", n, err)
		}
		if _, err := bank.LoadIndex(ctx, svc.Store(), []string{"off"}); !errors.Is(err, bank.ErrInvalid) {
			t.Errorf("LoadIndex(disabled) = %v, want ErrInvalid", err)
		}
		if _, err := bank.LoadIndex(ctx, svc.Store(), []string{"nope"}); !errors.Is(err, bank.ErrNotFound) {
			t.Errorf("LoadIndex(unknown) = %v, want ErrNotFound", err)
		}
	})
}
