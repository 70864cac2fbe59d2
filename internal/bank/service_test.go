package bank_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
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
