// Package sqlite is the default store engine: one SQLite file, through the
// pure-Go modernc.org/sqlite driver, so the binary builds without cgo.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so every
// committed transaction is fsynced to the WAL before Commit returns, and a
// crash (even SIGKILL or power loss) leaves either the whole transaction or
// none of it. All writes go through one connection opened with BEGIN
// IMMEDIATE, which takes SQLite's single write lock at the start of each
// transaction: writers never deadlock on lock upgrades, other processes wait
// up to the busy timeout, and change-log sequence numbers are assigned in
// commit order. Reads use a separate pool and, thanks to WAL, never wait for
// the writer.
//
// The writer's page cache may grow to 1 GiB: bulk imports insert into a
// large unique index in random order, and a 10-million-signal bank's index
// (about 600 MB) then stays in memory (measured: 18% faster at 3M signals
// than with 128 MiB). After a large write the cache is shrunk again, so a
// long-running process does not keep it. The WAL is truncated back to 64 MiB
// after checkpoints, since a large atomic import grows it to the size of
// everything it wrote.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/store/migrate"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// BusyTimeout is how long a writer waits for another process's write lock.
const BusyTimeout = 30 * time.Second

// DB is a SQLite store. Its methods are safe for concurrent use.
type DB struct {
	path string
	w    *sql.DB // one connection: SQLite has one writer at a time anyway
	r    *sql.DB // readers
}

// Open opens (creating if needed) the SQLite database at path and brings its
// schema up to date.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite path %q: must be a file name without '?' or '#'", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create directory for %q: %w", path, err)
		}
	}
	params := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)",
		BusyTimeout.Milliseconds())
	w, err := sql.Open("sqlite", path+"?"+params+"&_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=cache_size(-1048576)&_pragma=journal_size_limit(67108864)")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db := &DB{path: path, w: w}
	if err = db.migrate(ctx); err == nil {
		err = db.backfillTree(ctx)
	}
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite %q: %w", path, err)
	}
	r, err := sql.Open("sqlite", path+"?"+params+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(2)
	db.r = r
	return db, nil
}

// Engine returns "sqlite".
func (db *DB) Engine() string { return "sqlite" }

// Close closes the database. Changes already committed are durable.
func (db *DB) Close() error {
	return errors.Join(db.r.Close(), db.w.Close())
}

// migrate applies pending migrations, each in its own write transaction
// together with its schema_migrations row.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for {
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		var cur int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
			tx.Rollback()
			return fmt.Errorf("read schema version: %w", err)
		}
		pending, err := migrate.Pending(ms, cur)
		if err != nil || len(pending) == 0 {
			tx.Rollback()
			return err
		}
		m := pending[0]
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.Version, m.Name, time.Now().UnixMicro()); err != nil {
			tx.Rollback()
			return fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit migration %s: %w", m.Name, err)
		}
	}
}

// SchemaVersion returns the highest applied migration version.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// Check runs SQLite's integrity check and the store's own consistency checks
// (see bank store docs); it returns nil when all pass.
func (db *DB) Check(ctx context.Context) error {
	var res string
	if err := db.r.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("integrity check: %s", res)
	}
	return db.checkChangeLog(ctx)
}

// now returns the current time at the precision both engines store.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }
