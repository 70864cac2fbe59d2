package retro_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/history"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/retro"
	"github.com/nigehban/nigehban/internal/signal"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

func randHash(r *rand.Rand) pdq.Hash { return pdq.Hash{r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64()} }

// flip returns h with its first n bits flipped.
func flip(h pdq.Hash, n int) pdq.Hash {
	for i := range n {
		h[i/64] ^= 1 << (i % 64)
	}
	return h
}

// TestRetroactive: a signal added after an upload was checked finds the
// retained upload (PDQ within the bank's threshold, digests by equality),
// the hit goes to the match history with the caller's content id and to
// the hook; an upload past the retention period, or too far, does not.
func TestRetroactive(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(1, 2))
		svc := bank.NewService(st)
		if _, err := svc.CreateBank(ctx, bank.NewBank("ncmec"), audit.Actor{Name: "t"}); err != nil {
			t.Fatal(err)
		}
		m := retro.New(st, 24*time.Hour)
		now := time.Now()
		near, far, old := randHash(r), randHash(r), randHash(r)
		md5 := "0123456789abcdef0123456789abcdef"
		if err := m.Retain(ctx, now, "key:1 (platform)", "upload-17", []retro.Hash{{Type: signal.PDQ, Value: near.String()}, {Type: signal.MD5, Value: md5}}); err != nil {
			t.Fatal(err)
		}
		if err := m.Retain(ctx, now, "key:1 (platform)", "upload-18", []retro.Hash{{Type: signal.PDQ, Value: far.String()}}); err != nil {
			t.Fatal(err)
		}
		if err := m.Retain(ctx, now.Add(-48*time.Hour), "key:1 (platform)", "upload-old", []retro.Hash{{Type: signal.PDQ, Value: old.String()}}); err != nil {
			t.Fatal(err)
		}
		var hooked []retro.Hit
		f := &retro.Follower{M: m, Banks: st, History: st, OnHits: func(_ context.Context, h []retro.Hit) { hooked = append(hooked, h...) }}
		seq, _ := st.LastSeq(ctx)
		// Reload from the store: what a restarted serve does.
		if n, err := m.Load(ctx, now); err != nil || n != 3 {
			t.Fatalf("load: %d, %v (the old upload is past retention)", n, err)
		}
		_, err := svc.AddSignals(ctx, "ncmec", []bank.Signal{
			{Type: bank.PDQ, Value: flip(near, 9).String(), Quality: 100},
			{Type: bank.PDQ, Value: flip(far, 60).String(), Quality: 100},
			{Type: bank.PDQ, Value: old.String(), Quality: 100},
			{Type: bank.MD5, Value: md5, Quality: -1},
		}, audit.Actor{Name: "t"})
		if err != nil {
			t.Fatal(err)
		}
		_, hits, err := f.Step(ctx, seq, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 2 || len(hooked) != 2 {
			t.Fatalf("hits %+v, hooked %d; want the near PDQ and the md5 of upload-17", hits, len(hooked))
		}
		for _, h := range hits {
			if h.Upload.ContentID != "upload-17" {
				t.Errorf("hit on %q", h.Upload.ContentID)
			}
			if h.Upload.Type == signal.PDQ && h.Distance != 9 {
				t.Errorf("PDQ distance %d, want 9", h.Distance)
			}
		}
		hs, err := st.ListHits(ctx, history.Query{ContentID: "upload-17", Limit: 10})
		if err != nil || len(hs) != 2 || hs[0].Submitter != "retro:key:1 (platform)" {
			t.Fatalf("match history: %+v, %v", hs, err)
		}
	})
}

// genStore is a retro.Store of n generated PDQ uploads (nothing stored).
type genStore struct {
	n    int
	seed uint64
}

func (g genStore) hash(i int) pdq.Hash {
	r := rand.New(rand.NewPCG(g.seed, uint64(i)))
	return randHash(r)
}

func (g genStore) ScanRetained(ctx context.Context, since time.Time, fn func(*retro.Upload) error) error {
	var u retro.Upload
	for i := range g.n {
		u = retro.Upload{ID: int64(i), At: time.Now(), Type: signal.PDQ, Value: g.hash(i).String()}
		if err := fn(&u); err != nil {
			return err
		}
	}
	return nil
}
func (genStore) RetainUploads(context.Context, []retro.Upload) ([]int64, error) { return nil, nil }
func (genStore) GetRetained(context.Context, []int64) ([]retro.Upload, error)   { return nil, nil }
func (genStore) PruneRetained(context.Context, time.Time) (int64, error)        { return 0, nil }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
