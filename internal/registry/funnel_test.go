package registry_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/nigehban/nigehban/internal/registry"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// TestFunnel compares the published justice funnel with counts and mean
// days computed directly from generated incidents, and checks that a step
// reached by fewer than the threshold is suppressed with a complement.
func TestFunnel(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		svc := registry.NewService(st, testKeys(t))
		w := grant(t, svc, registry.Access{Principal: "user:w", Scope: registry.ScopeOrg, Org: "o", Level: registry.LevelNational, Write: true})
		r := rand.New(rand.NewPCG(3, 4))
		var in []registry.Incident
		reached := make([]int64, 6)
		var days, pairs [4]int64
		for i := 0; i < 500; i++ {
			x := registry.Incident{Reported: registry.Day(18000 + r.IntN(300))}
			steps := []*registry.Day{&x.FIRDate, &x.ChargeSheetDate, &x.TrialDate, &x.VerdictDate}
			last := x.Reported
			n := r.IntN(5)
			if i < 3 {
				n = 4 // exactly three convictions: below the threshold
			}
			for s := 0; s < n; s++ {
				d := last + registry.Day(1+r.IntN(90))
				*steps[s] = d
				days[s] += int64(d - last)
				pairs[s]++
				last = d
			}
			for s := 0; s <= n; s++ {
				reached[s]++
			}
			if n == 4 {
				x.Outcome = 3 // compromise
				if i < 3 {
					x.Outcome = registry.OutcomeConviction
					reached[5]++
				}
			}
			in = append(in, x)
		}
		if _, err := svc.AddIncidents(ctx, w, in); err != nil {
			t.Fatal(err)
		}
		f, err := svc.Funnel(ctx, w, registry.TableRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Steps) != 6 || f.LogSeq == 0 {
			t.Fatalf("funnel %+v", f)
		}
		suppressed := 0
		for i, s := range f.Steps {
			if s.Reached.Suppressed {
				suppressed++
			} else if s.Reached.Count != reached[i] {
				t.Errorf("step %s: %+v, want %d", s.Step, s.Reached, reached[i])
			}
			if i == 5 && !s.Reached.Suppressed {
				t.Errorf("3 convictions published")
			}
			if i >= 1 && i <= 4 {
				want := float64(int64(float64(days[i-1])/float64(pairs[i-1])*10+0.5)) / 10
				if s.MeanDays == nil || *s.MeanDays != want {
					t.Errorf("step %s mean days %v, want %v", s.Step, s.MeanDays, want)
				}
			}
		}
		// Only conviction and one complement are suppressed, so at most
		// two steps (those that would need either) are.
		if suppressed == 0 || suppressed > 2 {
			t.Errorf("%d steps suppressed", suppressed)
		}
	})
}
