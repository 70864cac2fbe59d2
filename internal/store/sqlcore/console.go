package sqlcore

import (
	"context"
	"fmt"
	"strings"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
)

// Reads of the web console. LIMIT and OFFSET are literals, not
// parameters: PostgreSQL's cached generic plan for a parameter limit may
// sort a whole bank instead of walking the primary key and stopping.

// AuditBefore returns up to limit audit entries with Seq < before (all when
// before is 0), newest first: the console's audit browser pages backwards.
func (c *Core) AuditBefore(ctx context.Context, before int64, limit int) ([]audit.Entry, error) {
	if before <= 0 {
		before = 1 << 62
	}
	return queryAll(ctx, c.eng.Reader(), scanEntry, fmt.Sprintf(`SELECT seq, at, actor, action, target, remote, detail, prev, hash
		FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT %d`, limit), before)
}

// likeContains returns a LIKE pattern (escape character \) matching
// values that contain s, lower-cased.
func likeContains(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// SearchSignals returns up to limit signals of the named bank with ID >
// after whose category and source contain the given strings (ASCII
// case-insensitively; "" matches everything), removed ones too when
// removed is set, in ID order. With scan > 0 it looks at no more than the
// next scan signals of the bank, so a rare filter costs a bounded amount
// of work per call. next is the ID to continue after (0: nothing more).
// bank.ErrNotFound if there is no such bank.
func (c *Core) SearchSignals(ctx context.Context, bankName, category, source string, removed bool,
	after int64, scan, limit int) (sigs []bank.Signal, next int64, err error) {
	r := c.eng.Reader()
	banks, err := c.bankIDs(ctx, r, []string{bankName}, false)
	if err != nil {
		return nil, 0, err
	}
	var bankID int64
	for id := range banks {
		bankID = id
	}
	end, exhausted := int64(1<<62), true
	if scan > 0 {
		err := r.QueryRow(ctx, fmt.Sprintf(`SELECT id FROM signals WHERE id > ? AND %s = ? ORDER BY id LIMIT 1 OFFSET %d`,
			c.unindexed("bank_id"), scan-1), after, bankID).Scan(&end)
		switch {
		case err == nil:
			exhausted = false
		case isNoRows(err):
			end = 1 << 62
		default:
			return nil, 0, err
		}
	}
	q := `SELECT ` + signalCols + ` FROM signals WHERE id > ? AND id <= ? AND ` + c.unindexed("bank_id") + ` = ?`
	args := []any{after, end, bankID}
	if !removed {
		q += ` AND removed_at IS NULL`
	}
	if category != "" {
		q += ` AND lower(category) LIKE ? ESCAPE '\'`
		args = append(args, likeContains(category))
	}
	if source != "" {
		q += ` AND lower(source) LIKE ? ESCAPE '\'`
		args = append(args, likeContains(source))
	}
	q += fmt.Sprintf(` ORDER BY id LIMIT %d`, limit+1)
	rows, err := r.Query(ctx, q, args...)
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
