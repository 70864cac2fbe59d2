// Package sqlite is the default store engine: one SQLite file. With cgo
// (the default build) it runs SQLite's C library through
// github.com/mattn/go-sqlite3; with CGO_ENABLED=0, the pure-Go translation
// modernc.org/sqlite, so the binary still builds without a C compiler. Both
// are the same SQLite and read each other's files; package sqlitedrv picks
// one by build tag and sets up every connection the same way (PRAGMAs run
// on connect). What the C library buys (BenchmarkNCMECInitialSync and its
// sqlite-purego sub-benchmark, same run; internal/exchange/README.md): on
// the idle 2-core test machine, at 1,000,000 hashes, 1.26× the pure-Go
// driver's rate of plain bulk writes (45,177 against 35,961 hashes/s) but
// only 1.04× on the whole sync (30,481 against 29,320: the fetch and XML
// run beside the writer), with 40 % of its peak RSS (512 against
// 1,285 MiB); under load it was 1.30–1.78× on the sync.
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
// long-running process does not keep it. A commit checkpoints the WAL into
// the database file once the WAL holds 50,000 pages (about 200 MiB; SQLite's
// default is 1000), which copies an index leaf rewritten by many bulk
// transactions once instead of once per transaction; the WAL is then
// truncated back to 64 MiB, since a large atomic import grows it to the
// size of everything it wrote. The writer keeps temporary storage in memory: every
// multi-row INSERT of a bulk write opens a statement journal (to undo the
// statement alone should it fail), which otherwise spills to a temporary
// file and cost a fifth of an exchange sync's time in write syscalls.
//
// A large exchange sync commits its pure additions in merges of 500,000
// hashes (internal/exchange/merge.go): the signals in key order, bound six
// values a row and inserted through Query, which binds a statement's
// values in one cgo call (signals.go). A merge holds the write lock for
// its whole length (idle: 5.6 s at most in a 1M sync, 11.1 s in a 10M one):
// other writers, serve's match hits included, wait for it. What an
// earlier version staged in exchange_staging (migration 0014) is merged
// in SQL by the next fetch (staging.go).
//
// Open creates a missing database file readable by its owner only (0600;
// SQLite gives the -wal and -shm files the same mode) and missing
// directories above it 0700.
//
// Everything SQL that both engines share (reads, row decoding, single-row
// writes, Check, the audit chain) is internal/store/sqlcore; this package
// holds what differs: opening the two handles, migrations, the batched bulk
// insert of signals, its change-log entries and the exchange entries of a
// sync (INSERT OR IGNORE statements prepared once per transaction; see
// signals.go), the merge of what an earlier version staged (sqlcore.Stager;
// staging.go), the driver-level key scan, and the flavor (times as Unix
// microseconds, IN lists, PRAGMA integrity_check, no row locks).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/store/migrate"
	"github.com/nigehban/nigehban/internal/store/sqlcore"

	"github.com/nigehban/nigehban/internal/store/sqlite/sqlitedrv"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// BusyTimeout is how long a writer waits for another process's write lock.
const BusyTimeout = 30 * time.Second

var busyPragma = fmt.Sprintf("busy_timeout = %d", BusyTimeout.Milliseconds())

// writerPragmas configure the writer connection (see the package doc).
// synchronous comes after journal_mode: the cgo build's SQLite is compiled
// with NORMAL as the WAL default, which an explicit setting overrides.
var writerPragmas = []string{
	busyPragma,
	"foreign_keys = 1",
	"journal_mode = WAL",
	"synchronous = FULL",
	"cache_size = -1048576",
	"journal_size_limit = 67108864",
	"temp_store = MEMORY",
	fmt.Sprintf("wal_autocheckpoint = %d", walCheckpointPages),
}

// walCheckpointPages is the WAL size, in pages (4 KiB), past which a commit
// copies the WAL back into the database file (SQLite's default is 1000).
// A bulk write rewrites the same index leaves in transaction after
// transaction; checkpointing every ~200 MiB instead of every 4 MiB copies
// each leaf once per checkpoint rather than once per transaction. Measured
// on a 1,000,000-hash NCMEC sync: 2.5 instead of 3.8 KiB written per hash
// (-35%), 1.08 instead of 1.40 write calls per hash, and 29,884 instead of
// 16,005 hashes/s (consecutive runs at load 2.5 and 4.7 on a shared 2-core
// VM). Durability is the same: every commit is still fsynced to the WAL.
const walCheckpointPages = 50_000

// readerPragmas configure the read pool's connections.
var readerPragmas = []string{busyPragma, "foreign_keys = 1", "synchronous = FULL", "query_only = 1"}

// DB is a SQLite store. Its methods are safe for concurrent use.
type DB struct {
	*sqlcore.Core
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
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	w, err := sqlitedrv.Open(path, sqlitedrv.Options{Pragmas: writerPragmas, Immediate: true})
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db := &DB{path: path, w: w}
	db.Core = sqlcore.New((*engine)(db), flavor)
	if err = db.migrate(ctx); err == nil {
		err = db.BackfillTree(ctx)
	}
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite %q: %w", path, err)
	}
	r, err := sqlitedrv.Open(path, sqlitedrv.Options{Pragmas: readerPragmas})
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(2)
	db.r = r
	return db, nil
}

// createPrivate creates the database file, if missing, readable by its
// owner only (0600), and any missing directory above it likewise (0700):
// banks and the audit log are nobody else's business. SQLite creates the
// -wal and -shm files with the database file's permissions. An existing
// file keeps its own.
func createPrivate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create directory for %q: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create %q: %w", path, err)
	}
	// The umask may have narrowed 0600 further; it cannot have widened it.
	return f.Close()
}

// engine is DB as the shared core sees it: the methods of sqlcore.Engine
// stay out of DB's exported API.
type engine DB

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

// flavor is SQLite's SQL for the shared core.
var flavor = sqlcore.Flavor{
	Time:      func(t time.Time) any { return t.UnixMicro() },
	Unindexed: true,
	In: func(col string, vals any) (string, []any) {
		v := reflect.ValueOf(vals)
		args := make([]any, v.Len())
		for i := range args {
			args[i] = v.Index(i).Interface()
		}
		return col + ` IN (` + sqlcore.Placeholders(len(args)) + `)`, args
	},
	// The single writer orders appends: the last row is the head.
	AuditHead:   `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`,
	CheckEngine: integrityCheck,
	Day:         func(col string) string { return `(` + col + ` / 86400000000)` },
}

// Reader implements sqlcore.Engine: the read pool.
func (db *engine) Reader() sqlcore.Querier { return sqlcore.Std(db.r) }

// BeginWrite implements sqlcore.Engine: a transaction on the single writer
// connection (BEGIN IMMEDIATE: it holds the write lock from the start).
func (db *engine) BeginWrite(ctx context.Context) (sqlcore.Tx, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return sqlcore.NewStdTx(tx), nil
}

// integrityCheck runs SQLite's own page-level check.
func integrityCheck(ctx context.Context, r sqlcore.Querier) error {
	var res string
	if err := r.QueryRow(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("integrity check: %s", res)
	}
	return nil
}
