package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/nigehban/nigehban/internal/audit"
)

// queryer is what reading stored hashes needs: a transaction or a pool.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// hashReader reads stored tree hashes through q (audit.HashStore).
type hashReader struct{ q queryer }

func (h hashReader) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	pos := make(map[int64][]int, len(indexes))
	for i, x := range indexes {
		pos[x] = append(pos[x], i)
	}
	for lo := 0; lo < len(indexes); lo += 500 {
		chunk := indexes[lo:min(lo+500, len(indexes))]
		args := make([]any, len(chunk))
		for i, x := range chunk {
			args[i] = x
		}
		rows, err := h.q.QueryContext(ctx, `SELECT idx, hash FROM audit_tree WHERE idx IN (?`+strings.Repeat(",?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var x int64
			var b []byte
			if err := rows.Scan(&x, &b); err != nil {
				rows.Close()
				return nil, err
			}
			for _, i := range pos[x] {
				out[i] = tlog.Hash(b)
			}
			delete(pos, x)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	if len(pos) > 0 {
		for x := range pos {
			return nil, fmt.Errorf("stored tree hash %d is missing", x)
		}
	}
	return out, nil
}

// appendTree writes the tree hashes of entry e inside tx, the transaction
// that inserts e: the one call by which the audit append keeps the log.
func appendTree(ctx context.Context, tx *sql.Tx, e audit.Entry) error {
	hashes, err := audit.LeafHashes(ctx, hashReader{tx}, e)
	if err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_tree (idx, hash) VALUES (?, ?)`, h.Index, h.Hash[:]); err != nil {
			return fmt.Errorf("store tree hash: %w", err)
		}
	}
	return nil
}

// ReadHashes implements audit.HashStore.
func (db *DB) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	return hashReader{db.r}.ReadHashes(ctx, indexes)
}

// TreeSize implements audit.LogStore: the size of the stored tree (its
// hash table only grows, by whole leaves).
func (db *DB) TreeSize(ctx context.Context) (int64, error) {
	var last int64
	if err := db.r.QueryRowContext(ctx, `SELECT coalesce(max(idx), -1) FROM audit_tree`).Scan(&last); err != nil {
		return 0, err
	}
	return audit.TreeSizeForStoredCount(last + 1), nil
}

// SaveCheckpoint implements audit.LogStore.
func (db *DB) SaveCheckpoint(ctx context.Context, size int64, msg []byte) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO audit_checkpoints (size, note, at) VALUES (?, ?, ?)
		ON CONFLICT (size) DO UPDATE SET note = excluded.note, at = excluded.at`, size, string(msg), now().UnixMicro())
	return err
}

// LatestCheckpoint implements audit.LogStore.
func (db *DB) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	var s string
	err := db.r.QueryRowContext(ctx, `SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1`).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return []byte(s), err
}

// backfillTree builds the tree of a log written before migration 0005,
// after checking its hash chain (the check the log had until then): a
// broken chain is not put under a tree.
func (db *DB) backfillTree(ctx context.Context) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var leaves, entries int64
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM audit_tree), (SELECT count(*) FROM audit)`).Scan(&leaves, &entries); err != nil {
		return err
	}
	if leaves > 0 || entries == 0 {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, at, actor, action, target, remote, detail, prev, hash FROM audit ORDER BY seq`)
	if err != nil {
		return err
	}
	var es []audit.Entry
	for rows.Next() {
		var e audit.Entry
		var at int64
		var detail string
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Target, &e.Remote, &detail, &e.Prev, &e.Hash); err != nil {
			rows.Close()
			return err
		}
		e.At, e.Detail = fromMicros(at), []byte(detail)
		es = append(es, e)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	mem, err := audit.Backfill(es)
	if err != nil {
		return err
	}
	for _, h := range mem {
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_tree (idx, hash) VALUES (?, ?)`, h.Index, h.Hash[:]); err != nil {
			return err
		}
	}
	return tx.Commit()
}
