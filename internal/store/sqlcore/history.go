package sqlcore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/history"
)

// Match history (history.Store).

// RecordHits implements history.Store.
func (c *Core) RecordHits(ctx context.Context, hits []history.Hit) error {
	if len(hits) == 0 {
		return nil
	}
	return c.write(ctx, func(tx Tx) error {
		for _, h := range hits {
			if _, err := tx.Exec(ctx, `INSERT INTO match_hits (at, submitter, content_id, bank, signal_id, type, value, distance)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.f.Time(h.At), h.Submitter, h.ContentID, h.Bank, h.SignalID, h.Type, h.Value, h.Distance); err != nil {
				return fmt.Errorf("record match hit: %w", err)
			}
		}
		return nil
	})
}

func scanHit(row Row) (history.Hit, error) {
	var h history.Hit
	err := row.Scan(&h.ID, scanTime(&h.At), &h.Submitter, &h.ContentID, &h.Bank, &h.SignalID, &h.Type, &h.Value, &h.Distance)
	return h, err
}

// ListHits implements history.Store.
func (c *Core) ListHits(ctx context.Context, q history.Query) ([]history.Hit, error) {
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
	query += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, q.Limit) // a literal: see console.go
	return queryAll(ctx, c.eng.Reader(), scanHit, query, args...)
}

// PruneHits implements history.Store.
func (c *Core) PruneHits(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := c.write(ctx, func(tx Tx) error {
		var err error
		n, err = tx.Exec(ctx, `DELETE FROM match_hits WHERE at < ?`, c.f.Time(before))
		return err
	})
	return n, err
}

// HitsPerDay implements history.Store.
func (c *Core) HitsPerDay(ctx context.Context, since time.Time) ([]history.DayCount, error) {
	day := c.f.Day("at")
	return queryAll(ctx, c.eng.Reader(), func(row Row) (history.DayCount, error) {
		var d history.DayCount
		var n int64
		err := row.Scan(&n, &d.Bank, &d.Hits)
		d.Day = time.Unix(n*86400, 0).UTC()
		return d, err
	}, `SELECT `+day+`, bank, COUNT(*) FROM match_hits WHERE at >= ? GROUP BY 1, 2 ORDER BY 1, 2`, c.f.Time(since))
}
