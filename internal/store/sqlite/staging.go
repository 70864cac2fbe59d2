package sqlite

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/store/sqlcore"
)

// The merge of what an earlier version staged in exchange_staging
// (sqlcore.Stager; internal/exchange/staging.go): a fetch merges it before
// it fetches.

// MergeStaged implements sqlcore.Stager: three INSERT … SELECT statements
// and a DELETE, all in SQLite. SQLite's sorter orders only the rows' seq
// by (type, key, seq), about 50 bytes a row instead of the whole row
// (~250 bytes for an NCMEC hash), and the rows are then read back by seq:
// at 1,000,000 hashes the peak RSS was 645 instead of 844 MiB for the
// same time. The sorter keeps up to 512 MiB in memory before it spills
// (PrepareMerge sends the spill to a file), so a merge of MergeEvery
// hashes stays in memory and its size bounds it.
func (db *engine) MergeStaged(ctx context.Context, tx sqlcore.Tx, xid, bankID, upTo int64, excl bool, actor string) (rows, added, excluded int64, err error) {
	var startMax int64
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM signals`).Scan(&startMax); err != nil {
		return 0, 0, 0, err
	}
	notExcluded := ``
	if excl {
		const cond = `EXISTS (SELECT 1 FROM exclusions e WHERE e.bank_id = s.bank_id AND e.type = s.type AND e.key = s.key)`
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM exchange_staging s WHERE s.exchange_id = ? AND s.seq <= ? AND `+cond,
			xid, upTo).Scan(&excluded); err != nil {
			return 0, 0, 0, fmt.Errorf("count excluded: %w", err)
		}
		notExcluded = ` AND NOT ` + cond
	}
	at := sqlcore.Now().UnixMicro()
	t0 := time.Now()
	var took [4]time.Duration
	lap := func(i int) { took[i] = time.Since(t0); t0 = time.Now() }
	defer func() {
		slog.Debug("sqlite: staged rows merged", "rows", rows, "added", added,
			"signals", took[0], "changes", took[1], "entries", took[2], "delete", took[3])
	}()
	added, err = tx.Exec(ctx, `INSERT OR IGNORE INTO signals (bank_id, type, key, body, category, source, note, extra, quality, added_at, added_by)
		SELECT ?, s.type, s.key, s.body, s.category, s.source, s.note, s.extra, s.quality, ?, ?
		FROM (SELECT seq FROM exchange_staging s WHERE s.exchange_id = ? AND s.seq <= ?`+notExcluded+`
			ORDER BY s.type, s.key, s.seq) o
		CROSS JOIN exchange_staging s ON s.seq = o.seq`, bankID, at, actor, xid, upTo)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("merge signals: %w", err)
	}
	lap(0)
	logged, err := tx.Exec(ctx, `INSERT INTO changes (bank_id, op, signal_id, at, actor)
		SELECT bank_id, ?, id, added_at, added_by FROM signals WHERE id > ? ORDER BY id`, string(bank.OpSignalAdd), startMax)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("append changes: %w", err)
	}
	if logged != added {
		return 0, 0, 0, fmt.Errorf("append changes: %d entries for %d added signals", logged, added)
	}
	lap(1)
	if _, err := tx.Exec(ctx, `INSERT OR IGNORE INTO exchange_entries (exchange_id, entry, type, key, body)
		SELECT exchange_id, entry, type, key, body FROM exchange_staging
		WHERE exchange_id = ? AND seq <= ? AND entry <> '' ORDER BY entry, type, key`, xid, upTo); err != nil {
		return 0, 0, 0, fmt.Errorf("merge exchange entries: %w", err)
	}
	lap(2)
	rows, err = tx.Exec(ctx, `DELETE FROM exchange_staging WHERE exchange_id = ? AND seq <= ?`, xid, upTo)
	lap(3)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("empty staging: %w", err)
	}
	return rows, added, excluded, nil
}

// PrepareMerge implements sqlcore.Stager: the merge's sorter spills to a
// temporary file rather than to memory (the writer keeps temporary
// storage in memory for the statement journals of ordinary writes).
func (db *engine) PrepareMerge(ctx context.Context) (func(), error) {
	if _, err := db.w.ExecContext(ctx, `PRAGMA temp_store = FILE`); err != nil {
		return nil, err
	}
	return func() {
		if _, err := db.w.ExecContext(context.WithoutCancel(ctx), `PRAGMA temp_store = MEMORY`); err != nil {
			slog.Warn("sqlite: restore temp_store after merge", "err", err)
		}
	}, nil
}
