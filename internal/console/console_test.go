package console_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/alert"
	"github.com/nigehban/nigehban/internal/alert/alerttest"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/console"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/report"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// env is a console over a fresh store, served on a loopback port.
type env struct {
	st  store.Store
	con *console.Console
	srv *httptest.Server
	sig bank.Signal // a signal of bank "b1"
	// desk is the missing-child desk; case sig.ID has a test alert drafted.
	desk *alert.Service
}

var testKDF = account.KDF{Time: 1, Memory: 1024, Threads: 1}

// testDataKeys is a fresh data key ring: TOTP secrets are sealed with it.
func testDataKeys(t testing.TB) *sealed.Ring {
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

func newEnv(t *testing.T, dsn string) *env { t.Helper(); return newEnvWith(t, dsn, nil) }

// newEnvWith is newEnv with the console's Config changed by setup.
func newEnvWith(t *testing.T, dsn string, setup func(*console.Config)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	desk := alert.NewService(st, alerttest.Ring(t), alert.Config{}, nil)
	cfg := console.Config{InsecureCookies: true, DataKeys: testDataKeys(t), WebhookAllowPrivate: true, Account: account.Config{KDF: testKDF},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Alerts: desk}
	if setup != nil {
		setup(&cfg)
	}
	con, err := console.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	svc := bank.NewService(st)
	if _, err := svc.CreateBank(ctx, bank.NewBank("b1"), testActor); err != nil {
		t.Fatal(err)
	}
	sig, _, err := svc.AddSignal(ctx, "b1", bank.Signal{Type: bank.MD5, Value: "0123456789abcdef0123456789abcdef",
		Category: "test-category", Source: "unit", Quality: -1}, testActor)
	if err != nil {
		t.Fatal(err)
	}
	// A missing-child case with the same id as the signal, so pages with
	// an {id} find one (its test alert drafted: the test-mode look).
	if c, err := desk.Intake(ctx, alerttest.Intake(time.Now().Add(-time.Hour)), testActor); err != nil || c.ID != sig.ID {
		t.Fatalf("missing-child case: %v", err)
	} else if _, err := desk.Draft(ctx, c.ID, alert.DraftRequest{Tier: alert.TierAlert, Test: true}, testActor); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, con.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{st: st, con: con, srv: srv, sig: sig, desk: desk}
}

func sqliteDSN(t *testing.T) string { return storetest.SQLitePath(t) }

// session makes a user with role (unless it exists) and a logged-in
// session for them, written to the store as a finished login would, and
// returns its cookie value.
func (e *env) session(t *testing.T, name string, role account.Role) string {
	t.Helper()
	ctx := context.Background()
	u, err := e.st.UserByName(ctx, name)
	if err != nil {
		if u, _, err = e.con.Accounts().Create(ctx, name, role, "test"); err != nil {
			t.Fatal(err)
		}
	}
	var b [32]byte
	rand.Read(b[:])
	tok := "nigs_" + base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(tok))
	now := time.Now().UTC()
	if _, err := e.st.CreateSession(ctx, account.Session{Hash: h[:], UserID: u.ID, Stage: account.StageFull,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour), Remote: "test"}); err != nil {
		t.Fatal(err)
	}
	return tok
}

// do sends one request without following redirects.
func (e *env) do(t *testing.T, method, path, cookie string, form url.Values, hdr map[string]string) *http.Response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "nigehban_session", Value: cookie})
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRouteAccess walks every page of the route table with every role (and
// none) over plain HTTP: below the page's role it is 403, without a session
// a redirect to the login, at or above it never either.
func TestRouteAccess(t *testing.T) {
	e := newEnv(t, sqliteDSN(t))
	e.session(t, "other", account.Viewer)
	for _, p := range console.PageTable() {
		for _, role := range append([]account.Role{""}, account.Roles...) {
			name := p.Method + " " + p.Path + " as " + string(role)
			if role == "" {
				name = p.Method + " " + p.Path + " without session"
			}
			t.Run(name, func(t *testing.T) {
				path := strings.NewReplacer("{name}", "b1", "{id}", strconv.FormatInt(e.sig.ID, 10), "{op}", "role", "{$}", "").Replace(p.Path)
				if strings.HasPrefix(p.Path, "/ui/users/") {
					path = "/ui/users/other/role"
				}
				cookie := ""
				if role != "" {
					cookie = e.session(t, "u-"+string(role), role)
				}
				var form url.Values
				if p.Method == "POST" {
					form = url.Values{}
				}
				resp := e.do(t, p.Method, path, cookie, form, nil)
				body := readBody(t, resp)
				loc := resp.Header.Get("Location")
				switch {
				case p.Access == "public":
					if resp.StatusCode == http.StatusForbidden || strings.HasPrefix(loc, "/ui/login") {
						t.Errorf("public page: %d %s", resp.StatusCode, loc)
					}
				case role == "":
					if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/ui/login") {
						t.Errorf("without session: %d, Location %q; want 303 to /ui/login", resp.StatusCode, loc)
					}
				case p.Access == "role" && !role.Allows(p.Role):
					if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "needs the "+string(p.Role)) {
						t.Errorf("role %s on a %s page: %d; want 403", role, p.Role, resp.StatusCode)
					}
				case p.Access == "session": // logout
					if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Set-Cookie"), "Max-Age=0") {
						t.Errorf("logout: %d, Set-Cookie %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
					}
					if r := e.do(t, "GET", "/ui/banks", cookie, nil, nil); r.StatusCode != http.StatusSeeOther {
						t.Errorf("session still valid after logout: %d", r.StatusCode)
					}
				case p.Access == "totp":
					if resp.StatusCode != http.StatusSeeOther || loc != "/ui/" {
						t.Errorf("TOTP step with a full session: %d %q; want 303 to /ui/", resp.StatusCode, loc)
					}
				default:
					if resp.StatusCode == http.StatusForbidden || strings.HasPrefix(loc, "/ui/login") || resp.StatusCode >= 500 {
						t.Errorf("allowed role %s: %d %q\n%s", role, resp.StatusCode, loc, body)
					}
				}
			})
		}
	}
}

// inlineScript finds script elements without src, event-handler attributes,
// style attributes and javascript: URLs: all refused by the CSP, so a page
// using them would be broken as well as unsafe.
var (
	scriptTag  = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	inlineAttr = regexp.MustCompile(`(?i)\son[a-z]+\s*=|\sstyle\s*=|javascript:|<style\b`)
)

func inlineCode(html string) string {
	for _, m := range scriptTag.FindAllStringSubmatch(html, -1) {
		if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
			return m[0]
		}
	}
	return inlineAttr.FindString(html)
}

// TestSecurityHeaders: every page, for an admin (who sees every page) and
// without a session, carries the strict CSP and the other security
// headers, and has no inline script or style.
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, sqliteDSN(t))
	admin := e.session(t, "root", account.Admin)
	// An exchange named like the bank, so /ui/exchanges/{name} has a page.
	if _, err := e.st.CreateExchange(context.Background(), exchange.Exchange{Name: "b1", Kind: exchange.KindHashList, Bank: "b1",
		URL: "https://lists.example.org/b1.txt", Enabled: true}, testActor); err != nil {
		t.Fatal(err)
	}
	// A report case with the signal's id, so /ui/reports/{id} has a page.
	if rc, err := e.st.CreateReportCase(context.Background(), report.Case{OpenedBy: "alice", UpdatedBy: "alice", State: report.StateOpen},
		func(int64) (string, error) { return "sealed", nil },
		func(id int64) audit.Entry { return testActor.Entry(report.ActOpen, report.Target(id), nil) }); err != nil || rc.ID != e.sig.ID {
		t.Fatalf("report case %d: %v", rc.ID, err)
	}
	paths := []string{"/ui/login", "/ui/setup", "/ui/nope", "/ui/static/style.css", "/ui/static/app.js"}
	for _, p := range console.PageTable() {
		if p.Method == "GET" {
			paths = append(paths, strings.NewReplacer("{name}", "b1", "{id}", strconv.FormatInt(e.sig.ID, 10), "{$}", "").Replace(p.Path))
		}
	}
	want := map[string]string{
		"Content-Security-Policy": console.CSP,
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
	}
	if !strings.Contains(console.CSP, "default-src 'self'") || strings.Contains(console.CSP, "unsafe-") {
		t.Fatalf("CSP %q is not strict", console.CSP)
	}
	for _, path := range paths {
		for _, cookie := range []string{"", admin} {
			resp := e.do(t, "GET", path, cookie, nil, nil)
			body := readBody(t, resp)
			// An import's page exists only while this replica remembers the import.
			missing := path == "/ui/nope" || strings.HasPrefix(path, "/ui/imports/") && resp.StatusCode == http.StatusNotFound
			if cookie != "" && !missing && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSeeOther {
				t.Errorf("GET %s as admin: %d\n%s", path, resp.StatusCode, body)
			}
			for k, v := range want {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("GET %s: %s = %q, want %q", path, k, got, v)
				}
			}
			if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				if m := inlineCode(body); m != "" {
					t.Errorf("GET %s: inline script or style %q", path, m)
				}
				if resp.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("GET %s: page cacheable", path)
				}
			}
		}
	}
}

// TestCrossOrigin: a state change from another origin is refused even with
// a valid session (and changes nothing); the same request from this origin
// passes.
func TestCrossOrigin(t *testing.T) {
	e := newEnv(t, sqliteDSN(t))
	cur := e.session(t, "cur", account.Curator)
	add := url.Values{"type": {"md5"}, "value": {"ffffffffffffffffffffffffffffffff"}}
	for _, hdr := range []map[string]string{
		{"Origin": "http://evil.example"},
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site", "Origin": "http://sub.127.0.0.1"},
	} {
		resp := e.do(t, "POST", "/ui/banks/b1/signals", cur, add, hdr)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "another site") {
			t.Errorf("%v: %d, want 403", hdr, resp.StatusCode)
		}
		if resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%v: refusal without CSP", hdr)
		}
	}
	if _, err := e.st.FindSignal(context.Background(), "b1", bank.MD5, "ffffffffffffffffffffffffffffffff"); err == nil {
		t.Fatal("a cross-origin request added a signal")
	}
	resp := e.do(t, "POST", "/ui/banks/b1/signals", cur, add, map[string]string{"Origin": e.srv.URL, "Sec-Fetch-Site": "same-origin"})
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("same-origin add: %d", resp.StatusCode)
	}
	if _, err := e.st.FindSignal(context.Background(), "b1", bank.MD5, "ffffffffffffffffffffffffffffffff"); err != nil {
		t.Fatalf("same-origin add did not add: %v", err)
	}
	// Login forms are protected too (login CSRF).
	resp = e.do(t, "POST", "/ui/login", "", url.Values{"name": {"cur"}, "password": {"x"}}, map[string]string{"Origin": "http://evil.example"})
	readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin login: %d, want 403", resp.StatusCode)
	}
}

// TestLoginFlow over HTTP: first login with the setup token, cookie
// attributes, logout, wrong passwords up to the lockout.
func TestLoginFlow(t *testing.T) {
	dsns := map[string]string{"sqlite": sqliteDSN(t)}
	if os.Getenv(storetest.PostgresEnv) != "" || os.Getenv("CI") == "true" {
		dsns["postgres"] = storetest.PostgresURL(t)
	}
	for engine, dsn := range dsns {
		t.Run(engine, func(t *testing.T) {
			e := newEnv(t, dsn)
			ctx := context.Background()
			_, tok, err := e.con.Accounts().Create(ctx, "ana", account.Curator, "test")
			if err != nil {
				t.Fatal(err)
			}
			jar, _ := cookiejar.New(nil)
			cl := &http.Client{Jar: jar}
			resp, err := cl.PostForm(e.srv.URL+"/ui/setup", url.Values{"token": {tok}, "password": {"a long enough password"}, "password2": {"a long enough password"}})
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != 200 || resp.Request.URL.Path != "/ui/" || !strings.Contains(body, "Overview") {
				t.Fatalf("after setup: %d %s", resp.StatusCode, resp.Request.URL)
			}
			u, _ := url.Parse(e.srv.URL)
			if len(jar.Cookies(u)) != 1 {
				t.Fatalf("cookies %v", jar.Cookies(u))
			}
			// Cookie attributes, from a fresh login's Set-Cookie.
			resp = e.do(t, "POST", "/ui/login", "", url.Values{"name": {"ana"}, "password": {"a long enough password"}}, nil)
			readBody(t, resp)
			sc := resp.Header.Get("Set-Cookie")
			for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
				if !strings.Contains(sc, attr) {
					t.Errorf("Set-Cookie %q lacks %s", sc, attr)
				}
			}
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
				t.Errorf("login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			// An off-site ?next is ignored.
			resp = e.do(t, "POST", "/ui/login", "", url.Values{"name": {"ana"}, "password": {"a long enough password"}, "next": {"//evil.example/"}}, nil)
			readBody(t, resp)
			if loc := resp.Header.Get("Location"); loc != "/ui/" {
				t.Errorf("login with an off-site next went to %q", loc)
			}
			resp, err = cl.PostForm(e.srv.URL+"/ui/logout", nil)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			if resp.Request.URL.Path != "/ui/login" {
				t.Errorf("after logout at %s", resp.Request.URL)
			}
			resp, _ = cl.Get(e.srv.URL + "/ui/banks")
			readBody(t, resp)
			if resp.Request.URL.Path != "/ui/login" {
				t.Errorf("after logout /ui/banks answered at %s", resp.Request.URL)
			}
			for i := range 6 {
				resp = e.do(t, "POST", "/ui/login", "", url.Values{"name": {"ana"}, "password": {"wrong password " + strconv.Itoa(i)}}, nil)
				if body := readBody(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Login refused") {
					t.Fatalf("wrong password %d: %d", i, resp.StatusCode)
				}
			}
			resp = e.do(t, "POST", "/ui/login", "", url.Values{"name": {"ana"}, "password": {"a long enough password"}}, nil)
			if readBody(t, resp); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("right password after lockout: %d, want 401", resp.StatusCode)
			}
		})
	}
}

// TestLoginThrottle: one address guessing many names is answered 429
// after 30 failures, without a password check or an audit entry each.
func TestLoginThrottle(t *testing.T) {
	e := newEnv(t, sqliteDSN(t))
	for i := range 30 {
		resp := e.do(t, "POST", "/ui/login", "", url.Values{"name": {"guess" + strconv.Itoa(i)}, "password": {"x"}}, nil)
		if readBody(t, resp); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, resp.StatusCode)
		}
	}
	for _, path := range []string{"/ui/login", "/ui/setup"} {
		resp := e.do(t, "POST", path, "", url.Values{"name": {"guess"}, "password": {"x"}, "token": {"nigu_x"}}, nil)
		if body := readBody(t, resp); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
			!strings.Contains(body, "Too many") {
			t.Errorf("%s after 30 failures: %d", path, resp.StatusCode)
		}
	}
	if n := count(auditActions(t, e.st), "login.fail"); n != 30 {
		t.Errorf("%d login.fail entries, want 30 (throttled attempts are not checked)", n)
	}
}

func count(acts []string, prefix string) int {
	n := 0
	for _, a := range acts {
		if strings.HasPrefix(a, prefix+" ") {
			n++
		}
	}
	return n
}

// testActor is who the tests' direct store changes are audited as.
var testActor = audit.Actor{Name: "test"}
