package exchange_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/jobs"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// TestFetchJobs: exchange fetches run as River jobs on both engines; a
// fetch of an exchange already queued is not queued twice (one fetcher
// per exchange across replicas), and the periodic schedule fetches every
// enabled exchange.
func TestFetchJobs(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		f, srv := newFakeNCMEC(t)
		for i := range 50 {
			f.add(syntheticRec(i))
		}
		svc := setup(t, st, "ncmec", exchange.KindNCMEC, srv.URL, ncmecCreds)
		svc.Log = slog.New(slog.DiscardHandler)

		client, err := jobs.Open(ctx, dsn, nil) // insert-only, as the CLI
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		r1, err := client.Insert(ctx, exchange.FetchArgs{Exchange: "ncmec"}, nil)
		if err != nil || r1.UniqueSkippedAsDuplicate {
			t.Fatalf("first insert: %+v, %v", r1, err)
		}
		r2, err := client.Insert(ctx, exchange.FetchArgs{Exchange: "ncmec"}, nil)
		if err != nil || !r2.UniqueSkippedAsDuplicate {
			t.Fatalf("second insert while the first is queued: %+v, %v", r2, err)
		}

		runner, err := exchange.Start(ctx, dsn, svc, exchange.Syncer{Log: svc.Log}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			runner.Stop(sctx)
			runner.Close()
		}()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			x, err := st.GetExchange(ctx, "ncmec")
			if err != nil {
				t.Fatal(err)
			}
			if x.State.LastOKAt != nil {
				break
			}
			if time.Now().After(deadline) {
				js, _ := client.Jobs(ctx, "", 10)
				for _, j := range js {
					t.Logf("job %d %s %s attempts %d errors %v", j.ID, j.Kind, j.State, j.Attempt, j.Errors)
				}
				t.Fatalf("no successful fetch by a job: %+v", x.State)
			}
			time.Sleep(50 * time.Millisecond)
		}
		active, _ := activeCount(t, st, "ncmec")
		if active != 150 {
			t.Fatalf("%d signals after the job's fetch, want 150", active)
		}
		js, err := client.Jobs(ctx, exchange.FetchArgs{}.Kind(), 10)
		if err != nil || len(js) == 0 {
			t.Fatalf("fetch jobs listed: %d, %v", len(js), err)
		}
	})
}
