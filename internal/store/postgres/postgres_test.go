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
