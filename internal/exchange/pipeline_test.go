package exchange_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// counted is an adapter with pages 1…pages of size distinct md5 hashes
// each (page p's checkpoint Pos is p), counting the pages it served.
type counted struct {
	pages, size int
	served      atomic.Int64
}

func (c *counted) Fetch(_ context.Context, cp exchange.Checkpoint) (exchange.Page, error) {
	p := int(cp.Pos) + 1
	page := exchange.Page{Next: exchange.Checkpoint{Pos: int64(p)}, More: p < c.pages}
	for i := range c.size {
		m := md5.Sum([]byte(strconv.Itoa(p*c.size + i)))
		page.Entries = append(page.Entries, exchange.Entry{ID: "p" + strconv.Itoa(p) + "-" + strconv.Itoa(i),
			Signal: bank.Signal{Type: bank.MD5, Value: hex.EncodeToString(m[:]), Quality: -1}})
	}
	c.served.Add(1)
	return page, nil
}

func (c *counted) Report(context.Context, exchange.Opinion) error { return exchange.ErrUnsupported }

// killingStore is a store whose first ApplyPage waits until the adapter has
// served waitFor pages, and fails from the killAt-th
// call on, as a process killed between two commits.
type killingStore struct {
	store.Store
	ad      *counted
	waitFor int64
	killAt  int
	calls   int
	pages   []int // pages per committed transaction
}

var errKilled = errors.New("killed")

func (k *killingStore) ApplyPage(ctx context.Context, name string, prev, next exchange.Checkpoint, by audit.Actor,
	detail map[string]any, fn func(w exchange.Writer) error) error {
	k.calls++
	if k.calls == 1 {
		for deadline := time.Now().Add(10 * time.Second); k.ad.served.Load() < k.waitFor && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
	if k.calls >= k.killAt {
		return errKilled
	}
	err := k.Store.ApplyPage(ctx, name, prev, next, by, detail, fn)
	if err == nil {
		k.pages = append(k.pages, int(next.Pos-prev.Pos))
	}
	return err
}

// TestPipelinedFetchCrashSafe: the fetcher runs ahead of the commits and
// the pages waiting are committed together, yet a fetch killed between two
// commits leaves exactly the committed pages and their checkpoint (pages
// fetched ahead are not applied), and the next fetch resumes from there
// with nothing lost or applied twice.
func TestPipelinedFetchCrashSafe(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		setup(t, st, "x", exchange.KindHashList, "https://example.org/l", nil)
		ad := &counted{pages: 40, size: 50}
		ks := &killingStore{Store: st, ad: ad, waitFor: 5, killAt: 3}
		sy := fastSyncer()
		sy.Store, sy.Banks = ks, st
		sy.MaxAhead, sy.MaxBatch = 4, 200 // at most 4 pages of 50 in a transaction
		if _, err := sy.Fetch(ctx, "x", ad); !errors.Is(err, errKilled) {
			t.Fatalf("killed fetch: %v", err)
		}
		if len(ks.pages) != 2 || ks.pages[1] < 2 || ks.pages[1] > 4 {
			t.Fatalf("committed batches of %v pages; want 2 batches, the second of 2 to 4 pages (what waited during the first commit, up to MaxBatch)", ks.pages)
		}
		x, err := st.GetExchange(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		committed := ks.pages[0] + ks.pages[1]
		if x.Checkpoint.Pos != int64(committed) {
			t.Fatalf("checkpoint %d after committing %d pages", x.Checkpoint.Pos, committed)
		}
		if served := ad.served.Load(); served <= int64(committed) {
			t.Fatalf("the fetcher served %d pages, no more than the %d committed: it did not run ahead", served, committed)
		}
		if active, all := activeCount(t, st, "x"); active != int64(committed*50) || all != active {
			t.Fatalf("after the kill: %d active, %d stored; want %d (the committed pages only)", active, all, committed*50)
		}
		sy.Store = st
		res, err := sy.Fetch(ctx, "x", ad)
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied.Added != (40-committed)*50 || res.Applied.Unchanged != 0 || res.Pages != 40-committed {
			t.Fatalf("resumed fetch: %+v, want %d pages, %d added, none unchanged", res, 40-committed, (40-committed)*50)
		}
		if active, all := activeCount(t, st, "x"); active != 40*50 || all != active {
			t.Fatalf("after resuming: %d active, %d stored; want %d", active, all, 40*50)
		}
		seq, err := st.LastSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		chs, err := st.Changes(ctx, 0, int(seq)+1)
		if err != nil {
			t.Fatal(err)
		}
		adds := 0
		for _, c := range chs {
			if c.Op == bank.OpSignalAdd {
				adds++
			}
		}
		if adds != 40*50 {
			t.Fatalf("change log: %d signal.add entries, want %d (one per signal, whatever the batching)", adds, 40*50)
		}
	})
}
