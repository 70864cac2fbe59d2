package sqlcore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
)

const bankCols = `id, name, description, enabled, action, pdq_threshold, review_above, negative, created_at, created_by, updated_at, updated_by`

func scanBank(row Row) (bank.Bank, error) {
	var b bank.Bank
	var action string
	err := row.Scan(&b.ID, &b.Name, &b.Description, &b.Enabled, &action, &b.PDQThreshold, &b.ReviewAbove, &b.Negative,
		scanTime(&b.CreatedAt), &b.CreatedBy, scanTime(&b.UpdatedAt), &b.UpdatedBy)
	b.Action = bank.Action(action)
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

// logChange appends one change. In PostgreSQL it reserves the number from
// the change_seq row, so it must be the transaction's last statement.
func (c *Core) logChange(ctx context.Context, tx Querier, bankID int64, op bank.Op, signalID int64, at any, actor string, d changeDetail) error {
	var seq, sid any
	if c.f.ReserveChanges != nil {
		n, err := c.f.ReserveChanges(ctx, tx, 1)
		if err != nil {
			return err
		}
		seq = n
	}
	if signalID != 0 {
		sid = signalID
	}
	if _, err := tx.Exec(ctx, `INSERT INTO changes (seq, bank_id, op, signal_id, at, actor, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		seq, bankID, string(op), sid, at, actor, d.encode()); err != nil {
		return fmt.Errorf("append change: %w", err)
	}
	return nil
}

// CreateBank implements bank.Store.
func (c *Core) CreateBank(ctx context.Context, b bank.Bank, by audit.Actor) (bank.Bank, error) {
	actor := by.Name
	err := c.write(ctx, func(tx Tx) error {
		t := Now()
		b.CreatedAt, b.UpdatedAt, b.CreatedBy, b.UpdatedBy = t, t, actor, actor
		err := tx.QueryRow(ctx, `INSERT INTO banks (name, description, enabled, action, pdq_threshold, review_above, negative,
			created_at, created_by, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO NOTHING RETURNING id`,
			b.Name, b.Description, b.Enabled, string(b.Action), b.PDQThreshold, b.ReviewAbove, b.Negative, c.f.Time(t), actor, c.f.Time(t), actor).Scan(&b.ID)
		if isNoRows(err) {
			return bank.ErrExists
		}
		if err != nil {
			return err
		}
		if _, err := c.AppendTx(ctx, tx, by.Entry(audit.ActBankCreate, b.Name, b)); err != nil {
			return err
		}
		return c.logChange(ctx, tx, b.ID, bank.OpBankCreate, 0, c.f.Time(t), actor, changeDetail{Bank: &b})
	})
	if err != nil {
		return bank.Bank{}, err
	}
	return b, nil
}

// UpdateBank implements bank.Store.
func (c *Core) UpdateBank(ctx context.Context, name string, u bank.BankUpdate, by audit.Actor) (bank.Bank, bool, error) {
	actor := by.Name
	var next bank.Bank
	var changed bool
	err := c.write(ctx, func(tx Tx) error {
		cur, err := scanBank(tx.QueryRow(ctx, `SELECT `+bankCols+` FROM banks WHERE name = ?`+c.f.ForUpdate, name))
		if isNoRows(err) {
			return bank.ErrNotFound
		}
		if err != nil {
			return err
		}
		next = u.Apply(cur)
		if next == cur {
			return nil
		}
		changed = true
		t := Now()
		next.UpdatedAt, next.UpdatedBy = t, actor
		if _, err := tx.Exec(ctx, `UPDATE banks SET description = ?, enabled = ?, action = ?, pdq_threshold = ?,
			review_above = ?, negative = ?, updated_at = ?, updated_by = ? WHERE id = ?`,
			next.Description, next.Enabled, string(next.Action), next.PDQThreshold, next.ReviewAbove, next.Negative, c.f.Time(t), actor, cur.ID); err != nil {
			return err
		}
		if _, err := c.AppendTx(ctx, tx, by.Entry(audit.ActBankUpdate, name, u)); err != nil {
			return err
		}
		return c.logChange(ctx, tx, cur.ID, bank.OpBankUpdate, 0, c.f.Time(t), actor, changeDetail{Bank: &next})
	})
	if err != nil {
		return bank.Bank{}, false, err
	}
	return next, changed, nil
}

// GetBank implements bank.Store.
func (c *Core) GetBank(ctx context.Context, name string) (bank.Bank, error) {
	b, err := scanBank(c.eng.Reader().QueryRow(ctx, `SELECT `+bankCols+` FROM banks WHERE name = ?`, name))
	if isNoRows(err) {
		return bank.Bank{}, bank.ErrNotFound
	}
	return b, err
}

// ListBanks implements bank.Store.
func (c *Core) ListBanks(ctx context.Context) ([]bank.Bank, error) {
	return queryAll(ctx, c.eng.Reader(), scanBank, `SELECT `+bankCols+` FROM banks ORDER BY name`)
}

// BankStats implements bank.Store.
func (c *Core) BankStats(ctx context.Context, name string) (bank.BankStats, error) {
	b, err := c.GetBank(ctx, name)
	if err != nil {
		return bank.BankStats{}, err
	}
	st := bank.BankStats{Active: map[bank.Type]int64{}, Removed: map[bank.Type]int64{}}
	rows, err := c.eng.Reader().Query(ctx, `SELECT type, removed_at IS NULL, COUNT(*) FROM signals
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
// optionally only enabled ones, and returns the ID → name map. ErrNotFound
// if a name does not exist.
func (c *Core) bankIDs(ctx context.Context, q Querier, names []string, enabledOnly bool) (map[int64]string, error) {
	query, args := `SELECT id, name, enabled FROM banks`, []any(nil)
	if len(names) > 0 {
		var cond string
		cond, args = c.f.In("name", names)
		query += ` WHERE ` + cond
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

// bankID returns the ID of the named bank, or ErrNotFound.
func (c *Core) bankID(ctx context.Context, q Querier, name string) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `SELECT id FROM banks WHERE name = ?`, name).Scan(&id)
	if isNoRows(err) {
		return 0, fmt.Errorf("bank %q: %w", name, bank.ErrNotFound)
	}
	return id, err
}
