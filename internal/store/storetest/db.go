// Package storetest is the conformance suite every store engine runs
// (restic's backend/test pattern): one set of behaviour tests of the
// bank.Store contract, called from each engine's tests with a function that
// gives it fresh databases. It also provides those databases: a temporary
// SQLite file, or a new PostgreSQL database on the server named by
// NIGEHBAN_TEST_POSTGRES, dropped when the test ends — and the engine
// matrix (Engines, ForEachEngine, ForEachStore) every test that runs on both
// engines uses.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/testtool"
)

// PostgresEnv names the environment variable holding the URL of a
// PostgreSQL server for tests (any database on it; tests create their own).
// scripts/test sets it; tests skip when it is unset, and fail when CI=true.
const PostgresEnv = "NIGEHBAN_TEST_POSTGRES"

// Engine is a store engine tests run on.
type Engine struct {
	Name string
	// DSN returns the DSN of a new, empty database of the engine, removed
	// when the test ends.
	DSN func(t testing.TB) string
}

// The engines.
var (
	SQLite   = Engine{"sqlite", SQLitePath}
	Postgres = Engine{"postgres", PostgresURL}
)

// Engines are the store engines, in the order tests run them.
var Engines = []Engine{SQLite, Postgres}

// RunEngine runs the conformance suite (Run) on engine e, opening its
// databases with store.Open.
func RunEngine(t *testing.T, e Engine) {
	Run(t, func(t *testing.T) func(t *testing.T) store.Store {
		dsn := e.DSN(t)
		return func(t *testing.T) store.Store {
			st, err := store.Open(context.Background(), dsn)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			return st
		}
	})
}

// OpenBench opens a new database of engine e for a benchmark, closed when
// it ends.
func OpenBench(b *testing.B, e Engine) store.Store {
	st, err := store.Open(context.Background(), e.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// ForEachEngine runs fn as a parallel subtest per engine, named after it,
// with the DSN of a new database. The PostgreSQL subtest skips without a
// server (fails with CI=true), like PostgresURL.
func ForEachEngine(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	for _, e := range Engines {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, e.DSN(t))
		})
	}
}

// ForEachStore is ForEachEngine with the database opened; at the end of the
// test the store must pass Check, and is closed.
func ForEachStore(t *testing.T, fn func(t *testing.T, st store.Store)) {
	t.Helper()
	ForEachEngine(t, func(t *testing.T, dsn string) {
		st, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := st.Check(context.Background()); err != nil {
				t.Errorf("store inconsistent at end of test: %v", err)
			}
			st.Close()
		})
		fn(t, st)
	})
}

// SQLitePath returns the path of a new SQLite database file in a temporary
// directory removed after the test.
func SQLitePath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "nigehban.db")
}

// PostgresURL creates an empty database on the server in
// NIGEHBAN_TEST_POSTGRES and returns its URL; the database is dropped (with
// any connections still open) when the test ends. It skips the test when the
// variable is unset. Each call makes a new database, so tests may run in
// parallel.
func PostgresURL(t testing.TB) string {
	t.Helper()
	server := os.Getenv(PostgresEnv)
	if server == "" {
		testtool.Missing(t, PostgresEnv+" not set: no PostgreSQL server for this test (scripts/test starts one)")
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "nigehban_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("connect to %s: %v", PostgresEnv, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}
