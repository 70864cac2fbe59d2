// Package postgres is the store engine for deployments where several
// `nigehban serve` replicas share banks: PostgreSQL through pgx.
//
// Change-log ordering: concurrent transactions commit in an order no
// sequence can predict, so change numbers are taken from one counter row
// (change_seq) as the last step before COMMIT. Its row lock serialises that
// step, so numbers are handed out in commit order, and it is held only for
// the final insert into changes — a long import does not block other
// writers while it streams its signals. Bulk writes keep the IDs of the
// signals they added in a temporary table and log them all at the end.
// Large batches skip values already active with an anti-join and insert
// with a plain INSERT in a savepoint, not ON CONFLICT (see signals.go and
// README.md, which also gives the server settings for bulk writes).
//
// Everything SQL that both engines share (reads, row decoding, single-row
// writes, Check, the audit chain) is internal/store/sqlcore; this package
// holds what differs: the connection pool, migrations under an advisory
// lock, the array-valued bulk insert of signals, change numbers from the
// change_seq row, the audit_head row lock, and the flavor (timestamptz,
// = ANY(array), FOR UPDATE, SKIP LOCKED).
package postgres

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nigehban/nigehban/internal/store/migrate"
	"github.com/nigehban/nigehban/internal/store/sqlcore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrateLockID is the advisory lock that serialises migrations when
// several replicas start at once.
const migrateLockID = 0x6e6967656862 // "nigehb"

// DB is a PostgreSQL store. Its methods are safe for concurrent use.
type DB struct {
	*sqlcore.Core
	pool *pgxpool.Pool
}

// Open connects to the PostgreSQL database url names and brings its schema
// up to date.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse postgres URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	db := &DB{pool: pool}
	db.Core = sqlcore.New((*engine)(db), flavor)
	if err = db.migrate(ctx); err == nil {
		err = db.BackfillTree(ctx)
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// engine is DB as the shared core sees it: the methods of sqlcore.Engine
// stay out of DB's exported API.
type engine DB

// Engine returns "postgres".
func (db *DB) Engine() string { return "postgres" }

// Close closes every connection.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	for {
		done, err := db.migrateOne(ctx, ms)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next pending migration, if any, under the
// migration lock, in one transaction with its schema_migrations row.
func (db *DB) migrateOne(ctx context.Context, ms []migrate.Migration) (done bool, err error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLockID)); err != nil {
		return false, fmt.Errorf("migration lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`); err != nil {
		return false, fmt.Errorf("create schema_migrations: %w", err)
	}
	var cur int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	pending, err := migrate.Pending(ms, cur)
	if err != nil {
		return false, err
	}
	if len(pending) == 0 {
		return true, nil
	}
	m := pending[0]
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return false, fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())`,
		m.Version, m.Name); err != nil {
		return false, fmt.Errorf("record migration %s: %w", m.Name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("commit migration %s: %w", m.Name, err)
	}
	return false, nil
}

// flavor is PostgreSQL's SQL for the shared core.
var flavor = sqlcore.Flavor{
	Time:       func(t time.Time) any { return t },
	ForUpdate:  ` FOR UPDATE`,
	SkipLocked: ` FOR UPDATE SKIP LOCKED`,
	In: func(col string, vals any) (string, []any) {
		return col + ` = ANY(?)`, []any{vals}
	},
	// One row, locked by every append until commit: it orders the chain
	// across replicas.
	AuditHead:       `SELECT seq, hash FROM audit_head FOR UPDATE`,
	AuditHeadUpdate: `UPDATE audit_head SET seq = ?, hash = ?`,
	Day:             func(col string) string { return `floor(extract(epoch FROM ` + col + `) / 86400)::bigint` },
	ReserveChanges: func(ctx context.Context, q sqlcore.Querier, n int) (int64, error) {
		var last int64
		if err := q.QueryRow(ctx, `UPDATE change_seq SET last = last + ? RETURNING last`, n).Scan(&last); err != nil {
			return 0, fmt.Errorf("reserve change numbers: %w", err)
		}
		return last - int64(n) + 1, nil
	},
	CheckEngine: checkCounter,
}

// Reader implements sqlcore.Engine: the pool.
func (db *engine) Reader() sqlcore.Querier { return querier{db.pool} }

// BeginWrite implements sqlcore.Engine.
func (db *engine) BeginWrite(ctx context.Context) (sqlcore.Tx, error) {
	t, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &tx{querier: querier{t}, raw: t}, nil
}

// AfterWrite implements sqlcore.Engine; PostgreSQL has nothing to do.
func (db *engine) AfterWrite(context.Context, int) {}

// checkCounter verifies that the change_seq counter stands at the last
// change (PostgreSQL guards its own page integrity).
func checkCounter(ctx context.Context, r sqlcore.Querier) error {
	var last, maxSeq int64
	if err := r.QueryRow(ctx, `SELECT (SELECT last FROM change_seq), (SELECT COALESCE(MAX(seq), 0) FROM changes)`).
		Scan(&last, &maxSeq); err != nil {
		return fmt.Errorf("check change log: %w", err)
	}
	if last != maxSeq {
		return fmt.Errorf("change log inconsistent: counter at %d, last entry %d", last, maxSeq)
	}
	return nil
}

// appendSeq reserves n change numbers and returns the first. It must be the
// last statement before COMMIT (see the package doc).
func appendSeq(ctx context.Context, t pgx.Tx, n int) (int64, error) {
	return flavor.ReserveChanges(ctx, querier{t}, n)
}
