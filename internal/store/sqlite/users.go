package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/nigehban/nigehban/internal/account"
)

// Console accounts and sessions (account.Store).

const userCols = `id, name, role, password_hash, setup_hash, setup_expires, totp_secret, totp_step,
	failed_logins, locked_until, disabled_at, created_at, created_by, last_login_at`

func scanUser(sc interface{ Scan(...any) error }) (account.User, error) {
	var u account.User
	var role string
	var setupExp, locked, disabled, lastLogin sql.NullInt64
	var created int64
	err := sc.Scan(&u.ID, &u.Name, &role, &u.PasswordHash, &u.SetupHash, &setupExp, &u.TOTPSecret, &u.TOTPStep,
		&u.FailedLogins, &locked, &disabled, &created, &u.CreatedBy, &lastLogin)
	if errors.Is(err, sql.ErrNoRows) {
		return u, account.ErrNotFound
	}
	if err != nil {
		return u, err
	}
	u.Role, u.CreatedAt = account.Role(role), fromMicros(created)
	if setupExp.Valid {
		u.SetupExpires = fromMicros(setupExp.Int64)
	}
	u.LockedUntil, u.DisabledAt, u.LastLoginAt = optTime(locked), optTime(disabled), optTime(lastLogin)
	return u, nil
}

func optTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func optMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func setupMicros(u account.User) any {
	if u.SetupHash == nil {
		return nil
	}
	return u.SetupExpires.UnixMicro()
}

// CreateUser implements account.Store.
func (db *DB) CreateUser(ctx context.Context, u account.User) (account.User, error) {
	u.CreatedAt = now()
	err := db.w.QueryRowContext(ctx, `INSERT INTO users (name, role, password_hash, setup_hash, setup_expires,
		totp_secret, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO NOTHING RETURNING id`,
		u.Name, string(u.Role), u.PasswordHash, u.SetupHash, setupMicros(u), u.TOTPSecret, u.CreatedAt.UnixMicro(), u.CreatedBy).Scan(&u.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return account.User{}, account.ErrExists
	}
	return u, err
}

// GetUser implements account.Store.
func (db *DB) GetUser(ctx context.Context, id int64) (account.User, error) {
	return scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
}

// UserByName implements account.Store.
func (db *DB) UserByName(ctx context.Context, name string) (account.User, error) {
	return scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE name = ?`, name))
}

// UserBySetupHash implements account.Store.
func (db *DB) UserBySetupHash(ctx context.Context, hash []byte) (account.User, error) {
	return scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE setup_hash = ?`, hash))
}

// ListUsers implements account.Store.
func (db *DB) ListUsers(ctx context.Context) ([]account.User, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY id`)
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
	res, err := db.w.ExecContext(ctx, `UPDATE users SET role = ?, password_hash = ?, setup_hash = ?, setup_expires = ?,
		totp_secret = ?, totp_step = ?, failed_logins = ?, locked_until = ?, disabled_at = ?, last_login_at = ?
		WHERE id = ?`, string(u.Role), u.PasswordHash, u.SetupHash, setupMicros(u), u.TOTPSecret, u.TOTPStep,
		u.FailedLogins, optMicros(u.LockedUntil), optMicros(u.DisabledAt), optMicros(u.LastLoginAt), u.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return account.ErrNotFound
	}
	return nil
}

// RecordLoginFailure implements account.Store.
func (db *DB) RecordLoginFailure(ctx context.Context, id int64, max int, lockUntil time.Time) (account.User, error) {
	return scanUser(db.w.QueryRowContext(ctx, `UPDATE users SET failed_logins = failed_logins + 1,
		locked_until = CASE WHEN failed_logins + 1 >= ? THEN ? ELSE locked_until END
		WHERE id = ? RETURNING `+userCols, max, lockUntil.UnixMicro(), id))
}

// UseTOTPStep implements account.Store.
func (db *DB) UseTOTPStep(ctx context.Context, id, step int64) (bool, error) {
	res, err := db.w.ExecContext(ctx, `UPDATE users SET totp_step = ? WHERE id = ? AND totp_step < ?`, step, id, step)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

const sessionCols = `id, hash, user_id, stage, created_at, last_seen, expires_at, remote`

// CreateSession implements account.Store.
func (db *DB) CreateSession(ctx context.Context, s account.Session) (account.Session, error) {
	err := db.w.QueryRowContext(ctx, `INSERT INTO sessions (hash, user_id, stage, created_at, last_seen, expires_at, remote)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, s.Hash, s.UserID, string(s.Stage), s.CreatedAt.UnixMicro(),
		s.LastSeen.UnixMicro(), s.ExpiresAt.UnixMicro(), s.Remote).Scan(&s.ID)
	return s, err
}

// SessionByHash implements account.Store.
func (db *DB) SessionByHash(ctx context.Context, hash []byte) (account.Session, error) {
	var s account.Session
	var stage string
	var created, seen, expires int64
	err := db.r.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE hash = ?`, hash).
		Scan(&s.ID, &s.Hash, &s.UserID, &stage, &created, &seen, &expires, &s.Remote)
	if errors.Is(err, sql.ErrNoRows) {
		return s, account.ErrNoSession
	}
	s.Stage, s.CreatedAt, s.LastSeen, s.ExpiresAt = account.Stage(stage), fromMicros(created), fromMicros(seen), fromMicros(expires)
	return s, err
}

// UpdateSession implements account.Store.
func (db *DB) UpdateSession(ctx context.Context, s account.Session) error {
	_, err := db.w.ExecContext(ctx, `UPDATE sessions SET stage = ?, last_seen = ? WHERE id = ?`,
		string(s.Stage), s.LastSeen.UnixMicro(), s.ID)
	return err
}

// DeleteSession implements account.Store.
func (db *DB) DeleteSession(ctx context.Context, id int64) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	return err
}

// DeleteUserSessions implements account.Store.
func (db *DB) DeleteUserSessions(ctx context.Context, userID int64, t time.Time) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? OR expires_at <= ?`, userID, t.UnixMicro())
	return err
}
