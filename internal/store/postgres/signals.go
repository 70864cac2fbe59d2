package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/store/sqlcore"
)

// NewSignalWriter implements sqlcore.Engine: signals travel as arrays, one
// statement per batch, and their change-log entries are numbered from
// change_seq at the end.
func (db *engine) NewSignalWriter(ctx context.Context, t sqlcore.Tx, bankID int64, actor string) (sqlcore.BulkWriter, error) {
	ptx, ok := t.(*tx)
	if !ok {
		return nil, fmt.Errorf("postgres: foreign transaction %T", t)
	}
	return &writer{tx: ptx.raw, bankID: bankID, actor: actor}, nil
}

// LogChanges implements sqlcore.BulkWriter. It takes the change numbers
// from change_seq, so it is the transaction's last statement.
func (w *writer) LogChanges(ctx context.Context) error {
	first, err := appendSeq(ctx, w.tx, w.added)
	if err != nil {
		return err
	}
	var tag pgconn.CommandTag
	if w.spilled {
		tag, err = w.tx.Exec(ctx, `INSERT INTO changes (seq, bank_id, op, signal_id, at, actor)
			SELECT $1 + row_number() OVER (ORDER BY id) - 1, $2, $3, id, at, $4 FROM new_signals`,
			first, w.bankID, string(bank.OpSignalAdd), w.actor)
	} else {
		tag, err = w.tx.Exec(ctx, `INSERT INTO changes (seq, bank_id, op, signal_id, at, actor)
			SELECT $1 + row_number() OVER (ORDER BY n.id) - 1, $2, $3, n.id, n.at, $4
			FROM unnest($5::bigint[], $6::timestamptz[]) AS n(id, at)`,
			first, w.bankID, string(bank.OpSignalAdd), w.actor, w.ids, w.ats)
	}
	if err != nil {
		return fmt.Errorf("append changes: %w", err)
	}
	if tag.RowsAffected() != int64(w.added) {
		return fmt.Errorf("append changes: %d entries for %d added signals", tag.RowsAffected(), w.added)
	}
	return nil
}

// Close implements sqlcore.BulkWriter; the writer holds nothing.
func (w *writer) Close() {}

// maxInMemory is how many added signal IDs a transaction keeps in memory
// for its change-log entries; beyond it they go to a temporary table, so a
// 10-million-signal import does not hold them all, and single adds skip the
// table's DDL.
const maxInMemory = 1000

type writer struct {
	tx      pgx.Tx
	bankID  int64
	actor   string
	added   int
	spilled bool // IDs are in the new_signals temporary table
	// savepoints counts the fast-path inserts run in a savepoint (see
	// Add); raced is set once one of them met a concurrent insert of the
	// same value, and the transaction's later batches skip the fast path.
	savepoints int
	raced      bool
	ids        []int64
	ats        []time.Time

	types, bodies, cats, srcs, notes, extras []string
	keys                                     [][]byte
	quals                                    []int16
	extra                                    sqlcore.ExtraMemo
}

// insertSignals is the batch insert: the batch travels as arrays in one
// statement. A value repeated within the batch conflicts with its first
// occurrence, inserted just before it, so the first one wins as in SQLite.
const insertSignals = `INSERT INTO signals (bank_id, type, key, body, category, source, note, extra, quality, added_at, added_by)
	SELECT $1, t.type, t.key, NULLIF(t.body, ''), t.category, t.source, t.note, NULLIF(t.extra, ''), t.quality, $2, $3
	FROM unnest($4::text[], $5::bytea[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::smallint[])
		WITH ORDINALITY AS t(type, key, body, category, source, note, extra, quality, ord)
	ORDER BY t.ord
	ON CONFLICT (bank_id, type, key) WHERE removed_at IS NULL DO NOTHING
	RETURNING id, added_at`

// insertNew is the fast path of a large batch: a plain INSERT of the
// batch's values that are neither repeated earlier in the batch (DISTINCT
// ON keeps the first occurrence) nor active in the bank (an anti-join
// probing signals_active), in batch order. It inserts the same rows as
// insertSignals as long as no other transaction inserts one of the values
// meanwhile, without ON CONFLICT's speculative insertion of each row (a
// lock-manager lock, the unique probe twice and a second WAL record to
// confirm the heap tuple): a 1,000,000-hash NCMEC sync wrote 9% less WAL,
// for the same server CPU within the noise of the test machine (README.md). A concurrent insert of the same
// value makes it fail with a unique violation instead; Add then rolls it
// back to its savepoint and runs insertSignals.
const insertNew = `INSERT INTO signals (bank_id, type, key, body, category, source, note, extra, quality, added_at, added_by)
	SELECT $1, d.type, d.key, NULLIF(d.body, ''), d.category, d.source, d.note, NULLIF(d.extra, ''), d.quality, $2, $3
	FROM (SELECT DISTINCT ON (t.type, t.key) t.*
		FROM unnest($4::text[], $5::bytea[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::smallint[])
			WITH ORDINALITY AS t(type, key, body, category, source, note, extra, quality, ord)
		ORDER BY t.type, t.key, t.ord) AS d
	WHERE NOT EXISTS (SELECT 1 FROM signals s
		WHERE s.bank_id = $1 AND s.type = d.type AND s.key = d.key AND s.removed_at IS NULL)
	ORDER BY d.ord
	RETURNING id, added_at`

// uniqueViolation is PostgreSQL's SQLSTATE for unique_violation.
const uniqueViolation = "23505"

// minFast is the smallest batch Add sends through insertNew: small writes
// (one signal from the API) stay one statement, without the savepoint's
// two extra round trips.
const minFast = 64

// maxSavepoints bounds the fast-path savepoints of one transaction. Each
// one that inserts takes a subtransaction ID, and past 64 of them
// (PGPROC_MAX_CACHED_SUBXIDS) every other session's snapshot checks of
// this transaction go through pg_subtrans; an exchange sync's transaction
// (at most 30,000 hashes in batches of 5,000) stays far below it, a
// multi-million-signal import in one transaction takes the ON CONFLICT
// path after its first maxSavepoints batches.
const maxSavepoints = 32

// Add implements sqlcore.BulkWriter. The IDs of the signals it adds are
// kept (in memory, or in a temporary table for large imports) so that
// LogChanges logs them all at commit. A batch of minFast signals or more
// goes through insertNew in a savepoint, falling back to insertSignals if
// another transaction inserted one of its values meanwhile.
func (w *writer) Add(ctx context.Context, sigs []bank.Signal) (bank.AddCounts, error) {
	var c bank.AddCounts
	if len(sigs) == 0 {
		return c, nil
	}
	if !w.spilled && w.added+len(sigs) > maxInMemory {
		if err := w.spill(ctx); err != nil {
			return c, err
		}
	}
	w.types, w.keys, w.bodies, w.cats, w.srcs, w.notes, w.extras, w.quals =
		w.types[:0], w.keys[:0], w.bodies[:0], w.cats[:0], w.srcs[:0], w.notes[:0], w.extras[:0], w.quals[:0]
	for i := range sigs {
		s := &sigs[i]
		key, body := bank.EncodeValue(s.Type, s.Value)
		w.types = append(w.types, string(s.Type))
		w.keys = append(w.keys, key)
		w.bodies = append(w.bodies, body)
		w.cats = append(w.cats, s.Category)
		w.srcs = append(w.srcs, s.Source)
		w.notes = append(w.notes, s.Note)
		w.extras = append(w.extras, w.extra.Encode(s.Extra))
		w.quals = append(w.quals, int16(s.Quality))
	}
	args := []any{w.bankID, sqlcore.Now(), w.actor, w.types, w.keys, w.bodies, w.cats, w.srcs, w.notes, w.extras, w.quals}
	var err error
	if len(sigs) >= minFast && !w.raced && w.savepoints < maxSavepoints {
		c.Added, err = w.insertFast(ctx, args)
	} else {
		c.Added, err = w.insert(ctx, w.tx, insertSignals, args)
	}
	if err != nil {
		return bank.AddCounts{}, fmt.Errorf("insert signals: %w", err)
	}
	c.Unchanged = len(sigs) - c.Added
	w.added += c.Added
	return c, nil
}

// insertFast runs insertNew in a savepoint; if a concurrent transaction
// inserted one of the values first, it rolls back to the savepoint and
// runs insertSignals.
func (w *writer) insertFast(ctx context.Context, args []any) (int, error) {
	sp, err := w.tx.Begin(ctx)
	if err != nil {
		return 0, err
	}
	w.savepoints++
	kept := len(w.ids)
	n, err := w.insert(ctx, sp, insertNew, args)
	if err == nil {
		return n, sp.Commit(ctx)
	}
	w.ids, w.ats = w.ids[:kept], w.ats[:kept]
	if rerr := sp.Rollback(ctx); rerr != nil {
		return 0, errors.Join(err, rerr)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != uniqueViolation {
		return 0, err
	}
	w.raced = true
	return w.insert(ctx, w.tx, insertSignals, args)
}

// insert runs sql (insertSignals or insertNew) with args in q and keeps the IDs of the rows it added, in memory or, once spilled, in
// the new_signals table; it returns how many it added.
func (w *writer) insert(ctx context.Context, q pgx.Tx, sql string, args []any) (int, error) {
	if w.spilled {
		tag, err := q.Exec(ctx, `WITH ins AS (`+sql+`) INSERT INTO new_signals (id, at) SELECT id, added_at FROM ins`, args...)
		if err != nil {
			return 0, err
		}
		return int(tag.RowsAffected()), nil
	}
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return 0, err
	}
	var id int64
	var at time.Time
	n := 0
	_, err = pgx.ForEachRow(rows, []any{&id, &at}, func() error {
		w.ids, w.ats = append(w.ids, id), append(w.ats, at)
		n++
		return nil
	})
	return n, err
}

// AddEntries implements sqlcore.BulkWriter: the rows travel as arrays
// in one statement (one plan, instead of a new 2,000-parameter statement
// per 400 rows). It skips the rows already there without ON CONFLICT (see
// insertNew for its cost): rows repeated in the batch by DISTINCT ON (the first one kept), rows
// stored by an anti-join on the primary key. No other transaction can
// insert rows of the exchange meanwhile: the exchange's writes run under
// the lock ApplyPage takes on its row (SELECT … FOR UPDATE).
func (w *writer) AddEntries(ctx context.Context, xid int64, rows []sqlcore.EntryRow) error {
	entries, types, keys, bodies := make([]string, len(rows)), make([]string, len(rows)), make([][]byte, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		entries[i], types[i], keys[i], bodies[i] = r.Entry, r.Type, r.Key, r.Body
	}
	_, err := w.tx.Exec(ctx, `INSERT INTO exchange_entries (exchange_id, entry, type, key, body)
		SELECT $1, d.entry, d.type, d.key, NULLIF(d.body, '')
		FROM (SELECT DISTINCT ON (t.entry, t.type, t.key) t.*
			FROM unnest($2::text[], $3::text[], $4::bytea[], $5::text[]) WITH ORDINALITY AS t(entry, type, key, body, ord)
			ORDER BY t.entry, t.type, t.key, t.ord) AS d
		WHERE NOT EXISTS (SELECT 1 FROM exchange_entries e
			WHERE e.exchange_id = $1 AND e.entry = d.entry AND e.type = d.type AND e.key = d.key)`,
		xid, entries, types, keys, bodies)
	return err
}

// spill moves the IDs kept in memory to a new temporary table, which takes
// the IDs of every later batch.
func (w *writer) spill(ctx context.Context) error {
	if _, err := w.tx.Exec(ctx, `CREATE TEMPORARY TABLE new_signals (id bigint, at timestamptz) ON COMMIT DROP`); err != nil {
		return fmt.Errorf("create temporary table: %w", err)
	}
	if len(w.ids) > 0 {
		if _, err := w.tx.Exec(ctx, `INSERT INTO new_signals (id, at) SELECT * FROM unnest($1::bigint[], $2::timestamptz[])`,
			w.ids, w.ats); err != nil {
			return fmt.Errorf("fill temporary table: %w", err)
		}
	}
	w.ids, w.ats, w.spilled = nil, nil, true
	return nil
}
