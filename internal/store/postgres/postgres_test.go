package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/nigehban/nigehban/internal/store/migrate"
	"github.com/nigehban/nigehban/internal/store/postgres"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

func TestConformance(t *testing.T) { storetest.RunEngine(t, storetest.Postgres) }

func BenchmarkImport(b *testing.B) {
	storetest.BenchImport(b, storetest.OpenBench(b, storetest.Postgres), 50_000)
}

func BenchmarkScan(b *testing.B) {
	storetest.BenchScan(b, storetest.OpenBench(b, storetest.Postgres), 100_000)
}

// TestConcurrentOpen starts several "replicas" on a fresh database at once:
// the advisory lock must let exactly one apply each migration.
func TestConcurrentOpen(t *testing.T) {
	ctx := context.Background()
	url := storetest.PostgresURL(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			db, err := postgres.Open(ctx, url)
			if err == nil {
				var v int
				v, err = db.SchemaVersion(ctx)
				if err == nil && v < 1 {
					err = fmt.Errorf("schema version %d", v)
				}
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
}

func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	url := storetest.PostgresURL(t)
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future.sql', now())`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if _, err := postgres.Open(ctx, url); !errors.Is(err, migrate.ErrTooNew) {
		t.Errorf("Open of a newer schema: err = %v, want ErrTooNew", err)
	}
}
