// Package api is the HTTP/JSON service a platform's upload pipeline calls:
// hash media, match media or hashes against the banks, curate banks, manage
// API keys. It depends on small interfaces (Store), not on an engine.
//
// Matching reads the database only to echo a matched vPDQ signal's value:
// the PDQ, exact and vPDQ frame indexes and the signals' categories
// (internal/match) are held in memory,
// built from the store at start (/readyz answers 503 until then) and kept
// current by following the bank change log every FollowInterval (250 ms),
// so several replicas on one PostgreSQL database all match a signal added
// through any of them within a fraction of a second. Only the changes are
// applied: nothing is rebuilt. Webhook rules are re-read every second.
//
// Roles are hierarchical (submitter < curator < admin). Every /v1 request
// needs an API key ("Authorization: Bearer nig_…" or "X-API-Key"); keys are
// rate limited per key (token bucket, 429 with Retry-After). Missing, wrong
// or insufficient keys are answered 401/403, logged and audited with the
// remote address; after failBurst failures an address is answered 429
// without a database lookup, its further failures summed up once a minute.
//
// Audit: bank changes, admin acts and matches that fire a webhook are
// audited one by one — a webhook's outbox event in the same transaction as
// its audit entry, before the answer. Every hit (not every query) is
// written to the match history (internal/history) with the caller's
// content_id before the answer; a query without a hit writes nothing. Key
// use is audited as per-key request counts once a minute, and matches are
// counted in the metrics by bank and type.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/alert"
	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/clientip"
	"github.com/nigehban/nigehban/internal/history"
	"github.com/nigehban/nigehban/internal/match"
	"github.com/nigehban/nigehban/internal/media"
	"github.com/nigehban/nigehban/internal/protect"
	"github.com/nigehban/nigehban/internal/registry"
	"github.com/nigehban/nigehban/internal/retro"
	"github.com/nigehban/nigehban/internal/review"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// Store is what the service needs from the database.
type Store interface {
	bank.Store
	apikey.Store
	audit.Store
	action.Store
	history.Store
	review.Store
	// SignalCategories calls fn with the id and category of every active
	// non-vPDQ signal that has one (the matcher keeps them in memory).
	SignalCategories(ctx context.Context, fn func(id int64, category string) error) error
	// RecordMatch appends the audit entry of a match and queues its webhook
	// events in one transaction.
	RecordMatch(ctx context.Context, e audit.Entry, events []action.Event) (audit.Entry, error)
}

// Config tunes the service; zero fields take the defaults.
type Config struct {
	// Checked, if set, receives the hashes of every match query once it is
	// answered, with the caller and content id (retroactive matching
	// retains them; see internal/retro). Its error is logged, never the
	// caller's.
	Checked func(ctx context.Context, submitter, contentID string, hashes []retro.Hash) error
	// DataKeys seals personal data and credentials at rest (uploader
	// context, exchange and report credentials); nil when no --data-key is
	// configured, and then such data is refused rather than stored in clear.
	DataKeys *sealed.Ring
	// MaxUploadBytes bounds uploaded media (default 64 MiB); MaxBodyBytes
	// bounds JSON bodies (default 4 MiB) and bulk imports (64× that).
	MaxUploadBytes int64
	MaxBodyBytes   int64
	// RatePerSecond and Burst set the per-key token bucket (default 2000/s,
	// burst 4000).
	RatePerSecond float64
	Burst         int
	// FollowInterval is how often the change log is polled (default 250 ms).
	FollowInterval time.Duration
	// Limits bound image decoding of uploads.
	Limits media.Limits
	// Variants is the query-side PDQ variant set of uploaded images (none,
	// borders or all; "" is variant.Default); a request may choose another
	// with the variants field or query parameter.
	Variants string
	// Video bounds the work one uploaded video may cost (vpdq.Options);
	// zero fields take the upload defaults: at most 36,000 frames to decode
	// (10 minutes at 60 fps), one hour long, 60 s of decoding, one hashing
	// worker. Videos decoded at once are capped process-wide (vpdq).
	Video vpdq.Options
	// Deliver runs the webhook deliverer in this process (default true via
	// NoDeliver=false).
	NoDeliver bool
	// WebhookAllowPrivate lets curators point webhooks at loopback,
	// private and link-local addresses (receivers inside the deployment's
	// own network, and tests). Off by default: a webhook must not become a
	// way to reach the server's neighbours or a cloud metadata service.
	WebhookAllowPrivate bool
	// WebhookPerHost bounds concurrent deliveries to one destination
	// (default 8); WebhookRetention is how long delivered events are kept
	// (default 7 days, negative: forever). See action.Deliverer.
	WebhookPerHost   int
	WebhookRetention time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (rate limits and audit entries key on the client's
	// address). Empty: the connection's peer is the client.
	TrustedProxies []netip.Prefix
	// MetricsSeparate takes /metrics off the API listener: the caller serves
	// MetricsHandler on an address of its own (serve --metrics-addr).
	MetricsSeparate bool
	// Registry receives the metrics (default a new registry).
	Registry *prometheus.Registry
	// Flood is the flood quarantine rule (internal/review); zero fields
	// take review.DefaultFloodRule's, a negative Window turns it off.
	Flood review.FloodRule
	// Reviews is the review service (bank policy, queue, quarantine) when
	// serve shares one with the console and retroactive matching (build it
	// with NewReviewService); nil builds one the same way.
	Reviews *review.Service
	// Log, if set, signs (and has witnesses cosign) a checkpoint of the
	// audit log every LogInterval (default 1 minute) while Run runs.
	Log         *audit.Log
	LogInterval time.Duration
	// Alerts is the missing-child desk (internal/alert): its /v1/missing
	// routes and public /alerts feed answer 404 without it. Run ticks its
	// two-hour clock every AlertTick (default 30 s).
	Alerts    *alert.Service
	AlertTick time.Duration
	// AlertDesk, when Alerts is nil, makes the desk from this
	// configuration over the server's store, with DataKeys (serve
	// --alerts FILE).
	AlertDesk *alert.Config
	// Protect tunes /v1/protect (victim self-submissions; served when the
	// store keeps cases).
	Protect protect.Config
	// ReportInterval is how often the CyberTipline outbox is worked
	// (default 30 s); VaultDir, if set, is the evidence vault whose
	// expired items are destroyed (internal/report, internal/vault).
	ReportInterval time.Duration
	VaultDir       string
}

func (c Config) withDefaults() Config {
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = 64 << 20
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 4 << 20
	}
	if c.ReportInterval <= 0 {
		c.ReportInterval = 30 * time.Second
	}
	if c.RatePerSecond <= 0 {
		c.RatePerSecond = 2000
	}
	if c.Burst <= 0 {
		c.Burst = 4000
	}
	if c.FollowInterval <= 0 {
		c.FollowInterval = 250 * time.Millisecond
	}
	if c.LogInterval <= 0 {
		c.LogInterval = time.Minute
	}
	if c.AlertTick <= 0 {
		c.AlertTick = 30 * time.Second
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.Video.MaxDecodedFrames <= 0 {
		c.Video.MaxDecodedFrames = 36_000
	}
	if c.Video.MaxDuration <= 0 {
		c.Video.MaxDuration = 3600
	}
	if c.Video.Timeout <= 0 {
		c.Video.Timeout = 60 * time.Second
	}
	if c.Video.Workers <= 0 {
		c.Video.Workers = 1
	}
	return c
}

// Server is the service. Create it with New, serve Handler, and run Run
// for the background work (index following, webhook delivery).
type Server struct {
	st      Store
	svc     *bank.Service
	reviews *review.Service // bank policy and the review queue
	cfg     Config
	log     *slog.Logger

	idx       atomic.Pointer[match.Matcher]
	webhooks  atomic.Pointer[map[string]action.Webhook]
	keyMu     sync.RWMutex
	keys      map[string]cachedKey
	keyLimit  *limiter[int64]  // per API key
	failLimit *limiter[string] // failed authentications per remote address
	// blockedLookups bounds the key lookups made for addresses that have
	// used up their failed attempts (one bucket for the whole process).
	blockedLookups *limiter[struct{}]
	clients        clientip.Resolver
	metricsHandler http.Handler
	auditQ         chan audit.Entry // entries written in the background
	dropped        droppedAudits    // entries auditQ had no room for, summed up in the log
	metrics        *metrics
	mux            *http.ServeMux
	patterns       []string // what mux serves, for the OpenAPI test
	protect        *protect.Service
	reg            *registry.Service
}

// New makes a Server over st.
func New(st Store, cfg Config, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	cfg = cfg.withDefaults()
	if as, ok := st.(alert.Store); ok && cfg.Alerts == nil && cfg.AlertDesk != nil {
		cfg.Alerts = alert.NewService(as, cfg.DataKeys, *cfg.AlertDesk, log)
	}
	s := &Server{st: st, svc: bank.NewService(st), cfg: cfg, log: log}
	if s.reviews = cfg.Reviews; s.reviews == nil {
		s.reviews = NewReviewService(st, cfg, log)
	}
	s.keyLimit = newLimiter[int64](cfg.RatePerSecond, cfg.Burst)
	s.failLimit = newLimiter[string](failRate, failBurst)
	s.blockedLookups = newLimiter[struct{}](blockedLookupRate, blockedLookupBurst)
	s.clients = clientip.Resolver{Trusted: cfg.TrustedProxies}
	if ps, ok := st.(protect.Store); ok {
		s.protect = protect.NewService(ps, s.svc, cfg.Protect)
	}
	s.auditQ = make(chan audit.Entry, auditQueueLen)
	s.metrics = newMetrics(cfg.Registry, s)
	s.metricsHandler = promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{})
	s.reg = newRegistry(st, cfg)
	s.mux = s.routes()
	if ls, ok := st.(audit.LogStore); ok {
		// The transparency log's public read API: no key, like a static site.
		s.mux.Handle("GET /log/", http.StripPrefix("/log", audit.Handler(ls, log)))
	}
	return s
}

// Alerts returns the missing-child desk, nil when it is not enabled.
func (s *Server) Alerts() *alert.Service { return s.cfg.Alerts }

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// NewHTTPServer returns the http.Server settings the service runs with:
// header and body timeouts so slow clients cannot hold connections, and a
// bound on header size.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// Ready reports whether the indexes are loaded.
func (s *Server) Ready() bool { return s.idx.Load() != nil }

// Run loads the indexes, then follows the change log, delivers webhooks and
// flushes key-use audit entries until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	if err := s.load(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.follow(ctx) })
	wg.Go(func() { s.writeAudits(ctx) })
	if s.cfg.Log != nil {
		wg.Go(func() { s.cfg.Log.Run(ctx, s.cfg.LogInterval) })
	}
	if s.cfg.Alerts != nil {
		wg.Go(func() { s.cfg.Alerts.Run(ctx, s.cfg.AlertTick) })
	}
	wg.Go(func() { s.runReports(ctx) })
	if !s.cfg.NoDeliver {
		d := &action.Deliverer{Store: s.st, Log: s.log, AllowPrivate: s.cfg.WebhookAllowPrivate,
			PerHost: s.cfg.WebhookPerHost, Retention: s.cfg.WebhookRetention,
			OnDelivered: func(action.Event) { s.metrics.delivered.Inc() }}
		wg.Go(func() { d.Run(ctx) })
	}
	wg.Go(func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				s.flushUsage(context.WithoutCancel(ctx))
				return
			case <-t.C:
				s.flushUsage(ctx)
			}
		}
	})
	wg.Wait()
	return nil
}

func (s *Server) load(ctx context.Context) error {
	start := time.Now()
	x, err := match.LoadStore(ctx, s.st, nil, match.DefaultStoreOptions())
	if err != nil {
		return fmt.Errorf("load banks: %w", err)
	}
	if err := s.reloadWebhooks(ctx); err != nil {
		return err
	}
	s.idx.Store(x)
	s.log.Info("banks loaded", "banks", len(x.Banks()), "seq", x.Seq(), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// follow applies the change log to the indexes as other replicas (or the
// CLI) change banks.
func (s *Server) follow(ctx context.Context) {
	t := time.NewTicker(s.cfg.FollowInterval)
	defer t.Stop()
	lastHooks := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.catchUp(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("follow change log", "err", err)
		}
		// Webhooks are not in the change log: re-read them every second, so
		// one set through another replica applies here within about 1 s.
		if time.Since(lastHooks) >= webhookReload {
			lastHooks = time.Now()
			if err := s.reloadWebhooks(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("reload webhooks", "err", err)
			}
		}
	}
}

// webhookReload is how often replicas re-read the webhook rules.
const webhookReload = time.Second

// catchUp applies every change after the index's position.
func (s *Server) catchUp(ctx context.Context) error {
	x := s.idx.Load()
	for {
		changes, err := s.st.Changes(ctx, x.Seq(), 1000)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		x.Apply(changes)
	}
}

func (s *Server) reloadWebhooks(ctx context.Context) error {
	ws, err := s.st.Webhooks(ctx)
	if err != nil {
		return fmt.Errorf("load webhooks: %w", err)
	}
	m := make(map[string]action.Webhook, len(ws))
	for _, w := range ws {
		m[w.Bank] = w
	}
	s.webhooks.Store(&m)
	return nil
}

// apiError is an error with its HTTP status and a stable code.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status, code, fmt.Sprintf(format, args...)}
}

// toAPIError maps domain errors to HTTP in one place.
func toAPIError(err error) *apiError {
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, "too_large", "request body over %d bytes", mbe.Limit)
	case errors.Is(err, bank.ErrNotFound), errors.Is(err, apikey.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", "%v", err)
	case errors.Is(err, bank.ErrExists):
		return errorf(http.StatusConflict, "exists", "%v", err)
	case errors.Is(err, bank.ErrInvalid), errors.Is(err, review.ErrInvalid):
		return errorf(http.StatusBadRequest, "invalid", "%v", err)
	case errors.Is(err, review.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", "%v", err)
	case errors.Is(err, review.ErrNotHeld):
		return errorf(http.StatusConflict, "not_held", "%v", err)
	case errors.Is(err, media.ErrTooLarge):
		return errorf(http.StatusRequestEntityTooLarge, "too_large", "%v", err)
	case errors.Is(err, media.ErrCorrupt), errors.Is(err, media.ErrUnsupported):
		return errorf(http.StatusUnprocessableEntity, "bad_media", "%v", err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusServiceUnavailable, "timeout", "%v", err)
	}
	return errorf(http.StatusInternalServerError, "internal", "internal error")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, map[string]any{"error": map[string]string{"code": e.code, "message": e.msg}})
}

// remoteAddr is the client's address: the peer, or behind a trusted
// reverse proxy the address it forwarded (internal/clientip).
func (s *Server) remoteAddr(r *http.Request) string { return s.clients.Addr(r) }

// bearer extracts the presented secret.
func bearer(r *http.Request) string {
	if k := r.Header.Get("X-API-Key"); k != "" {
		return strings.TrimSpace(k)
	}
	if a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(a)
	}
	return ""
}

// MetricsHandler serves the Prometheus metrics without a key, for a
// listener of their own (Config.MetricsSeparate).
func (s *Server) MetricsHandler() http.Handler {
	return s.metricsHandler
}

// metrics is the /metrics route of the API listener (a curator key).
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, _ caller) error {
	if s.cfg.MetricsSeparate {
		return errorf(http.StatusNotFound, "not_found", "metrics are served on their own address (serve --metrics-addr)")
	}
	s.metricsHandler.ServeHTTP(w, r)
	return nil
}

// floodRule fills the zero fields of r from review.DefaultFloodRule; a
// negative window gives the zero rule, which never trips.
func floodRule(r review.FloodRule) review.FloodRule {
	if r.Window < 0 {
		return review.FloodRule{}
	}
	d := review.DefaultFloodRule
	if r.Window > 0 {
		d.Window = r.Window
	}
	if r.Baseline > 0 {
		d.Baseline = r.Baseline
	}
	if r.Factor > 0 {
		d.Factor = r.Factor
	}
	if r.MinHits > 0 {
		d.MinHits = r.MinHits
	}
	return d
}
