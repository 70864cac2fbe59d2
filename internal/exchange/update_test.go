package exchange_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// checkUpdated fails t unless the bank holds one active signal of value v,
// with category cat (if not "") and extra key k = want (if k is not "").
func checkUpdated(t *testing.T, st store.Store, bankName string, typ bank.Type, v, cat, k, want string) {
	t.Helper()
	s, err := st.FindSignal(context.Background(), bankName, typ, v)
	if err != nil {
		t.Fatalf("%s %s: %v", typ, v, err)
	}
	if cat != "" && s.Category != cat {
		t.Errorf("%s %s: category %q, want %q", typ, v, s.Category, cat)
	}
	if k != "" && s.Extra[k] != want {
		t.Errorf("%s %s: extra %s = %q, want %q", typ, v, k, s.Extra[k], want)
	}
}

func checkGone(t *testing.T, st store.Store, bankName string, typ bank.Type, v string) {
	t.Helper()
	if _, err := st.FindSignal(context.Background(), bankName, typ, v); !errors.Is(err, bank.ErrNotFound) {
		t.Errorf("old %s %s still active: %v", typ, v, err)
	}
}

// update replaces entries by id, as NCMEC serves an entry once, in its
// latest version, at its latest timestamp (At must not go backwards).
func (f *fakeNCMEC) update(rs ...ncmecRec) {
	f.mu.Lock()
	for _, r := range rs {
		f.recs = slices.DeleteFunc(f.recs, func(o ncmecRec) bool { return o.ID == r.ID })
	}
	f.mu.Unlock()
	f.add(rs...)
}

// TestNCMECEntryUpdates: an NCMEC entry sent again with another
// classification updates its three signals (new category, one active
// each); one sent again with another PDQ withdraws the old PDQ and adds the
// new one; the window fetched again changes nothing.
func TestNCMECEntryUpdates(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		f, srv := newFakeNCMEC(t)
		for i := range 10 {
			f.add(syntheticRec(i))
		}
		svc := setup(t, st, "ncmec", exchange.KindNCMEC, srv.URL, ncmecCreds)
		if _, err := svc.Fetch(ctx, "ncmec", fastSyncer()); err != nil {
			t.Fatal(err)
		}
		now := nextWindow(t, st, "ncmec")
		reclassified, rehashed := syntheticRec(3), syntheticRec(4)
		reclassified.Class, reclassified.At = "A1", now // was B2
		oldPDQ := rehashed.PDQ
		rehashed.PDQ, rehashed.At = syntheticRec(4004).PDQ, now.Add(time.Millisecond)
		f.update(reclassified, rehashed)
		res, err := svc.Fetch(ctx, "ncmec", fastSyncer())
		if err != nil {
			t.Fatal(err)
		}
		// Entry 3: three signals replaced; entry 4: md5 and sha1 unchanged,
		// the PDQ replaced by another value.
		if res.Applied.Withdrawn != 4 || res.Applied.Added != 4 || res.Applied.Unchanged != 2 {
			t.Fatalf("update fetch: %+v; want 4 withdrawn, 4 added, 2 unchanged", res.Applied)
		}
		for _, v := range []struct {
			typ bank.Type
			val string
		}{{bank.MD5, reclassified.MD5}, {bank.SHA1, reclassified.SHA1}, {bank.PDQ, reclassified.PDQ}} {
			checkUpdated(t, st, "ncmec", v.typ, v.val, "A1", exchange.MetaClass, "A1")
		}
		checkGone(t, st, "ncmec", bank.PDQ, oldPDQ)
		checkUpdated(t, st, "ncmec", bank.PDQ, rehashed.PDQ, "", exchange.MetaEntry, "image/5/e4")
		if active, all := activeCount(t, st, "ncmec"); active != 30 || all != 34 {
			t.Fatalf("%d active, %d stored; want 30 and 34 (4 replaced)", active, all)
		}
		// Everything fetched again from scratch (the staleness policy):
		// nothing changes.
		if err := st.ResetCheckpoint(ctx, "ncmec", "test", curator); err != nil {
			t.Fatal(err)
		}
		res, err = svc.Fetch(ctx, "ncmec", fastSyncer())
		if err != nil || res.Applied.Added != 0 || res.Applied.Withdrawn != 0 {
			t.Fatalf("refetch from scratch: %+v, %v; want nothing changed", res.Applied, err)
		}
	})
}

// TestStopNCIIStatusUpdates: a StopNCII record sent again with a status
// change that does not delete its hash (a case of two withdrawn, the hash
// back under review) or new tags updates the signal's metadata; nothing is
// duplicated and the hash stays active.
func TestStopNCIIStatusUpdates(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		f, srv := newFakeStopNCII(t)
		for i := range 5 {
			f.add(exchange.StopNCIIRecord{SignalType: "PDQ", HashValue: pdqOf(i), HashStatus: "Active",
				CaseNumbers:      map[string]string{"c" + strconv.Itoa(i): "Active", "d" + strconv.Itoa(i): "Active"},
				LastModTimestamp: int64(1_600_000_000 + i)})
		}
		svc := setup(t, st, "stopncii", exchange.KindStopNCII, srv.URL, stopNCIICreds)
		if _, err := svc.Fetch(ctx, "stopncii", fastSyncer()); err != nil {
			t.Fatal(err)
		}
		f.add(exchange.StopNCIIRecord{SignalType: "PDQ", HashValue: pdqOf(1), HashStatus: "Active",
			CaseNumbers: map[string]string{"c1": "Withdrawn", "d1": "Active"}, LastModTimestamp: 1_700_000_000},
			exchange.StopNCIIRecord{SignalType: "PDQ", HashValue: pdqOf(2), HashStatus: "PendingReview",
				CaseNumbers: map[string]string{"c2": "Active", "d2": "Active"}, LastModTimestamp: 1_700_000_001},
			exchange.StopNCIIRecord{SignalType: "PDQ", HashValue: pdqOf(3), HashStatus: "Active", Tags: []string{"ncii"},
				CaseNumbers: map[string]string{"c3": "Active", "d3": "Active"}, LastModTimestamp: 1_700_000_002},
			exchange.StopNCIIRecord{SignalType: "PDQ", HashValue: pdqOf(4), HashStatus: "Active", // unchanged
				CaseNumbers: map[string]string{"c4": "Active", "d4": "Active"}, LastModTimestamp: 1_700_000_003})
		res, err := svc.Fetch(ctx, "stopncii", fastSyncer())
		if err != nil || res.Applied.Withdrawn != 3 || res.Applied.Added != 3 || res.Applied.Unchanged != 1 {
			t.Fatalf("status fetch: %+v, %v; want 3 updated (withdrawn and added), 1 unchanged", res.Applied, err)
		}
		checkUpdated(t, st, "stopncii", bank.PDQ, pdqOf(1), "", "stopncii_cases", "c1:Withdrawn,d1:Active")
		checkUpdated(t, st, "stopncii", bank.PDQ, pdqOf(2), "", "stopncii_status", "PendingReview")
		checkUpdated(t, st, "stopncii", bank.PDQ, pdqOf(3), "", "stopncii_tags", "ncii")
		if active, all := activeCount(t, st, "stopncii"); active != 5 || all != 8 {
			t.Fatalf("%d active, %d stored; want 5 and 8", active, all)
		}
	})
}

// TestThreatExchangeUpdates: a threat_updates element sent again under its
// id with new tags updates the signal; one with another indicator withdraws
// the old value and adds the new one.
func TestThreatExchangeUpdates(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		f := &fakeTE{}
		for i := range 5 {
			f.ups = append(f.ups, exchange.TEUpdate{ID: strconv.Itoa(i), Indicator: pdqOf(i), Type: "HASH_PDQ", LastUpdated: int64(1_600_000_000 + i)})
		}
		srv := httptest.NewServer(f)
		t.Cleanup(srv.Close)
		svc := setup(t, st, "te", exchange.KindThreatExchange, srv.URL+"/v21.0", map[string]string{"token": "te-token"})
		if _, err := svc.Add(ctx, exchange.Exchange{Name: "te-group", Kind: exchange.KindThreatExchange, Bank: "te", URL: srv.URL + "/v21.0",
			Settings: map[string]string{"privacy_group": "1234"}, Credentials: map[string]string{"token": "te-token"}, Enabled: true}, curator); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Fetch(ctx, "te-group", fastSyncer()); err != nil {
			t.Fatal(err)
		}
		before, _ := st.GetExchange(ctx, "te-group")
		at := before.Checkpoint.Pos / 1e6
		f.mu.Lock()
		f.ups = append(f.ups, exchange.TEUpdate{ID: "1", Indicator: pdqOf(1), Type: "HASH_PDQ", LastUpdated: at, Tags: []string{"csam", "reviewed"}},
			exchange.TEUpdate{ID: "2", Indicator: pdqOf(2002), Type: "HASH_PDQ", LastUpdated: at})
		f.mu.Unlock()
		time.Sleep(time.Until(time.Unix(at+1, 0)))
		res, err := svc.Fetch(ctx, "te-group", fastSyncer())
		if err != nil || res.Applied.Withdrawn != 2 || res.Applied.Added != 2 {
			t.Fatalf("update fetch: %+v, %v; want 2 withdrawn, 2 added", res.Applied, err)
		}
		checkUpdated(t, st, "te", bank.PDQ, pdqOf(1), "", "te_tags", "csam,reviewed")
		checkGone(t, st, "te", bank.PDQ, pdqOf(2))
		checkUpdated(t, st, "te", bank.PDQ, pdqOf(2002), "", exchange.MetaEntry, "2")
		if active, all := activeCount(t, st, "te"); active != 5 || all != 7 {
			t.Fatalf("%d active, %d stored; want 5 and 7", active, all)
		}
	})
}
