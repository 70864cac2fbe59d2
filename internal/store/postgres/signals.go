package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/nigehban/nigehban/internal/bank"
)

const signalCols = `id, bank_id, type, key, body, quality, added_at, category, source, note, extra, added_by, removed_at, removed_by, removed_reason`

// scanSignal reads a row of signalCols into s.
func scanSignal(row pgx.Row, s *bank.Signal, banks map[int64]string) error {
	var bankID int64
	var typ string
	var key []byte
	var quality int16
	var body, removedBy, reason, extra *string
	var removedAt *time.Time
	err := row.Scan(&s.ID, &bankID, &typ, &key, &body, &quality, &s.AddedAt,
		&s.Category, &s.Source, &s.Note, &extra, &s.AddedBy, &removedAt, &removedBy, &reason)
	if err != nil {
		return err
	}
	if s.Extra, err = bank.DecodeExtra(deref(extra)); err != nil {
		return fmt.Errorf("signal %d: %w", s.ID, err)
	}
	s.RemovedAt = nil
	if removedAt != nil {
		t := removedAt.UTC()
		s.RemovedAt = &t
	}
	s.RemovedBy, s.RemovedReason = deref(removedBy), deref(reason)
	s.Type = bank.Type(typ)
	s.Value = bank.DecodeValue(s.Type, key, deref(body))
	s.Quality = int(quality)
	s.AddedAt = s.AddedAt.UTC()
	s.Bank = banks[bankID]
	return nil
}

// WriteSignals implements bank.Store.
func (db *DB) WriteSignals(ctx context.Context, bankName, actor string, fn func(bank.SignalWriter) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var bankID int64
	if err := tx.QueryRow(ctx, `SELECT id FROM banks WHERE name = $1`, bankName).Scan(&bankID); err != nil {
		if isNoRows(err) {
			return bank.ErrNotFound
		}
		return err
	}
	w := &writer{tx: tx, bankID: bankID, actor: actor}
	if err := fn(w); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.added > 0 {
		first, err := appendSeq(ctx, tx, w.added)
		if err != nil {
			return err
		}
		var tag pgconn.CommandTag
		if w.spilled {
			tag, err = tx.Exec(ctx, `INSERT INTO changes (seq, bank_id, op, signal_id, at, actor)
				SELECT $1 + row_number() OVER (ORDER BY id) - 1, $2, $3, id, at, $4 FROM new_signals`,
				first, bankID, string(bank.OpSignalAdd), actor)
		} else {
			tag, err = tx.Exec(ctx, `INSERT INTO changes (seq, bank_id, op, signal_id, at, actor)
				SELECT $1 + row_number() OVER (ORDER BY n.id) - 1, $2, $3, n.id, n.at, $4
				FROM unnest($5::bigint[], $6::timestamptz[]) AS n(id, at)`,
				first, bankID, string(bank.OpSignalAdd), actor, w.ids, w.ats)
		}
		if err != nil {
			return fmt.Errorf("append changes: %w", err)
		}
		if tag.RowsAffected() != int64(w.added) {
			return fmt.Errorf("append changes: %d entries for %d added signals", tag.RowsAffected(), w.added)
		}
	}
	return tx.Commit(ctx)
}

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
	ids     []int64
	ats     []time.Time

	types, bodies, cats, srcs, notes, extras []string
	keys                                     [][]byte
	quals                                    []int16
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

// Add implements bank.SignalWriter. The IDs of the signals it adds are
// kept (in memory, or in a temporary table for large imports) so that
// WriteSignals logs them all at commit.
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
		w.extras = append(w.extras, bank.EncodeExtra(s.Extra))
		w.quals = append(w.quals, int16(s.Quality))
	}
	args := []any{w.bankID, now(), w.actor, w.types, w.keys, w.bodies, w.cats, w.srcs, w.notes, w.extras, w.quals}
	if w.spilled {
		tag, err := w.tx.Exec(ctx, `WITH ins AS (`+insertSignals+`) INSERT INTO new_signals (id, at) SELECT id, added_at FROM ins`, args...)
		if err != nil {
			return c, fmt.Errorf("insert signals: %w", err)
		}
		c.Added = int(tag.RowsAffected())
	} else {
		rows, err := w.tx.Query(ctx, insertSignals, args...)
		if err != nil {
			return c, fmt.Errorf("insert signals: %w", err)
		}
		var id int64
		var at time.Time
		_, err = pgx.ForEachRow(rows, []any{&id, &at}, func() error {
			w.ids, w.ats = append(w.ids, id), append(w.ats, at)
			c.Added++
			return nil
		})
		if err != nil {
			return c, fmt.Errorf("insert signals: %w", err)
		}
	}
	c.Unchanged = len(sigs) - c.Added
	w.added += c.Added
	return c, nil
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

// RemoveSignal implements bank.Store.
func (db *DB) RemoveSignal(ctx context.Context, bankName string, ref bank.SignalRef, reason, actor string) (bank.Signal, bool, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return bank.Signal{}, false, err
	}
	defer tx.Rollback(ctx)
	banks, err := bankIDs(ctx, tx, []string{bankName}, false)
	if err != nil {
		return bank.Signal{}, false, err
	}
	var bankID int64
	for id := range banks {
		bankID = id
	}
	var s bank.Signal
	if ref.ID != 0 {
		err = scanSignal(tx.QueryRow(ctx, `SELECT `+signalCols+` FROM signals WHERE id = $1 AND bank_id = $2 FOR UPDATE`,
			ref.ID, bankID), &s, banks)
	} else {
		key, _ := bank.EncodeValue(ref.Type, ref.Value)
		err = scanSignal(tx.QueryRow(ctx, `SELECT `+signalCols+` FROM signals
			WHERE bank_id = $1 AND type = $2 AND key = $3 AND removed_at IS NULL FOR UPDATE`,
			bankID, string(ref.Type), key), &s, banks)
		if isNoRows(err) {
			err = scanSignal(tx.QueryRow(ctx, `SELECT `+signalCols+` FROM signals
				WHERE bank_id = $1 AND type = $2 AND key = $3 ORDER BY id DESC LIMIT 1`,
				bankID, string(ref.Type), key), &s, banks)
		}
	}
	if isNoRows(err) {
		return bank.Signal{}, false, bank.ErrNotFound
	}
	if err != nil {
		return bank.Signal{}, false, err
	}
	if !s.Active() {
		return s, false, nil
	}
	t := now()
	if _, err := tx.Exec(ctx, `UPDATE signals SET removed_at = $1, removed_by = $2, removed_reason = $3 WHERE id = $4`,
		t, actor, reason, s.ID); err != nil {
		return bank.Signal{}, false, err
	}
	if err := logChange(ctx, tx, bankID, bank.OpSignalRemove, s.ID, t, actor, changeDetail{Reason: reason}); err != nil {
		return bank.Signal{}, false, err
	}
	s.RemovedAt, s.RemovedBy, s.RemovedReason = &t, actor, reason
	return s, true, tx.Commit(ctx)
}

// GetSignal implements bank.Store.
func (db *DB) GetSignal(ctx context.Context, id int64) (bank.Signal, error) {
	banks, err := bankIDs(ctx, db.pool, nil, false)
	if err != nil {
		return bank.Signal{}, err
	}
	var s bank.Signal
	err = scanSignal(db.pool.QueryRow(ctx, `SELECT `+signalCols+` FROM signals WHERE id = $1`, id), &s, banks)
	if isNoRows(err) {
		return bank.Signal{}, bank.ErrNotFound
	}
	return s, err
}

// FindSignal implements bank.Store.
func (db *DB) FindSignal(ctx context.Context, bankName string, t bank.Type, v string) (bank.Signal, error) {
	banks, err := bankIDs(ctx, db.pool, []string{bankName}, false)
	if err != nil {
		return bank.Signal{}, err
	}
	var bankID int64
	for id := range banks {
		bankID = id
	}
	key, _ := bank.EncodeValue(t, v)
	var s bank.Signal
	err = scanSignal(db.pool.QueryRow(ctx, `SELECT `+signalCols+` FROM signals
		WHERE bank_id = $1 AND type = $2 AND key = $3 AND removed_at IS NULL`, bankID, string(t), key), &s, banks)
	if isNoRows(err) {
		return bank.Signal{}, bank.ErrNotFound
	}
	return s, err
}

// ScanSignals implements bank.Store.
func (db *DB) ScanSignals(ctx context.Context, q bank.SignalQuery, fn func(*bank.Signal) error) error {
	banks, err := bankIDs(ctx, db.pool, q.Banks, q.EnabledOnly)
	if err != nil {
		return err
	}
	if len(banks) == 0 {
		return nil
	}
	if q.KeysOnly {
		return db.scanKeys(ctx, q, banks, fn)
	}
	where, args := scanWhere(q, banks)
	rows, err := db.pool.Query(ctx, `SELECT `+signalCols+` FROM signals`+where, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var s bank.Signal
	for rows.Next() {
		if err := scanSignal(rows, &s, banks); err != nil {
			return err
		}
		if err := fn(&s); err != nil {
			return err
		}
	}
	return rows.Err()
}

// scanWhere returns the WHERE … ORDER BY … LIMIT clause of a scan.
func scanWhere(q bank.SignalQuery, banks map[int64]string) (string, []any) {
	var sb strings.Builder
	args := []any{q.AfterID}
	sb.WriteString(` WHERE id > $1`)
	if q.BeforeID > 0 {
		args = append(args, q.BeforeID)
		fmt.Fprintf(&sb, ` AND id < $%d`, len(args))
	}
	if len(q.Banks) > 0 || q.EnabledOnly {
		ids := make([]int64, 0, len(banks))
		for id := range banks {
			ids = append(ids, id)
		}
		args = append(args, ids)
		fmt.Fprintf(&sb, ` AND bank_id = ANY($%d)`, len(args))
	}
	if len(q.Types) > 0 {
		ts := make([]string, len(q.Types))
		for i, t := range q.Types {
			ts[i] = string(t)
		}
		args = append(args, ts)
		fmt.Fprintf(&sb, ` AND type = ANY($%d)`, len(args))
	}
	if !q.IncludeRemoved {
		sb.WriteString(` AND removed_at IS NULL`)
	}
	sb.WriteString(` ORDER BY id`)
	if q.Limit > 0 {
		args = append(args, q.Limit)
		fmt.Fprintf(&sb, ` LIMIT $%d`, len(args))
	}
	return sb.String(), args
}

// scanKeys is ScanSignals for KeysOnly: it reads only the columns the query
// leaves unknown (bank and type when more than one is possible, the vPDQ
// body only when vPDQ is possible).
func (db *DB) scanKeys(ctx context.Context, q bank.SignalQuery, banks map[int64]string, fn func(*bank.Signal) error) error {
	var s bank.Signal
	s.Quality = -1
	var bankID int64
	var typ string
	var key []byte
	var body *string
	cols, dest := `id, key`, []any{&s.ID, &key}
	withBank, withType, withBody := len(banks) > 1, len(q.Types) != 1, len(q.Types) == 0 || slices.Contains(q.Types, bank.VPDQ)
	if withBank {
		cols, dest = cols+`, bank_id`, append(dest, &bankID)
	} else {
		for _, name := range banks {
			s.Bank = name
		}
	}
	if withType {
		cols, dest = cols+`, type`, append(dest, &typ)
	} else {
		s.Type = q.Types[0]
	}
	if withBody {
		cols, dest = cols+`, body`, append(dest, &body)
	}
	where, args := scanWhere(q, banks)
	rows, err := db.pool.Query(ctx, `SELECT `+cols+` FROM signals`+where, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if withBank {
			s.Bank = banks[bankID]
		}
		if withType {
			s.Type = bank.Type(typ)
		}
		b := ""
		if body != nil {
			b = *body
		}
		s.Value = bank.DecodeValue(s.Type, key, b)
		if err := fn(&s); err != nil {
			return err
		}
	}
	return rows.Err()
}

// MaxSignalID implements bank.Store.
func (db *DB) MaxSignalID(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM signals`).Scan(&n)
	return n, err
}
