package registry_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nigehban/nigehban/internal/store/sqlite/sqlitedrv"

	"github.com/nigehban/nigehban/internal/registry"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// BenchmarkTwoWay measures a published two-way table (count, protect,
// sign and log) over NIGEHBAN_BENCH_INCIDENTS incidents (default
// 1,000,000) on each engine; the target is under 1 s per table. To
// populate fast, 50,000 random incidents go in through the registry and
// are then copied in SQL (uid suffixed) until there are n, with the kept
// counts multiplied alike; a table's total is checked against n.
//
//	go test -run '^$' -bench TwoWay -benchtime 8x ./internal/registry
func BenchmarkTwoWay(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("NIGEHBAN_BENCH_INCIDENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	const seed = 50_000
	copies := max(1, n/seed)
	n = seed * copies
	for _, e := range storetest.Engines {
		b.Run(e.Name, func(b *testing.B) {
			ctx := context.Background()
			dsn := e.DSN(b)
			st, err := store.Open(ctx, dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			svc := registry.NewService(st, nil)
			who := grant(b, svc, registry.Access{Principal: "user:bench", Scope: registry.ScopeOrg, Org: "sahil",
				Level: registry.LevelDistrict, Write: true})
			r := rand.New(rand.NewPCG(1, 2))
			ds := registry.Districts()
			start := time.Now()
			batch := make([]registry.Incident, seed)
			for i := range batch {
				batch[i] = registry.Incident{
					Reported: registry.Day(17900 + r.IntN(1800)), District: ds[r.IntN(len(ds))].Code,
					Category: 1 + r.IntN(13), Sex: r.IntN(4), AgeBand: r.IntN(5), Relationship: r.IntN(12),
					Place: r.IntN(11), Area: r.IntN(3), PoliceStatus: r.IntN(5), Outcome: r.IntN(6) % 2,
				}
			}
			if _, err := svc.AddIncidents(ctx, who, batch); err != nil {
				b.Fatal(err)
			}
			if copies > 1 {
				replicate(b, dsn, copies)
			}
			b.Logf("%s: %d incidents in %v", e.Name, n, time.Since(start))
			tables := []registry.TableRequest{
				{Rows: "district", Cols: "category"}, {Rows: "year", Cols: "month"},
				{Rows: "relationship", Cols: "place"}, {Rows: "province", Cols: "outcome"},
				{Rows: "district", Cols: "sex", Province: "Punjab"}, {Rows: "category", Cols: "age_band", District: "Kasur"},
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				req := tables[i%len(tables)]
				t0 := time.Now()
				p, err := svc.Table(ctx, who, req)
				if err != nil {
					b.Fatal(err)
				}
				if req.Province == "" && req.District == "" && p.Table.Total.Count != int64(n) {
					b.Fatalf("total %d, want %d", p.Table.Total.Count, n)
				}
				b.Logf("%s %s×%s %s%s: %v (total %d)", e.Name, req.Rows, req.Cols, req.Province, req.District, time.Since(t0), p.Table.Total.Count)
			}
		})
	}
}

// replicate copies every incident copies-1 times and multiplies the kept
// counts by copies, through a connection of its own.
func replicate(b *testing.B, dsn string, copies int) {
	ctx := context.Background()
	var ks []string
	for k := 1; k < copies; k++ {
		ks = append(ks, fmt.Sprintf("SELECT %d AS k", k))
	}
	cols := `case_id, org, team, owner, reported_day, year, month, category, sex, age_band, relationship, place,
		district, province, area, police_status, stage, outcome, fir, fir_day, charge_sheet_day, trial_day, verdict_day,
		sections, acquittal_reason, source, extra, created_at`
	stmts := []string{
		`INSERT INTO reg_incidents (uid, ` + cols + `) SELECT uid || '-' || CAST(k AS TEXT), ` + cols +
			` FROM reg_incidents CROSS JOIN (` + strings.Join(ks, " UNION ALL ") + `) AS copies`,
		fmt.Sprintf(`UPDATE reg_counts SET n = n * %d`, copies),
	}
	if store.IsPostgres(dsn) {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(ctx)
		for _, q := range append(stmts, `VACUUM ANALYZE reg_incidents`, `ANALYZE reg_counts`) {
			if _, err := conn.Exec(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	// The store's own driver: a second copy of SQLite in the process would
	// not see the store's file locks.
	db, err := sqlitedrv.Open(strings.TrimPrefix(dsn, "sqlite:"), sqlitedrv.Options{Pragmas: []string{"busy_timeout = 30000"}})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, q := range append(stmts, `ANALYZE`) {
		if _, err := db.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}
