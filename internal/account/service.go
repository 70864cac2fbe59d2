package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/sealed"
)

// Config tunes the Service; zero fields take the defaults.
type Config struct {
	// Keys seals TOTP secrets at rest; without it TOTP enrolment is
	// refused (ErrNoDataKey), so admins, who need a second factor, cannot
	// finish logging in until serve has --data-key.
	Keys *sealed.Ring
	// KDF hashes new passwords (default DefaultKDF).
	KDF KDF
	// MaxFailures failed logins in a row lock a user for LockFor
	// (defaults 5 and 15 minutes).
	MaxFailures int
	LockFor     time.Duration
	// IdleTimeout ends a session unused this long (default 30 minutes);
	// SessionMax ends any session this long after login (default 12 h).
	IdleTimeout time.Duration
	SessionMax  time.Duration
	// SetupValid is how long a setup token may be used (default 72 h).
	SetupValid time.Duration
	// Issuer names the service in authenticator apps (default "Nigehban").
	Issuer string
	// MaxHashing bounds the password hashes computed at once (default 4):
	// each takes KDF.Memory, so a flood of logins queues instead of
	// exhausting memory.
	MaxHashing int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.KDF == (KDF{}) {
		c.KDF = DefaultKDF
	}
	if c.MaxFailures <= 0 {
		c.MaxFailures = 5
	}
	if c.LockFor <= 0 {
		c.LockFor = 15 * time.Minute
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Minute
	}
	if c.SessionMax <= 0 {
		c.SessionMax = 12 * time.Hour
	}
	if c.SetupValid <= 0 {
		c.SetupValid = 72 * time.Hour
	}
	if c.Issuer == "" {
		c.Issuer = "Nigehban"
	}
	if c.MaxHashing <= 0 {
		c.MaxHashing = 4
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// AuditStore is where the Service records logins and account changes.
type AuditStore interface {
	AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error)
}

// Service manages accounts and sessions over a Store, auditing every
// login, failed login, lockout and change. Safe for concurrent use.
type Service struct {
	st    Store
	audit AuditStore
	cfg   Config

	dummyOnce sync.Once
	dummy     string        // a hash to verify against for unknown users
	hashing   chan struct{} // a slot per password hash computed at once
}

// NewService returns a Service over st that audits to au.
func NewService(st Store, au AuditStore, cfg Config) *Service {
	cfg = cfg.withDefaults()
	return &Service{st: st, audit: au, cfg: cfg, hashing: make(chan struct{}, cfg.MaxHashing)}
}

// verify checks pw against hash in one of the hashing slots.
func (s *Service) verify(ctx context.Context, hash, pw string) (bool, error) {
	select {
	case s.hashing <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-s.hashing }()
	return VerifyPassword(hash, pw), nil
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// Token prefixes, so a leaked token is recognisable (secret scanners).
const (
	setupPrefix   = "nigu_"
	sessionPrefix = "nigs_"
)

func newToken(prefix string) (string, []byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("generate token: %w", err)
	}
	t := prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return t, digest(t), nil
}

func digest(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// entry builds an audit entry of an account event.
func entry(actor, action, target, remote string, detail any) (audit.Entry, error) {
	e := audit.Entry{Actor: actor, Action: action, Target: target, Remote: remote}
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return e, err
		}
		e.Detail = b
	}
	return e, nil
}

// record appends one audit entry on its own: login events that change no
// account (refusals, logouts). Account changes append theirs in the
// change's own transaction (update).
func (s *Service) record(ctx context.Context, actor, action, target, remote string, detail any) error {
	e, err := entry(actor, action, target, remote, detail)
	if err != nil {
		return err
	}
	if _, err := s.audit.AppendAudit(ctx, e); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// update writes u and its audit entry in one transaction, ending the
// user's sessions too when endSessions.
func (s *Service) update(ctx context.Context, u User, endSessions bool, actor, action, remote string, detail any) error {
	e, err := entry(actor, action, Actor(u), remote, detail)
	if err != nil {
		return err
	}
	return s.st.UpdateUser(ctx, u, Change{Audit: &e, EndSessions: endSessions})
}

// Actor is how a user appears in the audit log and change log.
func Actor(u User) string { return "user:" + strconv.FormatInt(u.ID, 10) + " (" + u.Name + ")" }

// Create adds a user with role and returns the one-time setup token with
// which they set their password.
func (s *Service) Create(ctx context.Context, name string, role Role, actor string) (User, string, error) {
	if err := ValidateName(name); err != nil {
		return User{}, "", err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return User{}, "", err
	}
	tok, h, err := newToken(setupPrefix)
	if err != nil {
		return User{}, "", err
	}
	u, err := s.st.CreateUser(ctx, User{Name: name, Role: role, SetupHash: h,
		SetupExpires: s.now().Add(s.cfg.SetupValid), CreatedBy: actor}, func(u User) audit.Entry {
		e, _ := entry(actor, "user.create", Actor(u), "", map[string]any{"role": role}) // a map of strings: cannot fail
		return e
	})
	if err != nil {
		return User{}, "", fmt.Errorf("create user %q: %w", name, err)
	}
	return u, tok, nil
}

// Reset clears a user's password, second factor, lock and sessions and
// returns a new setup token (a lost password or phone).
func (s *Service) Reset(ctx context.Context, name, actor string) (User, string, error) {
	u, err := s.st.UserByName(ctx, name)
	if err != nil {
		return User{}, "", fmt.Errorf("user %q: %w", name, err)
	}
	tok, h, err := newToken(setupPrefix)
	if err != nil {
		return User{}, "", err
	}
	u.PasswordHash, u.TOTPSecret, u.FailedLogins, u.LockedUntil = "", nil, 0, nil
	u.SetupHash, u.SetupExpires = h, s.now().Add(s.cfg.SetupValid)
	if err := s.update(ctx, u, true, actor, "user.reset", "", nil); err != nil {
		return User{}, "", fmt.Errorf("reset user %q: %w", name, err)
	}
	return u, tok, nil
}

// SetDisabled disables (ending their sessions) or re-enables a user.
func (s *Service) SetDisabled(ctx context.Context, name string, disabled bool, actor string) (User, error) {
	u, err := s.st.UserByName(ctx, name)
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", name, err)
	}
	act := "user.enable"
	if disabled {
		t := s.now()
		u.DisabledAt, act = &t, "user.disable"
	} else {
		u.DisabledAt = nil
	}
	if err := s.update(ctx, u, disabled, actor, act, "", nil); err != nil {
		return User{}, fmt.Errorf("update user %q: %w", name, err)
	}
	return u, nil
}

// SetRole changes a user's role and ends their sessions: they log in
// again under the new role (an admin's login needs TOTP).
func (s *Service) SetRole(ctx context.Context, name string, role Role, actor string) (User, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return User{}, err
	}
	u, err := s.st.UserByName(ctx, name)
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", name, err)
	}
	old := u.Role
	u.Role = role
	if err := s.update(ctx, u, true, actor, "user.role", "", map[string]any{"from": old, "to": role}); err != nil {
		return User{}, fmt.Errorf("update user %q: %w", name, err)
	}
	return u, nil
}

// List returns every user.
func (s *Service) List(ctx context.Context) ([]User, error) { return s.st.ListUsers(ctx) }

// Started is a new session: its token (the cookie value, shown nowhere
// else) and what it still needs.
type Started struct {
	Token   string
	Session Session
	User    User
}

// Login checks a name and password. On success it starts a session at the
// stage the user must pass next (TOTP code, TOTP enrolment for an admin
// without one, or full). Every refusal is ErrBadLogin (ErrLocked when
// locked out), audited, and counted towards the lockout.
func (s *Service) Login(ctx context.Context, name, password, remote string) (Started, error) {
	s.dummyOnce.Do(func() { s.dummy, _ = s.cfg.KDF.HashPassword("not a password of anyone") })
	u, err := s.st.UserByName(ctx, name)
	known := err == nil && ValidateName(name) == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Started{}, fmt.Errorf("login: %w", err)
	}
	now := s.now()
	reason := ""
	switch {
	case !known:
		reason = "unknown user"
	case u.Locked(now):
		reason = "locked"
	case u.DisabledAt != nil:
		reason = "disabled"
	case u.PasswordHash == "":
		reason = "no password set (first login needs the setup token)"
	}
	hash := u.PasswordHash
	if reason != "" {
		hash = s.dummy // the same time as a real check: nothing to learn from it
	}
	ok, err := s.verify(ctx, hash, password)
	if err != nil {
		return Started{}, err
	}
	switch {
	case !known:
		return Started{}, s.refuse(ctx, nil, name, remote, reason)
	case reason != "":
		return Started{}, s.refuse(ctx, &u, name, remote, reason)
	case !ok:
		return Started{}, s.refuse(ctx, &u, name, remote, "wrong password")
	}
	stage := StageFull
	switch {
	case u.HasTOTP():
		stage = StageTOTP
	case u.Role == Admin:
		stage = StageEnrol
	}
	return s.start(ctx, u, stage, remote, "password")
}

// refuse counts and audits a refused login and returns the error to show.
func (s *Service) refuse(ctx context.Context, u *User, name, remote, reason string) error {
	target := name
	if len(target) > 80 { // whatever a guesser typed, bounded
		target = strings.ToValidUTF8(target[:80], "?") + "…"
	}
	if u == nil {
		if err := s.record(ctx, "anonymous", "login.fail", target, remote, map[string]string{"reason": reason}); err != nil {
			return err
		}
		return ErrBadLogin
	}
	target = Actor(*u)
	if reason == "locked" || reason == "disabled" {
		if err := s.record(ctx, "anonymous", "login.fail", target, remote, map[string]string{"reason": reason}); err != nil {
			return err
		}
		if reason == "locked" {
			return ErrLocked
		}
		return ErrBadLogin
	}
	now := s.now()
	nu, err := s.st.RecordLoginFailure(ctx, u.ID, s.cfg.MaxFailures, now.Add(s.cfg.LockFor))
	if err != nil {
		return fmt.Errorf("record failed login: %w", err)
	}
	if err := s.record(ctx, "anonymous", "login.fail", target, remote,
		map[string]any{"reason": reason, "failures": nu.FailedLogins}); err != nil {
		return err
	}
	if nu.FailedLogins >= s.cfg.MaxFailures && nu.Locked(now) {
		if err := s.record(ctx, "system", "login.lockout", target, remote,
			map[string]any{"failures": nu.FailedLogins, "until": nu.LockedUntil}); err != nil {
			return err
		}
		return ErrLocked
	}
	return ErrBadLogin
}

// pendingMax bounds a session that has not finished its login steps.
const pendingMax = 10 * time.Minute

// start creates a session at stage with a new token; a full session is a
// login, audited with method.
func (s *Service) start(ctx context.Context, u User, stage Stage, remote, method string) (Started, error) {
	tok, h, err := newToken(sessionPrefix)
	if err != nil {
		return Started{}, err
	}
	now := s.now()
	if err := s.st.DeleteUserSessions(ctx, 0, now); err != nil { // sweep expired sessions
		return Started{}, err
	}
	expires := now.Add(s.cfg.SessionMax)
	if stage != StageFull {
		expires = now.Add(min(pendingMax, s.cfg.SessionMax))
	}
	sess, err := s.st.CreateSession(ctx, Session{Hash: h, UserID: u.ID, Stage: stage, CreatedAt: now, LastSeen: now,
		ExpiresAt: expires, Remote: remote})
	if err != nil {
		return Started{}, fmt.Errorf("start session: %w", err)
	}
	if stage == StageFull {
		if err := s.loggedIn(ctx, &u, remote, method); err != nil {
			return Started{}, err
		}
	}
	return Started{Token: tok, Session: sess, User: u}, nil
}

// loggedIn resets the failure count and audits the login.
func (s *Service) loggedIn(ctx context.Context, u *User, remote, method string) error {
	t := s.now()
	u.FailedLogins, u.LockedUntil, u.LastLoginAt = 0, nil, &t
	if err := s.update(ctx, *u, false, Actor(*u), "login", remote, map[string]string{"method": method}); err != nil {
		return fmt.Errorf("record login: %w", err)
	}
	return nil
}

// FirstLogin sets the password of the user a setup token belongs to and
// starts a session (an admin goes on to TOTP enrolment). The token works
// once, before it expires.
func (s *Service) FirstLogin(ctx context.Context, token, password, remote string) (Started, error) {
	if !strings.HasPrefix(token, setupPrefix) {
		return Started{}, s.refuse(ctx, nil, "(setup token)", remote, "malformed setup token")
	}
	u, err := s.st.UserBySetupHash(ctx, digest(token))
	if errors.Is(err, ErrNotFound) {
		return Started{}, s.refuse(ctx, nil, "(setup token)", remote, "unknown setup token")
	}
	if err != nil {
		return Started{}, fmt.Errorf("first login: %w", err)
	}
	if u.DisabledAt != nil || !s.now().Before(u.SetupExpires) {
		return Started{}, s.refuse(ctx, nil, Actor(u), remote, "setup token expired or user disabled")
	}
	if err := CheckPasswordPolicy(password); err != nil {
		return Started{}, err
	}
	select {
	case s.hashing <- struct{}{}:
	case <-ctx.Done():
		return Started{}, ctx.Err()
	}
	u.PasswordHash, err = s.cfg.KDF.HashPassword(password)
	<-s.hashing
	if err != nil {
		return Started{}, err
	}
	u.SetupHash, u.SetupExpires = nil, time.Time{}
	if err := s.update(ctx, u, false, Actor(u), "user.password", remote, map[string]string{"via": "setup token"}); err != nil {
		return Started{}, fmt.Errorf("set password: %w", err)
	}
	stage := StageFull
	if u.Role == Admin {
		stage = StageEnrol
	}
	return s.start(ctx, u, stage, remote, "setup token")
}

// Authenticate returns the session and user of a token. It refuses
// (ErrNoSession) unknown, idle, expired sessions and those of disabled
// users, deleting them; the session's last-seen time is written at most
// once a minute.
func (s *Service) Authenticate(ctx context.Context, token string) (Session, User, error) {
	if !strings.HasPrefix(token, sessionPrefix) || len(token) != len(sessionPrefix)+43 {
		return Session{}, User{}, ErrNoSession
	}
	sess, err := s.st.SessionByHash(ctx, digest(token))
	if err != nil {
		return Session{}, User{}, err
	}
	now := s.now()
	if !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeen) >= s.cfg.IdleTimeout {
		s.st.DeleteSession(ctx, sess.ID)
		return Session{}, User{}, ErrNoSession
	}
	u, err := s.st.GetUser(ctx, sess.UserID)
	if errors.Is(err, ErrNotFound) || err == nil && u.DisabledAt != nil {
		s.st.DeleteSession(ctx, sess.ID)
		return Session{}, User{}, ErrNoSession
	}
	if err != nil {
		return Session{}, User{}, err
	}
	if now.Sub(sess.LastSeen) >= time.Minute {
		sess.LastSeen = now
		if err := s.st.UpdateSession(ctx, sess); err != nil {
			return Session{}, User{}, err
		}
	}
	return sess, u, nil
}

// VerifyTOTP completes a StageTOTP session with a code from the user's
// authenticator: the pending session ends and a full one, with a new
// token, starts. A wrong or reused code is ErrBadLogin and counts towards
// the lockout.
func (s *Service) VerifyTOTP(ctx context.Context, sess Session, u User, code, remote string) (Started, error) {
	if sess.Stage != StageTOTP || !u.HasTOTP() {
		return Started{}, ErrNoSession
	}
	if u.Locked(s.now()) {
		return Started{}, s.refuse(ctx, &u, u.Name, remote, "locked")
	}
	secret, err := s.openTOTP(u)
	if err != nil {
		return Started{}, err
	}
	step, ok := matchTOTP(secret, code, s.cfg.Now())
	if !ok {
		return Started{}, s.refuse(ctx, &u, u.Name, remote, "wrong TOTP code")
	}
	fresh, err := s.st.UseTOTPStep(ctx, u.ID, step)
	if err != nil {
		return Started{}, err
	}
	if !fresh {
		return Started{}, s.refuse(ctx, &u, u.Name, remote, "TOTP code reused")
	}
	u.TOTPStep = step
	return s.promote(ctx, sess, u, remote, "password+totp")
}

// promote replaces a pending session by a full one with a new token, so a
// token seen before the second factor is worth nothing after it.
func (s *Service) promote(ctx context.Context, sess Session, u User, remote, method string) (Started, error) {
	if err := s.st.DeleteSession(ctx, sess.ID); err != nil {
		return Started{}, err
	}
	return s.start(ctx, u, StageFull, remote, method)
}

// EnrolTOTP sets the user's second factor to secret once code proves the
// authenticator has it. From a StageEnrol session this completes the
// login (a new full session with a new token, as VerifyTOTP); from a full
// session it replaces the factor and the session stays (Token is ""). A
// user who has a factor must also give a code of it (current): a stolen
// session cannot replace the factor. A wrong current code is ErrBadLogin
// and counts towards the lockout.
func (s *Service) EnrolTOTP(ctx context.Context, sess Session, u User, secret []byte, code, current, remote string) (Started, error) {
	if sess.Stage == StageTOTP {
		return Started{}, ErrNoSession
	}
	if u.HasTOTP() {
		old, err := s.openTOTP(u)
		if err != nil {
			return Started{}, err
		}
		cur, ok := matchTOTP(old, current, s.cfg.Now())
		if !ok {
			return Started{}, s.refuse(ctx, &u, u.Name, remote, "wrong current TOTP code (replacing the factor)")
		}
		fresh, err := s.st.UseTOTPStep(ctx, u.ID, cur)
		if err != nil {
			return Started{}, err
		}
		if !fresh {
			return Started{}, s.refuse(ctx, &u, u.Name, remote, "current TOTP code reused (replacing the factor)")
		}
	}
	step, ok := matchTOTP(secret, code, s.cfg.Now())
	if !ok {
		return Started{}, fmt.Errorf("%w: the code does not match the secret (check the device's clock)", ErrInvalid)
	}
	sealedSecret, err := s.sealTOTP(u.ID, secret)
	if err != nil {
		return Started{}, err
	}
	u.TOTPSecret, u.TOTPStep = sealedSecret, step
	if err := s.update(ctx, u, false, Actor(u), "user.totp.enrol", remote, nil); err != nil {
		return Started{}, fmt.Errorf("enrol TOTP: %w", err)
	}
	if sess.Stage == StageEnrol {
		return s.promote(ctx, sess, u, remote, "password+totp-enrol")
	}
	return Started{Session: sess, User: u}, nil
}

// Logout ends a session and audits it.
func (s *Service) Logout(ctx context.Context, sess Session, u User, remote string) error {
	if err := s.st.DeleteSession(ctx, sess.ID); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return s.record(ctx, Actor(u), "logout", Actor(u), remote, nil)
}
