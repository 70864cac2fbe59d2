package sqlite

import (
	"context"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/history"
)

// Match history (history.Store).

// RecordHits implements history.Store.
func (db *DB) RecordHits(ctx context.Context, hits []history.Hit) error {
	if len(hits) == 0 {
		return nil
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO match_hits (at, submitter, content_id, bank, signal_id, type, value, distance)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, h := range hits {
		if _, err := stmt.ExecContext(ctx, h.At.UnixMicro(), h.Submitter, h.ContentID, h.Bank, h.SignalID, h.Type, h.Value, h.Distance); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ListHits implements history.Store.
func (db *DB) ListHits(ctx context.Context, q history.Query) ([]history.Hit, error) {
	var where []string
	var args []any
	if q.Before > 0 {
		where, args = append(where, `id < ?`), append(args, q.Before)
	}
	if q.ContentID != "" {
		where, args = append(where, `content_id = ?`), append(args, q.ContentID)
	}
	if q.Bank != "" {
		where, args = append(where, `bank = ?`), append(args, q.Bank)
	}
	query := `SELECT id, at, submitter, content_id, bank, signal_id, type, value, distance FROM match_hits`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, q.Limit)
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []history.Hit
	for rows.Next() {
		var h history.Hit
		var at int64
		if err := rows.Scan(&h.ID, &at, &h.Submitter, &h.ContentID, &h.Bank, &h.SignalID, &h.Type, &h.Value, &h.Distance); err != nil {
			return nil, err
		}
		h.At = fromMicros(at)
		out = append(out, h)
	}
	return out, rows.Err()
}

// PruneHits implements history.Store.
func (db *DB) PruneHits(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM match_hits WHERE at < ?`, before.UnixMicro())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
