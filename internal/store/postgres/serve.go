package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
)

// CreateAPIKey implements apikey.Store.
func (db *DB) CreateAPIKey(ctx context.Context, k apikey.Key) (apikey.Key, error) {
	k.CreatedAt = now()
	err := db.pool.QueryRow(ctx, `INSERT INTO api_keys (name, role, hash, created_at, created_by)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, k.Name, string(k.Role), k.Hash, k.CreatedAt, k.CreatedBy).Scan(&k.ID)
	return k, err
}

const keyCols = `id, name, role, hash, created_at, created_by, revoked_at`

func scanKey(row pgx.Row) (apikey.Key, error) {
	var k apikey.Key
	var role string
	err := row.Scan(&k.ID, &k.Name, &role, &k.Hash, &k.CreatedAt, &k.CreatedBy, &k.RevokedAt)
	k.Role, k.CreatedAt = apikey.Role(role), k.CreatedAt.UTC()
	return k, err
}

// APIKeyByHash implements apikey.Store.
func (db *DB) APIKeyByHash(ctx context.Context, hash []byte) (apikey.Key, error) {
	k, err := scanKey(db.pool.QueryRow(ctx, `SELECT `+keyCols+` FROM api_keys WHERE hash = $1`, hash))
	if isNoRows(err) {
		return k, apikey.ErrNotFound
	}
	return k, err
}

// ListAPIKeys implements apikey.Store.
func (db *DB) ListAPIKeys(ctx context.Context) ([]apikey.Key, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+keyCols+` FROM api_keys ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []apikey.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// RevokeAPIKey implements apikey.Store.
func (db *DB) RevokeAPIKey(ctx context.Context, id int64) error {
	tag, err := db.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2`, now(), id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return apikey.ErrNotFound
	}
	return nil
}

// AppendAudit implements audit.Store.
func (db *DB) AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error) {
	return db.RecordMatch(ctx, e, nil)
}

// RecordMatch appends an audit entry and queues webhook events in one
// transaction. The audit_head row lock orders the chain across replicas.
func (db *DB) RecordMatch(ctx context.Context, e audit.Entry, events []action.Event) (audit.Entry, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return e, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var prevSeq int64
	var prev string
	if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head FOR UPDATE`).Scan(&prevSeq, &prev); err != nil {
		return e, fmt.Errorf("append audit: %w", err)
	}
	e.Seq, e.At = prevSeq+1, now()
	if len(e.Detail) == 0 {
		e.Detail = []byte("{}")
	}
	audit.Seal(&e, prev)
	if _, err := tx.Exec(ctx, `INSERT INTO audit (seq, at, actor, action, target, remote, detail, prev, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, e.Seq, e.At, e.Actor, e.Action, e.Target, e.Remote, string(e.Detail), e.Prev, e.Hash); err != nil {
		return e, fmt.Errorf("append audit: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE audit_head SET seq = $1, hash = $2`, e.Seq, e.Hash); err != nil {
		return e, fmt.Errorf("append audit: %w", err)
	}
	if err := appendTree(ctx, tx, e); err != nil {
		return e, fmt.Errorf("append audit: %w", err)
	}
	for _, ev := range events {
		if _, err := tx.Exec(ctx, `INSERT INTO outbox (bank, url, secret, payload, next_at, state, created_at)
			VALUES ($1, $2, $3, $4, $5, 'pending', $5)`, ev.Bank, ev.URL, ev.Secret, string(ev.Payload), e.At); err != nil {
			return e, fmt.Errorf("queue webhook: %w", err)
		}
	}
	return e, tx.Commit(ctx)
}

// ListAudit implements audit.Store.
func (db *DB) ListAudit(ctx context.Context, since int64, limit int) ([]audit.Entry, error) {
	rows, err := db.pool.Query(ctx, `SELECT seq, at, actor, action, target, remote, detail, prev, hash
		FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2`, since, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		var e audit.Entry
		var detail string
		if err := rows.Scan(&e.Seq, &e.At, &e.Actor, &e.Action, &e.Target, &e.Remote, &detail, &e.Prev, &e.Hash); err != nil {
			return nil, err
		}
		e.At, e.Detail = e.At.UTC(), []byte(detail)
		out = append(out, e)
	}
	return out, rows.Err()
}

// SetWebhook implements action.Store.
func (db *DB) SetWebhook(ctx context.Context, w action.Webhook) error {
	var err error
	if w.URL == "" {
		_, err = db.pool.Exec(ctx, `DELETE FROM webhooks WHERE bank = $1`, w.Bank)
	} else {
		_, err = db.pool.Exec(ctx, `INSERT INTO webhooks (bank, url, secret, categories, types) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (bank) DO UPDATE SET url = excluded.url, secret = excluded.secret,
			categories = excluded.categories, types = excluded.types`, w.Bank, w.URL, w.Secret, jsonList(w.Categories), jsonList(w.Types))
	}
	return err
}

// Webhooks implements action.Store.
func (db *DB) Webhooks(ctx context.Context) ([]action.Webhook, error) {
	rows, err := db.pool.Query(ctx, `SELECT bank, url, secret, categories, types FROM webhooks ORDER BY bank`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []action.Webhook
	for rows.Next() {
		var w action.Webhook
		var cats, types string
		if err := rows.Scan(&w.Bank, &w.URL, &w.Secret, &cats, &types); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(cats), &w.Categories); err != nil {
			return nil, fmt.Errorf("webhook of bank %q: categories: %w", w.Bank, err)
		}
		if err := json.Unmarshal([]byte(types), &w.Types); err != nil {
			return nil, fmt.Errorf("webhook of bank %q: types: %w", w.Bank, err)
		}
		if len(w.Categories) == 0 {
			w.Categories = nil
		}
		if len(w.Types) == 0 {
			w.Types = nil
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// ClaimEvents implements action.Store; SKIP LOCKED lets replicas claim
// disjoint events concurrently.
func (db *DB) ClaimEvents(ctx context.Context, at time.Time, lease time.Duration, limit int) ([]action.Event, error) {
	rows, err := db.pool.Query(ctx, `UPDATE outbox SET next_at = $1 WHERE id IN (
		SELECT id FROM outbox WHERE state = 'pending' AND next_at <= $2 ORDER BY next_at LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING id, bank, url, secret, payload, attempts, next_at, state, last_error`, at.Add(lease), at, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []action.Event
	for rows.Next() {
		var e action.Event
		var payload string
		if err := rows.Scan(&e.ID, &e.Bank, &e.URL, &e.Secret, &payload, &e.Attempts, &e.NextAt, &e.State, &e.LastError); err != nil {
			return nil, err
		}
		e.Payload = []byte(payload)
		out = append(out, e)
	}
	return out, rows.Err()
}

// FinishEvent implements action.Store.
func (db *DB) FinishEvent(ctx context.Context, e action.Event) error {
	_, err := db.pool.Exec(ctx, `UPDATE outbox SET state = $1, attempts = $2, next_at = $3, last_error = $4 WHERE id = $5`,
		e.State, e.Attempts, e.NextAt, e.LastError, e.ID)
	return err
}

// OutboxDepth implements action.Store.
func (db *DB) OutboxDepth(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE state = 'pending'`).Scan(&n)
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
func (db *DB) SignalCategories(ctx context.Context, fn func(id int64, category string) error) error {
	rows, err := db.pool.Query(ctx, `SELECT id, category FROM signals
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
