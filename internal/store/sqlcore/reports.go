package sqlcore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/history"
	"github.com/nigehban/nigehban/internal/report"
	"github.com/nigehban/nigehban/internal/vault"
)

// Report cases (report.Store) and the evidence vault's metadata
// (vault.Store).

const reportCaseCols = `id, opened_at, opened_by, updated_by, state, version, subject_blind, approved_by, approved_at,
	submission, next_at, doc`

func scanReportCase(row Row) (report.Case, error) {
	var c report.Case
	var state, sub string
	err := row.Scan(&c.ID, scanTime(&c.OpenedAt), &c.OpenedBy, &c.UpdatedBy, &state, &c.Version, &c.SubjectBlind,
		&c.ApprovedBy, scanNullTime(&c.ApprovedAt), &sub, scanNullTime(&c.NextAt), &c.Sealed)
	if isNoRows(err) {
		return c, report.ErrNotFound
	}
	if err != nil {
		return c, err
	}
	c.State = report.State(state)
	if err := json.Unmarshal([]byte(sub), &c.Submission); err != nil {
		return c, fmt.Errorf("report case %d: submission: %w", c.ID, err)
	}
	return c, nil
}

// CreateReportCase implements report.Store.
func (c *Core) CreateReportCase(ctx context.Context, rc report.Case, seal func(id int64) (string, error), entry func(id int64) audit.Entry) (report.Case, error) {
	rc.OpenedAt, rc.Version = Now(), 1
	sub, err := json.Marshal(rc.Submission)
	if err != nil {
		return rc, err
	}
	err = c.write(ctx, func(tx Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO report_cases (opened_at, opened_by, updated_by, state, version, subject_blind,
			approved_by, approved_at, submission, next_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			c.f.Time(rc.OpenedAt), rc.OpenedBy, rc.UpdatedBy, string(rc.State), rc.Version, rc.SubjectBlind, rc.ApprovedBy,
			c.optTime(rc.ApprovedAt), string(sub), c.optTime(rc.NextAt), rc.Sealed).Scan(&rc.ID); err != nil {
			return fmt.Errorf("create report case: %w", err)
		}
		doc, err := seal(rc.ID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE report_cases SET doc = ? WHERE id = ?`, doc, rc.ID); err != nil {
			return fmt.Errorf("create report case: %w", err)
		}
		rc.Sealed = doc
		_, err = c.AppendTx(ctx, tx, entry(rc.ID))
		return err
	})
	return rc, err
}

// GetReportCase implements report.Store.
func (c *Core) GetReportCase(ctx context.Context, id int64) (report.Case, error) {
	return scanReportCase(c.eng.Reader().QueryRow(ctx, `SELECT `+reportCaseCols+` FROM report_cases WHERE id = ?`, id))
}

// ListReportCases implements report.Store.
func (c *Core) ListReportCases(ctx context.Context, state report.State, limit int) ([]report.Case, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	if state == "" {
		return queryAll(ctx, c.eng.Reader(), scanReportCase, fmt.Sprintf(`SELECT `+reportCaseCols+` FROM report_cases ORDER BY id DESC LIMIT %d`, limit))
	}
	return queryAll(ctx, c.eng.Reader(), scanReportCase, fmt.Sprintf(`SELECT `+reportCaseCols+` FROM report_cases WHERE state = ? ORDER BY id DESC LIMIT %d`, limit), string(state))
}

// OpenReportCaseOf implements report.Store.
func (c *Core) OpenReportCaseOf(ctx context.Context, blind []byte) (report.Case, error) {
	return scanReportCase(c.eng.Reader().QueryRow(ctx, `SELECT `+reportCaseCols+` FROM report_cases
		WHERE subject_blind = ? AND state = 'open' ORDER BY id DESC LIMIT 1`, blind))
}

// UpdateReportCase implements report.Store.
func (c *Core) UpdateReportCase(ctx context.Context, rc report.Case, e *audit.Entry) (report.Case, error) {
	sub, err := json.Marshal(rc.Submission)
	if err != nil {
		return rc, err
	}
	err = c.write(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE report_cases SET updated_by = ?, state = ?, version = version + 1, subject_blind = ?,
			approved_by = ?, approved_at = ?, submission = ?, next_at = ?, doc = ? WHERE id = ? AND version = ?`,
			rc.UpdatedBy, string(rc.State), rc.SubjectBlind, rc.ApprovedBy, c.optTime(rc.ApprovedAt), string(sub),
			c.optTime(rc.NextAt), rc.Sealed, rc.ID, rc.Version)
		if err != nil {
			return fmt.Errorf("update report case %d: %w", rc.ID, err)
		}
		if n == 0 {
			return fmt.Errorf("%w: case %d", report.ErrConflict, rc.ID)
		}
		if e != nil {
			_, err = c.AppendTx(ctx, tx, *e)
		}
		return err
	})
	if err == nil {
		rc.Version++
	}
	return rc, err
}

// DueReportCases implements report.Store.
func (c *Core) DueReportCases(ctx context.Context, now time.Time, limit int) ([]report.Case, error) {
	return queryAll(ctx, c.eng.Reader(), scanReportCase, fmt.Sprintf(`SELECT `+reportCaseCols+` FROM report_cases
		WHERE state IN ('approved', 'submitting') AND (next_at IS NULL OR next_at <= ?) ORDER BY id LIMIT %d`, limit), c.f.Time(now))
}

// CaseEntries implements report.Store.
func (c *Core) CaseEntries(ctx context.Context, target string) ([]audit.Entry, error) {
	return queryAll(ctx, c.eng.Reader(), scanEntry, `SELECT seq, at, actor, action, target, remote, detail, prev, hash
		FROM audit WHERE target = ? ORDER BY seq`, target)
}

// HitsByID implements report.Store.
func (c *Core) HitsByID(ctx context.Context, ids []int64) ([]history.Hit, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cond, args := c.f.In(`id`, ids)
	return queryAll(ctx, c.eng.Reader(), scanHit, `SELECT id, at, submitter, content_id, bank, signal_id, type, value, distance
		FROM match_hits WHERE `+cond+` ORDER BY id`, args...)
}

// PutSecret implements report.Store.
func (c *Core) PutSecret(ctx context.Context, name, value string, e audit.Entry) error {
	return c.write(ctx, func(tx Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO report_secrets (name, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			name, value, c.f.Time(Now())); err != nil {
			return fmt.Errorf("store secret %s: %w", name, err)
		}
		_, err := c.AppendTx(ctx, tx, e)
		return err
	})
}

// GetSecret implements report.Store.
func (c *Core) GetSecret(ctx context.Context, name string) (string, error) {
	var v string
	err := c.eng.Reader().QueryRow(ctx, `SELECT value FROM report_secrets WHERE name = ?`, name).Scan(&v)
	if isNoRows(err) {
		return "", fmt.Errorf("%w: no secret %q", report.ErrNotFound, name)
	}
	return v, err
}

const vaultCols = `id, case_id, sha256, size, recipients, file, created_at, created_by, expires_at, destroyed_at`

func scanVault(row Row) (vault.Item, error) {
	var it vault.Item
	var rcpt string
	err := row.Scan(&it.ID, &it.CaseID, &it.SHA256, &it.Size, &rcpt, &it.File, scanTime(&it.CreatedAt), &it.CreatedBy,
		scanTime(&it.ExpiresAt), scanNullTime(&it.DestroyedAt))
	if isNoRows(err) {
		return it, vault.ErrNotFound
	}
	it.Recipients = strings.Fields(rcpt)
	return it, err
}

// AddVaultItem implements vault.Store.
func (c *Core) AddVaultItem(ctx context.Context, it vault.Item, entry func(id int64) audit.Entry) (vault.Item, error) {
	it.CreatedAt = Now()
	err := c.write(ctx, func(tx Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO vault_items (case_id, sha256, size, recipients, file, created_at, created_by, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, it.CaseID, it.SHA256, it.Size, strings.Join(it.Recipients, " "), it.File,
			c.f.Time(it.CreatedAt), it.CreatedBy, c.f.Time(it.ExpiresAt)).Scan(&it.ID); err != nil {
			return fmt.Errorf("add vault item: %w", err)
		}
		_, err := c.AppendTx(ctx, tx, entry(it.ID))
		return err
	})
	return it, err
}

// GetVaultItem implements vault.Store.
func (c *Core) GetVaultItem(ctx context.Context, id int64) (vault.Item, error) {
	return scanVault(c.eng.Reader().QueryRow(ctx, `SELECT `+vaultCols+` FROM vault_items WHERE id = ?`, id))
}

// VaultItems implements vault.Store.
func (c *Core) VaultItems(ctx context.Context, caseID int64) ([]vault.Item, error) {
	if caseID == 0 {
		return queryAll(ctx, c.eng.Reader(), scanVault, `SELECT `+vaultCols+` FROM vault_items ORDER BY id`)
	}
	return queryAll(ctx, c.eng.Reader(), scanVault, `SELECT `+vaultCols+` FROM vault_items WHERE case_id = ? ORDER BY id`, caseID)
}

// ExpiredVaultItems implements vault.Store.
func (c *Core) ExpiredVaultItems(ctx context.Context, now time.Time) ([]vault.Item, error) {
	return queryAll(ctx, c.eng.Reader(), scanVault, `SELECT `+vaultCols+` FROM vault_items
		WHERE destroyed_at IS NULL AND expires_at <= ? ORDER BY id`, c.f.Time(now))
}

// MarkVaultDestroyed implements vault.Store.
func (c *Core) MarkVaultDestroyed(ctx context.Context, id int64, at time.Time, e audit.Entry) error {
	return c.write(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE vault_items SET destroyed_at = ? WHERE id = ? AND destroyed_at IS NULL`, c.f.Time(at), id)
		if err != nil {
			return fmt.Errorf("vault item %d: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("%w: %d (or already destroyed)", vault.ErrNotFound, id)
		}
		_, err = c.AppendTx(ctx, tx, e)
		return err
	})
}
