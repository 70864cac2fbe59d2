// Package sqlcore is the SQL both store engines share: row decoding, every
// read query, the writes whose SQL is the same in SQLite and PostgreSQL, the
// integrity checks (Check) and the audit-chain rule (AppendTx, the one place
// an audit entry is written). It is written once against small interfaces —
// Querier, Row, Rows, Tx — and a Flavor that holds each engine's quirks, as
// dex's storage/sql does. Queries use '?' placeholders; the PostgreSQL
// engine's adapter rewrites them to $1, $2, ….
//
// An engine (internal/store/sqlite, internal/store/postgres) embeds a *Core,
// so the methods here are its methods, and implements Engine for the parts
// that really differ:
//
//   - opening connections and transactions (SQLite: one writer connection
//     with BEGIN IMMEDIATE and a read pool; PostgreSQL: one pool);
//   - bulk signal writes and the change-log entries they log (SQLite:
//     batched multi-row INSERTs, entries from the ID range the single
//     writer just filled; PostgreSQL: array-valued INSERTs, IDs kept in
//     memory or a temporary table, numbers from the change_seq row), and
//     the exchange_entries rows of an exchange sync (BulkWriter.AddEntries:
//     a statement SQLite prepares once per transaction, arrays in one
//     statement on PostgreSQL);
//   - optionally, the staging of an exchange sync's pure additions and
//     their sorted merges (Stager: SQLite; exchange.StagingStore is
//     implemented here for both, and reports whether the engine stages);
//   - change and audit sequence allocation (Flavor.ReserveChanges,
//     Flavor.AuditHead: SQLite's single writer orders both by itself,
//     PostgreSQL locks one counter row for each);
//   - locking (Flavor.ForUpdate, Flavor.SkipLocked: PostgreSQL row locks,
//     which SQLite neither has nor needs);
//   - how times are stored (Flavor.Time: Unix microseconds in SQLite,
//     timestamptz in PostgreSQL; scanning accepts both);
//   - list parameters (Flavor.In: "IN (?, ?)" in
//     SQLite, "= ANY(?)" with one array in PostgreSQL);
//   - the engine's own integrity check (Flavor.CheckEngine) and migrations.
package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/bank"
)

// ErrNoRows is what Row.Scan returns when a query selected nothing; engine
// adapters translate their driver's own error to it.
var ErrNoRows = sql.ErrNoRows

// Row is one result row.
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set read row by row.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Querier runs statements: a connection pool or a transaction.
type Querier interface {
	QueryRow(ctx context.Context, query string, args ...any) Row
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// Exec runs a statement and returns the number of rows it affected.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
}

// Tx is a write transaction.
type Tx interface {
	Querier
	Commit(ctx context.Context) error
	// Rollback ends the transaction if it is still open; after Commit it
	// does nothing.
	Rollback(ctx context.Context) error
}

// Engine is what an engine supplies to the core.
type Engine interface {
	// Reader returns the querier for reads outside transactions.
	Reader() Querier
	// BeginWrite starts a write transaction.
	BeginWrite(ctx context.Context) (Tx, error)
	// NewSignalWriter returns the bulk writer of one WriteSignals
	// transaction on a bank.
	NewSignalWriter(ctx context.Context, tx Tx, bankID int64, actor string) (BulkWriter, error)
	// AfterWrite is called after a WriteSignals transaction that added n
	// signals has committed (SQLite releases its page cache there).
	AfterWrite(ctx context.Context, n int)
}

// BulkWriter inserts signals inside one transaction; engine-specific.
type BulkWriter interface {
	// Add inserts sigs (normalised), skipping those already active in the
	// bank or repeated earlier in the transaction.
	Add(ctx context.Context, sigs []bank.Signal) (bank.AddCounts, error)
	// LogChanges appends the OpSignalAdd entries of every signal Add
	// added. WriteSignals calls it once, as the last statement before
	// COMMIT.
	LogChanges(ctx context.Context) error
	// AddEntries records which exchange entry brought each hash (rows of
	// exchange_entries for exchange xid), skipping rows already there.
	AddEntries(ctx context.Context, xid int64, rows []EntryRow) error
	// Close releases what the writer holds (prepared statements).
	Close()
}

// EntryRow is one row of exchange_entries: a hash an exchange entry
// brought.
type EntryRow struct {
	Entry, Type string
	Key         []byte
	Body        string
}

// KeyScanner is implemented by engines with a faster path for
// SignalQuery.KeysOnly scans than the generic one.
type KeyScanner interface {
	// ScanKeys runs query (columns id, key, then those kc names) on the
	// read pool and calls fn for each row; fn must not keep the row.
	ScanKeys(ctx context.Context, query string, args []any, kc KeyCols, fn func(*KeyRow) error) error
}

// Flavor holds the SQL differences between engines.
type Flavor struct {
	// Time encodes a time as the engine's time columns store it.
	Time func(time.Time) any
	// ForUpdate is appended to a SELECT of rows the transaction will change.
	ForUpdate string
	// SkipLocked is appended to the SELECT that claims outbox events.
	SkipLocked string
	// Unindexed prefixes the columns of scan conditions with a unary +,
	// which keeps SQLite's planner from choosing an index and sorting.
	Unindexed bool
	// In returns the condition "col is one of vals" and its arguments;
	// vals is a []int64, []string or [][]byte.
	In func(col string, vals any) (string, []any)
	// AuditHead selects the seq and hash of the last audit entry, locking
	// whatever orders appends; AuditHeadUpdate, if set, records the new
	// head (its arguments: seq, hash).
	AuditHead, AuditHeadUpdate string
	// ReserveChanges, if set, reserves n change sequence numbers in tx and
	// returns the first; it must be the last statement before COMMIT. When
	// nil the changes table numbers its rows itself.
	ReserveChanges func(ctx context.Context, tx Querier, n int) (int64, error)
	// CheckEngine runs the engine's own integrity checks, if any.
	CheckEngine func(ctx context.Context, r Querier) error
	// Day returns an expression for the UTC day of the time column col,
	// as days since 1970-01-01 (an integer).
	Day func(col string) string
}

// Core implements the store interfaces over an Engine and a Flavor.
type Core struct {
	eng Engine
	f   Flavor
}

// New returns the core of an engine.
func New(eng Engine, f Flavor) *Core { return &Core{eng: eng, f: f} }

// Flavor returns the core's flavor, for engine code that builds queries.
func (c *Core) Flavor() Flavor { return c.f }

// Now returns the current time at the precision both engines store
// (microseconds, UTC).
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// write runs fn in a write transaction and commits it when fn returns nil.
func (c *Core) write(ctx context.Context, fn func(tx Tx) error) error {
	tx, err := c.eng.BeginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// SchemaVersion returns the highest applied migration version.
func (c *Core) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := c.eng.Reader().QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// Placeholders returns "?, ?, …" with n marks.
func Placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat(`?, `, n), `, `)
}

// timeScan scans a time column of either engine: SQLite's Unix
// microseconds or PostgreSQL's timestamptz.
type timeScan time.Time

// Scan implements sql.Scanner.
func (p *timeScan) Scan(v any) error {
	switch x := v.(type) {
	case int64:
		*p = timeScan(time.UnixMicro(x).UTC())
	case time.Time:
		*p = timeScan(x.UTC())
	default:
		return fmt.Errorf("time column: unexpected %T", v)
	}
	return nil
}

// scanTime returns a scan destination for a NOT NULL time column.
func scanTime(t *time.Time) any { return (*timeScan)(t) }

// nullTimeScan scans a nullable time column into a *time.Time.
type nullTimeScan struct{ p **time.Time }

// Scan implements sql.Scanner.
func (n nullTimeScan) Scan(v any) error {
	if v == nil {
		*n.p = nil
		return nil
	}
	var t time.Time
	if err := (*timeScan)(&t).Scan(v); err != nil {
		return err
	}
	*n.p = &t
	return nil
}

// scanNullTime returns a scan destination for a nullable time column.
func scanNullTime(t **time.Time) any { return nullTimeScan{t} }

// isNoRows reports whether err says a query selected nothing.
func isNoRows(err error) bool { return errors.Is(err, ErrNoRows) }

// nullString stores "" as NULL.
func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// queryAll runs query and decodes every row with scan.
func queryAll[T any](ctx context.Context, q Querier, scan func(Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
