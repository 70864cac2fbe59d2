// Package console is the web console under /ui/: server-rendered pages
// for people (not API keys) — trust & safety moderators, bank curators and
// admins — with accounts, sessions and roles from internal/account.
//
// Security, in one place (Handler):
//   - every state change passes net/http.CrossOriginProtection (requests
//     from another origin are refused 403), and the session cookie is
//     HttpOnly, SameSite=Strict and Secure (unless Config.InsecureCookies,
//     for plain-HTTP tests on localhost);
//   - every answer carries a strict Content-Security-Policy (default-src
//     'self', no inline script or style), nosniff, no framing, no referrer;
//     pages are not cached;
//   - every page's access is data in the route table (pageTable): public,
//     a login step (TOTP code, TOTP enrolment), or a minimum role; a
//     session that has not finished its login steps reaches no page.
//
// Templates and assets are embedded in the binary; the little JavaScript
// there is is a same-origin file. Pages are plain HTML forms and tables
// that work on a small phone screen.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nigehban/nigehban/internal/exchange"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/alert"
	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/clientip"
	"github.com/nigehban/nigehban/internal/history"
	"github.com/nigehban/nigehban/internal/jobs"
	"github.com/nigehban/nigehban/internal/registry"
	"github.com/nigehban/nigehban/internal/review"
	"github.com/nigehban/nigehban/internal/sealed"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Store is what the console reads and changes.
type Store interface {
	account.Store
	history.Store
	bank.Store
	apikey.Store
	audit.Store
	// AuditBefore pages the audit log backwards: up to limit entries with
	// Seq < before (before 0: from the newest), newest first.
	AuditBefore(ctx context.Context, before int64, limit int) ([]audit.Entry, error)
	// SearchSignals pages a bank's signals in ID order, filtered by
	// category and source (substrings, case-insensitive), looking at no
	// more than scan signals (0: no bound); next is the ID to continue
	// after, 0 when there is no more.
	SearchSignals(ctx context.Context, bankName, category, source string, removed bool,
		after int64, scan, limit int) (sigs []bank.Signal, next int64, err error)
	// OutboxDepth counts webhook events waiting for delivery.
	OutboxDepth(ctx context.Context) (int64, error)
	// The review queue (internal/review).
	review.Store
	// Webhooks, SetWebhook, DeadEvents and RetryDead are the webhook
	// outbox's (action.Store).
	Webhooks(ctx context.Context) ([]action.Webhook, error)
	SetWebhook(ctx context.Context, w action.Webhook, by audit.Actor) error
	DeadEvents(ctx context.Context, after int64, limit int) ([]action.Event, error)
	DeadEventCount(ctx context.Context) (int64, error)
	RetryDead(ctx context.Context, ids []int64, by audit.Actor) ([]int64, error)
}

// Config tunes the console; the zero value serves with Secure cookies and
// the account defaults.
type Config struct {
	// DataKeys opens personal data sealed at rest (see internal/sealed);
	// nil without --data-key.
	DataKeys *sealed.Ring
	// PreviewDefault is the organisation's preview setting for reviewers
	// who chose none: "blur" (the default: blurred and greyscale until
	// clicked) or "clear".
	PreviewDefault string
	// InsecureCookies drops the Secure attribute (and HSTS), for plain
	// HTTP on localhost in tests and development only.
	InsecureCookies bool
	// Account configures logins, sessions and lockout.
	Account account.Config
	// IndexSizes, if set, returns the signals in the in-memory match
	// indexes per bank and type (what `serve` matches against); pages use
	// it instead of counting in the database.
	IndexSizes func() map[string]map[bank.Type]int
	// Clients names the client behind a request (trusted reverse proxies),
	// as the API does: lockouts and audit entries key on it.
	Clients clientip.Resolver
	// WebhookAllowPrivate lets webhooks point at loopback and private
	// addresses (serve --webhook-allow-private), for test deliveries and
	// the URL check as the deliverer applies them.
	WebhookAllowPrivate bool
	// Log receives errors (default slog.Default()).
	Log *slog.Logger
	// Alerts is the missing-child desk (/ui/missing); nil when serve runs
	// without --alerts.
	Alerts *alert.Service
	// Jobs returns the River client exchange fetches are queued and listed
	// with (/ui/exchanges); nil when serve has none (fetch now is refused).
	Jobs func(ctx context.Context) (jobs.Runner, error)
	// ExchangeInterval is how often serve queues a fetch of every enabled
	// exchange (serve --exchange-interval; 0: not here), shown with the jobs.
	ExchangeInterval time.Duration
	// Reviews is the review service serve shares with the API (bank
	// policy, queue, quarantine); nil builds one over the store with
	// DataKeys and the exchange feedback hook.
	Reviews *review.Service
}

// Console serves the pages. Create it with New.
type Console struct {
	st      Store
	acc     *account.Service
	banks   *bank.Service
	reviews *review.Service
	cfg     Config
	log     *slog.Logger
	pages   map[string]*template.Template
	h       http.Handler
	fails   *throttle // failed logins per remote address

	imports    imports // bank imports started here
	clientOnce sync.Once
	client     *http.Client // test webhook deliveries
	reg        *registry.Service
}

// Failed logins (password, setup token or TOTP code) from one address:
// loginBurst at once, then one every loginEvery.
const (
	loginBurst = 30
	loginEvery = 10 * time.Second
)

// Prefix is where the console is mounted.
const Prefix = "/ui/"

// New returns a console over st.
func New(st Store, cfg Config) (*Console, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Account.Keys == nil {
		cfg.Account.Keys = cfg.DataKeys
	}
	c := &Console{st: st, acc: account.NewService(st, st, cfg.Account), banks: bank.NewService(st), cfg: cfg, log: cfg.Log,
		fails: newThrottle(loginBurst, loginEvery)}
	c.reviews = cfg.Reviews
	if c.reviews == nil {
		c.reviews = review.NewService(st, cfg.DataKeys)
		// Review decisions become opinions for the exchange a signal came from.
		c.reviews.Decided = exchange.ReviewHook(st, cfg.DataKeys, cfg.Log)
		c.reviews.Log = cfg.Log
	}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	c.reg = newRegistry(st, cfg)
	c.h = c.routes()
	return c, nil
}

// Handler returns the console's handler, to be mounted at Prefix.
func (c *Console) Handler() http.Handler { return c.h }

// Accounts returns the account service the console logs people in with.
func (c *Console) Accounts() *account.Service { return c.acc }

// access says who may use a page.
type access int

const (
	public     access = iota // anyone, no session needed
	stepTOTP                 // a session waiting for its TOTP code
	stepEnrol                // a session waiting for TOTP enrolment, or a full one
	anySession               // any session (logout)
	roleNeeded               // a full session whose role allows page.role
)

// page is one route of the console: pattern, who may use it, handler.
type page struct {
	method, path string
	access       access
	role         account.Role
	handle       func(*Console, http.ResponseWriter, *http.Request, *visit) error
}

// pageTable is every page of the console and who may use it. The tests
// walk it for every role.
var pageTable = []page{
	{"GET", "/ui/login", public, "", (*Console).loginForm},
	{"POST", "/ui/login", public, "", (*Console).login},
	{"GET", "/ui/setup", public, "", (*Console).setupForm},
	{"POST", "/ui/setup", public, "", (*Console).setup},
	{"GET", "/ui/totp", stepTOTP, "", (*Console).totpForm},
	{"POST", "/ui/totp", stepTOTP, "", (*Console).totp},
	{"GET", "/ui/enrol", stepEnrol, "", (*Console).enrolForm},
	{"POST", "/ui/enrol", stepEnrol, "", (*Console).enrol},
	{"POST", "/ui/logout", anySession, "", (*Console).logout},

	{"GET", "/ui/{$}", roleNeeded, account.Viewer, (*Console).overview},
	{"GET", "/ui/banks", roleNeeded, account.Viewer, (*Console).bankList},
	{"GET", "/ui/banks/{name}", roleNeeded, account.Viewer, (*Console).bankDetail},
	{"GET", "/ui/banks/{name}/signals/{id}", roleNeeded, account.Viewer, (*Console).signalDetail},
	{"POST", "/ui/banks/{name}/signals", roleNeeded, account.Curator, (*Console).addSignal},
	{"POST", "/ui/banks/{name}/signals/{id}/remove", roleNeeded, account.Curator, (*Console).removeSignal},
	{"POST", "/ui/banks", roleNeeded, account.Curator, (*Console).createBank},
	{"POST", "/ui/banks/{name}/settings", roleNeeded, account.Curator, (*Console).bankSettings},
	{"GET", "/ui/banks/{name}/export", roleNeeded, account.Curator, (*Console).exportBank},
	{"POST", "/ui/banks/{name}/import", roleNeeded, account.Curator, (*Console).importBank},
	{"GET", "/ui/imports/{id}", roleNeeded, account.Curator, (*Console).importProgress},
	{"GET", "/ui/webhooks", roleNeeded, account.Curator, (*Console).webhooks},
	{"POST", "/ui/webhooks", roleNeeded, account.Curator, (*Console).setWebhook},
	{"POST", "/ui/banks/{name}/webhook/test", roleNeeded, account.Curator, (*Console).testWebhook},
	{"POST", "/ui/webhooks/dead/retry", roleNeeded, account.Curator, (*Console).retryDead},
	{"GET", "/ui/debug", roleNeeded, account.Moderator, (*Console).debugger},
	{"POST", "/ui/debug", roleNeeded, account.Moderator, (*Console).debugCompare},
	{"GET", "/ui/matches", roleNeeded, account.Moderator, (*Console).matches},
	{"GET", "/ui/reviews", roleNeeded, account.Moderator, (*Console).reviewQueue},
	{"POST", "/ui/reviews/claim", roleNeeded, account.Moderator, (*Console).claimReview},
	{"POST", "/ui/reviews/preview", roleNeeded, account.Moderator, (*Console).setPreviewPref},
	{"GET", "/ui/reviews/{id}", roleNeeded, account.Moderator, (*Console).reviewPage},
	{"POST", "/ui/reviews/{id}/decide", roleNeeded, account.Moderator, (*Console).decideReview},
	{"POST", "/ui/reviews/{id}/unblur", roleNeeded, account.Moderator, (*Console).unblurReview},
	{"GET", "/ui/audit", roleNeeded, account.Admin, (*Console).auditLog},
	{"GET", "/ui/users", roleNeeded, account.Admin, (*Console).users},
	{"POST", "/ui/users", roleNeeded, account.Admin, (*Console).createUser},
	{"POST", "/ui/users/{name}/{op}", roleNeeded, account.Admin, (*Console).changeUser},
	{"GET", "/ui/apikeys", roleNeeded, account.Admin, (*Console).apiKeys},
	{"POST", "/ui/apikeys", roleNeeded, account.Admin, (*Console).createAPIKey},
	{"POST", "/ui/apikeys/{id}/revoke", roleNeeded, account.Admin, (*Console).revokeAPIKey},
}

// visit is one request's caller.
type visit struct {
	sess   account.Session
	user   account.User
	remote string
	has    bool // a valid session was presented
}

func (v *visit) actor() string { return account.Actor(v.user) }

// by is the visitor as the stores audit them.
func (v *visit) by() audit.Actor { return audit.Actor{Name: v.actor(), Remote: v.remote} }

func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	for _, p := range pageTable {
		mux.Handle(p.method+" "+p.path, c.wrap(p))
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // embedded: cannot fail
	}
	files := http.StripPrefix("/ui/static/", http.FileServerFS(static))
	mux.Handle("GET /ui/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))
	mux.Handle("/ui/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, &visit{}, &httpError{http.StatusNotFound, "No such page."})
	}))
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.log.Warn("console: cross-origin request refused", "remote", c.cfg.Clients.Addr(r), "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "sec-fetch-site", r.Header.Get("Sec-Fetch-Site"))
		c.fail(w, r, &visit{}, &httpError{http.StatusForbidden, "Refused: this request came from another site."})
	}))
	return c.headers(cop.Handler(mux))
}

// CSP is the Content-Security-Policy of every answer: nothing but this
// origin's own files, no inline script or style, no framing, forms only
// to this origin.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// headers sets the security headers of every answer.
func (c *Console) headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", CSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		hd.Set("Cache-Control", "no-store")
		if !c.cfg.InsecureCookies {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

// httpError is an answer other than the page: status and a message safe
// to show.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// wrap resolves the session and enforces the page's access before its
// handler runs; errors become error pages.
func (c *Console) wrap(p page) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := &visit{remote: c.cfg.Clients.Addr(r)}
		if ck, err := r.Cookie(c.cookieName()); err == nil {
			sess, u, err := c.acc.Authenticate(r.Context(), ck.Value)
			switch {
			case err == nil:
				v.sess, v.user, v.has = sess, u, true
			case !errors.Is(err, account.ErrNoSession):
				c.fail(w, r, v, err)
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if ok := c.allow(w, r, p, v); !ok {
			return
		}
		if err := p.handle(c, w, r, v); err != nil {
			c.fail(w, r, v, err)
		}
	})
}

// allow enforces p.access; when it refuses it has answered.
func (c *Console) allow(w http.ResponseWriter, r *http.Request, p page, v *visit) bool {
	switch p.access {
	case public:
		return true
	case anySession:
		if v.has {
			return true
		}
	case stepTOTP:
		if v.has && v.sess.Stage == account.StageTOTP {
			return true
		}
	case stepEnrol:
		if v.has && (v.sess.Stage == account.StageEnrol || v.sess.Stage == account.StageFull) {
			return true
		}
	case roleNeeded:
		if v.has && v.sess.Stage == account.StageFull {
			if v.user.Role.Allows(p.role) {
				return true
			}
			c.log.Warn("console: forbidden", "user", v.user.Name, "role", v.user.Role, "page", p.method+" "+p.path)
			c.fail(w, r, v, &httpError{http.StatusForbidden, fmt.Sprintf("This page needs the %s role; you are %s.", p.role, v.user.Role)})
			return false
		}
	}
	// No session, or a login step to finish first.
	switch {
	case v.has && v.sess.Stage == account.StageTOTP:
		http.Redirect(w, r, "/ui/totp", http.StatusSeeOther)
	case v.has && v.sess.Stage == account.StageEnrol:
		http.Redirect(w, r, "/ui/enrol", http.StatusSeeOther)
	case v.has:
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
	default:
		next := ""
		if r.Method == http.MethodGet {
			next = "?next=" + url.QueryEscape(r.URL.RequestURI())
		}
		http.Redirect(w, r, "/ui/login"+next, http.StatusSeeOther)
	}
	return false
}

// fail renders err as an error page: domain errors to their status, the
// rest logged and answered 500 without detail.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, v *visit, err error) {
	var he *httpError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
	case errors.As(err, &mbe):
		he = &httpError{http.StatusRequestEntityTooLarge, "The form is too large."}
	case errors.Is(err, bank.ErrNotFound), errors.Is(err, account.ErrNotFound), errors.Is(err, apikey.ErrNotFound):
		he = &httpError{http.StatusNotFound, "Not found."}
	case errors.Is(err, bank.ErrInvalid), errors.Is(err, account.ErrInvalid), errors.Is(err, bank.ErrExists), errors.Is(err, account.ErrExists):
		he = &httpError{http.StatusBadRequest, err.Error()}
	default:
		c.log.Error("console: request failed", "path", r.URL.Path, "err", err)
		he = &httpError{http.StatusInternalServerError, "Something went wrong; it has been logged."}
	}
	c.render(w, r, v, he.status, "error", "Error", map[string]any{"Status": he.status, "Message": he.msg})
}

func (c *Console) cookieName() string {
	if c.cfg.InsecureCookies {
		return "nigehban_session"
	}
	return "__Host-nigehban_session" // Secure, Path=/, no Domain: bound to this origin
}

func (c *Console) setSession(w http.ResponseWriter, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: c.cookieName(), Value: token, Path: "/", Expires: expires,
		Secure: !c.cfg.InsecureCookies, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func (c *Console) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: c.cookieName(), Value: "", Path: "/", MaxAge: -1,
		Secure: !c.cfg.InsecureCookies, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// localPath returns next if it is a path inside the console, else /ui/:
// the login's ?next= never leads off-site.
func localPath(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}
