package sqlcore

import (
	"context"
	"fmt"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/exchange"
)

// What the console reads of exchanges (exchange.StatusStore).

// ExchangeCounts implements exchange.StatusStore.
func (c *Core) ExchangeCounts(ctx context.Context, name string) (exchange.Counts, error) {
	var n exchange.Counts
	var id int64
	err := c.eng.Reader().QueryRow(ctx, `SELECT id FROM exchanges WHERE name = ?`, name).Scan(&id)
	if isNoRows(err) {
		return n, exchange.ErrNotFound
	}
	if err != nil {
		return n, err
	}
	err = c.eng.Reader().QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0)
		FROM exchange_opinions WHERE exchange_id = ? AND sent_at IS NULL`, id).Scan(&n.Outbox, &n.Failing)
	if err != nil {
		return n, fmt.Errorf("exchange %s outbox: %w", name, err)
	}
	err = c.eng.Reader().QueryRow(ctx, `SELECT COUNT(*) FROM disputed_signals WHERE exchange_id = ?`, id).Scan(&n.Disputed)
	if err != nil {
		return n, fmt.Errorf("exchange %s disputes: %w", name, err)
	}
	return n, nil
}

// ExchangeSyncs implements exchange.StatusStore: the audit entries are
// found through the index on the target (the exchange's bank).
func (c *Core) ExchangeSyncs(ctx context.Context, name string, limit int) ([]audit.Entry, error) {
	var bankName string
	err := c.eng.Reader().QueryRow(ctx, `SELECT bank FROM exchanges WHERE name = ?`, name).Scan(&bankName)
	if isNoRows(err) {
		return nil, exchange.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	// Only the bank's newest entries are looked at (the index is on the
	// target alone): the work per view stays bounded however long the
	// bank's history.
	return queryAll(ctx, c.eng.Reader(), scanEntry, fmt.Sprintf(`SELECT seq, at, actor, action, target, remote, detail, prev, hash
		FROM (SELECT seq, at, actor, action, target, remote, detail, prev, hash FROM audit WHERE target = ?
			ORDER BY seq DESC LIMIT %d) newest
		WHERE action = ? ORDER BY seq DESC LIMIT %d`, exchange.SyncScan, max(limit, 1)), bankName, exchange.ActSync)
}
