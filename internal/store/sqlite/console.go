package sqlite

import (
	"context"

	"github.com/nigehban/nigehban/internal/audit"
)

// AuditBefore returns up to limit audit entries with Seq < before (all when
// before is 0), newest first: the console's audit browser pages backwards.
func (db *DB) AuditBefore(ctx context.Context, before int64, limit int) ([]audit.Entry, error) {
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := db.r.QueryContext(ctx, `SELECT seq, at, actor, action, target, remote, detail, prev, hash
		FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT ?`, before, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		var e audit.Entry
		var at int64
		var detail string
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Target, &e.Remote, &detail, &e.Prev, &e.Hash); err != nil {
			return nil, err
		}
		e.At, e.Detail = fromMicros(at), []byte(detail)
		out = append(out, e)
	}
	return out, rows.Err()
}
