package bank_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/hashlist"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// engines runs fn once per store engine with a fresh Service.
func engines(t *testing.T, fn func(t *testing.T, svc *bank.Service)) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) { fn(t, bank.NewService(st)) })
}

const pdqA = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"

func TestServiceValidation(t *testing.T) {
	engines(t, func(t *testing.T, svc *bank.Service) {
		ctx := context.Background()
		if _, err := svc.CreateBank(ctx, bank.NewBank("good"), audit.Actor{Name: "alice"}); err != nil {
			t.Fatal(err)
		}
		bad := bank.NewBank("Bad Name")
		if _, err := svc.CreateBank(ctx, bad, audit.Actor{Name: "alice"}); !errors.Is(err, bank.ErrInvalid) {
			t.Errorf("CreateBank(bad name) = %v, want ErrInvalid", err)
		}
		if _, err := svc.CreateBank(ctx, bank.NewBank("x"), audit.Actor{Name: " "}); !errors.Is(err, bank.ErrInvalid) {
			t.Errorf("CreateBank without actor = %v, want ErrInvalid", err)
		}
		if _, err := svc.CreateBank(ctx, bank.NewBank("good"), audit.Actor{Name: "bob"}); !errors.Is(err, bank.ErrExists) {
			t.Errorf("CreateBank(existing) = %v, want ErrExists", err)
		}
		th := 300
		if _, _, err := svc.UpdateBank(ctx, "good", bank.BankUpdate{PDQThreshold: &th}, audit.Actor{Name: "alice"}); !errors.Is(err, bank.ErrInvalid) {
			t.Errorf("UpdateBank(threshold 300) = %v, want ErrInvalid", err)
		}
		if _, _, err := svc.UpdateBank(ctx, "nope", bank.BankUpdate{PDQThreshold: &th}, audit.Actor{Name: "alice"}); !errors.Is(err, bank.ErrNotFound) {
			t.Errorf("UpdateBank(unknown) = %v, want ErrNotFound", err)
		}
		if _, _, err := svc.AddSignal(ctx, "good", bank.Signal{Type: bank.PDQ, Value: "abc"}, audit.Actor{Name: "alice"}); !errors.Is(err, bank.ErrInvalid) {
			t.Errorf("AddSignal(bad value) = %v, want ErrInvalid", err)
		}
		if _, _, err := svc.AddSignal(ctx, "nope", bank.Signal{Type: bank.PDQ, Value: pdqA, Quality: -1}, audit.Actor{Name: "alice"}); !errors.Is(err, bank.ErrNotFound) {
			t.Errorf("AddSignal(unknown bank) = %v, want ErrNotFound", err)
		}
		if _, _, err := svc.RemoveSignal(ctx, "good", bank.SignalRef{Type: bank.PDQ, Value: pdqA}, "  ", audit.Actor{Name: "alice"}); !errors.Is(err, bank.ErrInvalid) {
			t.Errorf("RemoveSignal without reason = %v, want ErrInvalid", err)
		}
		if _, _, err := svc.RemoveSignal(ctx, "good", bank.SignalRef{Type: "sha3", Value: pdqA}, "r", audit.Actor{Name: "alice"}); !errors.Is(err, bank.ErrInvalid) {
			t.Errorf("RemoveSignal(bad type) = %v, want ErrInvalid", err)
		}
		if err := svc.ScanSignals(ctx, bank.SignalQuery{Banks: []string{"good", "nope"}}, func(*bank.Signal) error { return nil }); !errors.Is(err, bank.ErrNotFound) {
			t.Errorf("ScanSignals(unknown bank) = %v, want ErrNotFound", err)
		}
		if _, err := svc.Changes(ctx, -1, 10); !errors.Is(err, bank.ErrInvalid) {
			t.Errorf("Changes(-1) = %v, want ErrInvalid", err)
		}
	})
}

func TestServiceAddRemove(t *testing.T) {
	engines(t, func(t *testing.T, svc *bank.Service) {
		ctx := context.Background()
		if _, err := svc.CreateBank(ctx, bank.NewBank("b"), audit.Actor{Name: "alice"}); err != nil {
			t.Fatal(err)
		}
		s, added, err := svc.AddSignal(ctx, "b", bank.Signal{Type: "PDQ", Value: strings.ToUpper(pdqA), Category: "A1", Quality: 90}, audit.Actor{Name: "alice"})
		if err != nil || !added || s.ID == 0 || s.Value != pdqA || s.Category != "A1" || s.AddedBy != "alice" {
			t.Fatalf("AddSignal = %+v, %v, %v", s, added, err)
		}
		again, added, err := svc.AddSignal(ctx, "b", bank.Signal{Type: bank.PDQ, Value: pdqA, Category: "B2", Quality: -1}, audit.Actor{Name: "bob"})
		if err != nil || added || again.ID != s.ID || again.Category != "A1" {
			t.Errorf("AddSignal again = %+v, %v, %v; want the first, unchanged", again, added, err)
		}
		r, changed, err := svc.RemoveSignal(ctx, "b", bank.SignalRef{Type: bank.PDQ, Value: strings.ToUpper(pdqA)}, "benign photo", audit.Actor{Name: "carol"})
		if err != nil || !changed || r.ID != s.ID || r.RemovedReason != "benign photo" {
			t.Errorf("RemoveSignal = %+v, %v, %v", r, changed, err)
		}
		cs, err := svc.Changes(ctx, 0, 100)
		if err != nil || len(cs) != 3 || cs[2].Op != bank.OpSignalRemove || cs[2].Reason != "benign photo" {
			t.Errorf("Changes = %+v, %v", cs, err)
		}
		st, err := svc.BankStats(ctx, "b")
		if err != nil || st.Removed[bank.PDQ] != 1 || st.Active[bank.PDQ] != 0 {
			t.Errorf("BankStats = %+v, %v", st, err)
		}
	})
}

// TestServiceExclusions: a removed signal stays removed — adding it again
// is refused with ErrExcluded and an import reports it as excluded — until
// the exclusion is removed; exclusions are validated and audited.
func TestServiceExclusions(t *testing.T) {
	engines(t, func(t *testing.T, svc *bank.Service) {
		ctx := context.Background()
		by := audit.Actor{Name: "curator", Remote: "198.51.100.4:1234"}
		if _, err := svc.CreateBank(ctx, bank.NewBank("b"), by); err != nil {
			t.Fatal(err)
		}
		sig := bank.Signal{Type: bank.PDQ, Value: pdqA, Quality: -1}
		if _, _, err := svc.AddSignal(ctx, "b", sig, by); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.RemoveSignal(ctx, "b", bank.SignalRef{Type: bank.PDQ, Value: strings.ToUpper(pdqA)}, "false positive", by); err != nil {
			t.Fatal(err)
		}
		got, added, err := svc.AddSignal(ctx, "b", sig, by)
		if !errors.Is(err, bank.ErrExcluded) || added || got.Value != pdqA {
			t.Errorf("AddSignal of a removed value = %+v, %v, %v; want ErrExcluded", got, added, err)
		}
		list := "type,value\npdq," + pdqA + "\nmd5,0cc175b9c0f1b6a831c399e269772661\n"
		for _, atomic := range []bool{true, false} {
			r, err := hashlist.NewReader(strings.NewReader(list), hashlist.CSV, hashlist.ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := svc.Import(ctx, "b", r, bank.ImportOptions{Actor: by, Atomic: atomic})
			want := bank.ImportResult{Read: 2, Added: 1, Excluded: 1, Committed: 1}
			if !atomic {
				want = bank.ImportResult{Read: 2, Unchanged: 1, Excluded: 1}
			}
			if err != nil || !reflect.DeepEqual(res, want) {
				t.Errorf("import (atomic %v) = %+v, %v; want %+v", atomic, res, err, want)
			}
		}

		// Editing the list: validated, normalised, audited.
		if _, _, err := svc.AddExclusion(ctx, "b", bank.MD5, "D41D8CD98F00B204E9800998ECF8427E", "", by); !errors.Is(err, bank.ErrInvalid) {
			t.Errorf("exclusion without a reason: %v", err)
		}
		if _, _, err := svc.AddExclusion(ctx, "b", bank.MD5, "xyz", "bad", by); !errors.Is(err, bank.ErrInvalid) {
			t.Errorf("exclusion of a bad value: %v", err)
		}
		x, added, err := svc.AddExclusion(ctx, "b", bank.MD5, "D41D8CD98F00B204E9800998ECF8427E", "empty file", by)
		if err != nil || !added || x.Value != "d41d8cd98f00b204e9800998ecf8427e" {
			t.Fatalf("AddExclusion = %+v, %v, %v", x, added, err)
		}
		xs, err := svc.Exclusions(ctx, "b")
		if err != nil || len(xs) != 2 || xs[0].Type != bank.PDQ || xs[0].Reason != "false positive" || xs[1] != x {
			t.Errorf("Exclusions = %+v, %v", xs, err)
		}
		if err := svc.RemoveExclusion(ctx, "b", bank.PDQ, strings.ToUpper(pdqA), by); err != nil {
			t.Fatal(err)
		}
		if _, added, err := svc.AddSignal(ctx, "b", sig, by); err != nil || !added {
			t.Errorf("AddSignal after the exclusion was removed: %v, %v", added, err)
		}
		es, err := svc.Store().(audit.Store).ListAudit(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var acts []string
		for _, e := range es {
			acts = append(acts, e.Action)
			if e.Actor != by.Name || e.Remote != by.Remote {
				t.Errorf("entry %d by %q from %q", e.Seq, e.Actor, e.Remote)
			}
		}
		want := []string{"bank.create", "signal.add", "signal.remove", "bank.import", "bank.import", "exclusion.add", "exclusion.remove", "signal.add"}
		if !slices.Equal(acts, want) {
			t.Errorf("audit log %q, want %q", acts, want)
		}
	})
}
