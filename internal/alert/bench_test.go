package alert_test

import (
	"context"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/alert"
	"github.com/nigehban/nigehban/internal/alert/alerttest"
	"github.com/nigehban/nigehban/internal/alert/cap"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// benchDesk returns a SQLite desk with n open cases, one in ten with an
// issued alert.
func benchDesk(b *testing.B, n int) (*alert.Service, *clock) {
	b.Helper()
	ctx := context.Background()
	st := storetest.OpenBench(b, storetest.SQLite)
	clk := &clock{}
	clk.Set(time.Now().UTC())
	d := alert.NewService(st, alerttest.Ring(b), alert.Config{Now: clk.Now}, nil)
	for i := range n {
		c, err := d.Intake(ctx, alerttest.Intake(clk.Now().Add(-time.Hour)), operator)
		if err != nil {
			b.Fatal(err)
		}
		if i%10 == 0 {
			d.RecordComplaint(ctx, c.ID, "FIR", police)
			d.Draft(ctx, c.ID, alert.DraftRequest{Tier: alert.TierAlert}, operator)
			d.Submit(ctx, c.ID, operator)
			d.Approve(ctx, c.ID, desk)
			if _, err := d.Issue(ctx, c.ID, desk); err != nil {
				b.Fatal(err)
			}
		}
	}
	return d, clk
}

// BenchmarkTick1000: one tick of the clock over 1,000 open cases with
// nothing due (what every replica does every 30 s).
func BenchmarkTick1000(b *testing.B) {
	d, _ := benchDesk(b, 1000)
	ctx := context.Background()
	d.Tick(ctx)
	b.ResetTimer()
	for b.Loop() {
		if _, err := d.Tick(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFeed1000: building the Atom feed over 1,000 open cases, 100
// alerts (the clock moves past the cache each time).
func BenchmarkFeed1000(b *testing.B) {
	d, clk := benchDesk(b, 1000)
	ctx := context.Background()
	var doc []byte
	b.ResetTimer()
	for b.Loop() {
		clk.Add(6 * time.Second)
		var err error
		if doc, err = d.Feed(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if f, err := cap.ParseFeed(doc); err != nil || len(f.Entries) != 100 {
		b.Fatalf("%v %d", err, len(f.Entries))
	}
}
