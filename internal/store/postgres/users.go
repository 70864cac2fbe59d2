package postgres

import (
	"context"
	"time"

	"github.com/nigehban/nigehban/internal/account"
)

// Console accounts and sessions (account.Store).

const userCols = `id, name, role, password_hash, setup_hash, setup_expires, totp_secret, totp_step,
	failed_logins, locked_until, disabled_at, created_at, created_by, last_login_at`

func scanUser(sc interface{ Scan(...any) error }) (account.User, error) {
	var u account.User
	var role string
	var setupExp *time.Time
	err := sc.Scan(&u.ID, &u.Name, &role, &u.PasswordHash, &u.SetupHash, &setupExp, &u.TOTPSecret, &u.TOTPStep,
		&u.FailedLogins, &u.LockedUntil, &u.DisabledAt, &u.CreatedAt, &u.CreatedBy, &u.LastLoginAt)
	if isNoRows(err) {
		return u, account.ErrNotFound
	}
	if err != nil {
		return u, err
	}
	u.Role, u.CreatedAt = account.Role(role), u.CreatedAt.UTC()
	if setupExp != nil {
		u.SetupExpires = setupExp.UTC()
	}
	for _, t := range []*time.Time{u.LockedUntil, u.DisabledAt, u.LastLoginAt} {
		if t != nil {
			*t = t.UTC()
		}
	}
	return u, nil
}

func setupTime(u account.User) *time.Time {
	if u.SetupHash == nil {
		return nil
	}
	return &u.SetupExpires
}

// CreateUser implements account.Store.
func (db *DB) CreateUser(ctx context.Context, u account.User) (account.User, error) {
	u.CreatedAt = now()
	err := db.pool.QueryRow(ctx, `INSERT INTO users (name, role, password_hash, setup_hash, setup_expires,
		totp_secret, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (name) DO NOTHING RETURNING id`,
		u.Name, string(u.Role), u.PasswordHash, u.SetupHash, setupTime(u), u.TOTPSecret, u.CreatedAt, u.CreatedBy).Scan(&u.ID)
	if isNoRows(err) {
		return account.User{}, account.ErrExists
	}
	return u, err
}

// GetUser implements account.Store.
func (db *DB) GetUser(ctx context.Context, id int64) (account.User, error) {
	return scanUser(db.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
}

// UserByName implements account.Store.
func (db *DB) UserByName(ctx context.Context, name string) (account.User, error) {
	return scanUser(db.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE name = $1`, name))
}

// UserBySetupHash implements account.Store.
func (db *DB) UserBySetupHash(ctx context.Context, hash []byte) (account.User, error) {
	return scanUser(db.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE setup_hash = $1`, hash))
}

// ListUsers implements account.Store.
func (db *DB) ListUsers(ctx context.Context) ([]account.User, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+userCols+` FROM users ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []account.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UpdateUser implements account.Store.
func (db *DB) UpdateUser(ctx context.Context, u account.User) error {
	tag, err := db.pool.Exec(ctx, `UPDATE users SET role = $1, password_hash = $2, setup_hash = $3, setup_expires = $4,
		totp_secret = $5, totp_step = $6, failed_logins = $7, locked_until = $8, disabled_at = $9, last_login_at = $10
		WHERE id = $11`, string(u.Role), u.PasswordHash, u.SetupHash, setupTime(u), u.TOTPSecret, u.TOTPStep,
		u.FailedLogins, u.LockedUntil, u.DisabledAt, u.LastLoginAt, u.ID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return account.ErrNotFound
	}
	return nil
}

// RecordLoginFailure implements account.Store.
func (db *DB) RecordLoginFailure(ctx context.Context, id int64, max int, lockUntil time.Time) (account.User, error) {
	return scanUser(db.pool.QueryRow(ctx, `UPDATE users SET failed_logins = failed_logins + 1,
		locked_until = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until END
		WHERE id = $3 RETURNING `+userCols, max, lockUntil, id))
}

// UseTOTPStep implements account.Store.
func (db *DB) UseTOTPStep(ctx context.Context, id, step int64) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE users SET totp_step = $1 WHERE id = $2 AND totp_step < $1`, step, id)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

const sessionCols = `id, hash, user_id, stage, created_at, last_seen, expires_at, remote`

// CreateSession implements account.Store.
func (db *DB) CreateSession(ctx context.Context, s account.Session) (account.Session, error) {
	err := db.pool.QueryRow(ctx, `INSERT INTO sessions (hash, user_id, stage, created_at, last_seen, expires_at, remote)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, s.Hash, s.UserID, string(s.Stage), s.CreatedAt,
		s.LastSeen, s.ExpiresAt, s.Remote).Scan(&s.ID)
	return s, err
}

// SessionByHash implements account.Store.
func (db *DB) SessionByHash(ctx context.Context, hash []byte) (account.Session, error) {
	var s account.Session
	var stage string
	err := db.pool.QueryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE hash = $1`, hash).
		Scan(&s.ID, &s.Hash, &s.UserID, &stage, &s.CreatedAt, &s.LastSeen, &s.ExpiresAt, &s.Remote)
	if isNoRows(err) {
		return s, account.ErrNoSession
	}
	s.Stage, s.CreatedAt, s.LastSeen, s.ExpiresAt = account.Stage(stage), s.CreatedAt.UTC(), s.LastSeen.UTC(), s.ExpiresAt.UTC()
	return s, err
}

// UpdateSession implements account.Store.
func (db *DB) UpdateSession(ctx context.Context, s account.Session) error {
	_, err := db.pool.Exec(ctx, `UPDATE sessions SET stage = $1, last_seen = $2 WHERE id = $3`, string(s.Stage), s.LastSeen, s.ID)
	return err
}

// DeleteSession implements account.Store.
func (db *DB) DeleteSession(ctx context.Context, id int64) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, id)
	return err
}

// DeleteUserSessions implements account.Store.
func (db *DB) DeleteUserSessions(ctx context.Context, userID int64, t time.Time) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 OR expires_at <= $2`, userID, t)
	return err
}
