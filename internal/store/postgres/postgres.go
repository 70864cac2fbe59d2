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
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nigehban/nigehban/internal/store/migrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrateLockID is the advisory lock that serialises migrations when
// several replicas start at once.
const migrateLockID = 0x6e6967656862 // "nigehb"

// DB is a PostgreSQL store. Its methods are safe for concurrent use.
type DB struct {
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
	if err = db.migrate(ctx); err == nil {
		err = db.backfillTree(ctx)
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

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

// SchemaVersion returns the highest applied migration version.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// Check verifies that the change log accounts for every bank and signal (see
// the sqlite engine's Check); PostgreSQL guards its own page integrity.
func (db *DB) Check(ctx context.Context) error {
	var banks, creates, signals, adds, removed, removes, orphans, last, maxSeq int64
	err := db.pool.QueryRow(ctx, `SELECT
		(SELECT COUNT(*) FROM banks),
		(SELECT COUNT(*) FROM changes WHERE op = 'bank.create'),
		(SELECT COUNT(*) FROM signals),
		(SELECT COUNT(*) FROM changes WHERE op = 'signal.add'),
		(SELECT COUNT(*) FROM signals WHERE removed_at IS NOT NULL),
		(SELECT COUNT(*) FROM changes WHERE op = 'signal.remove'),
		(SELECT COUNT(*) FROM changes c WHERE c.signal_id IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM signals s WHERE s.id = c.signal_id AND s.bank_id = c.bank_id))
		+ (SELECT COUNT(*) FROM changes c WHERE NOT EXISTS (SELECT 1 FROM banks b WHERE b.id = c.bank_id))
		+ (SELECT COUNT(*) FROM signals s WHERE NOT EXISTS (SELECT 1 FROM banks b WHERE b.id = s.bank_id)),
		(SELECT last FROM change_seq),
		(SELECT COALESCE(MAX(seq), 0) FROM changes)`).
		Scan(&banks, &creates, &signals, &adds, &removed, &removes, &orphans, &last, &maxSeq)
	if err != nil {
		return fmt.Errorf("check change log: %w", err)
	}
	switch {
	case banks != creates:
		return fmt.Errorf("change log inconsistent: %d banks, %d bank.create entries", banks, creates)
	case signals != adds:
		return fmt.Errorf("change log inconsistent: %d signals, %d signal.add entries", signals, adds)
	case removed != removes:
		return fmt.Errorf("change log inconsistent: %d removed signals, %d signal.remove entries", removed, removes)
	case orphans != 0:
		return fmt.Errorf("change log inconsistent: %d rows refer to missing banks or signals", orphans)
	case last != maxSeq:
		return fmt.Errorf("change log inconsistent: counter at %d, last entry %d", last, maxSeq)
	}
	return nil
}

// appendSeq reserves n change numbers and returns the first. It must be the
// last statement before COMMIT (see the package doc).
func appendSeq(ctx context.Context, tx pgx.Tx, n int) (int64, error) {
	var last int64
	if err := tx.QueryRow(ctx, `UPDATE change_seq SET last = last + $1 RETURNING last`, n).Scan(&last); err != nil {
		return 0, fmt.Errorf("reserve change numbers: %w", err)
	}
	return last - int64(n) + 1, nil
}

// now returns the current time at the precision PostgreSQL stores.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
