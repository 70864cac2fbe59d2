// Package store opens the database behind nigehban: SQLite (one file, the
// default) or PostgreSQL (the system of record when several `serve` replicas
// share banks). Open picks the engine from the DSN.
//
// # Layout
//
//   - internal/store/sqlcore: the SQL both engines share — row decoding, every
//     read query, single-row writes, Check, and the audit chain (AppendTx,
//     the one function that writes audit entries) — written once against
//     small Querier/Row/Tx interfaces and a Flavor of engine quirks.
//   - internal/store/sqlite, internal/store/postgres: the engines. Each
//     embeds a *sqlcore.Core (so its methods are the engine's) and holds
//     only what really differs: connections and transactions (SQLite's
//     single writer with BEGIN IMMEDIATE and a read pool; a pgx pool), bulk
//     signal inserts and their change-log entries (batched multi-row
//     INSERTs; array-valued INSERTs with IDs kept in memory or a temporary
//     table), sequence allocation (SQLite's single writer orders changes
//     and audit entries; PostgreSQL takes numbers from the change_seq and
//     audit_head rows, locked until commit), row locks (FOR UPDATE, SKIP
//     LOCKED: PostgreSQL only), how times are stored (Unix microseconds;
//     timestamptz), and the engine's own integrity check. Each embeds its
//     own versioned migrations (migrations/NNNN_name.sql, applied in order,
//     once, each in a transaction; see internal/store/migrate).
//   - internal/store/storetest: the conformance suite both engines run, the
//     engine matrix every two-engine test uses (Engines, ForEachEngine,
//     ForEachStore), and helpers that give tests a fresh database (a temp
//     SQLite file, or a new PostgreSQL database created on the server in
//     NIGEHBAN_TEST_POSTGRES and dropped afterwards).
//
// # Adding tables
//
//  1. Define the interface you need in your domain package, as bank.Store
//     does (small, documented contract, sentinel errors from your package).
//  2. Add NNNN_yours.sql with the version you were given to BOTH
//     sqlite/migrations and postgres/migrations. Never edit a migration that
//     has shipped; change a schema with a new version.
//  3. Implement the interface once, in sqlcore (new file), with '?'
//     placeholders and Flavor for what differs; write through Core.write (a
//     write transaction of the engine) and read through the engine's
//     Reader. Only code whose SQL truly differs goes to the engines. A
//     change that must appear in the ordered change log goes through
//     logChange in the same transaction, as its last statement; an audited
//     act appends its entry with AppendTx in the same transaction.
//  4. Embed the interface in Store below, and add conformance tests to
//     storetest (both engines' TestConformance run them).
package store

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/alert"
	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/history"
	"github.com/nigehban/nigehban/internal/protect"
	"github.com/nigehban/nigehban/internal/registry"
	"github.com/nigehban/nigehban/internal/report"
	"github.com/nigehban/nigehban/internal/retro"
	"github.com/nigehban/nigehban/internal/review"
	"github.com/nigehban/nigehban/internal/store/postgres"
	"github.com/nigehban/nigehban/internal/store/sqlite"
	"github.com/nigehban/nigehban/internal/vault"
)

// Store is everything the database offers; each engine implements it.
type Store interface {
	bank.Store
	account.Store
	history.Store
	review.Store
	apikey.Store
	audit.LogStore
	action.Store
	alert.Store
	protect.Store
	exchange.Store
	exchange.PartnerStore
	retro.Store
	report.Store
	vault.Store
	registry.Store
	// RecordMatch appends an audit entry and queues webhook events in one
	// transaction (what `serve` does before acknowledging a match).
	RecordMatch(ctx context.Context, e audit.Entry, events []action.Event) (audit.Entry, error)
	// SignalCategories calls fn with the id and category of every active
	// non-vPDQ signal that has one, by increasing id (`serve` keeps them in
	// memory to answer matches without reading the store).
	SignalCategories(ctx context.Context, fn func(id int64, category string) error) error
	// AuditBefore pages the audit log backwards for the web console: up to
	// limit entries with Seq < before (0: from the newest), newest first.
	AuditBefore(ctx context.Context, before int64, limit int) ([]audit.Entry, error)
	// SearchSignals pages a bank's signals filtered by category and source
	// for the web console (see sqlcore).
	SearchSignals(ctx context.Context, bankName, category, source string, removed bool,
		after int64, scan, limit int) (sigs []bank.Signal, next int64, err error)

	// Engine names the engine: "sqlite" or "postgres".
	Engine() string
	// Check verifies the database's integrity and that the change log
	// accounts for every bank and signal (no half-written change).
	Check(ctx context.Context) error
	// Close releases the database; committed changes are durable.
	Close() error
}

var (
	_ Store = (*sqlite.DB)(nil)
	_ Store = (*postgres.DB)(nil)
)

// IsPostgres reports whether dsn selects the PostgreSQL engine.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens the store dsn names and brings its schema up to date: a
// postgres:// or postgresql:// URL opens PostgreSQL, anything else is the
// path of a SQLite file (created with its directory if missing).
func Open(ctx context.Context, dsn string) (Store, error) {
	if IsPostgres(dsn) {
		db, err := postgres.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", Redact(dsn), err)
		}
		return db, nil
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return db, nil
}

// DefaultDSN returns the store to use when none is given: $NIGEHBAN_DB if
// set, else nigehban/nigehban.db under $XDG_DATA_HOME, else under
// ~/.local/share (the XDG default).
func DefaultDSN() (string, error) {
	if v := os.Getenv("NIGEHBAN_DB"); v != "" {
		return v, nil
	}
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("default database location: %w (set --db or NIGEHBAN_DB)", err)
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dir, "nigehban", "nigehban.db"), nil
}

// Redact returns dsn with any password replaced, for messages and logs.
func Redact(dsn string) string {
	if !IsPostgres(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://…"
	}
	return u.Redacted()
}
