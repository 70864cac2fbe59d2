package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
)

// CreateAPIKey implements apikey.Store.
func (db *DB) CreateAPIKey(ctx context.Context, k apikey.Key) (apikey.Key, error) {
	k.CreatedAt = now()
	err := db.w.QueryRowContext(ctx, `INSERT INTO api_keys (name, role, hash, created_at, created_by)
		VALUES (?, ?, ?, ?, ?) RETURNING id`, k.Name, string(k.Role), k.Hash, k.CreatedAt.UnixMicro(), k.CreatedBy).Scan(&k.ID)
	return k, err
}

const keyCols = `id, name, role, hash, created_at, created_by, revoked_at`

func scanKey(sc interface{ Scan(...any) error }) (apikey.Key, error) {
	var k apikey.Key
	var role string
	var created int64
	var revoked sql.NullInt64
	if err := sc.Scan(&k.ID, &k.Name, &role, &k.Hash, &created, &k.CreatedBy, &revoked); err != nil {
		return k, err
	}
	k.Role, k.CreatedAt = apikey.Role(role), fromMicros(created)
	if revoked.Valid {
		t := fromMicros(revoked.Int64)
		k.RevokedAt = &t
	}
	return k, nil
}

// APIKeyByHash implements apikey.Store.
func (db *DB) APIKeyByHash(ctx context.Context, hash []byte) (apikey.Key, error) {
	k, err := scanKey(db.r.QueryRowContext(ctx, `SELECT `+keyCols+` FROM api_keys WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return k, apikey.ErrNotFound
	}
	return k, err
}

// ListAPIKeys implements apikey.Store.
func (db *DB) ListAPIKeys(ctx context.Context) ([]apikey.Key, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+keyCols+` FROM api_keys ORDER BY id`)
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
	res, err := db.w.ExecContext(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, now().UnixMicro(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apikey.ErrNotFound
	}
	return nil
}

// appendAudit seals and inserts e inside tx (the single writer orders the
// chain).
func appendAudit(ctx context.Context, tx *sql.Tx, e audit.Entry) (audit.Entry, error) {
	var prevSeq int64
	var prev string
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&prevSeq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return e, err
	}
	e.Seq, e.At = prevSeq+1, now()
	if len(e.Detail) == 0 {
		e.Detail = []byte("{}")
	}
	audit.Seal(&e, prev)
	_, err = tx.ExecContext(ctx, `INSERT INTO audit (seq, at, actor, action, target, remote, detail, prev, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Seq, e.At.UnixMicro(), e.Actor, e.Action, e.Target, e.Remote, string(e.Detail), e.Prev, e.Hash)
	if err != nil {
		return e, err
	}
	return e, appendTree(ctx, tx, e)
}

// AppendAudit implements audit.Store.
func (db *DB) AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error) {
	return db.RecordMatch(ctx, e, nil)
}

// RecordMatch appends an audit entry and queues webhook events in one
// transaction: an acknowledged match's events are never lost.
func (db *DB) RecordMatch(ctx context.Context, e audit.Entry, events []action.Event) (audit.Entry, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return e, err
	}
	defer tx.Rollback()
	if e, err = appendAudit(ctx, tx, e); err != nil {
		return e, fmt.Errorf("append audit: %w", err)
	}
	for _, ev := range events {
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (bank, url, secret, payload, next_at, state, created_at)
			VALUES (?, ?, ?, ?, ?, 'pending', ?)`, ev.Bank, ev.URL, ev.Secret, string(ev.Payload), e.At.UnixMicro(), e.At.UnixMicro()); err != nil {
			return e, fmt.Errorf("queue webhook: %w", err)
		}
	}
	return e, tx.Commit()
}

// ListAudit implements audit.Store.
func (db *DB) ListAudit(ctx context.Context, since int64, limit int) ([]audit.Entry, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT seq, at, actor, action, target, remote, detail, prev, hash
		FROM audit WHERE seq > ? ORDER BY seq LIMIT ?`, since, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		var e audit.Entry
		var at int64
		var detail string
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Target, &e.Remote, &detail, &e.Prev, &e.Hash); err != nil {
			return nil, err
		}
		e.At, e.Detail = fromMicros(at), []byte(detail)
		out = append(out, e)
	}
	return out, rows.Err()
}

// SetWebhook implements action.Store.
func (db *DB) SetWebhook(ctx context.Context, w action.Webhook) error {
	var err error
	if w.URL == "" {
		_, err = db.w.ExecContext(ctx, `DELETE FROM webhooks WHERE bank = ?`, w.Bank)
	} else {
		_, err = db.w.ExecContext(ctx, `INSERT INTO webhooks (bank, url, secret, categories, types) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (bank) DO UPDATE SET url = excluded.url, secret = excluded.secret,
			categories = excluded.categories, types = excluded.types`, w.Bank, w.URL, w.Secret, jsonList(w.Categories), jsonList(w.Types))
	}
	return err
}

// Webhooks implements action.Store.
func (db *DB) Webhooks(ctx context.Context) ([]action.Webhook, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT bank, url, secret, categories, types FROM webhooks ORDER BY bank`)
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

// ClaimEvents implements action.Store.
func (db *DB) ClaimEvents(ctx context.Context, at time.Time, lease time.Duration, limit int) ([]action.Event, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `UPDATE outbox SET next_at = ? WHERE id IN (
		SELECT id FROM outbox WHERE state = 'pending' AND next_at <= ? ORDER BY next_at LIMIT ?)
		RETURNING id, bank, url, secret, payload, attempts, next_at, state, last_error`,
		at.Add(lease).UnixMicro(), at.UnixMicro(), limit)
	if err != nil {
		return nil, err
	}
	var out []action.Event
	for rows.Next() {
		var e action.Event
		var next int64
		var payload string
		if err := rows.Scan(&e.ID, &e.Bank, &e.URL, &e.Secret, &payload, &e.Attempts, &next, &e.State, &e.LastError); err != nil {
			rows.Close()
			return nil, err
		}
		e.NextAt, e.Payload = fromMicros(next), []byte(payload)
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, tx.Commit()
}

// FinishEvent implements action.Store.
func (db *DB) FinishEvent(ctx context.Context, e action.Event) error {
	_, err := db.w.ExecContext(ctx, `UPDATE outbox SET state = ?, attempts = ?, next_at = ?, last_error = ? WHERE id = ?`,
		e.State, e.Attempts, e.NextAt.UnixMicro(), e.LastError, e.ID)
	return err
}

// OutboxDepth implements action.Store.
func (db *DB) OutboxDepth(ctx context.Context) (int64, error) {
	var n int64
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE state = 'pending'`).Scan(&n)
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
	rows, err := db.r.QueryContext(ctx, `SELECT id, category FROM signals
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
