package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/store/postgres"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// openBank opens a new database with one bank, "b".
func openBank(t *testing.T) (*postgres.DB, string) {
	t.Helper()
	url := storetest.PostgresURL(t)
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.CreateBank(context.Background(), bank.NewBank("b"), audit.Actor{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	return db, url
}

func pdqs(r *rand.Rand, n int) []string {
	vs := make([]string, n)
	for i := range vs {
		vs[i] = storetest.RandomPDQ(r)
	}
	return vs
}

func sigs(vals []string, note string) []bank.Signal {
	s := make([]bank.Signal, len(vals))
	for i, v := range vals {
		s[i] = bank.Signal{Type: bank.PDQ, Value: v, Quality: -1, Note: note}
	}
	return s
}

// TestBulkAddDuplicates adds one batch holding new values, repeats of
// some of them later in the batch and values already stored, below the
// fast path's size, on it, and large enough to keep its IDs in the
// temporary table: the first occurrence of each value is added, in batch
// order, the others are counted unchanged, and every added signal has its
// change-log entry.
func TestBulkAddDuplicates(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		fresh, repeat, store int
	}{
		{"small batch", 20, 5, 5},
		{"fast path", 600, 150, 100},
		{"spilled", 3000, 400, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, _ := openBank(t)
			r := rand.New(rand.NewPCG(uint64(tc.fresh), 7))
			stored, fresh := pdqs(r, tc.store), pdqs(r, tc.fresh)
			by := audit.Actor{Name: "alice"}
			add := func(batch []bank.Signal) bank.AddCounts {
				var n bank.AddCounts
				err := db.WriteSignals(ctx, "b", by, func(w bank.SignalWriter) error {
					var err error
					n, err = w.Add(ctx, batch)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			add(sigs(stored, "stored"))
			// fresh values, then repeats of the first ones with another
			// note, with the stored values in between.
			batch := sigs(fresh, "first")
			for i := range tc.repeat {
				batch = append(batch, sigs(stored[i%len(stored):i%len(stored)+1], "again")...)
				batch = append(batch, sigs(fresh[i:i+1], "repeat")...)
			}
			got := add(batch)
			if want := (bank.AddCounts{Added: tc.fresh, Unchanged: 2 * tc.repeat}); got != want {
				t.Errorf("counts = %+v, want %+v", got, want)
			}
			all := bankSignals(ctx, t, db)
			want := append(append([]string{}, stored...), fresh...)
			if len(all) != len(want) {
				t.Fatalf("%d signals, want %d", len(all), len(want))
			}
			for i, s := range all {
				note := "first"
				if i < len(stored) {
					note = "stored"
				}
				if s.Value != want[i] || s.Note != note {
					t.Fatalf("signal %d = %s %q, want %s %q (add order, first occurrence)", i, s.Value, s.Note, want[i], note)
				}
			}
			checkChanges(t, db, all)
		})
	}
}

// checkChanges checks that the change log holds one OpSignalAdd per
// signal, in the signals' ID order.
// bankSignals returns every signal of bank "b", as ScanSignals gives them.
func bankSignals(ctx context.Context, t *testing.T, db *postgres.DB) []bank.Signal {
	t.Helper()
	var all []bank.Signal
	if err := db.ScanSignals(ctx, bank.SignalQuery{Banks: []string{"b"}}, func(s *bank.Signal) error {
		all = append(all, *s)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return all
}

func checkChanges(t *testing.T, db *postgres.DB, all []bank.Signal) {
	t.Helper()
	cs, err := db.Changes(context.Background(), 0, len(all)+100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, c := range cs {
		if c.Op == bank.OpSignalAdd {
			ids = append(ids, c.Signal.ID)
		}
	}
	if len(ids) != len(all) {
		t.Fatalf("%d signal.add changes for %d signals", len(ids), len(all))
	}
	for i, s := range all {
		if ids[i] != s.ID {
			t.Fatalf("change %d is signal %d, want %d", i, ids[i], s.ID)
		}
	}
}

// TestBulkAddRace: a transaction adds a batch while another one, not yet
// committed, has added some of its values. The fast path's plain INSERT
// waits for the other transaction and then meets a unique violation; Add
// must roll back to its savepoint and count those values unchanged, as
// ON CONFLICT DO NOTHING does.
func TestBulkAddRace(t *testing.T) {
	ctx := context.Background()
	db, url := openBank(t)
	vals := pdqs(rand.New(rand.NewPCG(1, 2)), 300)
	holding, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- db.WriteSignals(ctx, "b", audit.Actor{Name: "first"}, func(w bank.SignalWriter) error {
			_, err := w.Add(ctx, sigs(vals[100:200], "first"))
			close(holding)
			<-release
			return err
		})
	}()
	<-holding
	type result struct {
		n   bank.AddCounts
		err error
	}
	second := make(chan result, 1)
	go func() {
		var res result
		res.err = db.WriteSignals(ctx, "b", audit.Actor{Name: "second"}, func(w bank.SignalWriter) error {
			var err error
			res.n, err = w.Add(ctx, sigs(vals, "second"))
			return err
		})
		second <- res
	}()
	if err := waitForLock(ctx, url); err != nil {
		close(release)
		t.Fatal(err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first transaction: %v", err)
	}
	res := <-second
	if res.err != nil {
		t.Fatalf("second transaction: %v", res.err)
	}
	if want := (bank.AddCounts{Added: 200, Unchanged: 100}); res.n != want {
		t.Errorf("second transaction's counts = %+v, want %+v", res.n, want)
	}
	all := bankSignals(ctx, t, db)
	if len(all) != len(vals) {
		t.Fatalf("%d signals, want %d", len(all), len(vals))
	}
	for _, s := range all[:100] {
		if s.Note != "first" {
			t.Fatalf("signal %s added by %q, want the first transaction", s.Value, s.Note)
		}
	}
	checkChanges(t, db, all)
}

// waitForLock waits until a session of the database at url waits for
// another transaction to end.
func waitForLock(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for range 600 {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'transactionid'`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no session waited for the first transaction in 30 s")
}
