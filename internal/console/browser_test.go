package console_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/alert"
	"github.com/nigehban/nigehban/internal/alert/alerttest"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/browsertest"
	"github.com/nigehban/nigehban/internal/console"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// Browser tests drive the real pages in headless Chromium
// (internal/browsertest).

// testClock is the console's clock in browser tests, so TOTP steps can be
// advanced without waiting.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// site is a console served over plain HTTP on loopback, and a browser.
type site struct {
	st      store.Store
	con     *console.Console
	url     string
	clock   *testClock
	browser context.Context // the browser's first tab
	desk    *alert.Service  // the missing-child desk
	dsn     string          // the store's database
}

func newSite(t *testing.T) *site { return newSiteWith(t, nil) }

// newSiteWith is newSite with the console's Config changed by setup.
func newSiteWith(t *testing.T, setup func(*console.Config)) *site {
	t.Helper()
	bin := browsertest.Chromium(t)
	ctx := context.Background()
	dsn := storetest.SQLitePath(t)
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &testClock{}
	desk := alert.NewService(st, alerttest.Ring(t), alert.Config{}, nil)
	cfg := console.Config{InsecureCookies: true, DataKeys: testDataKeys(t), Alerts: desk,
		Account: account.Config{KDF: testKDF, Now: clk.now}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
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
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, con.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	browser := browsertest.Start(t, bin)
	return &site{st: st, con: con, url: srv.URL, clock: clk, browser: browser, desk: desk, dsn: dsn}
}

// tab opens a tab in a browser context of its own (its own cookies), for
// one person.
func (s *site) tab(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(s.browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start browser: %v", err)
	}
	return ctx
}

// user creates a user and returns their setup token.
func (s *site) user(t *testing.T, name string, role account.Role) string {
	t.Helper()
	_, tok, err := s.con.Accounts().Create(context.Background(), name, role, "test")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

const password = "correct horse battery staple"

// step runs actions with a deadline, failing the test on error.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s (at %s): %v", what, loc, err)
	}
}

// submit clicks a form's button and waits until the next page has loaded.
func submit(t *testing.T, ctx context.Context, button string) {
	t.Helper()
	step(t, ctx, "mark page", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool]("window.__old = true")(ctx, tg)
		return err
	}))
	step(t, ctx, "click "+button, chromedp.Click(chromedp.CSS(button)))
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("window.__old !== true && document.readyState === 'complete'"))
		if err == nil && ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no new page after clicking %s", button)
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("text of %s (at %s): %v", sel, loc, err)
	}
	return s
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func (s *site) open(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	step(t, ctx, "open "+path, chromedp.Navigate(s.url+path))
}

// firstLogin sets a password with a setup token in the browser.
func (s *site) firstLogin(t *testing.T, ctx context.Context, token string) {
	t.Helper()
	s.open(t, ctx, "/ui/setup")
	step(t, ctx, "fill setup form",
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.SendKeys(chromedp.CSS("#password2"), password))
	submit(t, ctx, "#submit")
}

func (s *site) login(t *testing.T, ctx context.Context, name, pw string) {
	t.Helper()
	s.open(t, ctx, "/ui/login")
	step(t, ctx, "fill login form",
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#password"), pw))
	submit(t, ctx, "#submit")
}

func auditActions(t *testing.T, st audit.Store) []string {
	t.Helper()
	es, err := st.ListAudit(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Action+" "+e.Target)
	}
	return out
}

func hasAction(acts []string, prefix string) bool {
	for _, a := range acts {
		if strings.HasPrefix(a, prefix) {
			return true
		}
	}
	return false
}

// TestBrowserLogin: a curator sets a password with the setup token, logs
// out, fails to log in with a wrong password, is locked out after five,
// and the lockout is audited; while logged in they add a signal and remove
// it with a reason.
func TestBrowserLogin(t *testing.T) {
	s := newSite(t)
	ctx := s.tab(t)
	s.firstLogin(t, ctx, s.user(t, "ana", account.Curator))
	if loc := location(t, ctx); loc != s.url+"/ui/" {
		t.Fatalf("after first login at %s", loc)
	}
	if got := text(t, ctx, "#bank-count"); got != "1" {
		t.Errorf("overview bank count %q", got)
	}
	if cookies := eval[string](t, ctx, "document.cookie"); cookies != "" {
		t.Errorf("session cookie readable by script: %q", cookies)
	}

	// Curate through the pages: add a signal, find it, remove it with a reason.
	const md5 = "0123456789abcdef0123456789abcdef"
	s.open(t, ctx, "/ui/banks/b1")
	step(t, ctx, "fill add form",
		chromedp.SendKeys(chromedp.CSS("#add-type"), "md5"),
		chromedp.SendKeys(chromedp.CSS("#add-value"), md5),
		chromedp.SendKeys(chromedp.CSS("#add-category"), "browser-test"))
	submit(t, ctx, "#add-submit")
	if got := text(t, ctx, "#msg"); got != "Signal added." {
		t.Fatalf("after add: %q", got)
	}
	sig, err := s.st.FindSignal(context.Background(), "b1", bank.MD5, md5)
	if err != nil || sig.Category != "browser-test" || !strings.HasPrefix(sig.AddedBy, "user:") {
		t.Fatalf("added signal: %+v %v", sig, err)
	}
	s.open(t, ctx, "/ui/banks/b1?category=BROWSER")
	if got := text(t, ctx, "#signals tbody"); !strings.Contains(got, md5) {
		t.Fatalf("category search lists %q", got)
	}
	step(t, ctx, "open signal", chromedp.Click(chromedp.CSS("#signals tbody a")))
	step(t, ctx, "fill reason", chromedp.SendKeys(chromedp.CSS("#reason"), "false positive (browser test)"))
	submit(t, ctx, "#remove-submit")
	if got := text(t, ctx, "#msg"); got != "Signal removed." {
		t.Fatalf("after remove: %q", got)
	}
	if _, err := s.st.FindSignal(context.Background(), "b1", bank.MD5, md5); !errors.Is(err, bank.ErrNotFound) {
		t.Fatalf("signal still active: %v", err)
	}

	submit(t, ctx, "#logout")
	if loc := location(t, ctx); !strings.HasPrefix(loc, s.url+"/ui/login") {
		t.Fatalf("after logout at %s", loc)
	}
	s.open(t, ctx, "/ui/banks")
	if loc := location(t, ctx); !strings.HasPrefix(loc, s.url+"/ui/login") {
		t.Fatalf("after logout /ui/banks shows %s", loc)
	}

	for i := range 5 {
		s.login(t, ctx, "ana", "wrong password "+string(rune('a'+i)))
		if got := text(t, ctx, "#error"); !strings.Contains(got, "Login refused") {
			t.Fatalf("wrong password %d: %q", i+1, got)
		}
	}
	s.login(t, ctx, "ana", password)
	if got := text(t, ctx, "#error"); !strings.Contains(got, "Login refused") {
		t.Fatalf("right password while locked out: %q at %s", got, location(t, ctx))
	}
	acts := auditActions(t, s.st)
	for _, want := range []string{"user.password user:1 (ana)", "login user:1", "signal.add b1", "signal.remove b1",
		"logout user:1", "login.fail user:1", "login.lockout user:1"} {
		if !hasAction(acts, want) {
			t.Errorf("audit log lacks %q: %v", want, acts)
		}
	}
}

// TestBrowserAdminTOTP: an admin must enrol a TOTP authenticator at first
// login, then needs a code at every login; a wrong code is refused.
func TestBrowserAdminTOTP(t *testing.T) {
	s := newSite(t)
	ctx := s.tab(t)
	s.firstLogin(t, ctx, s.user(t, "root", account.Admin))
	if loc := location(t, ctx); loc != s.url+"/ui/enrol" {
		t.Fatalf("admin's first login at %s, want /ui/enrol", loc)
	}
	s.open(t, ctx, "/ui/users") // no page before enrolment
	if loc := location(t, ctx); loc != s.url+"/ui/enrol" {
		t.Fatalf("before enrolment /ui/users led to %s", loc)
	}
	secret, err := account.DecodeTOTPSecret(text(t, ctx, "#secret"))
	if err != nil {
		t.Fatal(err)
	}
	if uri := text(t, ctx, "#uri"); !strings.HasPrefix(uri, "otpauth://totp/Nigehban:root?") {
		t.Errorf("otpauth URI %q", uri)
	}
	step(t, ctx, "enter code", chromedp.SendKeys(chromedp.CSS("#code"), account.TOTPCode(secret, s.clock.now())))
	submit(t, ctx, "#submit")
	if loc := location(t, ctx); loc != s.url+"/ui/" {
		t.Fatalf("after enrolment at %s", loc)
	}
	if nav := text(t, ctx, "header nav"); !strings.Contains(nav, "Users") || !strings.Contains(nav, "API keys") {
		t.Errorf("admin's menu: %q", nav)
	}
	submit(t, ctx, "#logout")

	s.clock.add(30 * time.Second) // a new TOTP step: codes are single-use
	s.login(t, ctx, "root", password)
	if loc := location(t, ctx); loc != s.url+"/ui/totp" {
		t.Fatalf("admin login at %s, want /ui/totp", loc)
	}
	good := account.TOTPCode(secret, s.clock.now())
	bad := "000000"
	if bad == good {
		bad = "111111"
	}
	step(t, ctx, "enter wrong code", chromedp.SendKeys(chromedp.CSS("#code"), bad))
	submit(t, ctx, "#submit")
	if got := text(t, ctx, "#error"); !strings.Contains(got, "Wrong") {
		t.Fatalf("wrong code: %q", got)
	}
	step(t, ctx, "enter code", chromedp.SendKeys(chromedp.CSS("#code"), good))
	submit(t, ctx, "#submit")
	if loc := location(t, ctx); loc != s.url+"/ui/" {
		t.Fatalf("after TOTP at %s", loc)
	}
	s.open(t, ctx, "/ui/users")
	if got := text(t, ctx, "#users"); !strings.Contains(got, "root") {
		t.Errorf("users page: %q", got)
	}
	acts := auditActions(t, s.st)
	for _, want := range []string{"user.totp.enrol user:1", "login.fail user:1"} {
		if !hasAction(acts, want) {
			t.Errorf("audit log lacks %q: %v", want, acts)
		}
	}
}

// TestBrowserViewer: a viewer sees banks but not the curator's forms, and
// every curator or admin page answers 403.
func TestBrowserViewer(t *testing.T) {
	s := newSite(t)
	ctx := s.tab(t)
	s.firstLogin(t, ctx, s.user(t, "vic", account.Viewer))
	if nav := text(t, ctx, "header nav"); strings.Contains(nav, "Users") || strings.Contains(nav, "Audit") || !strings.Contains(nav, "Banks") {
		t.Errorf("viewer's menu: %q", nav)
	}
	s.open(t, ctx, "/ui/banks/b1")
	if n := eval[int](t, ctx, "document.querySelectorAll('#add').length"); n != 0 {
		t.Error("viewer sees the add-signal form")
	}
	for _, p := range console.PageTable() {
		if p.Method != "GET" || p.Access != "role" || account.Viewer.Allows(p.Role) {
			continue
		}
		s.open(t, ctx, p.Path)
		if got := text(t, ctx, "#error"); !strings.Contains(got, "needs the "+string(p.Role)) {
			t.Errorf("viewer at %s: %q", p.Path, got)
		}
	}
}

// TestBrowserCrossOrigin: a page on another origin that posts a form to the
// console, in the browser of a logged-in curator, is refused and changes
// nothing.
func TestBrowserCrossOrigin(t *testing.T) {
	s := newSite(t)
	ctx := s.tab(t)
	s.firstLogin(t, ctx, s.user(t, "ana", account.Curator))
	// The attacker's site: "localhost" is another origin (and site) than
	// the console's "127.0.0.1".
	target := s.url + "/ui/banks/b1/signals"
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<!doctype html><form method="post" action="`+target+`">
<input name="type" value="md5"><input name="value" value="ffffffffffffffffffffffffffffffff">
<button id="go" type="submit">win a prize</button></form>`)
	}))
	defer evil.Close()
	step(t, ctx, "open attacker page", chromedp.Navigate(strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)))
	submit(t, ctx, "#go")
	if got := text(t, ctx, "#error"); !strings.Contains(got, "another site") {
		t.Errorf("cross-origin post answered %q at %s", got, location(t, ctx))
	}
	if _, err := s.st.FindSignal(context.Background(), "b1", bank.MD5, "ffffffffffffffffffffffffffffffff"); !errors.Is(err, bank.ErrNotFound) {
		t.Fatalf("cross-origin post added a signal: %v", err)
	}
}

// TestBrowserPagesCSP: as an admin, every page loads its stylesheet and
// script under the CSP and has no inline script, style or handler.
func TestBrowserPagesCSP(t *testing.T) {
	s := newSite(t)
	ctx := s.tab(t)
	s.firstLogin(t, ctx, s.user(t, "root", account.Admin))
	secret, err := account.DecodeTOTPSecret(text(t, ctx, "#secret"))
	if err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "enter code", chromedp.SendKeys(chromedp.CSS("#code"), account.TOTPCode(secret, s.clock.now())))
	submit(t, ctx, "#submit")
	for _, p := range console.PageTable() {
		// Downloads (a bank's export) are not pages; the HTTP test checks
		// their headers.
		if p.Method != "GET" || strings.HasSuffix(p.Path, "/export") {
			continue
		}
		path := strings.NewReplacer("{name}", "b1", "{id}", "1", "{$}", "").Replace(p.Path)
		s.open(t, ctx, path)
		inline := eval[int](t, ctx, `document.querySelectorAll('script:not([src]), [style], style').length +
			[...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length`)
		if inline != 0 {
			t.Errorf("%s: %d inline scripts, styles or handlers", path, inline)
		}
		styled := eval[string](t, ctx, "getComputedStyle(document.querySelector('header')).borderBottomStyle")
		if styled != "solid" {
			t.Errorf("%s: stylesheet not applied (header border %q)", path, styled)
		}
	}
}
