package sqlcore

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"unsafe"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
)

const signalCols = `id, bank_id, type, key, body, quality, added_at, category, source, note, extra, added_by, removed_at, removed_by, removed_reason`

// scanSignal reads a row of signalCols into s.
func scanSignal(row Row, s *bank.Signal, banks map[int64]string) error {
	var bankID int64
	var typ string
	var key []byte
	var body, removedBy, reason, extra sql.NullString
	err := row.Scan(&s.ID, &bankID, &typ, &key, &body, &s.Quality, scanTime(&s.AddedAt),
		&s.Category, &s.Source, &s.Note, &extra, &s.AddedBy, scanNullTime(&s.RemovedAt), &removedBy, &reason)
	if err != nil {
		return err
	}
	if s.Extra, err = bank.DecodeExtra(extra.String); err != nil {
		return fmt.Errorf("signal %d: %w", s.ID, err)
	}
	s.RemovedBy, s.RemovedReason = removedBy.String, reason.String
	s.Type = bank.Type(typ)
	s.Value = bank.DecodeValue(s.Type, key, body.String)
	s.Bank = banks[bankID]
	return nil
}

// WriteSignals implements bank.Store: the bank lookup and the transaction
// are here, the inserts and their change-log entries in the engine's
// BulkWriter.
func (c *Core) WriteSignals(ctx context.Context, bankName string, by audit.Actor, fn func(bank.SignalWriter) error) error {
	var added int
	err := c.write(ctx, func(tx Tx) error {
		var err error
		added, err = c.writeSignalsTx(ctx, tx, bankName, by, func(w *signalWriter) error { return fn(w) }, nil)
		return err
	})
	if err != nil {
		return err
	}
	c.eng.AfterWrite(ctx, added)
	return nil
}

// writeSignalsTx is WriteSignals inside tx: fn adds (and withdraws)
// through w; then the audit entry w.Audit set, then beforeLog (if any: the
// caller's own rows of the same transaction), then the change-log entries of
// the withdrawn and added signals, as the transaction's last statements. It
// returns how many signals were added.
func (c *Core) writeSignalsTx(ctx context.Context, tx Tx, bankName string, by audit.Actor,
	fn func(w *signalWriter) error, beforeLog func(w *signalWriter) error) (int, error) {
	bankID, err := c.bankID(ctx, tx, bankName)
	if err != nil {
		return 0, err
	}
	bw, err := c.eng.NewSignalWriter(ctx, tx, bankID, by.Name)
	if err != nil {
		return 0, err
	}
	defer bw.Close()
	excl, err := c.hasExclusions(ctx, tx, bankID)
	if err != nil {
		return 0, err
	}
	w := &signalWriter{bw: bw, c: c, tx: tx, bankID: bankID, excl: excl, actor: by.Name}
	if err := fn(w); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if w.audit != nil {
		if _, err := c.AppendTx(ctx, tx, by.Entry(w.audit.action, bankName, w.audit.detail)); err != nil {
			return 0, err
		}
	}
	if beforeLog != nil {
		if err := beforeLog(w); err != nil {
			return 0, err
		}
	}
	if err := w.logWithdrawals(ctx); err != nil {
		return 0, err
	}
	if w.added == 0 {
		return 0, nil
	}
	return w.added, bw.LogChanges(ctx)
}

// signalWriter is the bank.SignalWriter of one WriteSignals transaction.
type signalWriter struct {
	bw     BulkWriter
	c      *Core
	tx     Tx
	bankID int64
	excl   bool // the bank has exclusions
	added  int
	actor  string
	// withdrawn are the signals Withdraw removed, logged at the end.
	withdrawn []withdrawal
	audit     *struct {
		action string
		detail any
	}
}

// Audit implements bank.SignalWriter.
func (w *signalWriter) Audit(action string, detail any) {
	w.audit = &struct {
		action string
		detail any
	}{action, detail}
}

// Add implements bank.SignalWriter.
func (w *signalWriter) Add(ctx context.Context, sigs []bank.Signal) (bank.AddCounts, error) {
	excluded := 0
	if w.excl {
		var err error
		if sigs, excluded, err = w.c.dropExcluded(ctx, w.tx, w.bankID, sigs); err != nil {
			return bank.AddCounts{}, fmt.Errorf("look up exclusions: %w", err)
		}
	}
	n, err := w.bw.Add(ctx, sigs)
	n.Excluded = excluded
	if err != nil {
		return n, err
	}
	w.added += n.Added
	return n, nil
}

// RemoveSignal implements bank.Store.
func (c *Core) RemoveSignal(ctx context.Context, bankName string, ref bank.SignalRef, reason string, by audit.Actor) (bank.Signal, bool, error) {
	actor := by.Name
	var s bank.Signal
	var changed bool
	err := c.write(ctx, func(tx Tx) error {
		banks, err := c.bankIDs(ctx, tx, []string{bankName}, false)
		if err != nil {
			return err
		}
		var bankID int64
		for id := range banks {
			bankID = id
		}
		if ref.ID != 0 {
			err = scanSignal(tx.QueryRow(ctx, `SELECT `+signalCols+` FROM signals WHERE id = ? AND bank_id = ?`+c.f.ForUpdate,
				ref.ID, bankID), &s, banks)
		} else {
			// The active one through the partial index; failing that, the
			// latest removed one (a rare path, a table scan).
			key, _ := bank.EncodeValue(ref.Type, ref.Value)
			err = scanSignal(tx.QueryRow(ctx, `SELECT `+signalCols+` FROM signals
				WHERE bank_id = ? AND type = ? AND key = ? AND removed_at IS NULL`+c.f.ForUpdate,
				bankID, string(ref.Type), key), &s, banks)
			if isNoRows(err) {
				err = scanSignal(tx.QueryRow(ctx, `SELECT `+signalCols+` FROM signals
					WHERE bank_id = ? AND type = ? AND key = ? ORDER BY id DESC LIMIT 1`,
					bankID, string(ref.Type), key), &s, banks)
			}
		}
		if isNoRows(err) {
			return bank.ErrNotFound
		}
		if err != nil {
			return err
		}
		if !s.Active() {
			return nil
		}
		t := Now()
		if _, err := tx.Exec(ctx, `UPDATE signals SET removed_at = ?, removed_by = ?, removed_reason = ? WHERE id = ?`,
			c.f.Time(t), actor, reason, s.ID); err != nil {
			return err
		}
		s.RemovedAt, s.RemovedBy, s.RemovedReason = &t, actor, reason
		changed = true
		if _, err := c.exclude(ctx, tx, bankID, bank.Exclusion{Type: s.Type, Value: s.Value, Reason: reason,
			CreatedAt: t, CreatedBy: actor}); err != nil {
			return fmt.Errorf("exclude removed signal: %w", err)
		}
		if _, err := c.AppendTx(ctx, tx, by.Entry(audit.ActSignalRemove, bankName,
			map[string]any{"id": s.ID, "type": s.Type, "value": s.Value, "reason": reason})); err != nil {
			return err
		}
		return c.logChange(ctx, tx, bankID, bank.OpSignalRemove, s.ID, c.f.Time(t), actor, changeDetail{Reason: reason})
	})
	if err != nil {
		return bank.Signal{}, false, err
	}
	return s, changed, nil
}

// GetSignal implements bank.Store.
func (c *Core) GetSignal(ctx context.Context, id int64) (bank.Signal, error) {
	r := c.eng.Reader()
	banks, err := c.bankIDs(ctx, r, nil, false)
	if err != nil {
		return bank.Signal{}, err
	}
	var s bank.Signal
	err = scanSignal(r.QueryRow(ctx, `SELECT `+signalCols+` FROM signals WHERE id = ?`, id), &s, banks)
	if isNoRows(err) {
		return bank.Signal{}, bank.ErrNotFound
	}
	return s, err
}

// FindSignal implements bank.Store.
func (c *Core) FindSignal(ctx context.Context, bankName string, t bank.Type, v string) (bank.Signal, error) {
	r := c.eng.Reader()
	banks, err := c.bankIDs(ctx, r, []string{bankName}, false)
	if err != nil {
		return bank.Signal{}, err
	}
	var bankID int64
	for id := range banks {
		bankID = id
	}
	key, _ := bank.EncodeValue(t, v)
	var s bank.Signal
	err = scanSignal(r.QueryRow(ctx, `SELECT `+signalCols+` FROM signals
		WHERE bank_id = ? AND type = ? AND key = ? AND removed_at IS NULL`, bankID, string(t), key), &s, banks)
	if isNoRows(err) {
		return bank.Signal{}, bank.ErrNotFound
	}
	return s, err
}

// ScanSignals implements bank.Store.
func (c *Core) ScanSignals(ctx context.Context, q bank.SignalQuery, fn func(*bank.Signal) error) error {
	r := c.eng.Reader()
	banks, err := c.bankIDs(ctx, r, q.Banks, q.EnabledOnly)
	if err != nil {
		return err
	}
	if len(banks) == 0 {
		return nil
	}
	if q.KeysOnly {
		return c.scanKeys(ctx, q, banks, fn)
	}
	where, args := c.scanWhere(q, banks)
	rows, err := r.Query(ctx, `SELECT `+signalCols+` FROM signals`+where, args...)
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
func (c *Core) scanWhere(q bank.SignalQuery, banks map[int64]string) (string, []any) {
	var sb strings.Builder
	args := []any{q.AfterID}
	sb.WriteString(` WHERE id > ?`)
	if q.BeforeID > 0 {
		sb.WriteString(` AND id < ?`)
		args = append(args, q.BeforeID)
	}
	if len(q.Banks) > 0 || q.EnabledOnly {
		ids := make([]int64, 0, len(banks))
		for id := range banks {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		cond, a := c.f.In(c.unindexed("bank_id"), ids)
		sb.WriteString(` AND ` + cond)
		args = append(args, a...)
	}
	if len(q.Types) > 0 {
		ts := make([]string, len(q.Types))
		for i, t := range q.Types {
			ts[i] = string(t)
		}
		cond, a := c.f.In(c.unindexed("type"), ts)
		sb.WriteString(` AND ` + cond)
		args = append(args, a...)
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

// unindexed returns col as a scan's condition names it: SQLite gets a unary
// + so that it streams in rowid order instead of answering through
// signals_active and then sorting every row.
func (c *Core) unindexed(col string) string {
	if c.f.Unindexed {
		return "+" + col
	}
	return col
}

// KeyCols says which columns a KeysOnly scan reads after id and key, in
// this order: bank_id, type, body.
type KeyCols struct{ Bank, Type, Body bool }

// KeyRow is one row of a KeysOnly scan.
type KeyRow struct {
	ID, BankID int64
	Key        []byte
	Type, Body string
}

// scanKeys is ScanSignals for KeysOnly: it reads only the columns the query
// leaves unknown (bank and type when more than one is possible, the vPDQ
// body only when vPDQ is possible).
func (c *Core) scanKeys(ctx context.Context, q bank.SignalQuery, banks map[int64]string, fn func(*bank.Signal) error) error {
	var s bank.Signal
	s.Quality = -1
	kc := KeyCols{Bank: len(banks) > 1, Type: len(q.Types) != 1, Body: len(q.Types) == 0 || slices.Contains(q.Types, bank.VPDQ)}
	cols := `id, key`
	if kc.Bank {
		cols += `, bank_id`
	} else {
		for _, name := range banks {
			s.Bank = name
		}
	}
	if kc.Type {
		cols += `, type`
	} else {
		s.Type = q.Types[0]
	}
	if kc.Body {
		cols += `, body`
	}
	where, args := c.scanWhere(q, banks)
	each := func(kr *KeyRow) error {
		s.ID = kr.ID
		if kc.Bank {
			s.Bank = banks[kr.BankID]
		}
		if kc.Type {
			s.Type = bank.Type(kr.Type)
		}
		s.Value = bank.DecodeValue(s.Type, kr.Key, kr.Body)
		return fn(&s)
	}
	query := `SELECT ` + cols + ` FROM signals` + where
	if ks, ok := c.eng.(KeyScanner); ok {
		return ks.ScanKeys(ctx, query, args, kc, each)
	}
	rows, err := c.eng.Reader().Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var kr KeyRow
	var body sql.NullString
	dest := []any{&kr.ID, &kr.Key}
	if kc.Bank {
		dest = append(dest, &kr.BankID)
	}
	if kc.Type {
		dest = append(dest, &kr.Type)
	}
	if kc.Body {
		dest = append(dest, &body)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		kr.Body = body.String
		if err := each(&kr); err != nil {
			return err
		}
	}
	return rows.Err()
}

// MaxSignalID implements bank.Store.
func (c *Core) MaxSignalID(ctx context.Context) (int64, error) {
	var n int64
	err := c.eng.Reader().QueryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM signals`).Scan(&n)
	return n, err
}

// ExtraMemo encodes the Extra maps of a bulk write, reusing the last
// encoding while the maps are equal: the hashes of one exchange entry
// (NCMEC: md5, sha1, PDQ) carry the same metadata, so a sync encodes it
// once per entry instead of once per hash.
type ExtraMemo struct {
	ptr unsafe.Pointer    // the map last encoded
	m   map[string]string // a copy of it, once it came twice in a row
	enc string
}

// Encode returns bank.EncodeExtra(m). The signals of one entry usually
// share one map, and often come in a row: the second time a map comes, a
// copy is kept (the caller may change its map between calls), and while
// the map it is given equals the copy the encoding is reused. Maps that
// do not repeat (signals sorted by value) cost an encoding, no copy.
func (e *ExtraMemo) Encode(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	p := reflect.ValueOf(m).UnsafePointer()
	if e.m != nil && maps.Equal(e.m, m) {
		e.ptr = p
		return e.enc
	}
	enc := bank.EncodeExtra(m)
	if p == e.ptr {
		e.m = maps.Clone(m)
	} else {
		e.m = nil
	}
	e.ptr, e.enc = p, enc
	return enc
}
