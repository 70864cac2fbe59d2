package exchange_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/review"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

var curator = audit.Actor{Name: "curator"}

// testRing returns a data key ring from a fresh key file.
func testRing(t testing.TB) *sealed.Ring {
	t.Helper()
	line, err := sealed.NewKeyLine("k1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := sealed.Parse(strings.NewReader(line + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// setup creates a bank and an exchange of kind on st and returns the service.
func setup(t testing.TB, st store.Store, name string, kind exchange.Kind, url string, creds map[string]string) *exchange.Service {
	t.Helper()
	ctx := context.Background()
	if _, err := bank.NewService(st).CreateBank(ctx, bank.NewBank(name), curator); err != nil {
		t.Fatal(err)
	}
	svc := &exchange.Service{St: st, Banks: st, Keys: testRing(t)}
	if _, err := svc.Add(ctx, exchange.Exchange{Name: name, Kind: kind, Bank: name, URL: url, Credentials: creds, Enabled: true}, curator); err != nil {
		t.Fatal(err)
	}
	return svc
}

func activeCount(t testing.TB, st store.Store, bankName string) (active, all int64) {
	t.Helper()
	s, err := st.BankStats(context.Background(), bankName)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range s.Active {
		active += n
	}
	all = active
	for _, n := range s.Removed {
		all += n
	}
	return active, all
}

// nextWindow returns a time inside the next fetch's window (after the
// committed checkpoint, before the window's end at the next fetch).
func nextWindow(t testing.TB, st store.Store, name string) time.Time {
	t.Helper()
	x, err := st.GetExchange(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // the next window ends later than this one
	return time.UnixMicro(x.Checkpoint.Pos).Add(time.Millisecond)
}

func fastSyncer() exchange.Syncer {
	return exchange.Syncer{MaxWait: 10 * time.Millisecond, Log: slog.New(slog.DiscardHandler)}
}

var ncmecCreds = map[string]string{"user": "esp", "password": "secret"}

// TestNCMECSync: a full sync through paging and rate limits, with the
// exchange's metadata on every signal; a kill after the first page resumes
// with nothing lost or duplicated, also when the paging URL expired in
// between; deletions withdraw the entry's hashes within one fetch; a
// malformed page fails the fetch and moves nothing.
func TestNCMECSync(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		f, srv := newFakeNCMEC(t)
		f.maxSize = 400
		for i := range 1000 {
			f.add(syntheticRec(i))
		}
		f.rateEvery = 3
		svc := setup(t, st, "ncmec", exchange.KindNCMEC, srv.URL, ncmecCreds)

		// Kill after the first committed page (the fetcher has been
		// fetching ahead meanwhile; MaxBatch 1 commits one page a
		// transaction, so the position is known).
		// Pages commit one by one here (NoStaging: the merged path's kill
		// is TestStagingConformance's); the resumed fetch merges.
		kctx, kill := context.WithCancel(ctx)
		sy := fastSyncer()
		sy.MaxBatch = 1
		sy.NoStaging = true
		sy.Progress = func(int64) { kill() }
		if _, err := svc.Fetch(kctx, "ncmec", sy); !errors.Is(err, context.Canceled) {
			t.Fatalf("killed fetch: %v, want context.Canceled", err)
		}
		active, all := activeCount(t, st, "ncmec")
		if active != 400*3 || all != active {
			t.Fatalf("after one page: %d active, %d stored; want 1200", active, all)
		}
		x, _ := st.GetExchange(ctx, "ncmec")
		if x.Checkpoint.State == "" || x.Checkpoint.Pos != 0 {
			t.Fatalf("checkpoint mid-window: %+v", x.Checkpoint)
		}
		f.expireTokens() // the paging URL of the checkpoint is gone: the window restarts
		res, err := svc.Fetch(ctx, "ncmec", fastSyncer())
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied.Added != 600*3 || res.Applied.Unchanged != 400*3 {
			t.Fatalf("resumed fetch: %+v, want 1800 added, 1200 unchanged (the restarted window)", res.Applied)
		}
		active, all = activeCount(t, st, "ncmec")
		if active != 3000 || all != 3000 {
			t.Fatalf("after full sync: %d active, %d stored, want 3000", active, all)
		}
		sig, err := st.FindSignal(ctx, "ncmec", bank.MD5, syntheticRec(5).MD5)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{exchange.MetaExchange: "ncmec", exchange.MetaEntry: "image/6/e5", exchange.MetaMember: "6", exchange.MetaClass: "A2"}
		for k, v := range want {
			if sig.Extra[k] != v {
				t.Errorf("signal extra %s = %q, want %q", k, sig.Extra[k], v)
			}
		}
		if sig.Category != "A2" || sig.Source != "exchange:ncmec" {
			t.Errorf("signal category %q source %q", sig.Category, sig.Source)
		}

		// Deletions: entries 5 and 6 deleted (by id only), a new entry added.
		seq, _ := st.LastSeq(ctx)
		now := nextWindow(t, st, "ncmec")
		d5, d6 := syntheticRec(5), syntheticRec(6)
		d5.Deleted, d6.Deleted, d5.At, d6.At = true, true, now, now
		n := syntheticRec(5000)
		n.At = now.Add(time.Millisecond)
		f.add(d5, d6, n)
		res, err = svc.Fetch(ctx, "ncmec", fastSyncer())
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied.Withdrawn != 6 || res.Applied.Added != 3 {
			t.Fatalf("deletion fetch: %+v, want 6 withdrawn, 3 added", res.Applied)
		}
		if _, err := st.FindSignal(ctx, "ncmec", bank.PDQ, d5.PDQ); !errors.Is(err, bank.ErrNotFound) {
			t.Fatalf("deleted entry's PDQ still active: %v", err)
		}
		chs, err := st.Changes(ctx, seq, 100)
		if err != nil {
			t.Fatal(err)
		}
		removes := 0
		for _, c := range chs {
			if c.Op == bank.OpSignalRemove {
				removes++
			}
		}
		if removes != 6 {
			t.Fatalf("change log after deletions: %d signal.remove entries, want 6 (what replicas' live indexes follow)", removes)
		}

		// A malformed page: the fetch fails, the checkpoint stays, the error is visible.
		before, _ := st.GetExchange(ctx, "ncmec")
		r6000 := syntheticRec(6000)
		r6000.At = nextWindow(t, st, "ncmec")
		f.add(r6000)
		f.malformed = 1
		if _, err := svc.Fetch(ctx, "ncmec", fastSyncer()); !errors.Is(err, exchange.ErrMalformed) {
			t.Fatalf("malformed page: %v", err)
		}
		after, _ := st.GetExchange(ctx, "ncmec")
		if after.Checkpoint != before.Checkpoint || !strings.Contains(after.State.LastError, "malformed") {
			t.Fatalf("after malformed page: checkpoint %+v (was %+v), last error %q", after.Checkpoint, before.Checkpoint, after.State.LastError)
		}
		if _, err := svc.Fetch(ctx, "ncmec", fastSyncer()); err != nil {
			t.Fatal(err)
		}
		after, _ = st.GetExchange(ctx, "ncmec")
		if after.State.LastError != "" || after.State.LastOKAt == nil || after.Checkpoint.Pos <= before.Checkpoint.Pos {
			t.Fatalf("after recovery: %+v", after)
		}
	})
}

// TestCheckpointNeverBackwards: ApplyPage refuses an older position and a
// page fetched from a checkpoint that moved since; nothing is applied.
func TestCheckpointNeverBackwards(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		setup(t, st, "x", exchange.KindHashList, "https://example.org/list.txt", nil)
		sig := bank.Signal{Type: bank.MD5, Value: strings.Repeat("ab", 16), Quality: -1}
		add := func(prev, next exchange.Checkpoint) error {
			return st.ApplyPage(ctx, "x", prev, next, curator, nil, func(w exchange.Writer) error {
				_, err := w.Add(ctx, []bank.Signal{sig})
				return err
			})
		}
		if err := add(exchange.Checkpoint{}, exchange.Checkpoint{Pos: 10, State: "a"}); err != nil {
			t.Fatal(err)
		}
		if err := add(exchange.Checkpoint{Pos: 10, State: "a"}, exchange.Checkpoint{Pos: 9}); !errors.Is(err, exchange.ErrBackwards) {
			t.Fatalf("backwards: %v", err)
		}
		sig.Value = strings.Repeat("cd", 16)
		if err := add(exchange.Checkpoint{}, exchange.Checkpoint{Pos: 20}); !errors.Is(err, exchange.ErrConflict) {
			t.Fatalf("stale page: %v", err)
		}
		if err := add(exchange.Checkpoint{Pos: 10, State: "b"}, exchange.Checkpoint{Pos: 20}); !errors.Is(err, exchange.ErrConflict) {
			t.Fatalf("stale state: %v", err)
		}
		if _, err := st.FindSignal(ctx, "x", bank.MD5, sig.Value); !errors.Is(err, bank.ErrNotFound) {
			t.Fatalf("a refused page was applied: %v", err)
		}
		x, _ := st.GetExchange(ctx, "x")
		if x.Checkpoint != (exchange.Checkpoint{Pos: 10, State: "a"}) {
			t.Fatalf("checkpoint %+v", x.Checkpoint)
		}
	})
}

// TestNCMECFeedback: each review decision reaches the server exactly once,
// whatever is retried; a false positive marks the signal disputed.
func TestNCMECFeedback(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		f, srv := newFakeNCMEC(t)
		for i := range 3 {
			f.add(syntheticRec(i))
		}
		svc := setup(t, st, "ncmec", exchange.KindNCMEC, srv.URL, ncmecCreds)
		if _, err := svc.Fetch(ctx, "ncmec", fastSyncer()); err != nil {
			t.Fatal(err)
		}
		s0, _ := st.FindSignal(ctx, "ncmec", bank.PDQ, syntheticRec(0).PDQ)
		s1, _ := st.FindSignal(ctx, "ncmec", bank.MD5, syntheticRec(1).MD5)
		for range 2 { // the same decisions given twice
			if _, err := svc.Feedback(ctx, s0, exchange.TruePositive, "review:1", curator); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Feedback(ctx, s1, exchange.FalsePositive, "review:2", curator); err != nil {
				t.Fatal(err)
			}
		}
		local := bank.Signal{ID: 99, Type: bank.MD5, Value: s1.Value}
		if q, err := svc.Feedback(ctx, local, exchange.FalsePositive, "review:3", curator); q || err != nil {
			t.Fatalf("signal from no exchange: queued %v, %v", q, err)
		}
		// First delivery fails (the server's credentials changed), then succeeds.
		f.pass = "rotated"
		now := time.Now()
		if n, err := svc.Deliver(ctx, now); n != 0 || err == nil {
			t.Fatalf("deliver with bad credentials: %d sent, %v", n, err)
		}
		f.pass = "secret"
		if n, _ := svc.Deliver(ctx, now); n != 0 {
			t.Fatalf("retried before its backoff: %d", n)
		}
		later := now.Add(time.Hour)
		if n, err := svc.Deliver(ctx, later); n != 2 || err != nil {
			t.Fatalf("deliver: %d sent, %v", n, err)
		}
		if n, err := svc.Deliver(ctx, later.Add(time.Hour)); n != 0 || err != nil {
			t.Fatalf("second deliver: %d sent, %v", n, err)
		}
		want := map[string]int{"1/image/e0 affirmative": 1, "2/image/e1 negative": 1}
		if fmt.Sprint(f.votes) != fmt.Sprint(want) {
			t.Fatalf("votes at the server: %v, want %v", f.votes, want)
		}
		if d, _ := st.Disputed(ctx, s1.ID); !d {
			t.Error("false positive of an NCMEC hash is not marked disputed")
		}
		if d, _ := st.Disputed(ctx, s0.ID); d {
			t.Error("confirmed signal marked disputed")
		}
	})
}

// TestHashListURL: conditional GET, snapshot semantics (a value that
// leaves the list is withdrawn, one that returns comes back), rate limits.
func TestHashListURL(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		var mu sync.Mutex
		list, etag, gets, notModified, limited := "", "", 0, 0, 1
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			gets++
			if limited > 0 {
				limited--
				w.Header().Set("Retry-After", "0")
				http.Error(w, "later", http.StatusTooManyRequests)
				return
			}
			if r.Header.Get("Authorization") != "Bearer tok" {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			if r.Header.Get("If-None-Match") == etag {
				notModified++
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", etag)
			fmt.Fprint(w, list)
		}))
		defer srv.Close()
		svc := setup(t, st, "list", exchange.KindHashList, srv.URL+"/hashes.csv", map[string]string{"token": "tok"})
		h := func(b byte) string { return strings.Repeat(fmt.Sprintf("%02x", b), 16) }
		cat := "A1"
		set := func(tag string, vals ...string) {
			mu.Lock()
			defer mu.Unlock()
			etag, list = `"`+tag+`"`, "type,value,category\n"
			for _, v := range vals {
				list += "md5," + v + "," + cat + "\n"
			}
		}
		set("v1", h(1), h(2), h(3))
		if res, err := svc.Fetch(ctx, "list", fastSyncer()); err != nil || res.Applied.Added != 3 {
			t.Fatalf("first fetch: %+v, %v", res, err)
		}
		if res, err := svc.Fetch(ctx, "list", fastSyncer()); err != nil || res.Pages != 0 || notModified != 1 {
			t.Fatalf("unchanged list: %+v, %v, %d not-modified answers", res, err, notModified)
		}
		set("v2", h(1), h(3), h(4))
		res, err := svc.Fetch(ctx, "list", fastSyncer())
		if err != nil || res.Applied.Added != 1 || res.Applied.Withdrawn != 1 {
			t.Fatalf("changed list: %+v, %v", res, err)
		}
		if _, err := st.FindSignal(ctx, "list", bank.MD5, h(2)); !errors.Is(err, bank.ErrNotFound) {
			t.Fatal("value that left the list is still active")
		}
		set("v3", h(1), h(2), h(3), h(4))
		if res, err := svc.Fetch(ctx, "list", fastSyncer()); err != nil || res.Applied.Added != 1 {
			t.Fatalf("value back in the list: %+v, %v (a withdrawal must not exclude it)", res, err)
		}
		// The list's values recategorised: each signal updated, none duplicated.
		cat = "B1"
		set("v4", h(1), h(2), h(3), h(4))
		if res, err := svc.Fetch(ctx, "list", fastSyncer()); err != nil || res.Applied.Added != 4 || res.Applied.Withdrawn != 4 {
			t.Fatalf("recategorised list: %+v, %v; want 4 updated", res, err)
		}
		if s, err := st.FindSignal(ctx, "list", bank.MD5, h(2)); err != nil || s.Category != "B1" {
			t.Fatalf("recategorised value: %+v, %v", s, err)
		}
		if active, _ := activeCount(t, st, "list"); active != 4 {
			t.Fatalf("%d active after the update, want 4", active)
		}
	})
}

// TestCredentialsSealed: credentials are stored sealed, never in clear,
// and refused without a data key.
func TestCredentialsSealed(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	svc := setup(t, st, "ncmec", exchange.KindNCMEC, "https://example.org", ncmecCreds)
	x, err := st.GetExchange(ctx, "ncmec")
	if err != nil {
		t.Fatal(err)
	}
	if x.SealedCredentials == "" || strings.Contains(x.SealedCredentials, "secret") {
		t.Fatalf("stored credentials %q", x.SealedCredentials)
	}
	o, err := svc.Open(ctx, "ncmec")
	if err != nil || o.Credentials["password"] != "secret" {
		t.Fatalf("open: %v %v", o.Credentials, err)
	}
	nokey := &exchange.Service{St: st, Banks: st}
	_, err = nokey.Add(ctx, exchange.Exchange{Name: "b", Kind: exchange.KindNCMEC, Bank: "ncmec", URL: "https://e", Credentials: ncmecCreds}, curator)
	if !errors.Is(err, sealed.ErrNoKey) {
		t.Fatalf("credentials without a key: %v", err)
	}
}

// timeFar is a time by which every queued opinion is due.
func timeFar() time.Time { return time.Now().Add(24 * time.Hour) }

// TestStaleRefetch: an exchange whose last good fetch is older than its
// StaleAfter starts over from the beginning (audited), and a refetch from
// scratch adds nothing twice.
func TestStaleRefetch(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		f, srv := newFakeNCMEC(t)
		for i := range 30 {
			f.add(syntheticRec(i))
		}
		svc := setup(t, st, "n", exchange.KindNCMEC, srv.URL, ncmecCreds)
		if _, err := svc.Add(ctx, exchange.Exchange{Name: "stale", Kind: exchange.KindNCMEC, Bank: "n", URL: srv.URL,
			Credentials: ncmecCreds, Enabled: true, StaleAfter: 24 * time.Hour}, curator); err != nil {
			t.Fatal(err)
		}
		if res, err := svc.Fetch(ctx, "stale", fastSyncer()); err != nil || res.Reset || res.Applied.Added != 90 {
			t.Fatalf("first fetch: %+v, %v", res, err)
		}
		sy := fastSyncer()
		sy.Now = func() time.Time { return time.Now().Add(23 * time.Hour) }
		if res, err := svc.Fetch(ctx, "stale", sy); err != nil || res.Reset {
			t.Fatalf("fresh enough: %+v, %v", res, err)
		}
		sy.Now = func() time.Time { return time.Now().Add(25 * time.Hour) }
		res, err := svc.Fetch(ctx, "stale", sy)
		if err != nil || !res.Reset || res.From != 0 || res.Applied.Unchanged != 90 || res.Applied.Added != 0 {
			t.Fatalf("stale fetch: %+v, %v", res, err)
		}
		es, err := st.ListAudit(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		resets := 0
		for _, e := range es {
			if e.Action == exchange.ActReset && e.Target == "stale" {
				resets++
			}
		}
		if resets != 1 {
			t.Fatalf("%d exchange.reset audit entries, want 1", resets)
		}
	})
}

// scripted is an adapter that returns its pages in turn.
type scripted struct{ pages []exchange.Page }

func (s *scripted) Fetch(_ context.Context, cp exchange.Checkpoint) (exchange.Page, error) {
	p := s.pages[0]
	s.pages = s.pages[1:]
	return p, nil
}
func (s *scripted) Report(context.Context, exchange.Opinion) error { return exchange.ErrUnsupported }

// TestUpdateAndOrder: an update replaces the stored signal's metadata (the
// old version removed, the new one added, both in the change log); within
// a page, a deletion after an addition of the same hash wins and an
// addition after a deletion brings it back.
func TestUpdateAndOrder(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		setup(t, st, "x", exchange.KindHashList, "https://example.org/l", nil)
		h1, h2, h3 := syntheticRec(1).MD5, syntheticRec(2).MD5, syntheticRec(3).MD5
		e := func(v, class string, del, upd bool) exchange.Entry {
			return exchange.Entry{ID: "e-" + v[:4], Class: class, Deleted: del, Update: upd,
				Signal: bank.Signal{Type: bank.MD5, Value: v, Quality: -1}}
		}
		ad := &scripted{pages: []exchange.Page{
			{Entries: []exchange.Entry{e(h1, "B1", false, false), e(h2, "A1", false, false), e(h2, "", true, false),
				e(h3, "A1", false, false)}, Next: exchange.Checkpoint{Pos: 1}},
			{Entries: []exchange.Entry{e(h1, "A1", false, true), e(h3, "", true, false), e(h3, "A2", false, false)},
				Next: exchange.Checkpoint{Pos: 2}},
		}}
		sy := fastSyncer()
		sy.Store, sy.Banks = st, st
		for range 2 {
			if _, err := sy.Fetch(ctx, "x", ad); err != nil {
				t.Fatal(err)
			}
		}
		s1, err := st.FindSignal(ctx, "x", bank.MD5, h1)
		if err != nil || s1.Category != "A1" || s1.Extra[exchange.MetaClass] != "A1" {
			t.Fatalf("updated signal: %+v, %v", s1, err)
		}
		if _, err := st.FindSignal(ctx, "x", bank.MD5, h2); !errors.Is(err, bank.ErrNotFound) {
			t.Fatalf("added then deleted in one page: %v", err)
		}
		if s3, err := st.FindSignal(ctx, "x", bank.MD5, h3); err != nil || s3.Category != "A2" {
			t.Fatalf("deleted then added again: %+v, %v", s3, err)
		}
		if active, all := activeCount(t, st, "x"); active != 2 || all != 5 {
			t.Fatalf("%d active, %d stored; want 2 and 5 (h1 twice, h2 once, h3 twice)", active, all)
		}
	})
}

// TestReviewFeedback: the review queue's decisions reach the exchange
// through ReviewFeedback: a confirmation is an up-vote, a rejection a
// down-vote (and marks the signal disputed), each once however often the
// hook runs; an escalation says nothing.
func TestReviewFeedback(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		f, srv := newFakeNCMEC(t)
		for i := range 3 {
			f.add(syntheticRec(i))
		}
		svc := setup(t, st, "ncmec", exchange.KindNCMEC, srv.URL, ncmecCreds)
		if _, err := svc.Fetch(ctx, "ncmec", fastSyncer()); err != nil {
			t.Fatal(err)
		}
		s0, _ := st.FindSignal(ctx, "ncmec", bank.PDQ, syntheticRec(0).PDQ)
		s1, _ := st.FindSignal(ctx, "ncmec", bank.MD5, syntheticRec(1).MD5)
		s2, _ := st.FindSignal(ctx, "ncmec", bank.MD5, syntheticRec(2).MD5)
		hook := exchange.ReviewHook(st, nil, nil) // what serve's API and console install
		if hook == nil {
			t.Fatal("no hook over a store that keeps exchanges")
		}
		if exchange.ReviewHook(struct{ bank.Store }{st}, nil, nil) != nil {
			t.Fatal("a hook over a store without exchanges")
		}
		for range 2 {
			for _, c := range []struct {
				id  int64
				sig bank.Signal
				d   review.Decision
			}{{1, s0, review.Confirm}, {2, s1, review.Reject}, {3, s2, review.Escalate}} {
				if err := hook(ctx, review.Item{ID: c.id, SignalID: c.sig.ID}, c.d, curator); err != nil {
					t.Fatal(err)
				}
			}
		}
		if n, err := svc.Deliver(ctx, time.Now()); n != 2 || err != nil {
			t.Fatalf("deliver: %d sent, %v; want 2", n, err)
		}
		want := map[string]int{"1/image/e0 affirmative": 1, "2/image/e1 negative": 1}
		if fmt.Sprint(f.votes) != fmt.Sprint(want) {
			t.Fatalf("votes at the server: %v, want %v", f.votes, want)
		}
		if d, _ := st.Disputed(ctx, s1.ID); !d {
			t.Error("rejected NCMEC hash not marked disputed")
		}
	})
}
