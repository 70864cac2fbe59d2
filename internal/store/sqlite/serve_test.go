package sqlite_test

import (
	"context"
	"testing"

	"github.com/nigehban/nigehban/internal/store/sqlite"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

func TestServeConformance(t *testing.T) {
	storetest.RunServe(t, func(t *testing.T) func(t *testing.T) storetest.Store {
		path := storetest.SQLitePath(t)
		return func(t *testing.T) storetest.Store {
			db, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			return db
		}
	})
}
