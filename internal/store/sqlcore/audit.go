package sqlcore

import (
	"context"
	"fmt"

	"github.com/nigehban/nigehban/internal/audit"
)

// AppendTx appends e to the audit log inside tx: it is the only function
// that writes audit entries, whatever the act (bank and key changes,
// matches, refused requests), so every entry is in the transaction of what
// it records and the chain has one rule:
//
//   - the store sets Seq (one more than the last entry's), At, Prev (the
//     last entry's hash) and Hash (audit.Seal), and "{}" for an empty
//     Detail;
//   - the last entry is read through Flavor.AuditHead, which in PostgreSQL
//     locks the audit_head row (updated here too), so appends from several
//     replicas are ordered; SQLite's single writer orders them by itself.
//
// After the insert it stores the entry's leaf in the log's Merkle tree
// (appendTree, issue 12), so entry and tree never differ.
func (c *Core) AppendTx(ctx context.Context, tx Querier, e audit.Entry) (audit.Entry, error) {
	var prevSeq int64
	var prev string
	err := tx.QueryRow(ctx, c.f.AuditHead).Scan(&prevSeq, &prev)
	if err != nil && !isNoRows(err) {
		return e, fmt.Errorf("append audit: read head: %w", err)
	}
	e.Seq, e.At = prevSeq+1, Now()
	if len(e.Detail) == 0 {
		e.Detail = []byte("{}")
	}
	audit.Seal(&e, prev)
	if _, err := tx.Exec(ctx, `INSERT INTO audit (seq, at, actor, action, target, remote, detail, prev, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Seq, c.f.Time(e.At), e.Actor, e.Action, e.Target, e.Remote, string(e.Detail), e.Prev, e.Hash); err != nil {
		return e, fmt.Errorf("append audit: %w", err)
	}
	if c.f.AuditHeadUpdate != "" {
		if _, err := tx.Exec(ctx, c.f.AuditHeadUpdate, e.Seq, e.Hash); err != nil {
			return e, fmt.Errorf("append audit: update head: %w", err)
		}
	}
	if err := c.appendTree(ctx, tx, e); err != nil {
		return e, fmt.Errorf("append audit: %w", err)
	}
	return e, nil
}

// AppendAudit implements audit.Store: e in a transaction of its own.
func (c *Core) AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error) {
	return c.RecordMatch(ctx, e, nil)
}

// ListAudit implements audit.Store.
func (c *Core) ListAudit(ctx context.Context, since int64, limit int) ([]audit.Entry, error) {
	return queryAll(ctx, c.eng.Reader(), scanEntry, `SELECT seq, at, actor, action, target, remote, detail, prev, hash
		FROM audit WHERE seq > ? ORDER BY seq LIMIT ?`, since, limit)
}

func scanEntry(row Row) (audit.Entry, error) {
	var e audit.Entry
	var detail string
	err := row.Scan(&e.Seq, scanTime(&e.At), &e.Actor, &e.Action, &e.Target, &e.Remote, &detail, &e.Prev, &e.Hash)
	e.Detail = []byte(detail)
	return e, err
}
