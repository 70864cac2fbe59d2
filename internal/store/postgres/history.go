package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nigehban/nigehban/internal/history"
)

// Match history (history.Store).

// RecordHits implements history.Store.
func (db *DB) RecordHits(ctx context.Context, hits []history.Hit) error {
	if len(hits) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, h := range hits {
		b.Queue(`INSERT INTO match_hits (at, submitter, content_id, bank, signal_id, type, value, distance)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, h.At, h.Submitter, h.ContentID, h.Bank, h.SignalID, h.Type, h.Value, h.Distance)
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// ListHits implements history.Store.
func (db *DB) ListHits(ctx context.Context, q history.Query) ([]history.Hit, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if q.Before > 0 {
		add(`id < $%d`, q.Before)
	}
	if q.ContentID != "" {
		add(`content_id = $%d`, q.ContentID)
	}
	if q.Bank != "" {
		add(`bank = $%d`, q.Bank)
	}
	query := `SELECT id, at, submitter, content_id, bank, signal_id, type, value, distance FROM match_hits`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, q.Limit) // a literal: plans walk the index and stop
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []history.Hit
	for rows.Next() {
		var h history.Hit
		if err := rows.Scan(&h.ID, &h.At, &h.Submitter, &h.ContentID, &h.Bank, &h.SignalID, &h.Type, &h.Value, &h.Distance); err != nil {
			return nil, err
		}
		h.At = h.At.UTC()
		out = append(out, h)
	}
	return out, rows.Err()
}

// PruneHits implements history.Store.
func (db *DB) PruneHits(ctx context.Context, before time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM match_hits WHERE at < $1`, before)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
