package match_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/match"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/signal"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// engines runs fn on a fresh SQLite and a fresh PostgreSQL store.
func engines(t *testing.T, fn func(t *testing.T, svc *bank.Service, st store.Store)) {
	for name, dsn := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return storetest.SQLitePath(t) },
		"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st, err := store.Open(context.Background(), dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			fn(t, bank.NewService(st), st)
		})
	}
}

// load is match.LoadStore with the default options.
func load(ctx context.Context, st match.Source, names []string) (*match.Matcher, error) {
	return match.LoadStore(ctx, st, names, match.DefaultStoreOptions())
}

// flip returns h with n distinct random bits flipped.
func flip(r *rand.Rand, h pdq.Hash, n int) pdq.Hash {
	for _, k := range r.Perm(256)[:n] {
		h[k/64] ^= 1 << (k % 64)
	}
	return h
}

// bruteForce is the oracle: every active pdq signal of enabled banks within
// the bank's threshold, by a linear scan of the store.
func bruteForce(t *testing.T, svc *bank.Service, q pdq.Hash) []match.Hit {
	t.Helper()
	ctx := context.Background()
	banks := map[string]bank.Bank{}
	bs, _ := svc.ListBanks(ctx)
	for _, b := range bs {
		banks[b.Name] = b
	}
	var hits []match.Hit
	err := svc.ScanSignals(ctx, bank.SignalQuery{Types: []bank.Type{bank.PDQ}, EnabledOnly: true}, func(s *bank.Signal) error {
		b := banks[s.Bank]
		h := pdq.MustParseHex(s.Value)
		if d := pdq.Distance(q, h); d <= b.PDQThreshold {
			hits = append(hits, match.Hit{Bank: s.Bank, SignalID: s.ID, Type: bank.PDQ, Distance: d, Action: b.Action, Value: h.String()})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func sameHits(a, b []match.Hit) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	key := func(h []match.Hit) map[string]int {
		m := map[string]int{}
		for _, x := range h {
			m[fmt.Sprintf("%s/%d/%s/%d/%s/%s/%s", x.Bank, x.SignalID, x.Type, x.Distance, x.Action, x.Value, x.Category)]++
		}
		return m
	}
	return maps.Equal(key(a), key(b))
}

func TestLoadStore(t *testing.T) {
	engines(t, func(t *testing.T, svc *bank.Service, st store.Store) {
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

		x, err := load(ctx, st, nil)
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
		y, err := load(ctx, st, nil)
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
		z, _ := load(ctx, st, nil)
		z.Apply(all)
		for _, b := range bases {
			if a, c := z.MatchPDQ(b), y.MatchPDQ(b); !sameHits(a, c) {
				t.Errorf("re-applied index %+v, fresh %+v", a, c)
			}
		}

		// Loading by parallel range scans gives the same index.
		restore := match.SetParallelScanMin(0)
		p, err := load(ctx, st, nil)
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
		if n, err := load(ctx, st, []string{"narrow"}); err != nil || len(n.Banks()) != 1 {
			t.Errorf("LoadStore(narrow) = %v, %v", n, err)
		}
		if _, err := load(ctx, st, []string{"off"}); !errors.Is(err, bank.ErrInvalid) {
			t.Errorf("LoadStore(disabled) = %v, want ErrInvalid", err)
		}
		if _, err := load(ctx, st, []string{"nope"}); !errors.Is(err, bank.ErrNotFound) {
			t.Errorf("LoadStore(unknown) = %v, want ErrNotFound", err)
		}
	})
}

// TestLoadStoreVideos: stored vPDQ signals are matched through the frame
// index with their categories, at load and as the change log adds and
// removes them; PDQ categories follow the log too; MaxPDQThreshold 0
// narrows every bank to identical hashes.
func TestLoadStoreVideos(t *testing.T) {
	engines(t, func(t *testing.T, svc *bank.Service, st store.Store) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(8, 9))
		if _, err := svc.CreateBank(ctx, bank.NewBank("clips"), audit.Actor{Name: "alice"}); err != nil {
			t.Fatal(err)
		}
		video := func() []signal.Frame {
			fs := make([]signal.Frame, 20)
			h := pdq.MustParseHex(storetest.RandomPDQ(r))
			for i := range fs {
				h = flip(r, h, 4)
				fs[i] = signal.Frame{Frame: i, PDQ: h, Quality: 80, Timestamp: float64(i)}
			}
			return fs
		}
		edited := func(fs []signal.Frame) []vpdq.Frame {
			out := make([]vpdq.Frame, len(fs))
			for i, f := range fs {
				out[i] = vpdq.Frame{Frame: i, PDQ: flip(r, f.PDQ, 6), Quality: f.Quality, Timestamp: f.Timestamp}
			}
			return out
		}
		add := func(s bank.Signal) bank.Signal {
			t.Helper()
			got, _, err := svc.AddSignal(ctx, "clips", s, audit.Actor{Name: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		v1 := video()
		s1 := add(bank.Signal{Type: bank.VPDQ, Value: signal.FormatVPDQ(v1), Category: "B", Quality: -1})
		m, err := load(ctx, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		if h := m.MatchVPDQ(edited(v1)); len(h) != 1 || h[0].SignalID != s1.ID || h[0].Category != "B" || h[0].QueryPercent != 100 || h[0].Action != bank.ActionReview {
			t.Errorf("stored video: %+v", h)
		}
		if h := m.MatchVPDQ(edited(video())); len(h) != 0 {
			t.Errorf("another video matched: %+v", h)
		}
		if m.Size("clips", bank.VPDQ) != 1 {
			t.Errorf("size %d", m.Size("clips", bank.VPDQ))
		}

		seq := m.Seq()
		v2 := video()
		s2 := add(bank.Signal{Type: bank.VPDQ, Value: signal.FormatVPDQ(v2), Category: "C", Quality: -1})
		p := pdq.MustParseHex(storetest.RandomPDQ(r))
		sp := add(bank.Signal{Type: bank.PDQ, Value: p.String(), Category: "A1", Quality: -1})
		if _, _, err := svc.RemoveSignal(ctx, "clips", bank.SignalRef{ID: s1.ID}, "false positive", audit.Actor{Name: "bob"}); err != nil {
			t.Fatal(err)
		}
		cs, err := svc.Changes(ctx, seq, 100)
		if err != nil {
			t.Fatal(err)
		}
		m.Apply(cs)
		m.Apply(cs)
		if h := m.MatchVPDQ(edited(v2)); len(h) != 1 || h[0].SignalID != s2.ID || h[0].Category != "C" {
			t.Errorf("added video: %+v", h)
		}
		if h := m.MatchVPDQ(edited(v1)); len(h) != 0 {
			t.Errorf("removed video matched: %+v", h)
		}
		if h := m.MatchPDQ(flip(r, p, 3)); len(h) != 1 || h[0].SignalID != sp.ID || h[0].Category != "A1" || h[0].Value != p.String() {
			t.Errorf("added pdq: %+v", h)
		}

		// 0 narrows to identical hashes; it is not "the default".
		narrow, err := match.LoadStore(ctx, st, []string{"clips"}, match.StoreOptions{MaxPDQThreshold: 0, Video: vpdq.DefaultMatchOptions()})
		if err != nil {
			t.Fatal(err)
		}
		if h := narrow.MatchPDQ(flip(r, p, 1)); len(h) != 0 {
			t.Errorf("distance 1 at threshold 0: %+v", h)
		}
		if h := narrow.MatchPDQ(p); len(h) != 1 || h[0].Category != "A1" {
			t.Errorf("identical at threshold 0: %+v", h)
		}
		if b := narrow.Banks(); len(b) != 1 || b[0].PDQThreshold != 0 || b[0].Signals["vpdq"] != 1 || b[0].Signals["pdq"] != 1 {
			t.Errorf("banks %+v", b)
		}
		if _, err := match.LoadStore(ctx, st, nil, match.StoreOptions{MaxPDQThreshold: -2}); err == nil {
			t.Error("threshold -2 accepted")
		}
	})
}
