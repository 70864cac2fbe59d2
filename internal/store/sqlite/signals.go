package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/nigehban/nigehban/internal/bank"
)

// rowsPerInsert is how many signals one INSERT statement carries: multi-row
// statements cut the per-row cost of database/sql and the driver by ~3×.
const rowsPerInsert = 64

const signalCols = `id, bank_id, type, key, body, quality, added_at, category, source, note, extra, added_by, removed_at, removed_by, removed_reason`

// scanSignal reads a row of signalCols into s.
func scanSignal(row scanner, s *bank.Signal, banks map[int64]string) error {
	var bankID, added int64
	var typ string
	var key []byte
	var body, removedBy, reason, extra sql.NullString
	var removedAt sql.NullInt64
	err := row.Scan(&s.ID, &bankID, &typ, &key, &body, &s.Quality, &added,
		&s.Category, &s.Source, &s.Note, &extra, &s.AddedBy, &removedAt, &removedBy, &reason)
	if err != nil {
		return err
	}
	if s.Extra, err = bank.DecodeExtra(extra.String); err != nil {
		return fmt.Errorf("signal %d: %w", s.ID, err)
	}
	s.RemovedAt = nil
	if removedAt.Valid {
		t := fromMicros(removedAt.Int64)
		s.RemovedAt = &t
	}
	s.RemovedBy, s.RemovedReason = removedBy.String, reason.String
	s.Type = bank.Type(typ)
	s.Value = bank.DecodeValue(s.Type, key, body.String)
	s.AddedAt = fromMicros(added)
	s.Bank = banks[bankID]
	return nil
}

// nullString stores "" as NULL.
func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// WriteSignals implements bank.Store. Signals are inserted as fn adds them;
// their change-log entries are appended by one statement just before
// commit. That is safe because SQLite's write lock is held for the whole
// transaction: every signal ID above the maximum seen at the start was
// inserted by this transaction.
func (db *DB) WriteSignals(ctx context.Context, bankName, actor string, fn func(bank.SignalWriter) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var bankID int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM banks WHERE name = ?`, bankName).Scan(&bankID); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return bank.ErrNotFound
		}
		return err
	}
	var startMax int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM signals`).Scan(&startMax); err != nil {
		return err
	}
	w := &writer{tx: tx, bankID: bankID, actor: actor, stmts: map[int]*sql.Stmt{}}
	defer w.close()
	if err := fn(w); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.added > 0 {
		res, err := tx.ExecContext(ctx, `INSERT INTO changes (bank_id, op, signal_id, at, actor)
			SELECT bank_id, ?, id, added_at, added_by FROM signals WHERE id > ? ORDER BY id`,
			string(bank.OpSignalAdd), startMax)
		if err != nil {
			return fmt.Errorf("append changes: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(w.added) {
			return fmt.Errorf("append changes: %d entries for %d added signals (%v)", n, w.added, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if w.added > shrinkAfter {
		// Give back the page cache a large import filled (see the package
		// doc). The import has committed: a failure here is not its failure.
		if _, err := db.w.ExecContext(context.WithoutCancel(ctx), `PRAGMA shrink_memory`); err != nil {
			slog.Warn("sqlite: release page cache after import", "err", err)
		}
	}
	return nil
}

// shrinkAfter is the number of added signals after which WriteSignals
// releases the writer's page cache.
const shrinkAfter = 100_000

type writer struct {
	tx     *sql.Tx
	bankID int64
	actor  string
	stmts  map[int]*sql.Stmt // by row count
	args   []any
	added  int
}

func (w *writer) close() {
	for _, st := range w.stmts {
		st.Close()
	}
}

func (w *writer) stmt(ctx context.Context, n int) (*sql.Stmt, error) {
	if st, ok := w.stmts[n]; ok {
		return st, nil
	}
	q := `INSERT INTO signals (bank_id, type, key, body, category, source, note, extra, quality, added_at, added_by) VALUES ` +
		strings.TrimSuffix(strings.Repeat(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), `, n), `, `) +
		` ON CONFLICT DO NOTHING`
	st, err := w.tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	w.stmts[n] = st
	return st, nil
}

// Add implements bank.SignalWriter.
func (w *writer) Add(ctx context.Context, sigs []bank.Signal) (bank.AddCounts, error) {
	var c bank.AddCounts
	at := now().UnixMicro()
	for len(sigs) > 0 {
		n := min(len(sigs), rowsPerInsert)
		st, err := w.stmt(ctx, n)
		if err != nil {
			return c, err
		}
		w.args = w.args[:0]
		for i := range sigs[:n] {
			s := &sigs[i]
			key, body := bank.EncodeValue(s.Type, s.Value)
			w.args = append(w.args, w.bankID, string(s.Type), key, nullString(body), s.Category, s.Source, s.Note,
				nullString(bank.EncodeExtra(s.Extra)), s.Quality, at, w.actor)
		}
		res, err := st.ExecContext(ctx, w.args...)
		if err != nil {
			return c, fmt.Errorf("insert signals: %w", err)
		}
		added, err := res.RowsAffected()
		if err != nil {
			return c, err
		}
		c.Added += int(added)
		c.Unchanged += n - int(added)
		sigs = sigs[n:]
	}
	w.added += c.Added
	return c, nil
}

// RemoveSignal implements bank.Store.
func (db *DB) RemoveSignal(ctx context.Context, bankName string, ref bank.SignalRef, reason, actor string) (bank.Signal, bool, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return bank.Signal{}, false, err
	}
	defer tx.Rollback()
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
		err = scanSignal(tx.QueryRowContext(ctx, `SELECT `+signalCols+` FROM signals WHERE id = ? AND bank_id = ?`, ref.ID, bankID), &s, banks)
	} else {
		// The active one through the partial index; failing that, the
		// latest removed one (a rare path, a table scan).
		key, _ := bank.EncodeValue(ref.Type, ref.Value)
		err = scanSignal(tx.QueryRowContext(ctx, `SELECT `+signalCols+` FROM signals
			WHERE bank_id = ? AND type = ? AND key = ? AND removed_at IS NULL`, bankID, string(ref.Type), key), &s, banks)
		if errors.Is(err, sql.ErrNoRows) {
			err = scanSignal(tx.QueryRowContext(ctx, `SELECT `+signalCols+` FROM signals
				WHERE bank_id = ? AND type = ? AND key = ? ORDER BY id DESC LIMIT 1`, bankID, string(ref.Type), key), &s, banks)
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return bank.Signal{}, false, bank.ErrNotFound
	}
	if err != nil {
		return bank.Signal{}, false, err
	}
	if !s.Active() {
		return s, false, nil
	}
	t := now()
	if _, err := tx.ExecContext(ctx, `UPDATE signals SET removed_at = ?, removed_by = ?, removed_reason = ? WHERE id = ?`,
		t.UnixMicro(), actor, reason, s.ID); err != nil {
		return bank.Signal{}, false, err
	}
	if err := logChange(ctx, tx, bankID, bank.OpSignalRemove, s.ID, t.UnixMicro(), actor, changeDetail{Reason: reason}); err != nil {
		return bank.Signal{}, false, err
	}
	s.RemovedAt, s.RemovedBy, s.RemovedReason = &t, actor, reason
	return s, true, tx.Commit()
}

// GetSignal implements bank.Store.
func (db *DB) GetSignal(ctx context.Context, id int64) (bank.Signal, error) {
	banks, err := bankIDs(ctx, db.r, nil, false)
	if err != nil {
		return bank.Signal{}, err
	}
	var s bank.Signal
	err = scanSignal(db.r.QueryRowContext(ctx, `SELECT `+signalCols+` FROM signals WHERE id = ?`, id), &s, banks)
	if errors.Is(err, sql.ErrNoRows) {
		return bank.Signal{}, bank.ErrNotFound
	}
	return s, err
}

// FindSignal implements bank.Store.
func (db *DB) FindSignal(ctx context.Context, bankName string, t bank.Type, v string) (bank.Signal, error) {
	banks, err := bankIDs(ctx, db.r, []string{bankName}, false)
	if err != nil {
		return bank.Signal{}, err
	}
	var bankID int64
	for id := range banks {
		bankID = id
	}
	key, _ := bank.EncodeValue(t, v)
	var s bank.Signal
	err = scanSignal(db.r.QueryRowContext(ctx, `SELECT `+signalCols+` FROM signals
		WHERE bank_id = ? AND type = ? AND key = ? AND removed_at IS NULL`, bankID, string(t), key), &s, banks)
	if errors.Is(err, sql.ErrNoRows) {
		return bank.Signal{}, bank.ErrNotFound
	}
	return s, err
}

// ScanSignals implements bank.Store.
func (db *DB) ScanSignals(ctx context.Context, q bank.SignalQuery, fn func(*bank.Signal) error) error {
	banks, err := bankIDs(ctx, db.r, q.Banks, q.EnabledOnly)
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
	rows, err := db.r.QueryContext(ctx, `SELECT `+signalCols+` FROM signals`+where, args...)
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
	sb.WriteString(` WHERE id > ?`)
	if q.BeforeID > 0 {
		sb.WriteString(` AND id < ?`)
		args = append(args, q.BeforeID)
	}
	// The unary + keeps SQLite from answering through signals_active and
	// then sorting every row: a rowid-order scan streams with no sort.
	if len(q.Banks) > 0 || q.EnabledOnly {
		sb.WriteString(` AND +bank_id IN (` + strings.TrimSuffix(strings.Repeat(`?, `, len(banks)), `, `) + `)`)
		for id := range banks {
			args = append(args, id)
		}
	}
	if len(q.Types) > 0 {
		sb.WriteString(` AND +type IN (` + strings.TrimSuffix(strings.Repeat(`?, `, len(q.Types)), `, `) + `)`)
		for _, t := range q.Types {
			args = append(args, string(t))
		}
	}
	if !q.IncludeRemoved {
		sb.WriteString(` AND removed_at IS NULL`)
	}
	sb.WriteString(` ORDER BY id`)
	if q.Limit > 0 {
		sb.WriteString(` LIMIT ?`)
		args = append(args, q.Limit)
	}
	return sb.String(), args
}

// scanKeys is ScanSignals for KeysOnly: it reads only the columns the query
// leaves unknown (bank and type when more than one is possible, the vPDQ
// body only when vPDQ is possible) and goes through the driver directly,
// skipping database/sql's per-column conversions; about twice as fast.
func (db *DB) scanKeys(ctx context.Context, q bank.SignalQuery, banks map[int64]string, fn func(*bank.Signal) error) error {
	var s bank.Signal
	s.Quality = -1
	cols := `id, key`
	withBank, withType, withBody := len(banks) > 1, len(q.Types) != 1, len(q.Types) == 0 || slices.Contains(q.Types, bank.VPDQ)
	if withBank {
		cols += `, bank_id`
	} else {
		for _, name := range banks {
			s.Bank = name
		}
	}
	if withType {
		cols += `, type`
	} else {
		s.Type = q.Types[0]
	}
	if withBody {
		cols += `, body`
	}
	where, args := scanWhere(q, banks)
	nargs := make([]driver.NamedValue, len(args))
	for i, a := range args {
		v := a
		if id, ok := a.(int); ok {
			v = int64(id)
		}
		nargs[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		qc, ok := dc.(driver.QueryerContext)
		if !ok {
			return errors.New("sqlite driver cannot query")
		}
		rows, err := qc.QueryContext(ctx, `SELECT `+cols+` FROM signals`+where, nargs)
		if err != nil {
			return err
		}
		defer rows.Close()
		dest := make([]driver.Value, len(rows.Columns()))
		for {
			if err := rows.Next(dest); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			var ok bool
			if s.ID, ok = dest[0].(int64); !ok {
				return fmt.Errorf("signal id: unexpected %T", dest[0])
			}
			key, _ := dest[1].([]byte)
			i := 2
			if withBank {
				id, _ := dest[i].(int64)
				s.Bank = banks[id]
				i++
			}
			if withType {
				t, _ := dest[i].(string)
				s.Type = bank.Type(t)
				i++
			}
			body := ""
			if withBody {
				body, _ = dest[i].(string)
			}
			s.Value = bank.DecodeValue(s.Type, key, body)
			if err := fn(&s); err != nil {
				return err
			}
		}
	})
}

// MaxSignalID implements bank.Store.
func (db *DB) MaxSignalID(ctx context.Context) (int64, error) {
	var n int64
	err := db.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM signals`).Scan(&n)
	return n, err
}
