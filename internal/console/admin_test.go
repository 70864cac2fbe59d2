package console_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/apikey"
)

// TestAdminPages: what the users and API-key pages do, checked in the
// store: a created user's token (shown once) works; a role change and a
// disable end the user's sessions; a reset gives a new token; an admin
// cannot disable themself; a key's secret (shown once) authenticates until
// revoked; every act is audited.
func TestAdminPages(t *testing.T) {
	e := newEnv(t, sqliteDSN(t))
	ctx := context.Background()
	admin := e.session(t, "root", account.Admin)
	post := func(path string, form url.Values) (int, string) {
		t.Helper()
		resp := e.do(t, "POST", path, admin, form, nil)
		return resp.StatusCode, readBody(t, resp)
	}
	token := regexp.MustCompile(`id="token">(nigu_[A-Za-z0-9_-]+)<`)

	code, body := post("/ui/users", url.Values{"name": {"ana"}, "role": {"moderator"}})
	m := token.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		t.Fatalf("create user: %d\n%s", code, body)
	}
	if code, body := post("/ui/users", url.Values{"name": {"ana"}, "role": {"viewer"}}); code != http.StatusBadRequest || !strings.Contains(body, "exists") {
		t.Errorf("duplicate user: %d", code)
	}
	if code, _ := post("/ui/users", url.Values{"name": {"bob"}, "role": {"root"}}); code != http.StatusBadRequest {
		t.Errorf("unknown role: %d", code)
	}
	started, err := e.con.Accounts().FirstLogin(ctx, m[1], "a long enough password", "test")
	if err != nil {
		t.Fatalf("the shown token does not work: %v", err)
	}
	alive := func() bool {
		_, _, err := e.con.Accounts().Authenticate(ctx, started.Token)
		return err == nil
	}
	if !alive() {
		t.Fatal("new session not valid")
	}
	if code, _ := post("/ui/users/ana/role", url.Values{"role": {"curator"}}); code != http.StatusSeeOther {
		t.Fatalf("role change: %d", code)
	}
	if u, _ := e.st.UserByName(ctx, "ana"); u.Role != account.Curator {
		t.Errorf("role now %s", u.Role)
	}
	if alive() {
		t.Error("session survived a role change")
	}
	started, _ = e.con.Accounts().Login(ctx, "ana", "a long enough password", "test")
	if code, _ := post("/ui/users/ana/disable", nil); code != http.StatusSeeOther {
		t.Fatalf("disable: %d", code)
	}
	if alive() {
		t.Error("session survived disabling")
	}
	if _, err := e.con.Accounts().Login(ctx, "ana", "a long enough password", "test"); !errors.Is(err, account.ErrBadLogin) {
		t.Errorf("disabled user logs in: %v", err)
	}
	if code, _ := post("/ui/users/ana/enable", nil); code != http.StatusSeeOther {
		t.Fatalf("enable: %d", code)
	}
	code, body = post("/ui/users/ana/reset", nil)
	m2 := token.FindStringSubmatch(body)
	if code != http.StatusOK || m2 == nil || m2[1] == m[1] {
		t.Fatalf("reset: %d", code)
	}
	if _, err := e.con.Accounts().Login(ctx, "ana", "a long enough password", "test"); !errors.Is(err, account.ErrBadLogin) {
		t.Errorf("old password works after reset: %v", err)
	}
	if code, _ := post("/ui/users/root/disable", nil); code != http.StatusBadRequest {
		t.Errorf("admin disabled themself: %d", code)
	}
	if code, _ := post("/ui/users/ana/explode", nil); code != http.StatusNotFound {
		t.Errorf("unknown operation: %d", code)
	}
	// The users page lists without secrets.
	resp := e.do(t, "GET", "/ui/users", admin, nil, nil)
	if page := readBody(t, resp); strings.Contains(page, "$argon2id") || strings.Contains(page, m2[1]) || !strings.Contains(page, "setup pending") {
		t.Errorf("users page shows a secret or misses the state")
	}

	secretRe := regexp.MustCompile(`id="secret">(nig_[A-Za-z0-9_-]+)<`)
	code, body = post("/ui/apikeys", url.Values{"name": {"pipeline"}, "role": {"submitter"}})
	sm := secretRe.FindStringSubmatch(body)
	if code != http.StatusCreated || sm == nil {
		t.Fatalf("create key: %d", code)
	}
	k, err := apikey.Authenticate(ctx, e.st, sm[1])
	if err != nil || k.Role != apikey.Submitter || k.Name != "pipeline" {
		t.Fatalf("the shown secret: %+v %v", k, err)
	}
	resp = e.do(t, "GET", "/ui/apikeys", admin, nil, nil)
	if page := readBody(t, resp); strings.Contains(page, sm[1]) || !strings.Contains(page, "pipeline") {
		t.Error("keys page shows the secret again, or not the key")
	}
	if code, _ := post("/ui/apikeys/"+itoa(k.ID)+"/revoke", nil); code != http.StatusSeeOther {
		t.Fatalf("revoke: %d", code)
	}
	if _, err := apikey.Authenticate(ctx, e.st, sm[1]); !errors.Is(err, apikey.ErrRevoked) {
		t.Errorf("revoked key: %v", err)
	}
	if code, _ := post("/ui/apikeys/999/revoke", nil); code != http.StatusNotFound {
		t.Errorf("revoke of a missing key: %d", code)
	}

	acts := auditActions(t, e.st)
	for _, want := range []string{"user.create user:2 (ana)", "user.role user:2", "user.disable user:2", "user.enable user:2",
		"user.reset user:2", "apikey.create 1", "apikey.revoke 1"} {
		if !hasAction(acts, want) {
			t.Errorf("audit lacks %q: %v", want, acts)
		}
	}
	es, _ := e.st.ListAudit(ctx, 0, 1000)
	for _, en := range es {
		if strings.HasPrefix(en.Action, "apikey.") && en.Actor != "user:1 (root)" {
			t.Errorf("%s audited as %q", en.Action, en.Actor)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
