package storetest

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
)

// BenchImport measures bulk import into one bank: each iteration adds
// batches of PDQ signals to a growing bank in one WriteSignals transaction
// and reports rows/s. open must return a fresh store.
func BenchImport(b *testing.B, st bank.Store, rowsPerOp int) {
	ctx := context.Background()
	if _, err := st.CreateBank(ctx, bank.NewBank("bench"), audit.Actor{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	const batch = 5000
	sigs := make([]bank.Signal, batch)
	rows := 0
	var elapsed time.Duration
	for b.Loop() {
		start := time.Now()
		err := st.WriteSignals(ctx, "bench", audit.Actor{Name: "bench"}, func(w bank.SignalWriter) error {
			for done := 0; done < rowsPerOp; done += batch {
				for i := range sigs {
					sigs[i] = bank.Signal{Type: bank.PDQ, Value: RandomPDQ(r), Quality: 100}
				}
				if _, err := w.Add(ctx, sigs); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		rows += rowsPerOp
	}
	b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
}

// BenchScan measures streaming every signal of a bank of n PDQ signals with
// a keys-only scan (what building an index does), in rows/s.
func BenchScan(b *testing.B, st bank.Store, n int) {
	ctx := context.Background()
	BenchImportOnce(b, st, n)
	rows := 0
	start := time.Now()
	for b.Loop() {
		err := st.ScanSignals(ctx, bank.SignalQuery{Banks: []string{"bench"}, Types: []bank.Type{bank.PDQ}, KeysOnly: true},
			func(s *bank.Signal) error { rows++; return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
}

// BenchImportOnce fills a new bank "bench" with n random PDQ signals.
func BenchImportOnce(b *testing.B, st bank.Store, n int) {
	b.Helper()
	ctx := context.Background()
	if _, err := st.CreateBank(ctx, bank.NewBank("bench"), audit.Actor{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(2, 2))
	err := st.WriteSignals(ctx, "bench", audit.Actor{Name: "bench"}, func(w bank.SignalWriter) error {
		sigs := make([]bank.Signal, 0, 5000)
		for i := 0; i < n; i++ {
			sigs = append(sigs, bank.Signal{Type: bank.PDQ, Value: RandomPDQ(r), Quality: 100})
			if len(sigs) == cap(sigs) || i == n-1 {
				if _, err := w.Add(ctx, sigs); err != nil {
					return err
				}
				sigs = sigs[:0]
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
