package account_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

func TestRFC6238(t *testing.T) {
	f, err := os.Open("testdata/rfc6238.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	secret := []byte("12345678901234567890")
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ts, want, _ := strings.Cut(line, " ")
		unix, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		step := account.TOTPStep(time.Unix(unix, 0))
		if got := account.HOTP(secret, uint64(step), 8); got != want {
			t.Errorf("T=%d: got %s, want %s", unix, got, want)
		}
		n++
	}
	if n != 6 {
		t.Fatalf("read %d vectors, want 6", n)
	}
}

func TestTOTPSecretRoundTrip(t *testing.T) {
	s, err := account.NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	enc := account.EncodeTOTPSecret(s)
	got, err := account.DecodeTOTPSecret(strings.ToLower(enc[:8]) + " " + enc[8:])
	if err != nil || string(got) != string(s) {
		t.Fatalf("decode(%q) = %x, %v; want %x", enc, got, err, s)
	}
	uri := account.TOTPURI("Nigehban", "ana", s)
	if !strings.HasPrefix(uri, "otpauth://totp/Nigehban:ana?") || !strings.Contains(uri, "secret="+enc) {
		t.Errorf("URI %q", uri)
	}
}

var testKDF = account.KDF{Time: 1, Memory: 1024, Threads: 1}

func TestPassword(t *testing.T) {
	h, err := testKDF.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := testKDF.HashPassword("correct horse battery")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	tests := []struct {
		name, hash, pw string
		want           bool
	}{
		{"right", h, "correct horse battery", true},
		{"wrong", h, "correct horse batterz", false},
		{"empty", h, "", false},
		{"malformed", "$argon2id$v=19$m=1024,t=1,p=1$bad", "correct horse battery", false},
		{"other algorithm", strings.Replace(h, "argon2id", "argon2i", 1), "correct horse battery", false},
		{"huge memory", strings.Replace(h, "m=1024", "m=4194304", 1), "correct horse battery", false},
		{"no hash", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := account.VerifyPassword(tt.hash, tt.pw); got != tt.want {
				t.Errorf("VerifyPassword = %v, want %v", got, tt.want)
			}
		})
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Errorf("hash %q not in PHC form", h)
	}
}

func TestRoles(t *testing.T) {
	tests := []struct {
		have, need account.Role
		want       bool
	}{
		{account.Viewer, account.Viewer, true},
		{account.Viewer, account.Moderator, false},
		{account.Moderator, account.ChildSafety, false},
		{account.ChildSafety, account.Moderator, true},
		{account.Curator, account.ChildSafety, true},
		{account.Curator, account.Admin, false},
		{account.Admin, account.Curator, true},
		{account.Admin, "", false},
		{"", account.Viewer, false},
	}
	for _, tt := range tests {
		if got := tt.have.Allows(tt.need); got != tt.want {
			t.Errorf("%q.Allows(%q) = %v, want %v", tt.have, tt.need, got, tt.want)
		}
	}
	if _, err := account.ParseRole("superuser"); !errors.Is(err, account.ErrInvalid) {
		t.Errorf("ParseRole(superuser) = %v", err)
	}
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func engines(t *testing.T) map[string]string {
	m := map[string]string{"sqlite": storetest.SQLitePath(t)}
	if os.Getenv(storetest.PostgresEnv) != "" || os.Getenv("CI") == "true" {
		m["postgres"] = storetest.PostgresURL(t)
	}
	return m
}

func newService(t *testing.T, dsn string) (*account.Service, store.Store, *clock) {
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	return account.NewService(st, st, account.Config{KDF: testKDF, Now: c.now, Keys: testKeys(t)}), st, c
}

func testKeys(t *testing.T) *sealed.Ring {
	t.Helper()
	line, err := sealed.NewKeyLine("test")
	if err != nil {
		t.Fatal(err)
	}
	r, err := sealed.Parse(strings.NewReader(line))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func actions(t *testing.T, st audit.Store) []string {
	es, err := st.ListAudit(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Action)
	}
	return out
}

func count(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

const pw = "a long enough password"

func TestService(t *testing.T) {
	for name, dsn := range engines(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			svc, st, clk := newService(t, dsn)
			u, tok, err := svc.Create(ctx, "ana", account.Moderator, "cli:test")
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := svc.Create(ctx, "ana", account.Viewer, "cli:test"); !errors.Is(err, account.ErrExists) {
				t.Fatalf("second create: %v, want ErrExists", err)
			}
			if _, err := svc.Login(ctx, "ana", pw, "10.0.0.1"); !errors.Is(err, account.ErrBadLogin) {
				t.Fatalf("login before first login: %v", err)
			}
			if _, err := svc.FirstLogin(ctx, tok, "short", "10.0.0.1"); !errors.Is(err, account.ErrInvalid) {
				t.Fatalf("short password: %v", err)
			}
			s, err := svc.FirstLogin(ctx, tok, pw, "10.0.0.1")
			if err != nil || s.Session.Stage != account.StageFull || s.User.ID != u.ID {
				t.Fatalf("first login: %+v, %v", s, err)
			}
			if _, err := svc.FirstLogin(ctx, tok, pw, "10.0.0.1"); !errors.Is(err, account.ErrBadLogin) {
				t.Fatalf("setup token reused: %v", err)
			}
			sess, got, err := svc.Authenticate(ctx, s.Token)
			if err != nil || got.Name != "ana" || sess.ID != s.Session.ID {
				t.Fatalf("authenticate: %v %v", got, err)
			}
			if _, _, err := svc.Authenticate(ctx, s.Token+"x"); !errors.Is(err, account.ErrNoSession) {
				t.Fatalf("wrong token: %v", err)
			}

			// Lockout: MaxFailures wrong passwords, then even the right one fails.
			for i := range 5 {
				_, err := svc.Login(ctx, "ana", "wrong password!!", "10.0.0.2")
				if i < 4 && (!errors.Is(err, account.ErrBadLogin) || errors.Is(err, account.ErrLocked)) {
					t.Fatalf("failure %d: %v", i+1, err)
				}
				if i == 4 && !errors.Is(err, account.ErrLocked) {
					t.Fatalf("failure 5: %v, want ErrLocked", err)
				}
			}
			if _, err := svc.Login(ctx, "ana", pw, "10.0.0.2"); !errors.Is(err, account.ErrLocked) {
				t.Fatalf("right password while locked: %v", err)
			}
			clk.add(16 * time.Minute)
			s2, err := svc.Login(ctx, "ana", pw, "10.0.0.2")
			if err != nil {
				t.Fatalf("login after lock expired: %v", err)
			}
			if u, _ := st.UserByName(ctx, "ana"); u.FailedLogins != 0 || u.LockedUntil != nil || u.LastLoginAt == nil {
				t.Errorf("after login: failures %d, locked %v, last login %v", u.FailedLogins, u.LockedUntil, u.LastLoginAt)
			}

			// Idle and absolute expiry; logout.
			clk.add(31 * time.Minute)
			if _, _, err := svc.Authenticate(ctx, s2.Token); !errors.Is(err, account.ErrNoSession) {
				t.Fatalf("idle session: %v", err)
			}
			s3, _ := svc.Login(ctx, "ana", pw, "10.0.0.2")
			for range 25 { // active every 29 minutes, for over 12 h
				clk.add(29 * time.Minute)
				if _, _, err := svc.Authenticate(ctx, s3.Token); err != nil {
					break
				}
			}
			if _, _, err := svc.Authenticate(ctx, s3.Token); !errors.Is(err, account.ErrNoSession) {
				t.Fatalf("session past its absolute expiry: %v", err)
			}
			s4, _ := svc.Login(ctx, "ana", pw, "10.0.0.2")
			sess4, u4, _ := svc.Authenticate(ctx, s4.Token)
			if err := svc.Logout(ctx, sess4, u4, "10.0.0.2"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := svc.Authenticate(ctx, s4.Token); !errors.Is(err, account.ErrNoSession) {
				t.Fatalf("after logout: %v", err)
			}

			// Disabling ends sessions and logins.
			s5, _ := svc.Login(ctx, "ana", pw, "10.0.0.2")
			if _, err := svc.SetDisabled(ctx, "ana", true, "cli:test"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := svc.Authenticate(ctx, s5.Token); !errors.Is(err, account.ErrNoSession) {
				t.Fatalf("disabled user's session: %v", err)
			}
			if _, err := svc.Login(ctx, "ana", pw, "10.0.0.2"); !errors.Is(err, account.ErrBadLogin) {
				t.Fatalf("disabled user's login: %v", err)
			}
			if _, err := svc.Login(ctx, "nobody", pw, "10.0.0.3"); !errors.Is(err, account.ErrBadLogin) {
				t.Fatalf("unknown user: %v", err)
			}

			acts := actions(t, st)
			for act, want := range map[string]int{"user.create": 1, "user.password": 1, "login": 5, "login.fail": 10,
				"login.lockout": 1, "logout": 1, "user.disable": 1} {
				if got := count(acts, act); got != want {
					t.Errorf("audit has %d %s entries, want %d (%v)", got, act, want, acts)
				}
			}
			if _, err := audit.VerifyStore(ctx, st); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestAdminTOTP(t *testing.T) {
	for name, dsn := range engines(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			svc, st, clk := newService(t, dsn)
			_, tok, err := svc.Create(ctx, "root", account.Admin, "cli:test")
			if err != nil {
				t.Fatal(err)
			}
			s, err := svc.FirstLogin(ctx, tok, pw, "::1")
			if err != nil || s.Session.Stage != account.StageEnrol {
				t.Fatalf("admin first login: stage %q, %v", s.Session.Stage, err)
			}
			secret, _ := account.NewTOTPSecret()
			if _, err := svc.EnrolTOTP(ctx, s.Session, s.User, secret, "000000", "", "::1"); !errors.Is(err, account.ErrInvalid) &&
				account.TOTPCode(secret, clk.now()) != "000000" {
				t.Fatalf("enrol with a wrong code: %v", err)
			}
			if _, _, err := svc.Authenticate(ctx, s.Token); err != nil {
				t.Fatalf("pending session: %v", err)
			}
			en, err := svc.EnrolTOTP(ctx, s.Session, s.User, secret, account.TOTPCode(secret, clk.now()), "", "::1")
			if err != nil || en.Session.Stage != account.StageFull || en.Token == "" || en.Token == s.Token {
				t.Fatalf("enrol: stage %v, token renewed %v, %v", en.Session.Stage, en.Token != s.Token, err)
			}
			if _, _, err := svc.Authenticate(ctx, s.Token); !errors.Is(err, account.ErrNoSession) {
				t.Fatalf("the pending session's token still works after enrolment: %v", err)
			}
			// The secret is stored sealed, not in clear.
			if u, _ := st.UserByName(ctx, "root"); !sealed.IsSealed(u.TOTPSecret) || bytes.Contains(u.TOTPSecret, secret) {
				t.Fatalf("TOTP secret stored in clear: %x", u.TOTPSecret)
			}
			// A later login needs a code; the code just used is refused.
			s2, err := svc.Login(ctx, "root", pw, "::1")
			if err != nil || s2.Session.Stage != account.StageTOTP {
				t.Fatalf("login: stage %q, %v", s2.Session.Stage, err)
			}
			if _, err := svc.VerifyTOTP(ctx, s2.Session, s2.User, account.TOTPCode(secret, clk.now()), "::1"); !errors.Is(err, account.ErrBadLogin) {
				t.Fatalf("reused code: %v", err)
			}
			clk.add(30 * time.Second)
			code := account.TOTPCode(secret, clk.now())
			u, _ := st.UserByName(ctx, "root")
			full, err := svc.VerifyTOTP(ctx, s2.Session, u, code, "::1")
			if err != nil || full.Session.Stage != account.StageFull {
				t.Fatalf("verify: %v %v", full.Session.Stage, err)
			}
			got, _, err := svc.Authenticate(ctx, full.Token)
			if err != nil || got.Stage != account.StageFull {
				t.Fatalf("session after TOTP: %v %v", got.Stage, err)
			}
			if _, _, err := svc.Authenticate(ctx, s2.Token); !errors.Is(err, account.ErrNoSession) {
				t.Fatalf("the pending session's token still works after TOTP: %v", err)
			}
			// A session waiting for its code ends after 10 minutes.
			s4, _ := svc.Login(ctx, "root", pw, "::1")
			clk.add(9 * time.Minute)
			if _, _, err := svc.Authenticate(ctx, s4.Token); err != nil {
				t.Fatalf("pending session after 9 min: %v", err)
			}
			clk.add(2 * time.Minute)
			if _, _, err := svc.Authenticate(ctx, s4.Token); !errors.Is(err, account.ErrNoSession) {
				t.Fatalf("pending session after 11 min: %v", err)
			}
			// Replacing the factor from a full session needs a fresh code of the current one.
			u, _ = st.UserByName(ctx, "root")
			sessFull, _, _ := svc.Authenticate(ctx, full.Token)
			clk.add(30 * time.Second)
			secret2, _ := account.NewTOTPSecret()
			newCode := account.TOTPCode(secret2, clk.now())
			if _, err := svc.EnrolTOTP(ctx, sessFull, u, secret2, newCode, "", "::1"); !errors.Is(err, account.ErrBadLogin) {
				t.Fatalf("replace without the current code: %v", err)
			}
			if _, err := svc.EnrolTOTP(ctx, sessFull, u, secret2, newCode, account.TOTPCode(secret, clk.now()), "::1"); err != nil {
				t.Fatalf("replace with the current code: %v", err)
			}
			// The new factor's codes log in.
			clk.add(30 * time.Second)
			s5, err := svc.Login(ctx, "root", pw, "::1")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.VerifyTOTP(ctx, s5.Session, s5.User, account.TOTPCode(secret2, clk.now()), "::1"); err != nil {
				t.Fatalf("factor not replaced: %v", err)
			}
			// Reset clears password and factor and ends sessions.
			_, tok2, err := svc.Reset(ctx, "root", "cli:test")
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := svc.Authenticate(ctx, full.Token); !errors.Is(err, account.ErrNoSession) {
				t.Fatalf("session after reset: %v", err)
			}
			s3, err := svc.FirstLogin(ctx, tok2, pw+"2", "::1")
			if err != nil || s3.Session.Stage != account.StageEnrol || s3.User.HasTOTP() {
				t.Fatalf("after reset: stage %q, totp %v, %v", s3.Session.Stage, s3.User.HasTOTP(), err)
			}
		})
	}
}

// BenchmarkHashPassword is the cost of one login's password check with
// the default argon2id parameters (64 MiB, t=3, p=4).
func BenchmarkHashPassword(b *testing.B) {
	h, err := account.DefaultKDF.HashPassword("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !account.VerifyPassword(h, "correct horse battery staple") {
			b.Fatal("no match")
		}
	}
}

func TestTOTPNeedsDataKey(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.SQLitePath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	svc := account.NewService(st, st, account.Config{KDF: testKDF, Now: clk.now})
	_, tok, err := svc.Create(ctx, "root", account.Admin, "cli:test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := svc.FirstLogin(ctx, tok, pw, "::1")
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := account.NewTOTPSecret()
	_, err = svc.EnrolTOTP(ctx, s.Session, s.User, secret, account.TOTPCode(secret, clk.now()), "", "::1")
	if !errors.Is(err, account.ErrNoDataKey) || !strings.Contains(err.Error(), "--data-key") {
		t.Fatalf("enrol without a data key: %v, want ErrNoDataKey naming --data-key", err)
	}
	if u, _ := st.UserByName(ctx, "root"); u.HasTOTP() {
		t.Fatal("a secret was stored without a data key")
	}
}

// An account change and its audit entry are one transaction: the entry
// names the user by the id the insert gave it, and a change to a user that
// does not exist leaves no entry.
func TestAccountChangesAuditedInTransaction(t *testing.T) {
	for name, dsn := range engines(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			svc, st, _ := newService(t, dsn)
			u, _, err := svc.Create(ctx, "mod", account.Moderator, "cli:test")
			if err != nil {
				t.Fatal(err)
			}
			es, err := st.ListAudit(ctx, 0, 100)
			if err != nil || len(es) != 1 || es[0].Action != "user.create" || es[0].Target != account.Actor(u) {
				t.Fatalf("after create: %+v, %v", es, err)
			}
			ghost := u
			ghost.ID = 9999
			e := audit.Entry{Actor: "t", Action: "user.role", Target: "ghost"}
			if err := st.UpdateUser(ctx, ghost, account.Change{Audit: &e, EndSessions: true}); !errors.Is(err, account.ErrNotFound) {
				t.Fatalf("update of a missing user: %v", err)
			}
			if es, _ := st.ListAudit(ctx, 0, 100); len(es) != 1 {
				t.Fatalf("a failed change left an audit entry: %+v", es)
			}
			if _, err := svc.SetRole(ctx, "mod", account.Curator, "cli:test"); err != nil {
				t.Fatal(err)
			}
			if got := actions(t, st); strings.Join(got, ",") != "user.create,user.role" {
				t.Fatalf("actions %v", got)
			}
		})
	}
}
