package sqlcore

import (
	"context"
	"time"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/audit"
)

// Console accounts and sessions (account.Store).

const userCols = `id, name, role, password_hash, setup_hash, setup_expires, totp_secret, totp_step,
	failed_logins, locked_until, disabled_at, created_at, created_by, last_login_at`

func scanUser(row Row) (account.User, error) {
	var u account.User
	var role string
	var setupExp *time.Time
	err := row.Scan(&u.ID, &u.Name, &role, &u.PasswordHash, &u.SetupHash, scanNullTime(&setupExp), &u.TOTPSecret, &u.TOTPStep,
		&u.FailedLogins, scanNullTime(&u.LockedUntil), scanNullTime(&u.DisabledAt), scanTime(&u.CreatedAt), &u.CreatedBy,
		scanNullTime(&u.LastLoginAt))
	if isNoRows(err) {
		return u, account.ErrNotFound
	}
	if err != nil {
		return u, err
	}
	u.Role = account.Role(role)
	if setupExp != nil {
		u.SetupExpires = *setupExp
	}
	return u, nil
}

// optTime encodes a nullable time.
func (c *Core) optTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return c.f.Time(*t)
}

func (c *Core) setupTime(u account.User) any {
	if u.SetupHash == nil {
		return nil
	}
	return c.f.Time(u.SetupExpires)
}

// CreateUser implements account.Store.
func (c *Core) CreateUser(ctx context.Context, u account.User, entry func(account.User) audit.Entry) (account.User, error) {
	u.CreatedAt = Now()
	err := c.write(ctx, func(tx Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO users (name, role, password_hash, setup_hash, setup_expires,
			totp_secret, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO NOTHING RETURNING id`,
			u.Name, string(u.Role), u.PasswordHash, u.SetupHash, c.setupTime(u), u.TOTPSecret, c.f.Time(u.CreatedAt), u.CreatedBy).Scan(&u.ID)
		if err != nil {
			return err
		}
		if entry != nil {
			_, err = c.AppendTx(ctx, tx, entry(u))
		}
		return err
	})
	if isNoRows(err) {
		return account.User{}, account.ErrExists
	}
	if err != nil {
		return account.User{}, err
	}
	return u, nil
}

// GetUser implements account.Store.
func (c *Core) GetUser(ctx context.Context, id int64) (account.User, error) {
	return scanUser(c.eng.Reader().QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
}

// UserByName implements account.Store.
func (c *Core) UserByName(ctx context.Context, name string) (account.User, error) {
	return scanUser(c.eng.Reader().QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE name = ?`, name))
}

// UserBySetupHash implements account.Store.
func (c *Core) UserBySetupHash(ctx context.Context, hash []byte) (account.User, error) {
	return scanUser(c.eng.Reader().QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE setup_hash = ?`, hash))
}

// ListUsers implements account.Store.
func (c *Core) ListUsers(ctx context.Context) ([]account.User, error) {
	return queryAll(ctx, c.eng.Reader(), scanUser, `SELECT `+userCols+` FROM users ORDER BY id`)
}

// UpdateUser implements account.Store.
func (c *Core) UpdateUser(ctx context.Context, u account.User, ch account.Change) error {
	return c.write(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE users SET role = ?, password_hash = ?, setup_hash = ?, setup_expires = ?,
			totp_secret = ?, totp_step = ?, failed_logins = ?, locked_until = ?, disabled_at = ?, last_login_at = ?
			WHERE id = ?`, string(u.Role), u.PasswordHash, u.SetupHash, c.setupTime(u), u.TOTPSecret, u.TOTPStep,
			u.FailedLogins, c.optTime(u.LockedUntil), c.optTime(u.DisabledAt), c.optTime(u.LastLoginAt), u.ID)
		if err != nil {
			return err
		}
		if n == 0 {
			return account.ErrNotFound
		}
		if ch.EndSessions {
			if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, u.ID); err != nil {
				return err
			}
		}
		if ch.Audit != nil {
			if _, err := c.AppendTx(ctx, tx, *ch.Audit); err != nil {
				return err
			}
		}
		return nil
	})
}

// RecordLoginFailure implements account.Store.
func (c *Core) RecordLoginFailure(ctx context.Context, id int64, max int, lockUntil time.Time) (account.User, error) {
	var u account.User
	err := c.write(ctx, func(tx Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `UPDATE users SET failed_logins = failed_logins + 1,
			locked_until = CASE WHEN failed_logins + 1 >= ? THEN ? ELSE locked_until END
			WHERE id = ? RETURNING `+userCols, max, c.f.Time(lockUntil), id))
		return err
	})
	return u, err
}

// UseTOTPStep implements account.Store.
func (c *Core) UseTOTPStep(ctx context.Context, id, step int64) (bool, error) {
	var n int64
	err := c.write(ctx, func(tx Tx) error {
		var err error
		n, err = tx.Exec(ctx, `UPDATE users SET totp_step = ? WHERE id = ? AND totp_step < ?`, step, id, step)
		return err
	})
	return n == 1, err
}

const sessionCols = `id, hash, user_id, stage, created_at, last_seen, expires_at, remote`

// CreateSession implements account.Store.
func (c *Core) CreateSession(ctx context.Context, s account.Session) (account.Session, error) {
	err := c.write(ctx, func(tx Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO sessions (hash, user_id, stage, created_at, last_seen, expires_at, remote)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, s.Hash, s.UserID, string(s.Stage), c.f.Time(s.CreatedAt),
			c.f.Time(s.LastSeen), c.f.Time(s.ExpiresAt), s.Remote).Scan(&s.ID)
	})
	return s, err
}

// SessionByHash implements account.Store.
func (c *Core) SessionByHash(ctx context.Context, hash []byte) (account.Session, error) {
	var s account.Session
	var stage string
	err := c.eng.Reader().QueryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE hash = ?`, hash).
		Scan(&s.ID, &s.Hash, &s.UserID, &stage, scanTime(&s.CreatedAt), scanTime(&s.LastSeen), scanTime(&s.ExpiresAt), &s.Remote)
	if isNoRows(err) {
		return s, account.ErrNoSession
	}
	s.Stage = account.Stage(stage)
	return s, err
}

// UpdateSession implements account.Store.
func (c *Core) UpdateSession(ctx context.Context, s account.Session) error {
	return c.write(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `UPDATE sessions SET stage = ?, last_seen = ? WHERE id = ?`, string(s.Stage), c.f.Time(s.LastSeen), s.ID)
		return err
	})
}

// DeleteSession implements account.Store.
func (c *Core) DeleteSession(ctx context.Context, id int64) error {
	return c.write(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id = ?`, id)
		return err
	})
}

// DeleteUserSessions implements account.Store.
func (c *Core) DeleteUserSessions(ctx context.Context, userID int64, t time.Time) error {
	return c.write(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = ? OR expires_at <= ?`, userID, c.f.Time(t))
		return err
	})
}
