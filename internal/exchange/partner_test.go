package exchange_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/match"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// instance is a Nigehban instance publishing banks: a store, a log signer
// and an HTTP server with /log/ and /partner/.
type instance struct {
	st     store.Store
	signer *audit.Signer
	cl     *exchange.ChangeLog
}

func newInstance(st store.Store, signer *audit.Signer) *instance {
	return &instance{st: st, signer: signer, cl: &exchange.ChangeLog{St: st, BlockSize: 4}}
}

// sign commits the change log and signs a checkpoint, as serve's log does.
func (in *instance) sign(t *testing.T) {
	t.Helper()
	l := &audit.Log{Store: in.st, Signer: in.signer, BeforeSign: func(ctx context.Context) error {
		_, err := in.cl.Commit(ctx)
		return err
	}}
	if _, err := l.Checkpoint(context.Background(), false); err != nil {
		t.Fatal(err)
	}
}

func (in *instance) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/log/", http.StripPrefix("/log", audit.Handler(in.st, slog.New(slog.DiscardHandler))))
	mux.Handle(exchange.PublishPrefix, &exchange.Publisher{Partners: in.st, ChangeLog: in.cl})
	return mux
}

// newDSN returns a new database of the engine dsn is on.
func newDSN(t *testing.T, dsn string) string {
	if store.IsPostgres(dsn) {
		return storetest.PostgresURL(t)
	}
	return storetest.SQLitePath(t)
}

// TestFederation: instance B subscribes to a bank instance A publishes: a
// hash added on A is matched on B after one fetch, a removal on A removes
// it on B, and a checkpoint from A inconsistent with one B accepted before
// (A's log forked under the same key) is refused with nothing applied.
func TestFederation(t *testing.T) {
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
		dir := t.TempDir()
		skey, vkey, err := audit.GenerateLogKey("a.example/log")
		if err != nil {
			t.Fatal(err)
		}
		keyA := filepath.Join(dir, "a.key")
		if err := audit.WriteKeyFile(keyA, skey); err != nil {
			t.Fatal(err)
		}
		signerA, err := audit.OpenSigner(keyA)
		if err != nil {
			t.Fatal(err)
		}
		a := newInstance(open(dsnA), signerA)
		var current atomic.Pointer[http.Handler]
		h := a.handler()
		current.Store(&h)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*current.Load()).ServeHTTP(w, r) }))
		t.Cleanup(srv.Close)

		banksA := bank.NewService(a.st)
		if _, err := banksA.CreateBank(ctx, bank.NewBank("hotline"), curator); err != nil {
			t.Fatal(err)
		}
		if _, err := banksA.CreateBank(ctx, bank.NewBank("private"), curator); err != nil {
			t.Fatal(err)
		}
		token, err := exchange.NewPartnerToken(ctx, a.st, "instance-b", []string{"hotline"}, curator)
		if err != nil {
			t.Fatal(err)
		}

		b := open(newDSN(t, dsnA))
		svcB := setup(t, b, "from-a", exchange.KindNigehban, srv.URL, map[string]string{"token": token})
		// setup created the exchange without settings: add the subscription proper.
		if _, err := svcB.Add(ctx, exchange.Exchange{Name: "a-hotline", Kind: exchange.KindNigehban, Bank: "from-a", URL: srv.URL,
			Settings: map[string]string{"bank": "hotline", "log_vkey": vkey}, Credentials: map[string]string{"token": token}, Enabled: true}, curator); err != nil {
			t.Fatal(err)
		}

		hash := syntheticRec(1).PDQ
		if _, _, err := banksA.AddSignal(ctx, "hotline", bank.Signal{Type: bank.PDQ, Value: hash, Category: "A1", Quality: 100}, curator); err != nil {
			t.Fatal(err)
		}
		if _, _, err := banksA.AddSignal(ctx, "private", bank.Signal{Type: bank.MD5, Value: syntheticRec(2).MD5, Quality: -1}, curator); err != nil {
			t.Fatal(err)
		}
		a.sign(t)
		if _, err := svcB.Fetch(ctx, "a-hotline", fastSyncer()); err != nil {
			t.Fatal(err)
		}
		m, err := match.LoadStore(ctx, b, nil, match.DefaultStoreOptions())
		if err != nil {
			t.Fatal(err)
		}
		h0, _ := pdq.ParseHex(hash)
		if hits := m.MatchPDQ(flipPDQ(h0, 5)); len(hits) != 1 || hits[0].Bank != "from-a" || hits[0].Category != "A1" {
			t.Fatalf("B's matches for A's hash: %+v", hits)
		}
		if a, _ := activeCount(t, b, "from-a"); a != 1 {
			t.Fatalf("B holds %d signals; the unpublished bank leaked?", a)
		}

		// A removes it: gone on B after one fetch.
		if _, _, err := banksA.RemoveSignal(ctx, "hotline", bank.SignalRef{Type: bank.PDQ, Value: hash}, "false positive", curator); err != nil {
			t.Fatal(err)
		}
		a.sign(t)
		if res, err := svcB.Fetch(ctx, "a-hotline", fastSyncer()); err != nil || res.Applied.Withdrawn != 1 {
			t.Fatalf("fetch after removal: %+v, %v", res, err)
		}
		if _, err := b.FindSignal(ctx, "from-a", bank.PDQ, hash); !errors.Is(err, bank.ErrNotFound) {
			t.Fatalf("removed on A, still on B: %v", err)
		}

		// A's log forks: another history signed with the same key.
		before, _ := b.GetExchange(ctx, "a-hotline")
		keyFork := filepath.Join(dir, "fork.key")
		raw, _ := os.ReadFile(keyA)
		os.WriteFile(keyFork, raw, 0o600)
		signerFork, err := audit.OpenSigner(keyFork)
		if err != nil {
			t.Fatal(err)
		}
		fork := newInstance(open(newDSN(t, dsnA)), signerFork)
		banksF := bank.NewService(fork.st)
		banksF.CreateBank(ctx, bank.NewBank("hotline"), curator)
		for i := range 20 {
			banksF.AddSignal(ctx, "hotline", bank.Signal{Type: bank.PDQ, Value: syntheticRec(100 + i).PDQ, Quality: 100}, curator)
		}
		fork.sign(t)
		fh := fork.handler()
		current.Store(&fh)
		_, err = svcB.Fetch(ctx, "a-hotline", fastSyncer())
		if !errors.Is(err, audit.ErrLogInconsistent) {
			t.Fatalf("forked partner log: %v, want ErrLogInconsistent", err)
		}
		after, _ := b.GetExchange(ctx, "a-hotline")
		if after.Checkpoint != before.Checkpoint || !strings.Contains(after.State.LastError, "inconsistent") {
			t.Fatalf("after the fork: checkpoint moved or no error shown: %+v", after)
		}
		if n, _ := activeCount(t, b, "from-a"); n != 0 {
			t.Fatalf("the forked log's signals reached B: %d", n)
		}

		// A checkpoint signed by another key is refused too.
		if _, err := svcB.Add(ctx, exchange.Exchange{Name: "wrong-key", Kind: exchange.KindNigehban, Bank: "from-a", URL: srv.URL,
			Settings: map[string]string{"bank": "hotline", "log_vkey": otherVKey(t)}, Credentials: map[string]string{"token": token}, Enabled: true}, curator); err != nil {
			t.Fatal(err)
		}
		if _, err := svcB.Fetch(ctx, "wrong-key", fastSyncer()); err == nil {
			t.Fatal("a checkpoint under another key was accepted")
		}
	})
}

func otherVKey(t *testing.T) string {
	_, vkey, err := audit.GenerateLogKey("a.example/log")
	if err != nil {
		t.Fatal(err)
	}
	return vkey
}

func flipPDQ(h pdq.Hash, n int) pdq.Hash {
	for i := range n {
		h[i/64] ^= 1 << (i % 64)
	}
	return h
}
