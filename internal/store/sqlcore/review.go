package sqlcore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/review"
)

// The review queue (review.Store).

const reviewCols = `id, ref, created_at, bank, signal_id, type, value, distance, category, reason, content_id,
	submitter, signals, uploader, uploader_blind, state, lease_owner, lease_until, decided_by, decided_at, comment`

func scanReview(row Row) (review.Item, error) {
	var it review.Item
	var reason, state, hashes string
	var uploader *string
	err := row.Scan(&it.ID, &it.Ref, scanTime(&it.CreatedAt), &it.Bank, &it.SignalID, &it.Type, &it.Value, &it.Distance,
		&it.Category, &reason, &it.ContentID, &it.Submitter, &hashes, &uploader, &it.UploaderBlind, &state,
		&it.LeaseOwner, scanNullTime(&it.LeaseUntil), &it.DecidedBy, scanNullTime(&it.DecidedAt), &it.Comment)
	if err != nil {
		return it, err
	}
	it.Reason, it.State = review.Reason(reason), review.State(state)
	if uploader != nil {
		it.SealedUploader, it.HasUploader = *uploader, true
	}
	if err := json.Unmarshal([]byte(hashes), &it.Hashes); err != nil {
		return it, fmt.Errorf("review item %d: hashes: %w", it.ID, err)
	}
	return it, nil
}

// EnqueueReviews implements review.Store.
func (c *Core) EnqueueReviews(ctx context.Context, items []review.Item) ([]review.Item, error) {
	out := make([]review.Item, 0, len(items))
	err := c.write(ctx, func(tx Tx) error {
		out = out[:0]
		for _, it := range items {
			hashes, _ := json.Marshal(it.Hashes)
			if it.Hashes == nil {
				hashes = []byte("[]")
			}
			var blind any
			if len(it.UploaderBlind) > 0 {
				blind = it.UploaderBlind
			}
			it.State = review.Open
			if err := tx.QueryRow(ctx, `INSERT INTO review_items (ref, created_at, bank, signal_id, type, value, distance,
				category, reason, content_id, submitter, signals, uploader, uploader_blind)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
				it.Ref, c.f.Time(it.CreatedAt), it.Bank, it.SignalID, it.Type, it.Value, it.Distance, it.Category,
				string(it.Reason), it.ContentID, it.Submitter, string(hashes), nullString(it.SealedUploader), blind).Scan(&it.ID); err != nil {
				return fmt.Errorf("queue review item: %w", err)
			}
			out = append(out, it)
		}
		return nil
	})
	return out, err
}

// ClaimReview implements review.Store. The candidate is selected and
// leased in one statement; in PostgreSQL the subquery's FOR UPDATE SKIP
// LOCKED makes concurrent claims pass over each other's rows, and the
// outer condition re-checks the lease so a row leased meanwhile is not
// taken twice. SQLite's single writer serialises claims.
func (c *Core) ClaimReview(ctx context.Context, cl review.Claim) (review.Item, error) {
	now, until := c.f.Time(cl.Now), c.f.Time(cl.Now.Add(cl.Lease))
	// One state at a time, so each query walks the queue index in id
	// order and stops at the first free item.
	states := []review.State{review.Open}
	if cl.Escalated {
		states = []review.State{review.Escalated, review.Open}
	}
	var it review.Item
	err := c.write(ctx, func(tx Tx) error {
		// The item the reviewer holds already, if any: claiming again (a
		// reload) does not hoard items.
		var err error
		it, err = scanReview(tx.QueryRow(ctx, `UPDATE review_items SET lease_until = ? WHERE id = (
			SELECT id FROM review_items WHERE lease_owner <> '' AND lease_owner = ? AND lease_until > ?
			AND state IN ('open', 'escalated') ORDER BY id LIMIT 1) RETURNING `+reviewCols, until, cl.Reviewer, now))
		if err == nil || !isNoRows(err) {
			return err
		}
		const free = `(lease_until IS NULL OR lease_until <= ?)`
		for _, st := range states {
			// The state is a literal (one of two constants), not a
			// parameter: a cached generic plan must see that the partial
			// index of that state applies. Likewise lease_owner <> ''
			// above.
			it, err = scanReview(tx.QueryRow(ctx, `UPDATE review_items SET lease_owner = ?, lease_until = ? WHERE id = (
				SELECT id FROM review_items r WHERE state = '`+string(st)+`' AND `+free+`
				AND NOT EXISTS (SELECT 1 FROM review_skips s WHERE s.item_id = r.id AND s.reviewer = ?)
				ORDER BY id LIMIT 1`+c.f.SkipLocked+`) AND `+free+`
				RETURNING `+reviewCols, cl.Reviewer, until, now, cl.Reviewer, now))
			if err == nil || !isNoRows(err) {
				return err
			}
		}
		return review.ErrEmpty
	})
	return it, err
}

// GetReview implements review.Store.
func (c *Core) GetReview(ctx context.Context, id int64) (review.Item, error) {
	it, err := scanReview(c.eng.Reader().QueryRow(ctx, `SELECT `+reviewCols+` FROM review_items WHERE id = ?`, id))
	if isNoRows(err) {
		return it, fmt.Errorf("review %d: %w", id, review.ErrNotFound)
	}
	return it, err
}

// DecideReview implements review.Store.
func (c *Core) DecideReview(ctx context.Context, v review.Verdict, by audit.Actor) (review.Item, error) {
	var it review.Item
	err := c.write(ctx, func(tx Tx) error {
		cur, err := scanReview(tx.QueryRow(ctx, `SELECT `+reviewCols+` FROM review_items WHERE id = ?`+c.f.ForUpdate, v.ItemID))
		if isNoRows(err) {
			return fmt.Errorf("review %d: %w", v.ItemID, review.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if !cur.Leased(v.Reviewer, v.Now) {
			return fmt.Errorf("review %d: %w", v.ItemID, review.ErrNotHeld)
		}
		next := cur.State
		switch v.Decision {
		case review.Confirm:
			next = review.Confirmed
		case review.Reject:
			next = review.Rejected
		case review.Escalate:
			next = review.Escalated
		case review.Skip:
			if _, err := tx.Exec(ctx, `INSERT INTO review_skips (item_id, reviewer) VALUES (?, ?) ON CONFLICT DO NOTHING`,
				cur.ID, v.Reviewer); err != nil {
				return err
			}
		}
		final := next == review.Confirmed || next == review.Rejected
		var decidedBy string
		var decidedAt any
		if final {
			decidedBy, decidedAt = v.Reviewer, c.f.Time(v.Now)
		}
		it, err = scanReview(tx.QueryRow(ctx, `UPDATE review_items SET state = ?, lease_owner = '', lease_until = NULL,
			decided_by = ?, decided_at = ?, comment = CASE WHEN ? = '' THEN comment ELSE ? END WHERE id = ? RETURNING `+reviewCols,
			string(next), decidedBy, decidedAt, v.Comment, v.Comment, cur.ID))
		if err != nil {
			return err
		}
		detail := map[string]any{"decision": v.Decision, "comment": v.Comment, "state": next, "bank": cur.Bank,
			"signal_id": cur.SignalID, "content_id": cur.ContentID, "reason": cur.Reason}
		for k, x := range v.Detail {
			detail[k] = x
		}
		if _, err := c.AppendTx(ctx, tx, by.Entry(review.ActDecide, "review:"+strconv.FormatInt(cur.ID, 10), detail)); err != nil {
			return err
		}
		for _, ev := range v.Events {
			if _, err := tx.Exec(ctx, `INSERT INTO outbox (bank, url, secret, payload, next_at, state, created_at)
				VALUES (?, ?, ?, ?, ?, 'pending', ?)`, ev.Bank, ev.URL, ev.Secret, string(ev.Payload), c.f.Time(v.Now), c.f.Time(v.Now)); err != nil {
				return fmt.Errorf("queue webhook: %w", err)
			}
		}
		return nil
	})
	return it, err
}

// ListReviews implements review.Store.
func (c *Core) ListReviews(ctx context.Context, q review.Query) ([]review.Item, error) {
	var where []string
	var args []any
	if q.Before > 0 {
		where, args = append(where, `id < ?`), append(args, q.Before)
	}
	if len(q.States) > 0 {
		ss := make([]string, len(q.States))
		for i, s := range q.States {
			ss[i] = string(s)
		}
		cond, a := c.f.In("state", ss)
		where, args = append(where, cond), append(args, a...)
	}
	if q.Bank != "" {
		where, args = append(where, `bank = ?`), append(args, q.Bank)
	}
	if q.ContentID != "" {
		where, args = append(where, `content_id = ?`), append(args, q.ContentID)
	}
	query := `SELECT ` + reviewCols + ` FROM review_items`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, max(1, min(q.Limit, 1000)))
	return queryAll(ctx, c.eng.Reader(), scanReview, query, args...)
}

// ReviewsByUploader implements review.Store.
func (c *Core) ReviewsByUploader(ctx context.Context, blind []byte, except int64, limit int) ([]review.Item, error) {
	return queryAll(ctx, c.eng.Reader(), scanReview, fmt.Sprintf(`SELECT `+reviewCols+` FROM review_items
		WHERE uploader_blind = ? AND id <> ? ORDER BY id DESC LIMIT %d`, max(1, min(limit, 1000))), blind, except)
}

// ReviewStats implements review.Store.
func (c *Core) ReviewStats(ctx context.Context) (review.Stats, error) {
	var st review.Stats
	rows, err := c.eng.Reader().Query(ctx, `SELECT state, COUNT(*), MIN(id) FROM review_items
		WHERE state IN ('open', 'escalated') GROUP BY state`)
	if err != nil {
		return st, err
	}
	defer rows.Close()
	oldest := int64(0)
	for rows.Next() {
		var s string
		var n, first int64
		if err := rows.Scan(&s, &n, &first); err != nil {
			return st, err
		}
		if s == string(review.Escalated) {
			st.Escalated = n
		} else {
			st.Open = n
		}
		if oldest == 0 || first < oldest {
			oldest = first
		}
	}
	if err := rows.Err(); err != nil {
		return st, err
	}
	rows.Close()
	if oldest > 0 {
		var t time.Time
		if err := c.eng.Reader().QueryRow(ctx, `SELECT created_at FROM review_items WHERE id = ?`, oldest).Scan(scanTime(&t)); err != nil {
			return st, err
		}
		st.Oldest = &t
	}
	return st, nil
}

// SignalHitCounts implements review.Store.
func (c *Core) SignalHitCounts(ctx context.Context, signalID int64, baselineFrom, recentFrom time.Time) (int64, int64, error) {
	var recent, base int64
	err := c.eng.Reader().QueryRow(ctx, `SELECT
		COALESCE(SUM(CASE WHEN at >= ? THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN at < ? THEN 1 ELSE 0 END), 0)
		FROM match_hits WHERE signal_id = ? AND at >= ?`,
		c.f.Time(recentFrom), c.f.Time(recentFrom), signalID, c.f.Time(baselineFrom)).Scan(&recent, &base)
	return recent, base, err
}

// QuarantineSignal implements review.Store.
func (c *Core) QuarantineSignal(ctx context.Context, q review.Quarantine, by audit.Actor) (bool, error) {
	paused := false
	err := c.write(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `INSERT INTO signal_quarantine (signal_id, bank, since, recent, baseline) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (signal_id) DO UPDATE SET bank = excluded.bank, since = excluded.since, recent = excluded.recent,
			baseline = excluded.baseline, lifted_at = NULL, lifted_by = ''
			WHERE signal_quarantine.lifted_at IS NOT NULL AND signal_quarantine.lifted_at < ?`,
			q.SignalID, q.Bank, c.f.Time(q.Since), q.Recent, q.Baseline, c.f.Time(q.RenewBefore))
		if err != nil || n == 0 {
			return err
		}
		paused = true
		_, err = c.AppendTx(ctx, tx, by.Entry(review.ActQuarantine, "signal:"+strconv.FormatInt(q.SignalID, 10), q))
		return err
	})
	return paused, err
}

// QuarantinedSignals implements review.Store.
func (c *Core) QuarantinedSignals(ctx context.Context, ids []int64) (map[int64]bool, error) {
	m := map[int64]bool{}
	if len(ids) == 0 {
		return m, nil
	}
	cond, args := c.f.In("signal_id", ids)
	rows, err := c.eng.Reader().Query(ctx, `SELECT signal_id FROM signal_quarantine WHERE lifted_at IS NULL AND `+cond, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		m[id] = true
	}
	return m, rows.Err()
}

func scanQuarantine(row Row) (review.Quarantine, error) {
	var q review.Quarantine
	err := row.Scan(&q.SignalID, &q.Bank, scanTime(&q.Since), &q.Recent, &q.Baseline, scanNullTime(&q.LiftedAt), &q.LiftedBy)
	return q, err
}

// ListQuarantine implements review.Store.
func (c *Core) ListQuarantine(ctx context.Context, all bool) ([]review.Quarantine, error) {
	q := `SELECT signal_id, bank, since, recent, baseline, lifted_at, lifted_by FROM signal_quarantine`
	if !all {
		q += ` WHERE lifted_at IS NULL`
	}
	return queryAll(ctx, c.eng.Reader(), scanQuarantine, q+` ORDER BY since DESC, signal_id LIMIT 1000`)
}

// LiftQuarantine implements review.Store.
func (c *Core) LiftQuarantine(ctx context.Context, signalID int64, at time.Time, by audit.Actor) error {
	return c.write(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE signal_quarantine SET lifted_at = ?, lifted_by = ? WHERE signal_id = ? AND lifted_at IS NULL`,
			c.f.Time(at), by.Name, signalID)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("signal %d is not in flood quarantine: %w", signalID, review.ErrNotFound)
		}
		_, err = c.AppendTx(ctx, tx, by.Entry(review.ActLift, "signal:"+strconv.FormatInt(signalID, 10), nil))
		return err
	})
}

// PreviewPref implements review.Store.
func (c *Core) PreviewPref(ctx context.Context, userID int64) (string, error) {
	var p string
	err := c.eng.Reader().QueryRow(ctx, `SELECT preview FROM user_prefs WHERE user_id = ?`, userID).Scan(&p)
	if isNoRows(err) {
		return "", nil
	}
	return p, err
}

// SetPreviewPref implements review.Store.
func (c *Core) SetPreviewPref(ctx context.Context, userID int64, pref string) error {
	return c.write(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO user_prefs (user_id, preview) VALUES (?, ?)
			ON CONFLICT (user_id) DO UPDATE SET preview = excluded.preview`, userID, pref)
		return err
	})
}
