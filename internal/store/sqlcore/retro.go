package sqlcore

import (
	"context"
	"fmt"
	"time"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/retro"
	"github.com/nigehban/nigehban/internal/signal"
)

// Retained uploads (retro.Store).

// RetainUploads implements retro.Store.
func (c *Core) RetainUploads(ctx context.Context, us []retro.Upload) ([]int64, error) {
	ids := make([]int64, 0, len(us))
	err := c.write(ctx, func(tx Tx) error {
		ids = ids[:0]
		for _, u := range us {
			key, _ := bank.EncodeValue(u.Type, u.Value)
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO retained_uploads (at, submitter, content_id, type, key) VALUES (?, ?, ?, ?, ?) RETURNING id`,
				c.f.Time(u.At), u.Submitter, u.ContentID, string(u.Type), key).Scan(&id); err != nil {
				return fmt.Errorf("retain upload: %w", err)
			}
			ids = append(ids, id)
		}
		return nil
	})
	return ids, err
}

func scanRetained(r Row, u *retro.Upload) error {
	var typ string
	var key []byte
	if err := r.Scan(&u.ID, scanTime(&u.At), &u.Submitter, &u.ContentID, &typ, &key); err != nil {
		return err
	}
	u.Type = signal.Type(typ)
	u.Value = bank.DecodeValue(u.Type, key, "")
	return nil
}

// ScanRetained implements retro.Store.
func (c *Core) ScanRetained(ctx context.Context, since time.Time, fn func(*retro.Upload) error) error {
	rows, err := c.eng.Reader().Query(ctx, `SELECT id, at, submitter, content_id, type, key FROM retained_uploads
		WHERE at >= ? ORDER BY id`, c.f.Time(since))
	if err != nil {
		return err
	}
	defer rows.Close()
	var u retro.Upload
	for rows.Next() {
		if err := scanRetained(rows, &u); err != nil {
			return err
		}
		if err := fn(&u); err != nil {
			return err
		}
	}
	return rows.Err()
}

// GetRetained implements retro.Store.
func (c *Core) GetRetained(ctx context.Context, ids []int64) ([]retro.Upload, error) {
	var out []retro.Upload
	for len(ids) > 0 {
		n := min(len(ids), 500)
		cond, args := c.f.In("id", ids[:n])
		ids = ids[n:]
		us, err := queryAll(ctx, c.eng.Reader(), func(r Row) (retro.Upload, error) {
			var u retro.Upload
			return u, scanRetained(r, &u)
		}, `SELECT id, at, submitter, content_id, type, key FROM retained_uploads WHERE `+cond, args...)
		if err != nil {
			return nil, err
		}
		out = append(out, us...)
	}
	return out, nil
}

// PruneRetained implements retro.Store.
func (c *Core) PruneRetained(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := c.write(ctx, func(tx Tx) error {
		var err error
		n, err = tx.Exec(ctx, `DELETE FROM retained_uploads WHERE at < ?`, c.f.Time(before))
		return err
	})
	return n, err
}
