package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/store/sqlcore"
)

// rowsPerInsert is how many signals one INSERT statement carries: multi-row
// statements cut the per-row cost of database/sql and the driver by ~3×.
//
// The statement is INSERT OR IGNORE rather than ON CONFLICT DO NOTHING:
// the latter still aborts on the table's other constraints (NOT NULL,
// CHECK), so SQLite keeps a statement journal for every multi-row INSERT
// (a copy of each page the statement changes, to undo it alone), which
// took a sixth of a bulk write's CPU. OR IGNORE needs none. The rows bound
// here never violate the other constraints (values are normalised, no NULL
// goes to a NOT NULL column), so the only row it skips is an active
// duplicate, as before; and a failing statement fails the whole
// transaction anyway.
const rowsPerInsert = 64

// shrinkAfter is the number of added signals after which WriteSignals
// releases the writer's page cache.
const shrinkAfter = 100_000

// NewSignalWriter implements sqlcore.Engine. Signals are inserted as they
// are added; their change-log entries are appended by one statement just
// before commit (LogChanges). That is safe because SQLite's write lock is
// held for the whole transaction: every signal ID above the maximum seen at
// the start was inserted by this transaction.
func (db *engine) NewSignalWriter(ctx context.Context, tx sqlcore.Tx, bankID int64, actor string) (sqlcore.BulkWriter, error) {
	stx, ok := tx.(*sqlcore.StdTx)
	if !ok {
		return nil, fmt.Errorf("sqlite: foreign transaction %T", tx)
	}
	w := &writer{tx: stx.Raw, bankID: bankID, actor: actor, stmts: map[int]*sql.Stmt{}}
	if err := stx.Raw.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM signals`).Scan(&w.startMax); err != nil {
		return nil, err
	}
	return w, nil
}

// AfterWrite implements sqlcore.Engine: it gives back the page cache a
// large import filled (see the package doc). The import has committed: a
// failure here is not its failure.
func (db *engine) AfterWrite(ctx context.Context, added int) {
	if added > shrinkAfter {
		if _, err := db.w.ExecContext(context.WithoutCancel(ctx), `PRAGMA shrink_memory`); err != nil {
			slog.Warn("sqlite: release page cache after import", "err", err)
		}
	}
}

type writer struct {
	tx       *sql.Tx
	bankID   int64
	actor    string
	startMax int64
	stmts    map[int]*sql.Stmt // by row count
	// entryStmts are the exchange_entries INSERTs, by row count.
	entryStmts map[int]*sql.Stmt
	args       []any
	added      int
	extra      sqlcore.ExtraMemo
}

// Close implements sqlcore.BulkWriter.
func (w *writer) Close() {
	for _, st := range w.stmts {
		st.Close()
	}
	for _, st := range w.entryStmts {
		st.Close()
	}
}

func (w *writer) stmt(ctx context.Context, n int) (*sql.Stmt, error) {
	if st, ok := w.stmts[n]; ok {
		return st, nil
	}
	q := `INSERT OR IGNORE INTO signals (bank_id, type, key, body, category, source, note, extra, quality, added_at, added_by) VALUES ` +
		strings.TrimSuffix(strings.Repeat(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), `, n), `, `)
	st, err := w.tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	w.stmts[n] = st
	return st, nil
}

// Add implements sqlcore.BulkWriter.
func (w *writer) Add(ctx context.Context, sigs []bank.Signal) (bank.AddCounts, error) {
	var c bank.AddCounts
	at := sqlcore.Now().UnixMicro()
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
				nullString(w.extra.Encode(s.Extra)), s.Quality, at, w.actor)
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

// entriesPerInsert is how many exchange_entries rows one prepared INSERT
// carries.
const entriesPerInsert = 128

// AddEntries implements sqlcore.BulkWriter with statements prepared once
// per transaction (parsing a new 640-parameter statement per batch cost
// half of the entries' insert time).
func (w *writer) AddEntries(ctx context.Context, xid int64, rows []sqlcore.EntryRow) error {
	for len(rows) > 0 {
		n := min(len(rows), entriesPerInsert)
		st, ok := w.entryStmts[n]
		if !ok {
			var err error
			st, err = w.tx.PrepareContext(ctx, `INSERT OR IGNORE INTO exchange_entries (exchange_id, entry, type, key, body) VALUES `+
				strings.TrimSuffix(strings.Repeat(`(?, ?, ?, ?, ?), `, n), `, `))
			if err != nil {
				return err
			}
			if w.entryStmts == nil {
				w.entryStmts = map[int]*sql.Stmt{}
			}
			w.entryStmts[n] = st
		}
		w.args = w.args[:0]
		for _, r := range rows[:n] {
			w.args = append(w.args, xid, r.Entry, r.Type, r.Key, nullString(r.Body))
		}
		if _, err := st.ExecContext(ctx, w.args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// LogChanges implements sqlcore.BulkWriter.
func (w *writer) LogChanges(ctx context.Context) error {
	res, err := w.tx.ExecContext(ctx, `INSERT INTO changes (bank_id, op, signal_id, at, actor)
		SELECT bank_id, ?, id, added_at, added_by FROM signals WHERE id > ? ORDER BY id`,
		string(bank.OpSignalAdd), w.startMax)
	if err != nil {
		return fmt.Errorf("append changes: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != int64(w.added) {
		return fmt.Errorf("append changes: %d entries for %d added signals (%v)", n, w.added, err)
	}
	return nil
}

// nullString stores "" as NULL.
func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// ScanKeys implements sqlcore.KeyScanner: it goes through the driver
// directly, skipping database/sql's per-column conversions; about twice as
// fast as the generic scan.
func (db *engine) ScanKeys(ctx context.Context, query string, args []any, kc sqlcore.KeyCols, fn func(*sqlcore.KeyRow) error) error {
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
		rows, err := qc.QueryContext(ctx, query, nargs)
		if err != nil {
			return err
		}
		defer rows.Close()
		dest := make([]driver.Value, len(rows.Columns()))
		var kr sqlcore.KeyRow
		for {
			if err := rows.Next(dest); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			var ok bool
			if kr.ID, ok = dest[0].(int64); !ok {
				return fmt.Errorf("signal id: unexpected %T", dest[0])
			}
			kr.Key, _ = dest[1].([]byte)
			i := 2
			if kc.Bank {
				kr.BankID, _ = dest[i].(int64)
				i++
			}
			if kc.Type {
				kr.Type, _ = dest[i].(string)
				i++
			}
			kr.Body = ""
			if kc.Body {
				kr.Body, _ = dest[i].(string)
			}
			if err := fn(&kr); err != nil {
				return err
			}
		}
	})
}
