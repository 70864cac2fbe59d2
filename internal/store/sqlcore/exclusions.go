package sqlcore

import (
	"context"
	"database/sql"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/exchange"
)

// exclude adds an exclusion of the bank inside tx; added is false when the
// value was already excluded (the existing exclusion is kept).
func (c *Core) exclude(ctx context.Context, tx Querier, bankID int64, x bank.Exclusion) (added bool, err error) {
	key, body := bank.EncodeValue(x.Type, x.Value)
	n, err := tx.Exec(ctx, `INSERT INTO exclusions (bank_id, type, key, body, reason, created_at, created_by)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bank_id, type, key) DO NOTHING`,
		bankID, string(x.Type), key, nullString(body), x.Reason, c.f.Time(x.CreatedAt), x.CreatedBy)
	return n > 0, err
}

const exclusionCols = `type, key, body, reason, created_at, created_by`

func scanExclusion(row Row) (bank.Exclusion, error) {
	var x bank.Exclusion
	var typ string
	var key []byte
	var body sql.NullString
	if err := row.Scan(&typ, &key, &body, &x.Reason, scanTime(&x.CreatedAt), &x.CreatedBy); err != nil {
		return x, err
	}
	x.Type = bank.Type(typ)
	x.Value = bank.DecodeValue(x.Type, key, body.String)
	return x, nil
}

// AddExclusion implements bank.Store.
func (c *Core) AddExclusion(ctx context.Context, bankName string, x bank.Exclusion, by audit.Actor) (bank.Exclusion, bool, error) {
	var added bool
	err := c.write(ctx, func(tx Tx) error {
		bankID, err := c.bankID(ctx, tx, bankName)
		if err != nil {
			return err
		}
		x.Bank, x.CreatedAt, x.CreatedBy = bankName, Now(), by.Name
		if added, err = c.exclude(ctx, tx, bankID, x); err != nil {
			return err
		}
		if !added {
			key, _ := bank.EncodeValue(x.Type, x.Value)
			x, err = scanExclusion(tx.QueryRow(ctx, `SELECT `+exclusionCols+` FROM exclusions
				WHERE bank_id = ? AND type = ? AND key = ?`, bankID, string(x.Type), key))
			x.Bank = bankName
			return err
		}
		_, err = c.AppendTx(ctx, tx, by.Entry(audit.ActExclusionAdd, bankName,
			map[string]any{"type": x.Type, "value": x.Value, "reason": x.Reason}))
		return err
	})
	if err != nil {
		return bank.Exclusion{}, false, err
	}
	return x, added, nil
}

// RemoveExclusion implements bank.Store.
func (c *Core) RemoveExclusion(ctx context.Context, bankName string, t bank.Type, v string, by audit.Actor) error {
	return c.write(ctx, func(tx Tx) error {
		bankID, err := c.bankID(ctx, tx, bankName)
		if err != nil {
			return err
		}
		key, _ := bank.EncodeValue(t, v)
		n, err := tx.Exec(ctx, `DELETE FROM exclusions WHERE bank_id = ? AND type = ? AND key = ?`, bankID, string(t), key)
		if err != nil {
			return err
		}
		if n == 0 {
			return bank.ErrNotFound
		}
		_, err = c.AppendTx(ctx, tx, by.Entry(audit.ActExclusionRemove, bankName, map[string]any{"type": t, "value": v}))
		return err
	})
}

// Exclusions implements bank.Store.
func (c *Core) Exclusions(ctx context.Context, bankName string) ([]bank.Exclusion, error) {
	r := c.eng.Reader()
	bankID, err := c.bankID(ctx, r, bankName)
	if err != nil {
		return nil, err
	}
	xs, err := queryAll(ctx, r, scanExclusion, `SELECT `+exclusionCols+` FROM exclusions
		WHERE bank_id = ? ORDER BY created_at, type, key`, bankID)
	for i := range xs {
		xs[i].Bank = bankName
	}
	return xs, err
}

// hasExclusions reports whether the bank excludes anything: writes to banks
// that do not (the common case) skip the lookups.
func (c *Core) hasExclusions(ctx context.Context, q Querier, bankID int64) (bool, error) {
	var found bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM exclusions WHERE bank_id = ?)`, bankID).Scan(&found)
	return found, err
}

// excludedLookup is how many keys one exclusion lookup carries.
const excludedLookup = 500

// excludedRef is a value an exclusion names: its type and encoded key.
type excludedRef struct {
	t   bank.Type
	key string
}

// excludedOf returns which of n values the bank excludes; ref gives the
// i-th value's type and encoded key.
func (c *Core) excludedOf(ctx context.Context, q Querier, bankID int64, n int, ref func(i int) excludedRef) (map[excludedRef]bool, error) {
	excluded := map[excludedRef]bool{}
	for start := 0; start < n; start += excludedLookup {
		keys := make([][]byte, 0, min(excludedLookup, n-start))
		for i := start; i < min(start+excludedLookup, n); i++ {
			keys = append(keys, []byte(ref(i).key))
		}
		cond, args := c.f.In("key", keys)
		err := func() error {
			rows, err := q.Query(ctx, `SELECT type, key FROM exclusions WHERE bank_id = ? AND `+cond, append([]any{bankID}, args...)...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var t string
				var key []byte
				if err := rows.Scan(&t, &key); err != nil {
					return err
				}
				excluded[excludedRef{bank.Type(t), string(key)}] = true
			}
			return rows.Err()
		}()
		if err != nil {
			return nil, err
		}
	}
	return excluded, nil
}

// dropExcluded returns sigs without those the bank excludes, and how many
// it dropped. sigs itself is not modified.
func (c *Core) dropExcluded(ctx context.Context, q Querier, bankID int64, sigs []bank.Signal) ([]bank.Signal, int, error) {
	return dropExcludedOf(ctx, c, q, bankID, sigs, func(i int) excludedRef {
		key, _ := bank.EncodeValue(sigs[i].Type, sigs[i].Value)
		return excludedRef{sigs[i].Type, string(key)}
	})
}

// dropExcludedRows is dropExcluded for a merge's rows (their keys already
// encoded).
func (c *Core) dropExcludedRows(ctx context.Context, q Querier, bankID int64, rows []exchange.Row) ([]exchange.Row, int, error) {
	return dropExcludedOf(ctx, c, q, bankID, rows, func(i int) excludedRef { return excludedRef{rows[i].Type, string(rows[i].Key)} })
}

// dropExcludedOf returns items without those whose value (ref) the bank
// excludes, and how many it dropped; items itself is not modified.
func dropExcludedOf[T any](ctx context.Context, c *Core, q Querier, bankID int64, items []T, ref func(i int) excludedRef) ([]T, int, error) {
	excluded, err := c.excludedOf(ctx, q, bankID, len(items), ref)
	if err != nil || len(excluded) == 0 {
		return items, 0, err
	}
	kept := make([]T, 0, len(items))
	for i := range items {
		if !excluded[ref(i)] {
			kept = append(kept, items[i])
		}
	}
	return kept, len(items) - len(kept), nil
}
