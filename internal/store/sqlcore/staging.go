package sqlcore

import (
	"context"
	"fmt"
	"math"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/exchange"
)

// What an earlier version staged in exchange_staging (exchange.StagingStore;
// internal/exchange/staging.go): the merge of what an interrupted fetch
// left there. The transaction, checkpoint, counts and audit entry are here;
// the engine merges the rows (Stager).

// Stager is implemented by engines that merge the rows of
// exchange_staging in key order.
type Stager interface {
	// MergeStaged merges the staged rows of exchange xid with seq <= upTo
	// into bank bankID, in tx: signals in key order (INSERT … OR IGNORE,
	// the lowest seq first among equal values; values the bank excludes
	// skipped when excl), one change-log entry per added signal, the
	// exchange entries, then deletes the rows. It returns the rows merged,
	// the signals added and the rows excluded.
	MergeStaged(ctx context.Context, tx Tx, xid, bankID, upTo int64, excl bool, actor string) (rows, added, excluded int64, err error)
	// PrepareMerge configures the writer for a merge, outside any
	// transaction, and returns what restores it.
	PrepareMerge(ctx context.Context) (restore func(), err error)
}

// MergeStaged implements exchange.StagingStore.
func (c *Core) MergeStaged(ctx context.Context, name string, by audit.Actor, limit int, done bool) (exchange.Merged, error) {
	var m exchange.Merged
	st, ok := c.eng.(Stager)
	if !ok {
		return m, fmt.Errorf("exchange %s: staging: %w", name, exchange.ErrUnsupported)
	}
	restore, err := st.PrepareMerge(ctx)
	if err != nil {
		return m, fmt.Errorf("exchange %s: prepare merge: %w", name, err)
	}
	defer restore()
	err = c.write(ctx, func(tx Tx) error {
		m = exchange.Merged{}
		var id, pos, staged int64
		var bankName string
		err := tx.QueryRow(ctx, `SELECT id, bank, checkpoint_pos, staged FROM exchanges WHERE name = ?`+c.f.ForUpdate, name).
			Scan(&id, &bankName, &pos, &staged)
		if isNoRows(err) {
			return exchange.ErrNotFound
		}
		if err != nil {
			return err
		}
		if staged == 0 {
			return nil
		}
		upTo := int64(math.MaxInt64)
		if limit > 0 && int64(limit) < staged {
			err := tx.QueryRow(ctx, `SELECT seq FROM exchange_staging WHERE exchange_id = ? ORDER BY seq LIMIT 1 OFFSET ?`,
				id, limit-1).Scan(&upTo)
			if err != nil && !isNoRows(err) {
				return fmt.Errorf("staged range: %w", err)
			}
		}
		bankID, err := c.bankID(ctx, tx, bankName)
		if err != nil {
			return err
		}
		excl, err := c.hasExclusions(ctx, tx, bankID)
		if err != nil {
			return err
		}
		rows, added, excluded, err := st.MergeStaged(ctx, tx, id, bankID, upTo, excl, by.Name)
		if err != nil {
			return err
		}
		if rows > staged {
			return fmt.Errorf("merged %d staged rows, %d were counted", rows, staged)
		}
		m.Hashes, m.Remaining = rows, staged-rows
		m.Added, m.Excluded = int(added), int(excluded)
		m.Unchanged = int(rows - added - excluded)
		if _, err := c.AppendTx(ctx, tx, by.Entry(exchange.ActSync, bankName, map[string]any{
			"exchange": name, "from": pos, "to": pos, "merged": rows, "remaining": m.Remaining, "result": m.Applied})); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE exchanges SET staged = ?, fetched_total = fetched_total + ? WHERE id = ?`,
			m.Remaining, added, id)
		return err
	})
	if err != nil {
		return exchange.Merged{}, err
	}
	if done && m.Remaining == 0 && m.Hashes > 0 {
		// The fetch is over: give back the page cache the merges filled.
		c.eng.AfterWrite(ctx, math.MaxInt)
	}
	return m, nil
}
