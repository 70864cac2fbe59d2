package alert_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/alert"
	"github.com/nigehban/nigehban/internal/alert/alerttest"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// minCount is a disclosure control for the test: it withholds counts
// below 2 (the real one is the case registry's, wired at merge).
type minCount struct{}

func (minCount) Protect(t alert.Table) alert.Table {
	for i := range t.Rows {
		if t.Rows[i].Count < 2 {
			t.Rows[i].Count, t.Rows[i].Suppressed = 0, true
		}
	}
	return t
}

// Monthly statistics against a golden file: five cases in January, one in
// February (not counted).
func TestStats(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		clk := &clock{}
		d := newDesk(t, st, clk)
		type spec struct {
			reported   time.Duration // after t0
			age        int
			sex        string
			district   string
			circ       alert.Circumstance
			complaint  time.Duration // after report; 0 = never
			alertAfter time.Duration // 0 = no alert
			close      time.Duration // 0 = open
			outcome    alert.Outcome
		}
		for _, s := range []spec{
			{0, 7, alert.Female, "Kasur", alert.Abduction, 30 * time.Minute, 90 * time.Minute, 20 * time.Hour, alert.Recovered},
			{time.Hour, 15, alert.Male, "Kasur", alert.Runaway, 3 * time.Hour, 0, 3 * 24 * time.Hour, alert.Found},
			{2 * time.Hour, 3, alert.Male, "Lahore", alert.Lost, 10 * time.Minute, 0, 4 * time.Hour, alert.Found},
			{3 * time.Hour, 12, alert.Female, "Lahore", alert.Unknown, 0, 0, 0, ""},
			{4 * time.Hour, 16, alert.Female, "Lahore", alert.Abduction, 50 * time.Minute, 0, 30 * 24 * time.Hour, alert.Deceased},
			{40 * 24 * time.Hour, 9, alert.Male, "Multan", alert.Lost, 0, 0, 0, ""},
		} {
			at := t0.Add(s.reported)
			clk.Set(at)
			in := alerttest.Intake(at.Add(-time.Hour))
			in.Age, in.Sex, in.LastSeen.District, in.Circumstance = s.age, s.sex, s.district, s.circ
			c, err := d.Intake(ctx, in, operator)
			if err != nil {
				t.Fatal(err)
			}
			if s.complaint > 0 {
				clk.Set(at.Add(s.complaint))
				if _, err := d.RecordComplaint(ctx, c.ID, "FIR", police); err != nil {
					t.Fatal(err)
				}
			}
			if s.alertAfter > 0 {
				clk.Set(at.Add(s.alertAfter))
				d.Draft(ctx, c.ID, alert.DraftRequest{Tier: alert.TierAlert}, operator)
				d.Submit(ctx, c.ID, operator)
				d.Approve(ctx, c.ID, desk)
				if _, err := d.Issue(ctx, c.ID, desk); err != nil {
					t.Fatal(err)
				}
			}
			if s.close > 0 {
				clk.Set(at.Add(s.close))
				if _, err := d.Close(ctx, c.ID, s.outcome, desk); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, tc := range []struct {
			golden string
			d      alert.Disclosure
		}{{"stats-2026-01.json", nil}, {"stats-2026-01-protected.json", minCount{}},
			{"stats-2026-01-suppressed.json", alert.Suppression{}}} {
			r, err := d.Stats(ctx, "2026-01", tc.d)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(r, "", "  ")
			got = append(got, '\n')
			path := filepath.Join("testdata", tc.golden)
			if os.Getenv("UPDATE_GOLDEN") != "" {
				os.WriteFile(path, got, 0o644)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("%s differs:\n%s", tc.golden, got)
			}
		}
		// Five cases: a threshold of 6 withholds the month's count itself.
		if r, err := d.Stats(ctx, "2026-01", alert.Suppression{Threshold: 6}); err != nil || r.Cases != 0 || !r.CasesSuppressed {
			t.Fatalf("month below the threshold: cases %d, suppressed %v, %v", r.Cases, r.CasesSuppressed, err)
		}
		if _, err := d.Stats(ctx, "January", nil); !errors.Is(err, alert.ErrInvalid) {
			t.Fatalf("bad month: %v", err)
		}
	})
}

// TestSuppression: a small count is withheld with a complementary one, so
// neither follows from the published total; no count below the threshold
// is ever shown.
func TestSuppression(t *testing.T) {
	for _, tc := range []struct {
		counts []int
		want   []bool
	}{
		{[]int{7, 3, 9}, []bool{true, true, false}}, // 3 alone would follow from the total
		{[]int{7, 3, 2, 9}, []bool{false, true, true, false}},
		{[]int{8, 0, 9}, []bool{false, false, false}}, // zero is not disclosive
		{[]int{1, 2}, []bool{true, true}},             // total below the threshold
		{[]int{12}, []bool{false}},
	} {
		in := alert.Table{Name: "t"}
		for i, n := range tc.counts {
			in.Rows = append(in.Rows, alert.Cell{Key: string(rune('a' + i)), Count: n})
		}
		out := alert.Suppression{}.Protect(in)
		for i, c := range out.Rows {
			if c.Suppressed != tc.want[i] {
				t.Errorf("%v: cell %d suppressed %v, want %v", tc.counts, i, c.Suppressed, tc.want[i])
			}
			if c.Suppressed && c.Count != 0 || !c.Suppressed && c.Count != tc.counts[i] {
				t.Errorf("%v: cell %d shows %d", tc.counts, i, c.Count)
			}
			if !c.Suppressed && c.Count > 0 && c.Count < 5 {
				t.Errorf("%v: count %d below the threshold published", tc.counts, c.Count)
			}
		}
	}
}
