package review_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/review"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// BenchmarkClaimNext measures claiming the next review item on PostgreSQL
// with a deep queue (NIGEHBAN_BENCH_REVIEW_ITEMS, default 1,000,000 items,
// bulk-inserted with generate_series): each reviewer claims an item and
// confirms it, and the latency of every claim is kept; p50 and p99 are
// reported in milliseconds. With 8 reviewers the claims contend (SKIP
// LOCKED). Run:
//
//	go test -run '^$' -bench ClaimNext -benchtime=2000x ./internal/review
func BenchmarkClaimNext(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("NIGEHBAN_BENCH_REVIEW_ITEMS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	dsn := storetest.PostgresURL(b)
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := conn.Exec(ctx, `INSERT INTO review_items (ref, created_at, bank, signal_id, type, value, distance, reason, submitter, signals)
		SELECT md5(g::text), now(), 'bench', g, 'md5', md5(g::text), 0, 'bank', 'key:1 (bench)', '[{"type":"md5","value":"' || md5(g::text) || '"}]'
		FROM generate_series(1, $1::int) g`, n); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE review_items`); err != nil {
		b.Fatal(err)
	}
	b.Logf("queued %d items in %v", n, time.Since(start).Round(time.Millisecond))
	// The floor on this machine: a write transaction that updates one row
	// by primary key and commits (what any claim costs at least).
	var base []time.Duration
	for i := range 300 {
		t0 := time.Now()
		tx, err := conn.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `UPDATE review_items SET comment = '' WHERE id = $1`, n-i); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		base = append(base, time.Since(t0))
	}
	conn.Close(ctx)
	slices.Sort(base)
	b.Logf("baseline write transaction: p50 %.2f ms, p99 %.2f ms", float64(base[len(base)/2])/1e6, float64(base[len(base)*99/100])/1e6)

	b.Cleanup(func() { explainClaims(b, dsn) })
	for _, reviewers := range []int{1, 8} {
		b.Run(fmt.Sprintf("reviewers=%d", reviewers), func(b *testing.B) {
			var mu sync.Mutex
			var lat []time.Duration
			per := (b.N + reviewers - 1) / reviewers
			b.ResetTimer()
			var wg sync.WaitGroup
			for r := range reviewers {
				wg.Go(func() {
					who := fmt.Sprintf("user:%d (bench)", r)
					mine := make([]time.Duration, 0, per)
					for range per {
						now := time.Now()
						t0 := time.Now()
						it, err := st.ClaimReview(ctx, review.Claim{Reviewer: who, Now: now, Lease: time.Minute})
						mine = append(mine, time.Since(t0))
						if err != nil {
							b.Error(err)
							return
						}
						if _, err := st.DecideReview(ctx, review.Verdict{ItemID: it.ID, Reviewer: who, Decision: review.Confirm, Now: time.Now()},
							audit.Actor{Name: who}); err != nil {
							b.Error(err)
							return
						}
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				})
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) == 0 {
				return
			}
			q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(q(1), "max-ms")
		})
	}
}

// explainClaims reports the database's own execution time of the claim
// statement (EXPLAIN ANALYZE, rolled back) over the queue the benchmark
// left: the work of a claim without the commit, the network and the
// scheduling noise of a loaded machine.
func explainClaims(b *testing.B, dsn string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Error(err)
		return
	}
	defer conn.Close(ctx)
	var times []float64
	for i := range 200 {
		tx, err := conn.Begin(ctx)
		if err != nil {
			b.Error(err)
			return
		}
		var plan []map[string]any
		err = tx.QueryRow(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) UPDATE review_items SET lease_owner = $1, lease_until = now() + interval '10 minutes'
			WHERE id = (SELECT id FROM review_items r WHERE state = 'open' AND (lease_until IS NULL OR lease_until <= now())
			AND NOT EXISTS (SELECT 1 FROM review_skips s WHERE s.item_id = r.id AND s.reviewer = $1)
			ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) AND (lease_until IS NULL OR lease_until <= now()) RETURNING id`,
			fmt.Sprintf("user:explain-%d", i)).Scan(&plan)
		tx.Rollback(ctx)
		if err != nil {
			b.Error(err)
			return
		}
		if t, ok := plan[0]["Execution Time"].(float64); ok {
			times = append(times, t)
		}
	}
	slices.Sort(times)
	if len(times) > 0 {
		b.Logf("claim statement, database execution time over %d runs: p50 %.3f ms, p99 %.3f ms", len(times),
			times[len(times)/2], times[len(times)*99/100])
	}
}
