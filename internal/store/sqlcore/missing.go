package sqlcore

import (
	"context"
	"fmt"
	"strings"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/alert"
	"github.com/nigehban/nigehban/internal/audit"
)

// Missing-child cases (alert.Store).

const missingCols = `id, uid, version, district, reported_at, closed_at, doc`

func scanMissing(withSealed bool) func(Row) (alert.Record, error) {
	return func(row Row) (alert.Record, error) {
		var r alert.Record
		var doc string
		dest := []any{&r.ID, &r.UID, &r.Version, &r.District, scanTime(&r.ReportedAt), scanNullTime(&r.ClosedAt), &doc}
		if withSealed {
			dest = append(dest, &r.Sealed)
		}
		err := row.Scan(dest...)
		if isNoRows(err) {
			return r, alert.ErrNotFound
		}
		r.Doc = []byte(doc)
		return r, err
	}
}

func missingSelect(withSealed bool) string {
	if withSealed {
		return `SELECT ` + missingCols + `, sealed FROM missing_cases`
	}
	return `SELECT ` + missingCols + ` FROM missing_cases`
}

// CreateMissingCase implements alert.Store.
func (c *Core) CreateMissingCase(ctx context.Context, r alert.Record, e audit.Entry) (alert.Record, error) {
	r.Version = 1
	err := c.write(ctx, func(tx Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO missing_cases (uid, version, district, reported_at, closed_at, doc, sealed)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, r.UID, r.Version, r.District, c.f.Time(r.ReportedAt),
			c.optTime(r.ClosedAt), string(r.Doc), r.Sealed).Scan(&r.ID); err != nil {
			return fmt.Errorf("insert missing case: %w", err)
		}
		_, err := c.AppendTx(ctx, tx, e)
		return err
	})
	return r, err
}

// UpdateMissingCase implements alert.Store.
func (c *Core) UpdateMissingCase(ctx context.Context, r alert.Record, entries []audit.Entry, events []action.Event) (alert.Record, error) {
	err := c.write(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE missing_cases SET version = version + 1, closed_at = ?, doc = ?
			WHERE id = ? AND version = ?`, c.optTime(r.ClosedAt), string(r.Doc), r.ID, r.Version)
		if err != nil {
			return fmt.Errorf("update missing case: %w", err)
		}
		if n == 0 {
			var v int64
			if err := tx.QueryRow(ctx, `SELECT version FROM missing_cases WHERE id = ?`, r.ID).Scan(&v); isNoRows(err) {
				return alert.ErrNotFound
			}
			return alert.ErrConflict
		}
		at := Now()
		for _, e := range entries {
			if e, err = c.AppendTx(ctx, tx, e); err != nil {
				return err
			}
			at = e.At
		}
		for _, ev := range events {
			if _, err := tx.Exec(ctx, `INSERT INTO outbox (bank, url, secret, payload, next_at, state, created_at)
				VALUES (?, ?, ?, ?, ?, 'pending', ?)`, ev.Bank, ev.URL, ev.Secret, string(ev.Payload), c.f.Time(at), c.f.Time(at)); err != nil {
				return fmt.Errorf("queue webhook: %w", err)
			}
		}
		return nil
	})
	if err == nil {
		r.Version++
	}
	return r, err
}

// MissingCase implements alert.Store.
func (c *Core) MissingCase(ctx context.Context, id int64) (alert.Record, error) {
	return scanMissing(true)(c.eng.Reader().QueryRow(ctx, missingSelect(true)+` WHERE id = ?`, id))
}

// MissingCaseByUID implements alert.Store.
func (c *Core) MissingCaseByUID(ctx context.Context, uid string, withSealed bool) (alert.Record, error) {
	return scanMissing(withSealed)(c.eng.Reader().QueryRow(ctx, missingSelect(withSealed)+` WHERE uid = ?`, uid))
}

// MissingCases implements alert.Store.
func (c *Core) MissingCases(ctx context.Context, f alert.Filter) ([]alert.Record, error) {
	var conds []string
	var args []any
	switch {
	case f.OpenOnly:
		conds = append(conds, `closed_at IS NULL`)
	case !f.ClosedSince.IsZero():
		conds = append(conds, `(closed_at IS NULL OR closed_at >= ?)`)
		args = append(args, c.f.Time(f.ClosedSince))
	}
	if !f.From.IsZero() {
		conds = append(conds, `reported_at >= ?`)
		args = append(args, c.f.Time(f.From))
	}
	if !f.To.IsZero() {
		conds = append(conds, `reported_at < ?`)
		args = append(args, c.f.Time(f.To))
	}
	q := missingSelect(f.WithSealed)
	if len(conds) > 0 {
		q += ` WHERE ` + strings.Join(conds, ` AND `)
	}
	return queryAll(ctx, c.eng.Reader(), scanMissing(f.WithSealed), q+` ORDER BY id`, args...)
}
