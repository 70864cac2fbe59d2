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

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func(t *testing.T) storetest.Store {
		url := storetest.PostgresURL(t)
		return func(t *testing.T) storetest.Store {
			db, err := postgres.Open(context.Background(), url)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			return db
		}
	})
}

func openBench(b *testing.B) *postgres.DB {
	db, err := postgres.Open(context.Background(), storetest.PostgresURL(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func BenchmarkImport(b *testing.B) { storetest.BenchImport(b, openBench(b), 50_000) }

func BenchmarkScan(b *testing.B) { storetest.BenchScan(b, openBench(b), 100_000) }

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
