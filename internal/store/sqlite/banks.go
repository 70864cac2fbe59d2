package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nigehban/nigehban/internal/bank"
)

const bankCols = `id, name, description, enabled, action, pdq_threshold, created_at, created_by, updated_at, updated_by`

type scanner interface{ Scan(dest ...any) error }

func scanBank(row scanner) (bank.Bank, error) {
	var b bank.Bank
	var created, updated int64
	var action string
	err := row.Scan(&b.ID, &b.Name, &b.Description, &b.Enabled, &action, &b.PDQThreshold,
		&created, &b.CreatedBy, &updated, &b.UpdatedBy)
	b.Action = bank.Action(action)
	b.CreatedAt, b.UpdatedAt = fromMicros(created), fromMicros(updated)
	return b, err
}

// changeDetail is the JSON kept in changes.detail.
type changeDetail struct {
	Bank   *bank.Bank `json:"bank,omitempty"`
	Reason string     `json:"reason,omitempty"`
}

func (d changeDetail) encode() string {
	b, _ := json.Marshal(d) // plain structs: cannot fail
	return string(b)
}

// CreateBank implements bank.Store.
func (db *DB) CreateBank(ctx context.Context, b bank.Bank, actor string) (bank.Bank, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return bank.Bank{}, err
	}
	defer tx.Rollback()
	t := now()
	b.CreatedAt, b.UpdatedAt, b.CreatedBy, b.UpdatedBy = t, t, actor, actor
	err = tx.QueryRowContext(ctx, `INSERT INTO banks (name, description, enabled, action, pdq_threshold,
		created_at, created_by, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO NOTHING RETURNING id`,
		b.Name, b.Description, b.Enabled, string(b.Action), b.PDQThreshold, t.UnixMicro(), actor, t.UnixMicro(), actor).Scan(&b.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return bank.Bank{}, bank.ErrExists
	}
	if err != nil {
		return bank.Bank{}, err
	}
	if err := logChange(ctx, tx, b.ID, bank.OpBankCreate, 0, t.UnixMicro(), actor, changeDetail{Bank: &b}); err != nil {
		return bank.Bank{}, err
	}
	return b, tx.Commit()
}

// UpdateBank implements bank.Store.
func (db *DB) UpdateBank(ctx context.Context, name string, u bank.BankUpdate, actor string) (bank.Bank, bool, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return bank.Bank{}, false, err
	}
	defer tx.Rollback()
	cur, err := scanBank(tx.QueryRowContext(ctx, `SELECT `+bankCols+` FROM banks WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return bank.Bank{}, false, bank.ErrNotFound
	}
	if err != nil {
		return bank.Bank{}, false, err
	}
	next := u.Apply(cur)
	if next == cur {
		return cur, false, nil
	}
	t := now()
	next.UpdatedAt, next.UpdatedBy = t, actor
	if _, err := tx.ExecContext(ctx, `UPDATE banks SET description = ?, enabled = ?, action = ?, pdq_threshold = ?,
		updated_at = ?, updated_by = ? WHERE id = ?`,
		next.Description, next.Enabled, string(next.Action), next.PDQThreshold, t.UnixMicro(), actor, cur.ID); err != nil {
		return bank.Bank{}, false, err
	}
	if err := logChange(ctx, tx, cur.ID, bank.OpBankUpdate, 0, t.UnixMicro(), actor, changeDetail{Bank: &next}); err != nil {
		return bank.Bank{}, false, err
	}
	return next, true, tx.Commit()
}

// GetBank implements bank.Store.
func (db *DB) GetBank(ctx context.Context, name string) (bank.Bank, error) {
	b, err := scanBank(db.r.QueryRowContext(ctx, `SELECT `+bankCols+` FROM banks WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return bank.Bank{}, bank.ErrNotFound
	}
	return b, err
}

// ListBanks implements bank.Store.
func (db *DB) ListBanks(ctx context.Context) ([]bank.Bank, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+bankCols+` FROM banks ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var bs []bank.Bank
	for rows.Next() {
		b, err := scanBank(rows)
		if err != nil {
			return nil, err
		}
		bs = append(bs, b)
	}
	return bs, rows.Err()
}

// BankStats implements bank.Store.
func (db *DB) BankStats(ctx context.Context, name string) (bank.BankStats, error) {
	b, err := db.GetBank(ctx, name)
	if err != nil {
		return bank.BankStats{}, err
	}
	st := bank.BankStats{Active: map[bank.Type]int64{}, Removed: map[bank.Type]int64{}}
	rows, err := db.r.QueryContext(ctx, `SELECT type, removed_at IS NULL, COUNT(*) FROM signals
		WHERE bank_id = ? GROUP BY 1, 2`, b.ID)
	if err != nil {
		return bank.BankStats{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var t string
		var active bool
		var n int64
		if err := rows.Scan(&t, &active, &n); err != nil {
			return bank.BankStats{}, err
		}
		if active {
			st.Active[bank.Type(t)] = n
		} else {
			st.Removed[bank.Type(t)] = n
		}
	}
	return st, rows.Err()
}

// bankIDs resolves bank names to IDs (all banks when names is empty),
// optionally only enabled ones, and returns the ID → name map.
func bankIDs(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, names []string, enabledOnly bool) (map[int64]string, error) {
	query := `SELECT id, name, enabled FROM banks`
	var args []any
	if len(names) > 0 {
		query += ` WHERE name IN (?` + strings.Repeat(`, ?`, len(names)-1) + `)`
		for _, n := range names {
			args = append(args, n)
		}
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[int64]string{}
	found := map[string]bool{}
	for rows.Next() {
		var id int64
		var name string
		var enabled bool
		if err := rows.Scan(&id, &name, &enabled); err != nil {
			return nil, err
		}
		found[name] = true
		if enabled || !enabledOnly {
			m[id] = name
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if !found[n] {
			return nil, fmt.Errorf("bank %q: %w", n, bank.ErrNotFound)
		}
	}
	return m, nil
}

func logChange(ctx context.Context, tx *sql.Tx, bankID int64, op bank.Op, signalID int64, at int64, actor string, d changeDetail) error {
	var sid any
	if signalID != 0 {
		sid = signalID
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO changes (bank_id, op, signal_id, at, actor, detail) VALUES (?, ?, ?, ?, ?, ?)`,
		bankID, string(op), sid, at, actor, d.encode())
	if err != nil {
		return fmt.Errorf("append change: %w", err)
	}
	return nil
}
