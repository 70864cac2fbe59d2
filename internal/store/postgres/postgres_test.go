package postgres_test

import (
	"context"
	"testing"

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
