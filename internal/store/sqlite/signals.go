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
	"github.com/nigehban/nigehban/internal/exchange"
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
	// entryStmts are the exchange_entries INSERTs, rowStmts AddRows's,
	// by row count.
	entryStmts, rowStmts map[int]*sql.Stmt
	args                 []any
	added                int
	extra                sqlcore.ExtraMemo
}

// Close implements sqlcore.BulkWriter.
func (w *writer) Close() {
	for _, st := range w.stmts {
		st.Close()
	}
	for _, st := range w.entryStmts {
		st.Close()
	}
	for _, st := range w.rowStmts {
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
	before, err := w.totalChanges(ctx)
	if err != nil {
		return c, err
	}
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
				nullString(w.extra.Encode(s.Extra)), int64(s.Quality), at, w.actor)
		}
		if err := execQuery(ctx, st, w.args); err != nil {
			return c, fmt.Errorf("insert signals: %w", err)
		}
		c.Unchanged += n
		sigs = sigs[n:]
	}
	return w.counted(ctx, c, before)
}

// execQuery runs an INSERT through Query: mattn/go-sqlite3 binds all the
// values and takes the first step in one cgo call (Exec makes a call a
// value; the INSERT runs at that first step, without Next). On a
// 2,000,000-hash NCMEC sync: 17.3 instead of 20.5 µs of CPU a hash.
func execQuery(ctx context.Context, st *sql.Stmt, args []any) error {
	rs, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	rs.Close()
	return rs.Err()
}

// totalChanges is the rows the connection has inserted, updated or
// deleted so far: Add and AddRows count what they added by it (Query
// gives no count of affected rows).
func (w *writer) totalChanges(ctx context.Context) (int64, error) {
	var n int64
	err := w.tx.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&n)
	return n, err
}

// counted turns c, whose Unchanged holds every row offered, into the
// counts of an Add that began at total_changes() before.
func (w *writer) counted(ctx context.Context, c bank.AddCounts, before int64) (bank.AddCounts, error) {
	after, err := w.totalChanges(ctx)
	if err != nil {
		return c, err
	}
	c.Added = int(after - before)
	c.Unchanged -= c.Added
	w.added += c.Added
	return c, nil
}

// AddRows implements sqlcore.RowAdder: Add for a merge's rows, whose keys
// and metadata are already encoded (see exchange.Row). Runs of rows with
// the same source and note (all of a sync's) bind six values a row, and
// the bank, source, note, time and actor once a statement.
func (w *writer) AddRows(ctx context.Context, rows []exchange.Row) (bank.AddCounts, error) {
	var c bank.AddCounts
	at := sqlcore.Now().UnixMicro()
	before, err := w.totalChanges(ctx)
	if err != nil {
		return c, err
	}
	for len(rows) > 0 {
		n := min(len(rows), rowsPerInsert)
		src, note := rows[0].Meta.Source, rows[0].Meta.Note
		for i := range rows[:n] {
			if rows[i].Meta.Source != src || rows[i].Meta.Note != note {
				n = i
				break
			}
		}
		st, err := w.rowStmt(ctx, n)
		if err != nil {
			return c, err
		}
		w.args = append(w.args[:0], w.bankID, src, note, at, w.actor)
		for i := range rows[:n] {
			r := &rows[i]
			w.args = append(w.args, string(r.Type), r.Key, nullString(r.Body), r.Meta.Category, nullString(r.Meta.Extra), int64(r.Quality))
		}
		if err := execQuery(ctx, st, w.args); err != nil {
			return c, fmt.Errorf("insert signals: %w", err)
		}
		c.Unchanged += n
		rows = rows[n:]
	}
	return w.counted(ctx, c, before)
}

// rowStmt is AddRows's INSERT of n rows, prepared once a transaction.
func (w *writer) rowStmt(ctx context.Context, n int) (*sql.Stmt, error) {
	if st, ok := w.rowStmts[n]; ok {
		return st, nil
	}
	var b strings.Builder
	b.WriteString(`INSERT OR IGNORE INTO signals (bank_id, type, key, body, category, source, note, extra, quality, added_at, added_by)
		SELECT ?1, column1, column2, column3, column4, ?2, ?3, column5, column6, ?4, ?5 FROM (VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(`, `)
		}
		p := 6 + 6*i
		fmt.Fprintf(&b, `(?%d, ?%d, ?%d, ?%d, ?%d, ?%d)`, p, p+1, p+2, p+3, p+4, p+5)
	}
	b.WriteString(`)`)
	st, err := w.tx.PrepareContext(ctx, b.String())
	if err != nil {
		return nil, err
	}
	if w.rowStmts == nil {
		w.rowStmts = map[int]*sql.Stmt{}
	}
	w.rowStmts[n] = st
	return st, nil
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
		if err := execQuery(ctx, st, w.args); err != nil {
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
