// Package account holds the people who use the web console: users with a
// role, their passwords (argon2id), optional TOTP second factor (required
// for admins), lockout after repeated failed logins, and browser sessions.
//
// Secrets are never stored: a password is kept as an argon2id hash in PHC
// form, a one-time setup token and a session token only as their SHA-256.
// A new user has no password: `nigehban user create` prints a setup token
// once, and the user sets a password with it on first login.
//
// Service is the API the console and the CLI call; every login, failed
// login, lockout and account change is appended to the audit log there,
// so the two cannot differ. Store is implemented by the store engines.
package account

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
)

// Role is what a user may see and do in the console. Roles are ordered:
// each may do what the ones before it may.
type Role string

// Roles, from least to most privileged.
const (
	Viewer      Role = "viewer"       // read banks, overview
	Moderator   Role = "moderator"    // decide review items
	ChildSafety Role = "child-safety" // moderator who also sees uploader data
	Curator     Role = "curator"      // change banks and signals
	Admin       Role = "admin"        // users, API keys, configuration
)

// Roles lists every role from least to most privileged.
var Roles = []Role{Viewer, Moderator, ChildSafety, Curator, Admin}

func (r Role) rank() int {
	for i, x := range Roles {
		if x == r {
			return i + 1
		}
	}
	return 0
}

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if r.rank() == 0 {
		return "", fmt.Errorf("%w: unknown role %q (want viewer, moderator, child-safety, curator or admin)", ErrInvalid, s)
	}
	return r, nil
}

// Allows reports whether a user with role r may act as need.
func (r Role) Allows(need Role) bool { return need.rank() > 0 && r.rank() >= need.rank() }

// User is a console account. The secret fields hold hashes only.
type User struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Role Role   `json:"role"`
	// PasswordHash is the argon2id hash in PHC form; "" until the user
	// has set a password with a setup token.
	PasswordHash string `json:"-"`
	// SetupHash is the SHA-256 of the one-time setup token, nil once used;
	// SetupExpires bounds its use.
	SetupHash    []byte    `json:"-"`
	SetupExpires time.Time `json:"-"`
	// TOTPSecret is the RFC 6238 shared secret, nil when not enrolled.
	TOTPSecret []byte `json:"-"`
	// TOTPStep is the last time step whose code was accepted: a code is
	// never accepted twice.
	TOTPStep int64 `json:"-"`
	// FailedLogins counts failed logins since the last success; the user
	// is locked until LockedUntil after too many.
	FailedLogins int        `json:"failed_logins"`
	LockedUntil  *time.Time `json:"locked_until,omitempty"`
	DisabledAt   *time.Time `json:"disabled_at,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	CreatedBy    string     `json:"created_by"`
	LastLoginAt  *time.Time `json:"last_login_at,omitempty"`
}

// HasTOTP reports whether the user has enrolled a second factor.
func (u *User) HasTOTP() bool { return len(u.TOTPSecret) > 0 }

// Locked reports whether the user is locked out at t.
func (u *User) Locked(t time.Time) bool { return u.LockedUntil != nil && t.Before(*u.LockedUntil) }

// Stage is how far a session has come through the login.
type Stage string

// Session stages. Only a StageFull session may see pages; the others may
// only finish their step.
const (
	StageFull  Stage = "full"  // logged in
	StageTOTP  Stage = "totp"  // password accepted, TOTP code due
	StageEnrol Stage = "enrol" // password accepted, TOTP enrolment due (admins)
)

// Session is a browser's login. The store keeps only the SHA-256 of its
// token.
type Session struct {
	ID        int64
	Hash      []byte
	UserID    int64
	Stage     Stage
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time // absolute expiry, whatever the activity
	Remote    string
}

// Errors callers branch on.
var (
	ErrNotFound = errors.New("account not found")
	ErrExists   = errors.New("account exists")
	ErrInvalid  = errors.New("invalid account input")
	// ErrBadLogin is every refused login: unknown user, wrong password,
	// wrong code, disabled or locked account. The console shows one
	// message for all, so a guesser learns nothing.
	ErrBadLogin = errors.New("login refused")
	// ErrLocked wraps ErrBadLogin when the account is locked out.
	ErrLocked = fmt.Errorf("%w: account locked", ErrBadLogin)
	// ErrNoDataKey means a secret cannot be stored because no data key
	// is configured (serve --data-key).
	ErrNoDataKey = errors.New("no data key")
	// ErrNoSession is an unknown, expired or logged-out session.
	ErrNoSession = errors.New("no valid session")
)

// Store keeps users and sessions; implemented by the store engines.
type Store interface {
	// CreateUser stores u (ID and CreatedAt set by the store) and appends
	// the audit entry made by entry(u) in the same transaction; ErrExists
	// if the name is taken.
	CreateUser(ctx context.Context, u User, entry func(User) audit.Entry) (User, error)
	// GetUser returns a user by ID, or ErrNotFound.
	GetUser(ctx context.Context, id int64) (User, error)
	// UserByName returns a user by name, or ErrNotFound.
	UserByName(ctx context.Context, name string) (User, error)
	// UserBySetupHash returns the user whose setup token has this
	// SHA-256, or ErrNotFound.
	UserBySetupHash(ctx context.Context, hash []byte) (User, error)
	// ListUsers returns every user by ID.
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser writes the mutable fields of u (role, password hash,
	// setup token, TOTP secret and step, failed logins, lock, disabled,
	// last login) and, in the same transaction, ends the user's sessions
	// when ch.EndSessions and appends ch.Audit when set; ErrNotFound if
	// there is no such user.
	UpdateUser(ctx context.Context, u User, ch Change) error
	// RecordLoginFailure atomically counts a failed login of the user and,
	// when the count reaches max, locks the user until lockUntil. It
	// returns the user as updated.
	RecordLoginFailure(ctx context.Context, id int64, max int, lockUntil time.Time) (User, error)
	// UseTOTPStep atomically records step as the user's last accepted
	// TOTP step if it is later than the recorded one, and reports whether
	// it was (false: the code was already used).
	UseTOTPStep(ctx context.Context, id, step int64) (bool, error)

	// CreateSession stores s (ID set by the store).
	CreateSession(ctx context.Context, s Session) (Session, error)
	// SessionByHash returns the session whose token has this SHA-256, or
	// ErrNoSession.
	SessionByHash(ctx context.Context, hash []byte) (Session, error)
	// UpdateSession writes the stage and last-seen time of a session.
	UpdateSession(ctx context.Context, s Session) error
	// DeleteSession removes a session (logout); no error if it is gone.
	DeleteSession(ctx context.Context, id int64) error
	// DeleteUserSessions removes every session of a user, and sessions of
	// anyone that expired before t.
	DeleteUserSessions(ctx context.Context, userID int64, t time.Time) error
}

// Change is what happens with an UpdateUser in its transaction: the
// account change and its audit entry land together or not at all.
type Change struct {
	Audit       *audit.Entry // appended to the audit log, if set
	EndSessions bool         // delete every session of the user
}

// ValidateName checks a user name: 1-64 characters of letters, digits and
// . _ - @.
func ValidateName(name string) error {
	if len(name) == 0 || len(name) > 64 {
		return fmt.Errorf("%w: user name must be 1-64 characters", ErrInvalid)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-@", c)
		if !ok {
			return fmt.Errorf("%w: user name %q may hold only letters, digits and . _ - @", ErrInvalid, name)
		}
	}
	return nil
}
