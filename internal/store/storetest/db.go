// Package storetest is the conformance suite every store engine runs
// (restic's backend/test pattern): one set of behaviour tests of the
// bank.Store contract, called from each engine's tests with a function that
// gives it fresh databases. It also provides those databases: a temporary
// SQLite file, or a new PostgreSQL database on the server named by
// NIGEHBAN_TEST_POSTGRES, dropped when the test ends.
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
)

// PostgresEnv names the environment variable holding the URL of a
// PostgreSQL server for tests (any database on it; tests create their own).
// scripts/test sets it; tests skip when it is unset.
const PostgresEnv = "NIGEHBAN_TEST_POSTGRES"

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
		t.Skipf("%s not set: no PostgreSQL server for this test (scripts/test starts one)", PostgresEnv)
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
