package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nigehban/nigehban/internal/bank"
)

const bankCols = `id, name, description, enabled, action, pdq_threshold, created_at, created_by, updated_at, updated_by`

func scanBank(row pgx.Row) (bank.Bank, error) {
	var b bank.Bank
	var action string
	err := row.Scan(&b.ID, &b.Name, &b.Description, &b.Enabled, &action, &b.PDQThreshold,
		&b.CreatedAt, &b.CreatedBy, &b.UpdatedAt, &b.UpdatedBy)
	b.Action = bank.Action(action)
	b.CreatedAt, b.UpdatedAt = b.CreatedAt.UTC(), b.UpdatedAt.UTC()
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

// logChange appends one change; like appendSeq it must come last in the
// transaction.
func logChange(ctx context.Context, tx pgx.Tx, bankID int64, op bank.Op, signalID int64, at time.Time, actor string, d changeDetail) error {
	seq, err := appendSeq(ctx, tx, 1)
	if err != nil {
		return err
	}
	var sid *int64
	if signalID != 0 {
		sid = &signalID
	}
	if _, err := tx.Exec(ctx, `INSERT INTO changes (seq, bank_id, op, signal_id, at, actor, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		seq, bankID, string(op), sid, at, actor, d.encode()); err != nil {
		return fmt.Errorf("append change: %w", err)
	}
	return nil
}

// CreateBank implements bank.Store.
func (db *DB) CreateBank(ctx context.Context, b bank.Bank, actor string) (bank.Bank, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return bank.Bank{}, err
	}
	defer tx.Rollback(ctx)
	t := now()
	b.CreatedAt, b.UpdatedAt, b.CreatedBy, b.UpdatedBy = t, t, actor, actor
	err = tx.QueryRow(ctx, `INSERT INTO banks (name, description, enabled, action, pdq_threshold,
		created_at, created_by, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $7)
		ON CONFLICT (name) DO NOTHING RETURNING id`,
		b.Name, b.Description, b.Enabled, string(b.Action), b.PDQThreshold, t, actor).Scan(&b.ID)
	if isNoRows(err) {
		return bank.Bank{}, bank.ErrExists
	}
	if err != nil {
		return bank.Bank{}, err
	}
	if err := logChange(ctx, tx, b.ID, bank.OpBankCreate, 0, t, actor, changeDetail{Bank: &b}); err != nil {
		return bank.Bank{}, err
	}
	return b, tx.Commit(ctx)
}

// UpdateBank implements bank.Store.
func (db *DB) UpdateBank(ctx context.Context, name string, u bank.BankUpdate, actor string) (bank.Bank, bool, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return bank.Bank{}, false, err
	}
	defer tx.Rollback(ctx)
	cur, err := scanBank(tx.QueryRow(ctx, `SELECT `+bankCols+` FROM banks WHERE name = $1 FOR UPDATE`, name))
	if isNoRows(err) {
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
	if _, err := tx.Exec(ctx, `UPDATE banks SET description = $1, enabled = $2, action = $3, pdq_threshold = $4,
		updated_at = $5, updated_by = $6 WHERE id = $7`,
		next.Description, next.Enabled, string(next.Action), next.PDQThreshold, t, actor, cur.ID); err != nil {
		return bank.Bank{}, false, err
	}
	if err := logChange(ctx, tx, cur.ID, bank.OpBankUpdate, 0, t, actor, changeDetail{Bank: &next}); err != nil {
		return bank.Bank{}, false, err
	}
	return next, true, tx.Commit(ctx)
}

// GetBank implements bank.Store.
func (db *DB) GetBank(ctx context.Context, name string) (bank.Bank, error) {
	b, err := scanBank(db.pool.QueryRow(ctx, `SELECT `+bankCols+` FROM banks WHERE name = $1`, name))
	if isNoRows(err) {
		return bank.Bank{}, bank.ErrNotFound
	}
	return b, err
}

// ListBanks implements bank.Store.
func (db *DB) ListBanks(ctx context.Context) ([]bank.Bank, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+bankCols+` FROM banks ORDER BY name`)
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
	rows, err := db.pool.Query(ctx, `SELECT type, removed_at IS NULL, COUNT(*) FROM signals
		WHERE bank_id = $1 GROUP BY 1, 2`, b.ID)
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

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// bankIDs resolves bank names to IDs (all banks when names is empty),
// optionally only enabled ones, and returns the ID → name map. ErrNotFound
// if a name does not exist.
func bankIDs(ctx context.Context, q querier, names []string, enabledOnly bool) (map[int64]string, error) {
	query, args := `SELECT id, name, enabled FROM banks`, []any{}
	if len(names) > 0 {
		query, args = query+` WHERE name = ANY($1)`, []any{names}
	}
	rows, err := q.Query(ctx, query, args...)
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
