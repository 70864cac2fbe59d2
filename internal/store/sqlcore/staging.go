package sqlcore

import (
	"context"
	"fmt"
	"math"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/exchange"
)

// Write-behind staging of large exchange syncs (exchange.StagingStore; the
// why and the rules are in internal/exchange/staging.go). The transactions,
// checkpoints, counts and audit entries are here; the engine appends the
// rows and merges them (Stager).

// Stager is implemented by engines that stage an exchange sync's pure
// additions in exchange_staging and merge them in key order.
type Stager interface {
	// StageSignals appends sigs (normalised, tagged by the exchange) to
	// exchange_staging for exchange xid and bank bankID, in tx.
	StageSignals(ctx context.Context, tx Tx, xid, bankID int64, sigs []bank.Signal) error
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

// CanStage implements exchange.StagingStore.
func (c *Core) CanStage() bool {
	_, ok := c.eng.(Stager)
	return ok
}

// StagePage implements exchange.StagingStore.
func (c *Core) StagePage(ctx context.Context, name string, prev, next exchange.Checkpoint, by audit.Actor,
	detail map[string]any, fn func(w exchange.StageWriter) error) error {
	st, ok := c.eng.(Stager)
	if !ok {
		return fmt.Errorf("exchange %s: staging: %w", name, exchange.ErrUnsupported)
	}
	if next.Pos < prev.Pos {
		return fmt.Errorf("exchange %s: position %d after %d: %w", name, next.Pos, prev.Pos, exchange.ErrBackwards)
	}
	return c.write(ctx, func(tx Tx) error {
		id, bankName, err := c.lockCheckpoint(ctx, tx, name, prev)
		if err != nil {
			return err
		}
		bankID, err := c.bankID(ctx, tx, bankName)
		if err != nil {
			return err
		}
		w := &stageWriter{ew: exchangeWriter{signalWriter: &signalWriter{c: c, tx: tx, bankID: bankID, actor: by.Name}, xid: id}, st: st}
		if err := fn(w); err != nil {
			return err
		}
		d := map[string]any{"exchange": name, "from": prev.Pos, "to": next.Pos, "staged": w.n}
		for k, v := range detail {
			d[k] = v
		}
		if _, err := c.AppendTx(ctx, tx, by.Entry(exchange.ActSync, bankName, d)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE exchanges SET checkpoint_pos = ?, checkpoint = ?, staged = staged + ? WHERE id = ?`,
			next.Pos, next.State, w.n, id)
		return err
	})
}

// stageWriter is the exchange.StageWriter of one StagePage transaction.
type stageWriter struct {
	ew exchangeWriter
	st Stager
	n  int64
}

// Current implements exchange.StageWriter.
func (w *stageWriter) Current(ctx context.Context, entries []string, refs []bank.SignalRef) ([]bank.Signal, error) {
	return w.ew.Current(ctx, entries, refs)
}

// Stage implements exchange.StageWriter.
func (w *stageWriter) Stage(ctx context.Context, sigs []bank.Signal) error {
	if len(sigs) == 0 {
		return nil
	}
	if err := w.st.StageSignals(ctx, w.ew.tx, w.ew.xid, w.ew.bankID, sigs); err != nil {
		return fmt.Errorf("stage signals: %w", err)
	}
	w.n += int64(len(sigs))
	return nil
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
