package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/nigehban/nigehban/internal/audit"
)

// hashReader reads stored tree hashes through q (audit.HashStore).
type hashReader struct{ q querier }

func (h hashReader) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	pos := make(map[int64][]int, len(indexes))
	for i, x := range indexes {
		pos[x] = append(pos[x], i)
	}
	rows, err := h.q.Query(ctx, `SELECT idx, hash FROM audit_tree WHERE idx = ANY($1)`, indexes)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var x int64
		var b []byte
		if err := rows.Scan(&x, &b); err != nil {
			return nil, err
		}
		for _, i := range pos[x] {
			out[i] = tlog.Hash(b)
		}
		delete(pos, x)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for x := range pos {
		return nil, fmt.Errorf("stored tree hash %d is missing", x)
	}
	return out, nil
}

// appendTree writes the tree hashes of entry e inside tx, the transaction
// that inserts e (holding the audit_head lock): the one call by which the
// audit append keeps the log.
func appendTree(ctx context.Context, tx pgx.Tx, e audit.Entry) error {
	hashes, err := audit.LeafHashes(ctx, hashReader{tx}, e)
	if err != nil {
		return err
	}
	return insertHashes(ctx, tx, hashes)
}

func insertHashes(ctx context.Context, tx pgx.Tx, hashes []audit.StoredHash) error {
	idx := make([]int64, len(hashes))
	hs := make([][]byte, len(hashes))
	for i, h := range hashes {
		idx[i], hs[i] = h.Index, h.Hash[:]
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_tree (idx, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, idx, hs); err != nil {
		return fmt.Errorf("store tree hashes: %w", err)
	}
	return nil
}

// ReadHashes implements audit.HashStore.
func (db *DB) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	return hashReader{db.pool}.ReadHashes(ctx, indexes)
}

// TreeSize implements audit.LogStore: the size of the stored tree (its
// hash table only grows, by whole leaves).
func (db *DB) TreeSize(ctx context.Context) (int64, error) {
	var last int64
	if err := db.pool.QueryRow(ctx, `SELECT coalesce(max(idx), -1) FROM audit_tree`).Scan(&last); err != nil {
		return 0, err
	}
	return audit.TreeSizeForStoredCount(last + 1), nil
}

// SaveCheckpoint implements audit.LogStore.
func (db *DB) SaveCheckpoint(ctx context.Context, size int64, msg []byte) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO audit_checkpoints (size, note, at) VALUES ($1, $2, $3)
		ON CONFLICT (size) DO UPDATE SET note = excluded.note, at = excluded.at`, size, string(msg), now())
	return err
}

// LatestCheckpoint implements audit.LogStore.
func (db *DB) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	var s string
	err := db.pool.QueryRow(ctx, `SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1`).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return []byte(s), err
}

// backfillTree builds the tree of a log written before migration 0005,
// after checking its hash chain, under the audit_head lock (replicas that
// start together build it once).
func (db *DB) backfillTree(ctx context.Context) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var head int64
	if err := tx.QueryRow(ctx, `SELECT seq FROM audit_head FOR UPDATE`).Scan(&head); err != nil {
		return err
	}
	var leaves int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM audit_tree`).Scan(&leaves); err != nil {
		return err
	}
	if leaves > 0 || head == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT seq, at, actor, action, target, remote, detail, prev, hash FROM audit ORDER BY seq`)
	if err != nil {
		return err
	}
	var es []audit.Entry
	for rows.Next() {
		var e audit.Entry
		var detail string
		if err := rows.Scan(&e.Seq, &e.At, &e.Actor, &e.Action, &e.Target, &e.Remote, &detail, &e.Prev, &e.Hash); err != nil {
			rows.Close()
			return err
		}
		e.At, e.Detail = e.At.UTC(), []byte(detail)
		es = append(es, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	hashes, err := audit.Backfill(es)
	if err != nil {
		return err
	}
	if err := insertHashes(ctx, tx, hashes); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
