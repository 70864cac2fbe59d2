package sqlcore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/protect"
)

// Victim self-submissions (protect.Store).

const protectCaseCols = `number, pin_hash, age, category, created_at, withdrawn_at, failed_pins, locked_until`

func scanProtectCase(row Row) (protect.Case, error) {
	var c protect.Case
	err := row.Scan(&c.Number, &c.PINHash, &c.Age, &c.Category, scanTime(&c.CreatedAt), scanNullTime(&c.WithdrawnAt),
		&c.FailedPINs, scanNullTime(&c.LockedUntil))
	if isNoRows(err) {
		return c, protect.ErrNotFound
	}
	return c, err
}

func protectEntry(e protect.AuditEntry) audit.Entry {
	return audit.Actor{Name: protect.Actor}.Entry(e.Action, "", e.Detail)
}

// CreateProtectCase implements protect.Store.
func (c *Core) CreateProtectCase(ctx context.Context, pc protect.Case, signalIDs []int64, e protect.AuditEntry) error {
	now := Now()
	return c.write(ctx, func(tx Tx) error {
		var n string
		err := tx.QueryRow(ctx, `INSERT INTO protect_cases (number, pin_hash, age, category, created_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (number) DO NOTHING RETURNING number`,
			pc.Number, pc.PINHash, pc.Age, pc.Category, c.f.Time(now)).Scan(&n)
		if isNoRows(err) {
			return protect.ErrExists
		}
		if err != nil {
			return fmt.Errorf("insert case: %w", err)
		}
		for chunk := range chunks(signalIDs, 500) {
			q := `INSERT INTO protect_case_signals (number, signal_id) VALUES ` +
				strings.TrimSuffix(strings.Repeat(`(?, ?), `, len(chunk)), `, `) + ` ON CONFLICT DO NOTHING`
			args := make([]any, 0, 2*len(chunk))
			for _, id := range chunk {
				args = append(args, pc.Number, id)
			}
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				return fmt.Errorf("link case hashes: %w", err)
			}
		}
		_, err = c.AppendTx(ctx, tx, protectEntry(e))
		return err
	})
}

func chunks(ids []int64, n int) func(func([]int64) bool) {
	return func(yield func([]int64) bool) {
		for len(ids) > 0 {
			k := min(n, len(ids))
			if !yield(ids[:k]) {
				return
			}
			ids = ids[k:]
		}
	}
}

// ProtectCase implements protect.Store.
func (c *Core) ProtectCase(ctx context.Context, number string) (protect.Case, error) {
	return scanProtectCase(c.eng.Reader().QueryRow(ctx, `SELECT `+protectCaseCols+` FROM protect_cases WHERE number = ?`, number))
}

// ProtectCaseSignals implements protect.Store.
func (c *Core) ProtectCaseSignals(ctx context.Context, number string) (all, only []int64, err error) {
	rows, err := c.eng.Reader().Query(ctx, `SELECT s.signal_id, NOT EXISTS (SELECT 1 FROM protect_case_signals o
			JOIN protect_cases oc ON oc.number = o.number
			WHERE o.signal_id = s.signal_id AND o.number <> s.number AND oc.withdrawn_at IS NULL)
		FROM protect_case_signals s WHERE s.number = ? ORDER BY s.signal_id`, number)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var alone bool
		if err := rows.Scan(&id, &alone); err != nil {
			return nil, nil, err
		}
		all = append(all, id)
		if alone {
			only = append(only, id)
		}
	}
	return all, only, rows.Err()
}

// RecordProtectPIN implements protect.Store.
func (c *Core) RecordProtectPIN(ctx context.Context, number string, ok bool, lockAfter int, lockUntil time.Time) (protect.Case, error) {
	var pc protect.Case
	err := c.write(ctx, func(tx Tx) error {
		var err error
		if ok {
			_, err = tx.Exec(ctx, `UPDATE protect_cases SET failed_pins = 0, locked_until = NULL WHERE number = ?`, number)
		} else {
			_, err = tx.Exec(ctx, `UPDATE protect_cases SET failed_pins = failed_pins + 1,
				locked_until = CASE WHEN failed_pins + 1 >= ? THEN ? ELSE locked_until END WHERE number = ?`,
				lockAfter, c.f.Time(lockUntil), number)
		}
		if err != nil {
			return err
		}
		pc, err = scanProtectCase(tx.QueryRow(ctx, `SELECT `+protectCaseCols+` FROM protect_cases WHERE number = ?`, number))
		return err
	})
	return pc, err
}

// WithdrawProtectCase implements protect.Store.
func (c *Core) WithdrawProtectCase(ctx context.Context, number string, e protect.AuditEntry) (bool, error) {
	changed := false
	err := c.write(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE protect_cases SET withdrawn_at = ? WHERE number = ? AND withdrawn_at IS NULL`,
			c.f.Time(Now()), number)
		if err != nil || n == 0 {
			return err
		}
		changed = true
		_, err = c.AppendTx(ctx, tx, protectEntry(e))
		return err
	})
	return changed, err
}
