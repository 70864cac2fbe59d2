package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/store"
)

// NewDB creates a fresh, empty database for one test and returns a function
// that opens it. open may be called more than once (the suite reopens
// databases to check durability); the test closes what it opens.
type NewDB func(t *testing.T) (open func(t *testing.T) store.Store)

// Run runs the conformance suite against the engine newDB creates.
func Run(t *testing.T, newDB NewDB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) store.Store)
	}{
		{"Banks", testBanks},
		{"BankUpdate", testBankUpdate},
		{"AddSignals", testAddSignals},
		{"AllTypes", testAllTypes},
		{"RemoveSignal", testRemoveSignal},
		{"ReAddAfterRemove", testReAddAfterRemove},
		{"Exclusions", testExclusions},
		{"ScanSignals", testScanSignals},
		{"WriteSignalsRollback", testWriteSignalsRollback},
		{"ChangeLog", testChangeLog},
		{"ConcurrentWriters", testConcurrentWriters},
		{"LargeImport", testLargeImport},
		{"Reopen", testReopen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newDB(t))
		})
	}
	RunServe(t, newDB)
}

func openStore(t *testing.T, open func(t *testing.T) store.Store) store.Store {
	t.Helper()
	st := open(t)
	t.Cleanup(func() {
		if err := st.Check(context.Background()); err != nil {
			t.Errorf("Check at end of test: %v", err)
		}
		st.Close()
	})
	return st
}

// RandomPDQ returns a random PDQ hash in canonical hex form.
func RandomPDQ(r *rand.Rand) string {
	return pdq.Hash{r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64()}.String()
}

// RandomHex returns n random lower-case hex digits.
func RandomHex(r *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[r.IntN(16)]
	}
	return string(b)
}

func mustCreate(t *testing.T, st bank.Store, name string) bank.Bank {
	t.Helper()
	b, err := st.CreateBank(context.Background(), bank.NewBank(name), audit.Actor{Name: "alice"})
	if err != nil {
		t.Fatalf("CreateBank(%q): %v", name, err)
	}
	return b
}

func mustAdd(t *testing.T, st bank.Store, bankName, actor string, sigs ...bank.Signal) bank.AddCounts {
	t.Helper()
	var n bank.AddCounts
	err := st.WriteSignals(context.Background(), bankName, audit.Actor{Name: actor}, func(w bank.SignalWriter) error {
		var err error
		n, err = w.Add(context.Background(), sigs)
		return err
	})
	if err != nil {
		t.Fatalf("WriteSignals(%q): %v", bankName, err)
	}
	return n
}

func scanAll(t *testing.T, st bank.Store, q bank.SignalQuery) []bank.Signal {
	t.Helper()
	var out []bank.Signal
	err := st.ScanSignals(context.Background(), q, func(s *bank.Signal) error {
		out = append(out, *s)
		return nil
	})
	if err != nil {
		t.Fatalf("ScanSignals(%+v): %v", q, err)
	}
	return out
}

func allChanges(t *testing.T, st bank.Store) []bank.Change {
	t.Helper()
	cs, err := st.Changes(context.Background(), 0, 1<<30)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	return cs
}

func pdqSig(v string) bank.Signal {
	return bank.Signal{Type: bank.PDQ, Value: v, Quality: -1}
}

func testBanks(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := openStore(t, open)
	if bs, err := st.ListBanks(ctx); err != nil || len(bs) != 0 {
		t.Fatalf("ListBanks on empty store = %v, %v", bs, err)
	}
	in := bank.NewBank("ncmec-industry")
	in.Description = "NCMEC industry hash list\nsecond line"
	in.Action = bank.ActionBlock
	in.PDQThreshold = 20
	before := time.Now().Add(-time.Second)
	b, err := st.CreateBank(ctx, in, audit.Actor{Name: "alice"})
	if err != nil {
		t.Fatalf("CreateBank: %v", err)
	}
	if b.ID == 0 || b.Name != in.Name || b.Description != in.Description || b.Action != bank.ActionBlock ||
		b.PDQThreshold != 20 || !b.Enabled || b.CreatedBy != "alice" || b.UpdatedBy != "alice" {
		t.Errorf("CreateBank returned %+v", b)
	}
	if b.CreatedAt.Before(before) || b.CreatedAt.After(time.Now().Add(time.Second)) || !b.UpdatedAt.Equal(b.CreatedAt) {
		t.Errorf("CreateBank times: created %v updated %v", b.CreatedAt, b.UpdatedAt)
	}
	got, err := st.GetBank(ctx, in.Name)
	if err != nil || got != b {
		t.Errorf("GetBank = %+v, %v; want %+v", got, err, b)
	}
	if _, err := st.CreateBank(ctx, bank.NewBank(in.Name), audit.Actor{Name: "bob"}); !errors.Is(err, bank.ErrExists) {
		t.Errorf("CreateBank of an existing name: err = %v, want ErrExists", err)
	}
	if _, err := st.GetBank(ctx, "missing"); !errors.Is(err, bank.ErrNotFound) {
		t.Errorf("GetBank(missing): err = %v, want ErrNotFound", err)
	}
	mustCreate(t, st, "aaa")
	mustCreate(t, st, "zzz")
	bs, err := st.ListBanks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range bs {
		names = append(names, b.Name)
	}
	if want := []string{"aaa", "ncmec-industry", "zzz"}; !slices.Equal(names, want) {
		t.Errorf("ListBanks names = %v, want %v", names, want)
	}
	cs := allChanges(t, st)
	if len(cs) != 3 || cs[0].Op != bank.OpBankCreate || cs[0].Bank != in.Name || cs[0].Actor != "alice" ||
		cs[0].BankState == nil || *cs[0].BankState != b || cs[0].Signal != nil {
		t.Errorf("changes after creating banks = %+v", cs)
	}
}

func testBankUpdate(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := openStore(t, open)
	b := mustCreate(t, st, "b1")
	off, desc, th, act := false, "new description", 10, bank.ActionReport
	got, changed, err := st.UpdateBank(ctx, "b1", bank.BankUpdate{Enabled: &off, Description: &desc, PDQThreshold: &th, Action: &act}, audit.Actor{Name: "bob"})
	if err != nil || !changed {
		t.Fatalf("UpdateBank = %v, %v", changed, err)
	}
	if got.Enabled || got.Description != desc || got.PDQThreshold != 10 || got.Action != act ||
		got.UpdatedBy != "bob" || got.CreatedBy != "alice" || !got.CreatedAt.Equal(b.CreatedAt) || got.ID != b.ID {
		t.Errorf("UpdateBank returned %+v", got)
	}
	if read, _ := st.GetBank(ctx, "b1"); read != got {
		t.Errorf("GetBank after update = %+v, want %+v", read, got)
	}
	// The same values again change nothing and log nothing.
	seq, _ := st.LastSeq(ctx)
	again, changed, err := st.UpdateBank(ctx, "b1", bank.BankUpdate{Enabled: &off}, audit.Actor{Name: "carol"})
	if err != nil || changed || again != got {
		t.Errorf("no-op UpdateBank = %+v, %v, %v", again, changed, err)
	}
	if seq2, _ := st.LastSeq(ctx); seq2 != seq {
		t.Errorf("no-op update logged a change: LastSeq %d → %d", seq, seq2)
	}
	if _, _, err := st.UpdateBank(ctx, "missing", bank.BankUpdate{Enabled: &off}, audit.Actor{Name: "bob"}); !errors.Is(err, bank.ErrNotFound) {
		t.Errorf("UpdateBank(missing): err = %v, want ErrNotFound", err)
	}
	cs := allChanges(t, st)
	if len(cs) != 2 || cs[1].Op != bank.OpBankUpdate || cs[1].Actor != "bob" || cs[1].BankState == nil || *cs[1].BankState != got {
		t.Errorf("changes = %+v", cs)
	}
}

func testAddSignals(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := openStore(t, open)
	mustCreate(t, st, "b1")
	r := rand.New(rand.NewPCG(1, 2))
	v1, v2 := RandomPDQ(r), RandomPDQ(r)
	first := bank.Signal{Type: bank.PDQ, Value: v1, Category: "A1", Source: "partner-x", Note: "n1\nline 2", Quality: 90,
		Extra: map[string]string{"MediaID": "7", "Series": "s"}}
	before := time.Now().Add(-time.Second)
	n := mustAdd(t, st, "b1", "alice", first, pdqSig(v2), bank.Signal{Type: bank.PDQ, Value: v1, Category: "other", Quality: -1})
	if n != (bank.AddCounts{Added: 2, Unchanged: 1}) {
		t.Errorf("Add with a repeated value = %+v, want 2 added, 1 unchanged", n)
	}
	// Adding an active value again is idempotent and keeps the first metadata.
	n = mustAdd(t, st, "b1", "bob", bank.Signal{Type: bank.PDQ, Value: v1, Category: "B2", Quality: 10})
	if n != (bank.AddCounts{Unchanged: 1}) {
		t.Errorf("re-adding an active value = %+v, want 1 unchanged", n)
	}
	s, err := st.FindSignal(ctx, "b1", bank.PDQ, v1)
	if err != nil {
		t.Fatalf("FindSignal: %v", err)
	}
	if s.ID == 0 || s.Bank != "b1" || s.Value != v1 || s.Category != "A1" || s.Source != "partner-x" ||
		s.Note != first.Note || s.Quality != 90 || s.AddedBy != "alice" || !s.Active() ||
		s.Extra["MediaID"] != "7" || s.Extra["Series"] != "s" || len(s.Extra) != 2 {
		t.Errorf("FindSignal = %+v", s)
	}
	if s.AddedAt.Before(before) || s.AddedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("AddedAt = %v", s.AddedAt)
	}
	g, err := st.GetSignal(ctx, s.ID)
	if err != nil || !equalSignal(g, s) {
		t.Errorf("GetSignal = %+v, %v; want %+v", g, err, s)
	}
	if _, err := st.GetSignal(ctx, s.ID+1000); !errors.Is(err, bank.ErrNotFound) {
		t.Errorf("GetSignal(unknown): err = %v, want ErrNotFound", err)
	}
	if _, err := st.FindSignal(ctx, "b1", bank.PDQ, RandomPDQ(r)); !errors.Is(err, bank.ErrNotFound) {
		t.Errorf("FindSignal(unknown value): err = %v, want ErrNotFound", err)
	}
	if _, err := st.FindSignal(ctx, "nope", bank.PDQ, v1); !errors.Is(err, bank.ErrNotFound) {
		t.Errorf("FindSignal(unknown bank): err = %v, want ErrNotFound", err)
	}
	// The same value in another bank is another signal.
	mustCreate(t, st, "b2")
	if n := mustAdd(t, st, "b2", "carol", pdqSig(v1)); n.Added != 1 {
		t.Errorf("same value in a second bank: %+v, want added", n)
	}
	// The same hex digits as another type are another signal too.
	if n := mustAdd(t, st, "b1", "carol", bank.Signal{Type: bank.SHA256, Value: v1, Quality: -1}); n.Added != 1 {
		t.Errorf("same digits as sha256: %+v, want added", n)
	}
	if sigs := scanAll(t, st, bank.SignalQuery{}); len(sigs) != 4 {
		t.Errorf("%d signals in store, want 4", len(sigs))
	}
	st2, err := st.BankStats(ctx, "b1")
	if err != nil || st2.Active[bank.PDQ] != 2 || st2.Active[bank.SHA256] != 1 || len(st2.Removed) != 0 {
		t.Errorf("BankStats = %+v, %v", st2, err)
	}
	if _, err := st.BankStats(ctx, "nope"); !errors.Is(err, bank.ErrNotFound) {
		t.Errorf("BankStats(unknown): err = %v, want ErrNotFound", err)
	}
}

// equalSignal compares signals field by field, times with Equal and nil
// and empty Extra alike.
func equalSignal(a, b bank.Signal) bool {
	ra, rb := a.RemovedAt, b.RemovedAt
	if (ra == nil) != (rb == nil) || (ra != nil && !ra.Equal(*rb)) || !a.AddedAt.Equal(b.AddedAt) {
		return false
	}
	if len(a.Extra) != len(b.Extra) {
		return false
	}
	for k, v := range a.Extra {
		if w, ok := b.Extra[k]; !ok || w != v {
			return false
		}
	}
	a.RemovedAt, b.RemovedAt, a.AddedAt, b.AddedAt, a.Extra, b.Extra = nil, nil, time.Time{}, time.Time{}, nil, nil
	return reflect.DeepEqual(a, b)
}

func testAllTypes(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := openStore(t, open)
	mustCreate(t, st, "mixed")
	r := rand.New(rand.NewPCG(3, 4))
	// A long vPDQ-like value: well beyond any index entry size limit.
	var vb strings.Builder
	for i := 0; vb.Len() < 200_000; i++ {
		fmt.Fprintf(&vb, "%d,%d,%s,%d.000;", i, 90, RandomPDQ(r), i)
	}
	want := []bank.Signal{
		{Type: bank.MD5, Value: RandomHex(r, 32), Quality: -1},
		{Type: bank.SHA1, Value: RandomHex(r, 40), Quality: -1},
		{Type: bank.SHA256, Value: RandomHex(r, 64), Quality: -1},
		{Type: bank.PDQ, Value: RandomPDQ(r), Quality: 100},
		{Type: bank.VPDQ, Value: vb.String(), Quality: -1},
		{Type: bank.VPDQ, Value: "0,100," + RandomPDQ(r) + ",0.000", Quality: -1},
	}
	if n := mustAdd(t, st, "mixed", "alice", want...); n.Added != len(want) {
		t.Fatalf("added %+v, want %d", n, len(want))
	}
	if n := mustAdd(t, st, "mixed", "alice", want...); n.Unchanged != len(want) {
		t.Errorf("re-added %+v, want all unchanged", n)
	}
	got := scanAll(t, st, bank.SignalQuery{})
	if len(got) != len(want) {
		t.Fatalf("scanned %d signals, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Type != want[i].Type || got[i].Value != want[i].Value || got[i].Quality != want[i].Quality {
			t.Errorf("signal %d = %s %.40q q%d, want %s %.40q q%d", i, got[i].Type, got[i].Value, got[i].Quality,
				want[i].Type, want[i].Value, want[i].Quality)
		}
		if _, err := st.FindSignal(ctx, "mixed", want[i].Type, want[i].Value); err != nil {
			t.Errorf("FindSignal(%s): %v", want[i].Type, err)
		}
	}
	for i := 1; i < len(got); i++ {
		if got[i].ID <= got[i-1].ID {
			t.Errorf("IDs not increasing in add order: %d then %d", got[i-1].ID, got[i].ID)
		}
	}
}

func testRemoveSignal(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := openStore(t, open)
	mustCreate(t, st, "b1")
	mustCreate(t, st, "b2")
	r := rand.New(rand.NewPCG(5, 6))
	v1, v2, md := RandomPDQ(r), RandomPDQ(r), RandomHex(r, 32)
	mustAdd(t, st, "b1", "alice", pdqSig(v1), pdqSig(v2), bank.Signal{Type: bank.MD5, Value: md, Quality: -1})
	s1, _ := st.FindSignal(ctx, "b1", bank.PDQ, v1)

	// By ID.
	got, changed, err := st.RemoveSignal(ctx, "b1", bank.SignalRef{ID: s1.ID}, "false positive: a sunset photo", audit.Actor{Name: "bob"})
	if err != nil || !changed {
		t.Fatalf("RemoveSignal by ID = %v, %v", changed, err)
	}
	if got.ID != s1.ID || got.Active() || got.RemovedBy != "bob" || got.RemovedReason != "false positive: a sunset photo" {
		t.Errorf("RemoveSignal returned %+v", got)
	}
	read, err := st.GetSignal(ctx, s1.ID)
	if err != nil || !equalSignal(read, got) {
		t.Errorf("GetSignal after removal = %+v, %v; want %+v", read, err, got)
	}
	if _, err := st.FindSignal(ctx, "b1", bank.PDQ, v1); !errors.Is(err, bank.ErrNotFound) {
		t.Errorf("FindSignal of a removed signal: err = %v, want ErrNotFound", err)
	}
	// Again: unchanged, nothing logged.
	seq, _ := st.LastSeq(ctx)
	if again, changed, err := st.RemoveSignal(ctx, "b1", bank.SignalRef{ID: s1.ID}, "again", audit.Actor{Name: "carol"}); err != nil || changed ||
		again.RemovedBy != "bob" {
		t.Errorf("second RemoveSignal = %+v, %v, %v", again, changed, err)
	}
	if _, changed, err := st.RemoveSignal(ctx, "b1", bank.SignalRef{Type: bank.PDQ, Value: v1}, "again", audit.Actor{Name: "carol"}); err != nil || changed {
		t.Errorf("RemoveSignal by value of a removed signal = %v, %v", changed, err)
	}
	if seq2, _ := st.LastSeq(ctx); seq2 != seq {
		t.Errorf("repeated removal logged changes: %d → %d", seq, seq2)
	}
	// By type and value.
	got, changed, err = st.RemoveSignal(ctx, "b1", bank.SignalRef{Type: bank.MD5, Value: md}, "wrong list", audit.Actor{Name: "bob"})
	if err != nil || !changed || got.Value != md || got.Type != bank.MD5 {
		t.Errorf("RemoveSignal by value = %+v, %v, %v", got, changed, err)
	}
	// Not found: unknown value, unknown ID, the ID of another bank's signal, unknown bank.
	mustAdd(t, st, "b2", "alice", pdqSig(RandomPDQ(r)))
	other := scanAll(t, st, bank.SignalQuery{Banks: []string{"b2"}})[0]
	for _, tc := range []struct {
		bank string
		ref  bank.SignalRef
	}{
		{"b1", bank.SignalRef{Type: bank.PDQ, Value: RandomPDQ(r)}},
		{"b1", bank.SignalRef{ID: 99999}},
		{"b1", bank.SignalRef{ID: other.ID}},
		{"nope", bank.SignalRef{ID: s1.ID}},
	} {
		if _, _, err := st.RemoveSignal(ctx, tc.bank, tc.ref, "x", audit.Actor{Name: "bob"}); !errors.Is(err, bank.ErrNotFound) {
			t.Errorf("RemoveSignal(%s, %v): err = %v, want ErrNotFound", tc.bank, tc.ref, err)
		}
	}
	active := scanAll(t, st, bank.SignalQuery{Banks: []string{"b1"}})
	if len(active) != 1 || active[0].Value != v2 {
		t.Errorf("active signals after removals = %+v", active)
	}
	if all := scanAll(t, st, bank.SignalQuery{Banks: []string{"b1"}, IncludeRemoved: true}); len(all) != 3 {
		t.Errorf("%d signals with removed ones, want 3", len(all))
	}
	stats, _ := st.BankStats(ctx, "b1")
	if stats.Active[bank.PDQ] != 1 || stats.Removed[bank.PDQ] != 1 || stats.Removed[bank.MD5] != 1 || stats.Active[bank.MD5] != 0 {
		t.Errorf("BankStats = %+v", stats)
	}
	var removes []bank.Change
	for _, c := range allChanges(t, st) {
		if c.Op == bank.OpSignalRemove {
			removes = append(removes, c)
		}
	}
	if len(removes) != 2 || removes[0].Signal == nil || removes[0].Signal.ID != s1.ID || removes[0].Reason != "false positive: a sunset photo" ||
		removes[0].Actor != "bob" || removes[0].Bank != "b1" || !removes[0].At.Equal(*removes[0].Signal.RemovedAt) {
		t.Errorf("remove changes = %+v", removes)
	}
}

func testReAddAfterRemove(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := openStore(t, open)
	mustCreate(t, st, "b1")
	v := RandomPDQ(rand.New(rand.NewPCG(7, 8)))
	mustAdd(t, st, "b1", "alice", bank.Signal{Type: bank.PDQ, Value: v, Category: "old", Quality: -1})
	old, _ := st.FindSignal(ctx, "b1", bank.PDQ, v)
	if _, _, err := st.RemoveSignal(ctx, "b1", bank.SignalRef{ID: old.ID}, "mistake", audit.Actor{Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	// A removed signal stays removed: its value is excluded until a
	// curator lifts the exclusion.
	if n := mustAdd(t, st, "b1", "carol", bank.Signal{Type: bank.PDQ, Value: v, Category: "new", Quality: -1}); n != (bank.AddCounts{Excluded: 1}) {
		t.Fatalf("re-adding a removed value: %+v, want excluded", n)
	}
	if err := st.RemoveExclusion(ctx, "b1", bank.PDQ, v, audit.Actor{Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	if n := mustAdd(t, st, "b1", "carol", bank.Signal{Type: bank.PDQ, Value: v, Category: "new", Quality: -1}); n.Added != 1 {
		t.Fatalf("re-adding a removed value once allowed: %+v, want added", n)
	}
	cur, err := st.FindSignal(ctx, "b1", bank.PDQ, v)
	if err != nil || cur.ID == old.ID || cur.Category != "new" || cur.AddedBy != "carol" {
		t.Errorf("re-added signal = %+v, %v (old ID %d)", cur, err, old.ID)
	}
	if o, _ := st.GetSignal(ctx, old.ID); o.Active() || o.Category != "old" {
		t.Errorf("old signal after re-add = %+v", o)
	}
	// Removing by value now removes the active one.
	got, changed, err := st.RemoveSignal(ctx, "b1", bank.SignalRef{Type: bank.PDQ, Value: v}, "again", audit.Actor{Name: "bob"})
	if err != nil || !changed || got.ID != cur.ID {
		t.Errorf("RemoveSignal by value = %+v, %v, %v; want ID %d", got, changed, err, cur.ID)
	}
}

func testScanSignals(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := openStore(t, open)
	r := rand.New(rand.NewPCG(9, 10))
	for _, name := range []string{"a", "b", "c"} {
		mustCreate(t, st, name)
		var sigs []bank.Signal
		for i := 0; i < 10; i++ {
			sigs = append(sigs, bank.Signal{Type: bank.PDQ, Value: RandomPDQ(r), Category: name, Source: "src", Note: "n", Quality: i,
				Extra: map[string]string{"k": name}})
			sigs = append(sigs, bank.Signal{Type: bank.MD5, Value: RandomHex(r, 32), Quality: -1})
		}
		mustAdd(t, st, name, "alice", sigs...)
	}
	off := false
	if _, _, err := st.UpdateBank(ctx, "c", bank.BankUpdate{Enabled: &off}, audit.Actor{Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	first := scanAll(t, st, bank.SignalQuery{Banks: []string{"a"}, Types: []bank.Type{bank.PDQ}})[0]
	if _, _, err := st.RemoveSignal(ctx, "a", bank.SignalRef{ID: first.ID}, "fp", audit.Actor{Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		q    bank.SignalQuery
		want int
	}{
		{"all", bank.SignalQuery{}, 59},
		{"with removed", bank.SignalQuery{IncludeRemoved: true}, 60},
		{"one bank", bank.SignalQuery{Banks: []string{"b"}}, 20},
		{"two banks pdq", bank.SignalQuery{Banks: []string{"a", "b"}, Types: []bank.Type{bank.PDQ}}, 19},
		{"enabled only", bank.SignalQuery{EnabledOnly: true}, 39},
		{"enabled only, disabled bank named", bank.SignalQuery{Banks: []string{"c"}, EnabledOnly: true}, 0},
		{"md5 and pdq", bank.SignalQuery{Types: []bank.Type{bank.MD5, bank.PDQ}}, 59},
		{"sha1", bank.SignalQuery{Types: []bank.Type{bank.SHA1}}, 0},
		{"limit", bank.SignalQuery{Limit: 7}, 7},
		{"after", bank.SignalQuery{AfterID: first.ID + 30}, 29},
		{"before", bank.SignalQuery{BeforeID: first.ID + 10}, 9},
		{"range", bank.SignalQuery{AfterID: first.ID + 19, BeforeID: first.ID + 30}, 10},
	}
	for _, tt := range tests {
		got := scanAll(t, st, tt.q)
		if len(got) != tt.want {
			t.Errorf("%s: %d signals, want %d", tt.name, len(got), tt.want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].ID <= got[i-1].ID {
				t.Errorf("%s: not in ID order", tt.name)
				break
			}
		}
	}
	all := scanAll(t, st, bank.SignalQuery{IncludeRemoved: true})
	if max, err := st.MaxSignalID(ctx); err != nil || max != all[len(all)-1].ID {
		t.Errorf("MaxSignalID = %d, %v; want %d", max, err, all[len(all)-1].ID)
	}
	// Paging with AfterID and Limit visits every signal once.
	var paged []int64
	for after := int64(0); ; {
		page := scanAll(t, st, bank.SignalQuery{AfterID: after, Limit: 8, IncludeRemoved: true})
		if len(page) == 0 {
			break
		}
		for _, s := range page {
			paged = append(paged, s.ID)
		}
		after = page[len(page)-1].ID
	}
	if len(paged) != 60 || slices.Compact(slices.Clone(paged)) == nil || !slices.IsSorted(paged) {
		t.Errorf("paging visited %d signals, want 60 in order", len(paged))
	}
	// Full and keys-only scans agree on keys; keys-only leaves metadata empty.
	full := scanAll(t, st, bank.SignalQuery{Banks: []string{"b"}})
	keys := scanAll(t, st, bank.SignalQuery{Banks: []string{"b"}, KeysOnly: true})
	for i := range full {
		f, k := full[i], keys[i]
		if f.ID != k.ID || f.Type != k.Type || f.Value != k.Value || f.Bank != "b" || k.Bank != "b" || k.Quality != -1 {
			t.Errorf("keys-only scan differs: %+v vs %+v", k, f)
		}
		if k.Category != "" || k.Note != "" || k.Extra != nil || k.AddedBy != "" {
			t.Errorf("keys-only scan filled metadata: %+v", k)
		}
		if f.Type == bank.PDQ && (f.Category != "b" || f.Source != "src" || f.Extra["k"] != "b" || f.AddedBy != "alice") {
			t.Errorf("full scan metadata: %+v", f)
		}
	}
	// Unknown bank, and an error from fn stops the scan.
	if err := st.ScanSignals(ctx, bank.SignalQuery{Banks: []string{"a", "nope"}}, func(*bank.Signal) error { return nil }); !errors.Is(err, bank.ErrNotFound) {
		t.Errorf("scan of an unknown bank: err = %v, want ErrNotFound", err)
	}
	stop := errors.New("stop")
	calls := 0
	err := st.ScanSignals(ctx, bank.SignalQuery{}, func(*bank.Signal) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("scan with failing fn: err = %v after %d calls", err, calls)
	}
}

func testWriteSignalsRollback(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := openStore(t, open)
	mustCreate(t, st, "b1")
	r := rand.New(rand.NewPCG(11, 12))
	seq, _ := st.LastSeq(ctx)
	boom := errors.New("bad line 3")
	err := st.WriteSignals(ctx, "b1", audit.Actor{Name: "alice"}, func(w bank.SignalWriter) error {
		if _, err := w.Add(ctx, []bank.Signal{pdqSig(RandomPDQ(r)), pdqSig(RandomPDQ(r))}); err != nil {
			return err
		}
		if _, err := w.Add(ctx, []bank.Signal{pdqSig(RandomPDQ(r))}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("WriteSignals: err = %v, want fn's error", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	err = st.WriteSignals(cctx, "b1", audit.Actor{Name: "alice"}, func(w bank.SignalWriter) error {
		_, err := w.Add(cctx, []bank.Signal{pdqSig(RandomPDQ(r))})
		cancel()
		return err
	})
	if err == nil {
		t.Errorf("WriteSignals with a context cancelled before commit succeeded")
	}
	if err := st.WriteSignals(ctx, "nope", audit.Actor{Name: "alice"}, func(bank.SignalWriter) error { return nil }); !errors.Is(err, bank.ErrNotFound) {
		t.Errorf("WriteSignals(unknown bank): err = %v, want ErrNotFound", err)
	}
	if got := scanAll(t, st, bank.SignalQuery{IncludeRemoved: true}); len(got) != 0 {
		t.Errorf("%d signals after rolled-back writes, want 0", len(got))
	}
	if seq2, _ := st.LastSeq(ctx); seq2 != seq {
		t.Errorf("rolled-back writes logged changes: %d → %d", seq, seq2)
	}
	// The store still works, and numbers continue after the rollbacks.
	mustAdd(t, st, "b1", "alice", pdqSig(RandomPDQ(r)))
	if seq2, _ := st.LastSeq(ctx); seq2 <= seq {
		t.Errorf("LastSeq after an add = %d, want > %d", seq2, seq)
	}
}

func testChangeLog(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := openStore(t, open)
	r := rand.New(rand.NewPCG(13, 14))
	if n, err := st.LastSeq(ctx); err != nil || n != 0 {
		t.Errorf("LastSeq of an empty store = %d, %v", n, err)
	}
	if cs, err := st.Changes(ctx, 0, 10); err != nil || len(cs) != 0 {
		t.Errorf("Changes of an empty store = %v, %v", cs, err)
	}
	if n, err := st.MaxSignalID(ctx); err != nil || n != 0 {
		t.Errorf("MaxSignalID of an empty store = %d, %v", n, err)
	}
	mustCreate(t, st, "b1")
	vals := []string{RandomPDQ(r), RandomPDQ(r), RandomPDQ(r)}
	mustAdd(t, st, "b1", "alice", pdqSig(vals[0]), pdqSig(vals[1]), pdqSig(vals[0]))
	mustAdd(t, st, "b1", "bob", pdqSig(vals[2]), pdqSig(vals[1]))
	s, _ := st.FindSignal(ctx, "b1", bank.PDQ, vals[1])
	if _, _, err := st.RemoveSignal(ctx, "b1", bank.SignalRef{ID: s.ID}, "fp", audit.Actor{Name: "carol"}); err != nil {
		t.Fatal(err)
	}
	off := false
	if _, _, err := st.UpdateBank(ctx, "b1", bank.BankUpdate{Enabled: &off}, audit.Actor{Name: "dave"}); err != nil {
		t.Fatal(err)
	}
	cs := allChanges(t, st)
	type row struct {
		op    bank.Op
		actor string
		value string
	}
	want := []row{
		{bank.OpBankCreate, "alice", ""},
		{bank.OpSignalAdd, "alice", vals[0]},
		{bank.OpSignalAdd, "alice", vals[1]},
		{bank.OpSignalAdd, "bob", vals[2]},
		{bank.OpSignalRemove, "carol", vals[1]},
		{bank.OpBankUpdate, "dave", ""},
	}
	if len(cs) != len(want) {
		t.Fatalf("%d changes, want %d: %+v", len(cs), len(want), cs)
	}
	for i, c := range cs {
		var v string
		if c.Signal != nil {
			v = c.Signal.Value
			if c.Signal.Bank != "b1" || c.Signal.ID == 0 {
				t.Errorf("change %d signal = %+v", i, c.Signal)
			}
		}
		if c.Op != want[i].op || c.Actor != want[i].actor || v != want[i].value || c.Bank != "b1" {
			t.Errorf("change %d = %s by %s on %.8s, want %s by %s on %.8s", i, c.Op, c.Actor, v, want[i].op, want[i].actor, want[i].value)
		}
		if i > 0 && (c.Seq <= cs[i-1].Seq || c.At.Before(cs[i-1].At)) {
			t.Errorf("change %d: seq %d at %v after seq %d at %v", i, c.Seq, c.At, cs[i-1].Seq, cs[i-1].At)
		}
		if c.Op == bank.OpSignalAdd && !c.At.Equal(c.Signal.AddedAt) {
			t.Errorf("change %d at %v, signal added at %v", i, c.At, c.Signal.AddedAt)
		}
	}
	if cs[5].BankState == nil || cs[5].BankState.Enabled {
		t.Errorf("bank.update change state = %+v", cs[5].BankState)
	}
	if last, _ := st.LastSeq(ctx); last != cs[len(cs)-1].Seq {
		t.Errorf("LastSeq = %d, want %d", last, cs[len(cs)-1].Seq)
	}
	// Paging by since/limit returns the same entries.
	var paged []int64
	for since := int64(0); ; {
		page, err := st.Changes(ctx, since, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 2 {
			t.Fatalf("page of %d, limit 2", len(page))
		}
		for _, c := range page {
			paged = append(paged, c.Seq)
		}
		since = page[len(page)-1].Seq
	}
	var all []int64
	for _, c := range cs {
		all = append(all, c.Seq)
	}
	if !slices.Equal(paged, all) {
		t.Errorf("paged seqs %v, want %v", paged, all)
	}
	if got, _ := st.Changes(ctx, cs[3].Seq, 100); len(got) != 2 || got[0].Seq != cs[4].Seq {
		t.Errorf("Changes(since %d) = %+v", cs[3].Seq, got)
	}
}

// testConcurrentWriters runs writers in parallel while a reader follows the
// change log with Changes(since); a store that numbered changes in any order
// other than commit order would let the reader skip some.
func testConcurrentWriters(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := openStore(t, open)
	const writers, rounds = 4, 15
	for w := 0; w < writers; w++ {
		mustCreate(t, st, fmt.Sprintf("w%d", w))
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	done := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 99))
			name := fmt.Sprintf("w%d", w)
			for i := 0; i < rounds; i++ {
				err := st.WriteSignals(ctx, name, audit.Actor{Name: name}, func(sw bank.SignalWriter) error {
					sigs := make([]bank.Signal, 1+r.IntN(20))
					for j := range sigs {
						sigs[j] = pdqSig(RandomPDQ(r))
					}
					_, err := sw.Add(ctx, sigs)
					time.Sleep(time.Duration(r.IntN(3)) * time.Millisecond) // widen the commit window
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				if i%5 == 4 {
					s := scanAll(t, st, bank.SignalQuery{Banks: []string{name}, Limit: 1})
					if _, _, err := st.RemoveSignal(ctx, name, bank.SignalRef{ID: s[0].ID}, "fp", audit.Actor{Name: name}); err != nil {
						errs <- err
						return
					}
				}
			}
		}(w)
	}
	seen := map[int64]bool{}
	var since int64
	follow := func() {
		cs, err := st.Changes(ctx, since, 1000)
		if err != nil {
			t.Errorf("Changes: %v", err)
			return
		}
		for _, c := range cs {
			if seen[c.Seq] || c.Seq <= since {
				t.Errorf("change %d returned twice or out of order (since %d)", c.Seq, since)
			}
			seen[c.Seq] = true
			since = c.Seq
		}
	}
	go func() { wg.Wait(); close(done) }()
loop:
	for {
		select {
		case <-done:
			break loop
		default:
			follow()
		}
	}
	close(errs)
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	follow()
	all := allChanges(t, st)
	var missed []int64
	for _, c := range all {
		if !seen[c.Seq] {
			missed = append(missed, c.Seq)
		}
	}
	if len(missed) > 0 || len(seen) != len(all) {
		t.Errorf("follower missed %d of %d changes (%v): sequence numbers not in commit order", len(missed), len(all), missed)
	}
	if want := writers * (1 + rounds/5); countOps(all, bank.OpSignalRemove)+countOps(all, bank.OpBankCreate) != want {
		t.Errorf("unexpected op counts in %d changes", len(all))
	}
}

func countOps(cs []bank.Change, op bank.Op) int {
	n := 0
	for _, c := range cs {
		if c.Op == op {
			n++
		}
	}
	return n
}

func testLargeImport(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := openStore(t, open)
	mustCreate(t, st, "big")
	const total, batch = 30_000, 4_000
	r := rand.New(rand.NewPCG(15, 16))
	vals := make([]string, total)
	for i := range vals {
		vals[i] = RandomPDQ(r)
	}
	var sum bank.AddCounts
	err := st.WriteSignals(ctx, "big", audit.Actor{Name: "alice"}, func(w bank.SignalWriter) error {
		// A small first batch, then large ones: engines may keep a small
		// transaction's bookkeeping in memory and switch on the way.
		for i, n := 0, 700; i < total; i, n = i+n, batch {
			sigs := make([]bank.Signal, 0, n)
			for _, v := range vals[i:min(i+n, total)] {
				sigs = append(sigs, pdqSig(v))
			}
			n, err := w.Add(ctx, sigs)
			if err != nil {
				return err
			}
			sum.Added += n.Added
			sum.Unchanged += n.Unchanged
		}
		// Repeats of the first batch, inside the same transaction.
		n, err := w.Add(ctx, []bank.Signal{pdqSig(vals[0]), pdqSig(vals[1])})
		sum.Unchanged += n.Unchanged
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum != (bank.AddCounts{Added: total, Unchanged: 2}) {
		t.Errorf("counts = %+v", sum)
	}
	i := 0
	err = st.ScanSignals(ctx, bank.SignalQuery{Banks: []string{"big"}, KeysOnly: true}, func(s *bank.Signal) error {
		if s.Value != vals[i] {
			return fmt.Errorf("signal %d = %s, want %s (add order)", i, s.Value, vals[i])
		}
		i++
		return nil
	})
	if err != nil || i != total {
		t.Errorf("scan: %v after %d signals", err, i)
	}
	cs, err := st.Changes(ctx, 1, total+10)
	if err != nil || len(cs) != total || countOps(cs, bank.OpSignalAdd) != total {
		t.Errorf("Changes after import: %d entries, %v", len(cs), err)
	}
	if err := st.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func testReopen(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := open(t)
	mustCreate(t, st, "b1")
	v := RandomPDQ(rand.New(rand.NewPCG(17, 18)))
	mustAdd(t, st, "b1", "alice", pdqSig(v))
	seq, _ := st.LastSeq(ctx)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openStore(t, open)
	if _, err := st.FindSignal(ctx, "b1", bank.PDQ, v); err != nil {
		t.Errorf("signal lost across reopen: %v", err)
	}
	if got, _ := st.LastSeq(ctx); got != seq {
		t.Errorf("LastSeq after reopen = %d, want %d", got, seq)
	}
	mustAdd(t, st, "b1", "alice", pdqSig(RandomPDQ(rand.New(rand.NewPCG(19, 20)))))
	if got, _ := st.LastSeq(ctx); got <= seq {
		t.Errorf("LastSeq after reopen and add = %d, want > %d", got, seq)
	}
	// A second handle on the same database at the same time sees the same data.
	st2 := openStore(t, open)
	if sigs := scanAll(t, st2, bank.SignalQuery{}); len(sigs) != 2 {
		t.Errorf("second handle sees %d signals, want 2", len(sigs))
	}
}

func testExclusions(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	st := openStore(t, open)
	mustCreate(t, st, "b1")
	mustCreate(t, st, "b2")
	r := rand.New(rand.NewPCG(11, 12))
	md5 := RandomHex(r, 32)
	pdqV := RandomPDQ(r)
	mustAdd(t, st, "b1", "alice", bank.Signal{Type: bank.MD5, Value: md5, Quality: -1}, bank.Signal{Type: bank.PDQ, Value: pdqV, Quality: -1})
	bob := audit.Actor{Name: "bob", Remote: "192.0.2.1:4000"}
	if _, _, err := st.RemoveSignal(ctx, "b1", bank.SignalRef{Type: bank.MD5, Value: md5}, "empty file", bob); err != nil {
		t.Fatal(err)
	}
	xs, err := st.Exclusions(ctx, "b1")
	if err != nil || len(xs) != 1 || xs[0].Type != bank.MD5 || xs[0].Value != md5 || xs[0].Reason != "empty file" ||
		xs[0].CreatedBy != "bob" || xs[0].Bank != "b1" || xs[0].CreatedAt.IsZero() {
		t.Fatalf("exclusions after a removal: %+v, %v", xs, err)
	}

	// A batch with the excluded value, an active one and a new one; many
	// fillers so that the lookup spans several chunks.
	sha1 := RandomHex(r, 40)
	batch := []bank.Signal{{Type: bank.MD5, Value: md5, Quality: -1}, {Type: bank.PDQ, Value: pdqV, Quality: -1}, {Type: bank.SHA1, Value: sha1, Quality: -1}}
	for range 1200 {
		batch = append(batch, bank.Signal{Type: bank.SHA256, Value: RandomHex(r, 64), Quality: -1})
	}
	batch = append(batch, bank.Signal{Type: bank.MD5, Value: md5, Quality: -1})
	if n := mustAdd(t, st, "b1", "carol", batch...); n != (bank.AddCounts{Added: 1201, Unchanged: 1, Excluded: 2}) {
		t.Errorf("add with an excluded value: %+v", n)
	}
	if _, err := st.FindSignal(ctx, "b1", bank.MD5, md5); !errors.Is(err, bank.ErrNotFound) {
		t.Errorf("excluded value is active again: %v", err)
	}
	// Exclusions are per bank.
	if n := mustAdd(t, st, "b2", "carol", bank.Signal{Type: bank.MD5, Value: md5, Quality: -1}); n.Added != 1 {
		t.Errorf("another bank's exclusion applied: %+v", n)
	}

	// Curated exclusions: added with a reason, once.
	sha256 := RandomHex(r, 64)
	x, added, err := st.AddExclusion(ctx, "b1", bank.Exclusion{Type: bank.SHA256, Value: sha256, Reason: "known benign"}, bob)
	if err != nil || !added || x.Reason != "known benign" || x.CreatedBy != "bob" || x.Bank != "b1" {
		t.Fatalf("AddExclusion = %+v, %v, %v", x, added, err)
	}
	again, added, err := st.AddExclusion(ctx, "b1", bank.Exclusion{Type: bank.SHA256, Value: sha256, Reason: "other"}, bob)
	if err != nil || added || again.Reason != "known benign" || !again.CreatedAt.Equal(x.CreatedAt) {
		t.Errorf("AddExclusion again = %+v, %v, %v; want the first one unchanged", again, added, err)
	}
	if n := mustAdd(t, st, "b1", "carol", bank.Signal{Type: bank.SHA256, Value: sha256, Quality: -1}); n != (bank.AddCounts{Excluded: 1}) {
		t.Errorf("add of a curated exclusion: %+v", n)
	}
	if xs, _ := st.Exclusions(ctx, "b1"); len(xs) != 2 || xs[0].Value != md5 || xs[1].Value != sha256 {
		t.Errorf("exclusions, oldest first: %+v", xs)
	}

	// Removing an exclusion allows the value again.
	if err := st.RemoveExclusion(ctx, "b1", bank.SHA256, sha256, bob); err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveExclusion(ctx, "b1", bank.SHA256, sha256, bob); !errors.Is(err, bank.ErrNotFound) {
		t.Errorf("RemoveExclusion of a value not excluded: %v", err)
	}
	if n := mustAdd(t, st, "b1", "carol", bank.Signal{Type: bank.SHA256, Value: sha256, Quality: -1}); n.Added != 1 {
		t.Errorf("add after the exclusion was removed: %+v", n)
	}
	for _, f := range []func() error{
		func() error { _, err := st.Exclusions(ctx, "nope"); return err },
		func() error {
			_, _, err := st.AddExclusion(ctx, "nope", bank.Exclusion{Type: bank.MD5, Value: md5, Reason: "x"}, bob)
			return err
		},
		func() error { return st.RemoveExclusion(ctx, "nope", bank.MD5, md5, bob) },
	} {
		if err := f(); !errors.Is(err, bank.ErrNotFound) {
			t.Errorf("unknown bank: %v, want ErrNotFound", err)
		}
	}
}
