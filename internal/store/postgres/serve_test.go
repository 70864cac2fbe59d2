package postgres_test

import (
	"context"
	"testing"

	"github.com/nigehban/nigehban/internal/store/postgres"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

func TestServeConformance(t *testing.T) {
	storetest.RunServe(t, func(t *testing.T) func(t *testing.T) storetest.Store {
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
