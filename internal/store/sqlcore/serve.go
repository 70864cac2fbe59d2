package sqlcore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
)

// CreateAPIKey implements apikey.Store.
func (c *Core) CreateAPIKey(ctx context.Context, k apikey.Key, by audit.Actor) (apikey.Key, error) {
	err := c.write(ctx, func(tx Tx) error {
		k.CreatedAt = Now()
		if err := tx.QueryRow(ctx, `INSERT INTO api_keys (name, role, hash, created_at, created_by)
			VALUES (?, ?, ?, ?, ?) RETURNING id`, k.Name, string(k.Role), k.Hash, c.f.Time(k.CreatedAt), k.CreatedBy).Scan(&k.ID); err != nil {
			return err
		}
		_, err := c.AppendTx(ctx, tx, by.Entry(audit.ActAPIKeyCreate, strconv.FormatInt(k.ID, 10),
			map[string]any{"name": k.Name, "role": k.Role}))
		return err
	})
	return k, err
}

const keyCols = `id, name, role, hash, created_at, created_by, revoked_at`

func scanKey(row Row) (apikey.Key, error) {
	var k apikey.Key
	var role string
	err := row.Scan(&k.ID, &k.Name, &role, &k.Hash, scanTime(&k.CreatedAt), &k.CreatedBy, scanNullTime(&k.RevokedAt))
	k.Role = apikey.Role(role)
	return k, err
}

// APIKeyByHash implements apikey.Store.
func (c *Core) APIKeyByHash(ctx context.Context, hash []byte) (apikey.Key, error) {
	k, err := scanKey(c.eng.Reader().QueryRow(ctx, `SELECT `+keyCols+` FROM api_keys WHERE hash = ?`, hash))
	if isNoRows(err) {
		return k, apikey.ErrNotFound
	}
	return k, err
}

// ListAPIKeys implements apikey.Store.
func (c *Core) ListAPIKeys(ctx context.Context) ([]apikey.Key, error) {
	return queryAll(ctx, c.eng.Reader(), scanKey, `SELECT `+keyCols+` FROM api_keys ORDER BY id`)
}

// RevokeAPIKey implements apikey.Store.
func (c *Core) RevokeAPIKey(ctx context.Context, id int64, by audit.Actor) error {
	return c.write(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, c.f.Time(Now()), id)
		if err != nil {
			return err
		}
		if n == 0 {
			// Revoked already (a no-op, audited once, when it happened), or
			// no such key.
			var one int
			if err := tx.QueryRow(ctx, `SELECT 1 FROM api_keys WHERE id = ?`, id).Scan(&one); err != nil {
				if isNoRows(err) {
					return apikey.ErrNotFound
				}
				return err
			}
			return nil
		}
		_, err = c.AppendTx(ctx, tx, by.Entry(audit.ActAPIKeyRevoke, strconv.FormatInt(id, 10), nil))
		return err
	})
}

// RecordMatch appends an audit entry and queues webhook events in one
// transaction: an acknowledged match's events are never lost.
func (c *Core) RecordMatch(ctx context.Context, e audit.Entry, events []action.Event) (audit.Entry, error) {
	err := c.write(ctx, func(tx Tx) error {
		var err error
		if e, err = c.AppendTx(ctx, tx, e); err != nil {
			return err
		}
		for _, ev := range events {
			if _, err := tx.Exec(ctx, `INSERT INTO outbox (bank, url, secret, payload, next_at, state, created_at)
				VALUES (?, ?, ?, ?, ?, 'pending', ?)`, ev.Bank, ev.URL, ev.Secret, string(ev.Payload), c.f.Time(e.At), c.f.Time(e.At)); err != nil {
				return fmt.Errorf("queue webhook: %w", err)
			}
		}
		return nil
	})
	return e, err
}

// SetWebhook implements action.Store.
func (c *Core) SetWebhook(ctx context.Context, w action.Webhook, by audit.Actor) error {
	return c.write(ctx, func(tx Tx) error {
		var err error
		if w.URL == "" {
			_, err = tx.Exec(ctx, `DELETE FROM webhooks WHERE bank = ?`, w.Bank)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO webhooks (bank, url, secret, categories, types) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (bank) DO UPDATE SET url = excluded.url, secret = excluded.secret,
				categories = excluded.categories, types = excluded.types`, w.Bank, w.URL, w.Secret, jsonList(w.Categories), jsonList(w.Types))
		}
		if err != nil {
			return err
		}
		_, err = c.AppendTx(ctx, tx, by.Entry(audit.ActBankWebhook, w.Bank, w)) // the secret is not serialised
		return err
	})
}

// Webhooks implements action.Store.
func (c *Core) Webhooks(ctx context.Context) ([]action.Webhook, error) {
	return queryAll(ctx, c.eng.Reader(), scanWebhook, `SELECT bank, url, secret, categories, types FROM webhooks ORDER BY bank`)
}

func scanWebhook(row Row) (action.Webhook, error) {
	var w action.Webhook
	var cats, types string
	if err := row.Scan(&w.Bank, &w.URL, &w.Secret, &cats, &types); err != nil {
		return w, err
	}
	if err := json.Unmarshal([]byte(cats), &w.Categories); err != nil {
		return w, fmt.Errorf("webhook of bank %q: categories: %w", w.Bank, err)
	}
	if err := json.Unmarshal([]byte(types), &w.Types); err != nil {
		return w, fmt.Errorf("webhook of bank %q: types: %w", w.Bank, err)
	}
	if len(w.Categories) == 0 {
		w.Categories = nil
	}
	if len(w.Types) == 0 {
		w.Types = nil
	}
	return w, nil
}

// ClaimEvents implements action.Store. In PostgreSQL, SKIP LOCKED lets
// replicas claim disjoint events concurrently.
func (c *Core) ClaimEvents(ctx context.Context, at time.Time, lease time.Duration, limit int) ([]action.Event, error) {
	var out []action.Event
	err := c.write(ctx, func(tx Tx) error {
		rows, err := tx.Query(ctx, `UPDATE outbox SET next_at = ? WHERE id IN (
			SELECT id FROM outbox WHERE state = 'pending' AND next_at <= ? ORDER BY next_at LIMIT ?`+c.f.SkipLocked+`)
			RETURNING `+eventCols,
			c.f.Time(at.Add(lease)), c.f.Time(at), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FinishEvent records one delivery attempt's outcome; see FinishEvents.
func (c *Core) FinishEvent(ctx context.Context, e action.Event) error {
	return c.FinishEvents(ctx, []action.Event{e})
}

// FinishEvents implements action.Store.
func (c *Core) FinishEvents(ctx context.Context, events []action.Event) error {
	if len(events) == 0 {
		return nil
	}
	// Deliveries, most of a batch, are recorded with one statement per
	// attempt count and second of delivery (NextAt, kept for pruning: the
	// group's latest); the others row by row.
	type key struct {
		attempts int
		second   int64
	}
	type group struct {
		ids []int64
		at  time.Time
	}
	delivered := map[key]*group{}
	var others []action.Event
	for _, e := range events {
		if e.State != action.Delivered {
			others = append(others, e)
			continue
		}
		k := key{e.Attempts, e.NextAt.Unix()}
		g := delivered[k]
		if g == nil {
			g = &group{}
			delivered[k] = g
		}
		g.ids = append(g.ids, e.ID)
		if e.NextAt.After(g.at) {
			g.at = e.NextAt
		}
	}
	return c.write(ctx, func(tx Tx) error {
		for k, g := range delivered {
			cond, args := c.f.In("id", g.ids)
			if _, err := tx.Exec(ctx, `UPDATE outbox SET state = 'delivered', attempts = ?, next_at = ?, last_error = '' WHERE `+cond,
				append([]any{k.attempts, c.f.Time(g.at)}, args...)...); err != nil {
				return fmt.Errorf("finish %d delivered events: %w", len(g.ids), err)
			}
		}
		for _, e := range others {
			if _, err := tx.Exec(ctx, `UPDATE outbox SET state = ?, attempts = ?, next_at = ?, last_error = ? WHERE id = ?`,
				e.State, e.Attempts, c.f.Time(e.NextAt), e.LastError, e.ID); err != nil {
				return fmt.Errorf("finish event %d: %w", e.ID, err)
			}
		}
		return nil
	})
}

// PruneDelivered implements action.Store.
func (c *Core) PruneDelivered(ctx context.Context, before time.Time, limit int) (int64, error) {
	var n int64
	err := c.write(ctx, func(tx Tx) error {
		var err error
		n, err = tx.Exec(ctx, `DELETE FROM outbox WHERE id IN (
			SELECT id FROM outbox WHERE state = 'delivered' AND next_at < ? ORDER BY next_at LIMIT ?)`, c.f.Time(before), limit)
		return err
	})
	return n, err
}

const eventCols = `id, bank, url, secret, payload, attempts, next_at, state, last_error`

func scanEvent(row Row) (action.Event, error) {
	var e action.Event
	var payload string
	err := row.Scan(&e.ID, &e.Bank, &e.URL, &e.Secret, &payload, &e.Attempts, scanTime(&e.NextAt), &e.State, &e.LastError)
	e.Payload = []byte(payload)
	return e, err
}

// DeadEvents implements action.Store.
func (c *Core) DeadEvents(ctx context.Context, after int64, limit int) ([]action.Event, error) {
	return queryAll(ctx, c.eng.Reader(), scanEvent,
		`SELECT `+eventCols+` FROM outbox WHERE state = 'dead' AND id > ? ORDER BY id LIMIT ?`, after, limit)
}

// RetryDead implements action.Store.
func (c *Core) RetryDead(ctx context.Context, ids []int64, by audit.Actor) ([]int64, error) {
	retried := []int64{}
	err := c.write(ctx, func(tx Tx) error {
		q := `UPDATE outbox SET state = 'pending', attempts = 0, next_at = ? WHERE state = 'dead'`
		args := []any{c.f.Time(Now())}
		if ids != nil {
			if len(ids) == 0 {
				return nil
			}
			cond, a := c.f.In("id", ids)
			q += ` AND ` + cond
			args = append(args, a...)
		}
		rows, err := tx.Query(ctx, q+` RETURNING id`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			retried = append(retried, id)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		slices.Sort(retried)
		detail := map[string]any{"retried": retried}
		if ids == nil {
			detail["all"] = true
		} else {
			detail["requested"] = ids
		}
		_, err = c.AppendTx(ctx, tx, by.Entry(audit.ActWebhookRetry, "outbox", detail))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("retry dead events: %w", err)
	}
	return retried, nil
}

// OutboxDepth implements action.Store.
func (c *Core) OutboxDepth(ctx context.Context) (int64, error) {
	return c.outboxCount(ctx, action.Pending)
}

// DeadEventCount implements action.Store.
func (c *Core) DeadEventCount(ctx context.Context) (int64, error) {
	return c.outboxCount(ctx, action.Dead)
}

func (c *Core) outboxCount(ctx context.Context, state string) (int64, error) {
	var n int64
	err := c.eng.Reader().QueryRow(ctx, `SELECT count(*) FROM outbox WHERE state = ?`, state).Scan(&n)
	return n, err
}

// jsonList encodes a webhook filter list ('[]' for none).
func jsonList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l)
	return string(b)
}

// SignalCategories calls fn with the id and category of every active
// non-vPDQ signal that has a category, by increasing id: what `serve` keeps
// in memory so a match is answered without reading the store.
func (c *Core) SignalCategories(ctx context.Context, fn func(id int64, category string) error) error {
	rows, err := c.eng.Reader().Query(ctx, `SELECT id, category FROM signals
		WHERE removed_at IS NULL AND category <> '' AND type <> 'vpdq' ORDER BY id`)
	if err != nil {
		return fmt.Errorf("scan signal categories: %w", err)
	}
	defer rows.Close()
	var id int64
	var cat string
	for rows.Next() {
		if err := rows.Scan(&id, &cat); err != nil {
			return fmt.Errorf("scan signal categories: %w", err)
		}
		if err := fn(id, cat); err != nil {
			return err
		}
	}
	return rows.Err()
}
