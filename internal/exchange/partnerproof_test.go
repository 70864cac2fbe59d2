package exchange_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// tamper rewrites a published page in place; it reports whether it found
// something to tamper with.
type tamper func(p *exchange.PublishedPage) bool

// firstChange returns the first block holding a change of the published
// bank.
func firstChange(p *exchange.PublishedPage) *exchange.PublishedBlock {
	for i := range p.Blocks {
		if len(p.Blocks[i].Changes) > 0 {
			return &p.Blocks[i]
		}
	}
	return nil
}

var tampers = []struct {
	name string
	fn   tamper
}{
	{"added change", func(p *exchange.PublishedPage) bool {
		b := firstChange(p)
		if b == nil {
			return false
		}
		c := b.Changes[0]
		c.Value = syntheticRec(900).PDQ
		b.Changes = append(b.Changes, c) // same seq: or the next one, either way not committed
		return true
	}},
	{"another bank's change passed off as ours", func(p *exchange.PublishedPage) bool {
		b := firstChange(p)
		if b == nil {
			return false
		}
		for i, o := range b.Others {
			if o.Bank != p.Bank && o.Op == bank.OpSignalAdd {
				c := b.Changes[0]
				c.Seq, c.Value = o.Seq, syntheticRec(901).PDQ
				b.Others = append(b.Others[:i], b.Others[i+1:]...)
				b.Changes = append(b.Changes, c)
				return true
			}
		}
		return false
	}},
	{"removed change", func(p *exchange.PublishedPage) bool {
		b := firstChange(p)
		if b == nil {
			return false
		}
		b.Changes = b.Changes[1:]
		return true
	}},
	{"altered value", func(p *exchange.PublishedPage) bool {
		b := firstChange(p)
		if b == nil {
			return false
		}
		b.Changes[0].Value = syntheticRec(902).PDQ
		return true
	}},
	{"altered category", func(p *exchange.PublishedPage) bool {
		b := firstChange(p)
		if b == nil {
			return false
		}
		b.Changes[0].Class = "B2"
		return true
	}},
	{"change withheld as another bank's", func(p *exchange.PublishedPage) bool {
		b := firstChange(p)
		if b == nil {
			return false
		}
		c := b.Changes[0]
		body := sha256.Sum256([]byte("anything"))
		b.Changes = b.Changes[1:]
		b.Others = append(b.Others, exchange.OtherChange{Seq: c.Seq, Op: c.Op, Bank: p.Bank, Body: body[:]})
		return true
	}},
	{"proof of another entry", func(p *exchange.PublishedPage) bool {
		if len(p.Blocks) < 2 {
			return false
		}
		p.Blocks[0].Proof = p.Blocks[1].Proof
		return true
	}},
}

// TestFederationTampered: B refuses a page of A's changes that is not what
// A's checkpointed log commits to — a change added, removed, altered,
// passed off as another bank's, or a commitment not proven in the tree —
// with ErrUnproven, applying nothing and keeping its checkpoint; the
// honest page then applies.
func TestFederationTampered(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, dsnA string) {
		ctx := context.Background()
		open := func(dsn string) store.Store {
			st, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		skey, vkey, err := audit.GenerateLogKey("a.example/log")
		if err != nil {
			t.Fatal(err)
		}
		keyA := filepath.Join(t.TempDir(), "a.key")
		if err := audit.WriteKeyFile(keyA, skey); err != nil {
			t.Fatal(err)
		}
		signerA, err := audit.OpenSigner(keyA)
		if err != nil {
			t.Fatal(err)
		}
		a := newInstance(open(dsnA), signerA)
		banksA := bank.NewService(a.st)
		for _, name := range []string{"hotline", "private"} {
			if _, err := banksA.CreateBank(ctx, bank.NewBank(name), curator); err != nil {
				t.Fatal(err)
			}
		}
		// Blocks of 4 changes mixing both banks.
		for i := range 6 {
			if _, _, err := banksA.AddSignal(ctx, "hotline", bank.Signal{Type: bank.PDQ, Value: syntheticRec(10 + i).PDQ,
				Category: "A1", Quality: 100}, curator); err != nil {
				t.Fatal(err)
			}
			if _, _, err := banksA.AddSignal(ctx, "private", bank.Signal{Type: bank.MD5, Value: syntheticRec(20 + i).MD5, Quality: -1}, curator); err != nil {
				t.Fatal(err)
			}
		}
		a.sign(t)
		token, err := exchange.NewPartnerToken(ctx, a.st, "instance-b", []string{"hotline"}, curator)
		if err != nil {
			t.Fatal(err)
		}

		var mode atomic.Pointer[tamper]
		var tampered atomic.Bool
		honest := a.handler()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fn := mode.Load()
			if fn == nil || !strings.HasPrefix(r.URL.Path, exchange.PublishPrefix) {
				honest.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			honest.ServeHTTP(rec, r)
			var p exchange.PublishedPage
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Errorf("honest page: %v", err)
			}
			tampered.Store((*fn)(&p))
			json.NewEncoder(w).Encode(p)
		}))
		t.Cleanup(srv.Close)

		b := open(newDSN(t, dsnA))
		svcB := setup(t, b, "from-a", exchange.KindNigehban, srv.URL, map[string]string{"token": token})
		if _, err := svcB.Add(ctx, exchange.Exchange{Name: "a-hotline", Kind: exchange.KindNigehban, Bank: "from-a", URL: srv.URL,
			Settings: map[string]string{"bank": "hotline", "log_vkey": vkey}, Credentials: map[string]string{"token": token}, Enabled: true}, curator); err != nil {
			t.Fatal(err)
		}
		for _, tt := range tampers {
			t.Run(tt.name, func(t *testing.T) {
				mode.Store(&tt.fn)
				tampered.Store(false)
				before, _ := b.GetExchange(ctx, "a-hotline")
				_, err := svcB.Fetch(ctx, "a-hotline", fastSyncer())
				if !tampered.Load() {
					t.Fatal("the page offered nothing to tamper with")
				}
				if !errors.Is(err, exchange.ErrUnproven) {
					t.Fatalf("tampered page: %v, want ErrUnproven", err)
				}
				after, _ := b.GetExchange(ctx, "a-hotline")
				if after.Checkpoint.Pos != before.Checkpoint.Pos {
					t.Errorf("checkpoint moved from %d to %d", before.Checkpoint.Pos, after.Checkpoint.Pos)
				}
				if n, _ := activeCount(t, b, "from-a"); n != 0 {
					t.Errorf("%d signals of a tampered page applied", n)
				}
			})
		}
		mode.Store(nil)
		res, err := svcB.Fetch(ctx, "a-hotline", fastSyncer())
		if err != nil || res.Applied.Added != 6 {
			t.Fatalf("honest pages: %+v, %v; want the 6 hotline signals", res, err)
		}
		if n, _ := activeCount(t, b, "from-a"); n != 6 {
			t.Fatalf("B holds %d signals, want 6", n)
		}
		// A page asked against a tree that does not hold the commitments
		// yet is empty, not unproven: new changes wait for A's next
		// checkpoint.
		if _, _, err := banksA.AddSignal(ctx, "hotline", bank.Signal{Type: bank.PDQ, Value: syntheticRec(30).PDQ, Quality: 100}, curator); err != nil {
			t.Fatal(err)
		}
		if res, err := svcB.Fetch(ctx, "a-hotline", fastSyncer()); err != nil || res.Applied.Added != 0 {
			t.Fatalf("before A signs: %+v, %v", res, err)
		}
		a.sign(t)
		if res, err := svcB.Fetch(ctx, "a-hotline", fastSyncer()); err != nil || res.Applied.Added != 1 {
			t.Fatalf("after A signs: %+v, %v", res, err)
		}
	})
}
