package postgres

import (
	"context"
	"fmt"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
)

// AuditBefore returns up to limit audit entries with Seq < before (all when
// before is 0), newest first: the console's audit browser pages backwards.
func (db *DB) AuditBefore(ctx context.Context, before int64, limit int) ([]audit.Entry, error) {
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := db.pool.Query(ctx, fmt.Sprintf(`SELECT seq, at, actor, action, target, remote, detail, prev, hash
		FROM audit WHERE seq < $1 ORDER BY seq DESC LIMIT %d`, limit), before) // a literal limit: see SearchSignals
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		var e audit.Entry
		var detail string
		if err := rows.Scan(&e.Seq, &e.At, &e.Actor, &e.Action, &e.Target, &e.Remote, &detail, &e.Prev, &e.Hash); err != nil {
			return nil, err
		}
		e.At, e.Detail = e.At.UTC(), []byte(detail)
		out = append(out, e)
	}
	return out, rows.Err()
}

// SearchSignals returns up to limit signals of the named bank with ID >
// after whose category and source contain the given strings
// (case-insensitively; "" matches everything), removed ones too when
// removed is set, in ID order. With scan > 0 it looks at no more than the
// next scan signals of the bank, so a rare filter costs a bounded amount
// of work per call. next is the ID to continue after (0: nothing more).
// ErrNotFound (bank) if there is no such bank.
func (db *DB) SearchSignals(ctx context.Context, bankName, category, source string, removed bool,
	after int64, scan, limit int) (sigs []bank.Signal, next int64, err error) {
	banks, err := bankIDs(ctx, db.pool, []string{bankName}, false)
	if err != nil {
		return nil, 0, err
	}
	var bankID int64
	for id := range banks {
		bankID = id
	}
	// LIMIT and OFFSET are literals, not parameters: a cached generic plan
	// with a parameter limit may sort the whole bank instead of walking the
	// primary key and stopping after limit rows.
	end, exhausted := int64(1<<62), true
	if scan > 0 {
		err := db.pool.QueryRow(ctx, fmt.Sprintf(`SELECT id FROM signals WHERE id > $1 AND bank_id = $2 ORDER BY id LIMIT 1 OFFSET %d`, scan-1),
			after, bankID).Scan(&end)
		switch {
		case err == nil:
			exhausted = false
		case isNoRows(err):
			end = 1 << 62
		default:
			return nil, 0, err
		}
	}
	q := `SELECT ` + signalCols + ` FROM signals WHERE id > $1 AND id <= $2 AND bank_id = $3`
	args := []any{after, end, bankID}
	if !removed {
		q += ` AND removed_at IS NULL`
	}
	if category != "" {
		args = append(args, category)
		q += fmt.Sprintf(` AND strpos(lower(category), lower($%d)) > 0`, len(args))
	}
	if source != "" {
		args = append(args, source)
		q += fmt.Sprintf(` AND strpos(lower(source), lower($%d)) > 0`, len(args))
	}
	q += fmt.Sprintf(` ORDER BY id LIMIT %d`, limit+1)
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var s bank.Signal
		if err := scanSignal(rows, &s, banks); err != nil {
			return nil, 0, err
		}
		sigs = append(sigs, s)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	switch {
	case len(sigs) > limit:
		sigs = sigs[:limit]
		next = sigs[limit-1].ID
	case !exhausted:
		next = end
	}
	return sigs, next, nil
}
