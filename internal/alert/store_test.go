package alert_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/alert"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// The store's contract on both engines: versions guard concurrent
// writers, filters select by state and report time, and a refused write
// leaves neither the case nor the audit log changed.
func TestMissingStore(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		by := audit.Actor{Name: "test"}
		at := time.Date(2026, 1, 4, 13, 0, 0, 0, time.UTC)
		r, err := st.CreateMissingCase(ctx, alert.Record{UID: "u1", District: "Kasur", ReportedAt: at, Doc: []byte(`{"a":1}`), Sealed: []byte{1, 2}},
			by.Entry(alert.ActIntake, "missing:u1", nil))
		if err != nil || r.ID == 0 || r.Version != 1 {
			t.Fatalf("create: %v %+v", err, r)
		}
		if _, err := st.CreateMissingCase(ctx, alert.Record{UID: "u1", District: "x", ReportedAt: at, Doc: []byte(`{}`), Sealed: []byte{1}},
			by.Entry(alert.ActIntake, "missing:u1", nil)); err == nil {
			t.Fatal("a second case with the same uid")
		}
		r2, err := st.CreateMissingCase(ctx, alert.Record{UID: "u2", District: "Lahore", ReportedAt: at.AddDate(0, 1, 0), Doc: []byte(`{}`), Sealed: []byte{3}},
			by.Entry(alert.ActIntake, "missing:u2", nil))
		if err != nil {
			t.Fatal(err)
		}
		closed := at.Add(time.Hour)
		upd := r
		upd.Doc, upd.ClosedAt = []byte(`{"a":2}`), &closed
		if r, err = st.UpdateMissingCase(ctx, upd, []audit.Entry{by.Entry(alert.ActCaseClose, "missing:u1", nil)}, nil); err != nil || r.Version != 2 {
			t.Fatalf("update: %v %+v", err, r)
		}
		before, _ := st.ListAudit(ctx, 0, 100)
		if _, err := st.UpdateMissingCase(ctx, upd, []audit.Entry{by.Entry(alert.ActCaseClose, "missing:u1", nil)}, nil); !errors.Is(err, alert.ErrConflict) {
			t.Fatalf("stale version: %v", err)
		}
		upd.ID = 999
		if _, err := st.UpdateMissingCase(ctx, upd, nil, nil); !errors.Is(err, alert.ErrNotFound) {
			t.Fatalf("unknown case: %v", err)
		}
		if after, _ := st.ListAudit(ctx, 0, 100); len(after) != len(before) {
			t.Fatal("a refused update was audited")
		}
		got, err := st.MissingCase(ctx, r.ID)
		if err != nil || string(got.Doc) != `{"a":2}` || got.ClosedAt == nil || !got.ClosedAt.Equal(closed) || string(got.Sealed) != "\x01\x02" {
			t.Fatalf("read back: %v %+v", err, got)
		}
		if _, err := st.MissingCase(ctx, 999); !errors.Is(err, alert.ErrNotFound) {
			t.Fatalf("missing case: %v", err)
		}
		if g, err := st.MissingCaseByUID(ctx, "u2", false); err != nil || g.ID != r2.ID || g.Sealed != nil {
			t.Fatalf("by uid: %v %+v", err, g)
		}
		for _, tc := range []struct {
			name string
			f    alert.Filter
			want int
		}{
			{"all", alert.Filter{}, 2},
			{"open", alert.Filter{OpenOnly: true}, 1},
			{"closed since before", alert.Filter{ClosedSince: closed.Add(-time.Minute)}, 2},
			{"closed since after", alert.Filter{ClosedSince: closed.Add(time.Minute)}, 1},
			{"January", alert.Filter{From: at, To: at.AddDate(0, 0, 27)}, 1},
		} {
			rs, err := st.MissingCases(ctx, tc.f)
			if err != nil || len(rs) != tc.want {
				t.Errorf("%s: %v, %d cases, want %d", tc.name, err, len(rs), tc.want)
			}
		}
	})
}
