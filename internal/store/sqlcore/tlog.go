package sqlcore

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/nigehban/nigehban/internal/audit"
)

// The audit log's Merkle tree (issue 12, migration 0005): audit_tree holds
// every stored hash of the tree at its tlog stored-hash index, written by
// AppendTx in the entry's transaction; audit_checkpoints holds the signed
// checkpoints the log published.

// hashReader reads stored tree hashes through q (audit.HashStore).
type hashReader struct {
	q Querier
	f Flavor
}

// ReadHashes implements audit.HashStore.
func (h hashReader) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	pos := make(map[int64][]int, len(indexes))
	for i, x := range indexes {
		pos[x] = append(pos[x], i)
	}
	for lo := 0; lo < len(indexes); lo += 500 {
		cond, args := h.f.In("idx", indexes[lo:min(lo+500, len(indexes))])
		rows, err := h.q.Query(ctx, `SELECT idx, hash FROM audit_tree WHERE `+cond, args...)
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
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	for x := range pos {
		return nil, fmt.Errorf("stored tree hash %d is missing", x)
	}
	return out, nil
}

// appendTree writes the tree hashes of entry e inside tx, the transaction
// that inserted it.
func (c *Core) appendTree(ctx context.Context, tx Querier, e audit.Entry) error {
	hashes, err := audit.LeafHashes(ctx, hashReader{tx, c.f}, e)
	if err != nil {
		return err
	}
	return insertHashes(ctx, tx, hashes)
}

func insertHashes(ctx context.Context, tx Querier, hashes []audit.StoredHash) error {
	for lo := 0; lo < len(hashes); lo += 500 {
		chunk := hashes[lo:min(lo+500, len(hashes))]
		args := make([]any, 0, 2*len(chunk))
		for _, h := range chunk {
			args = append(args, h.Index, h.Hash[:])
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_tree (idx, hash) VALUES `+strings.TrimSuffix(strings.Repeat("(?, ?), ", len(chunk)), ", "), args...); err != nil {
			return fmt.Errorf("store tree hashes: %w", err)
		}
	}
	return nil
}

// ReadHashes implements audit.HashStore.
func (c *Core) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	return hashReader{c.eng.Reader(), c.f}.ReadHashes(ctx, indexes)
}

// TreeSize implements audit.LogStore: the size of the stored tree (its
// hash table only grows, by whole leaves).
func (c *Core) TreeSize(ctx context.Context) (int64, error) {
	var last int64
	if err := c.eng.Reader().QueryRow(ctx, `SELECT COALESCE(MAX(idx), -1) FROM audit_tree`).Scan(&last); err != nil {
		return 0, err
	}
	return audit.TreeSizeForStoredCount(last + 1), nil
}

// SaveCheckpoint implements audit.LogStore.
func (c *Core) SaveCheckpoint(ctx context.Context, size int64, msg []byte) error {
	return c.write(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO audit_checkpoints (size, note, at) VALUES (?, ?, ?)
			ON CONFLICT (size) DO UPDATE SET note = excluded.note, at = excluded.at`, size, string(msg), c.f.Time(Now()))
		return err
	})
}

// LatestCheckpoint implements audit.LogStore.
func (c *Core) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	var s string
	err := c.eng.Reader().QueryRow(ctx, `SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1`).Scan(&s)
	if isNoRows(err) {
		return nil, nil
	}
	return []byte(s), err
}

// BackfillTree builds the tree of a log written before migration 0005, once,
// after checking its hash chain (the check the log had until then: a broken
// chain is not put under a tree). Engines call it when they open, after
// migrating; it holds the append lock (Flavor.AuditHead), so replicas that
// start together build it once.
func (c *Core) BackfillTree(ctx context.Context) error {
	return c.write(ctx, func(tx Tx) error {
		var head int64
		var headHash string
		if err := tx.QueryRow(ctx, c.f.AuditHead).Scan(&head, &headHash); err != nil {
			if isNoRows(err) {
				return nil
			}
			return err
		}
		var leaves int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM audit_tree`).Scan(&leaves); err != nil {
			return err
		}
		if leaves > 0 || head == 0 {
			return nil
		}
		es, err := queryAll(ctx, tx, scanEntry, `SELECT seq, at, actor, action, target, remote, detail, prev, hash FROM audit ORDER BY seq`)
		if err != nil {
			return err
		}
		hashes, err := audit.Backfill(es)
		if err != nil {
			return err
		}
		return insertHashes(ctx, tx, hashes)
	})
}
