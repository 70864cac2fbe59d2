package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
)

// route is one endpoint: the mux pattern, the role it needs ("" = public),
// and its OpenAPI description. The mux and /openapi.json are both built
// from this table, so the document cannot drift from the routes.
type route struct {
	method, path string
	role         apikey.Role
	summary      string
	body         string // request body media type, "" for none
	handle       func(*Server, http.ResponseWriter, *http.Request, caller) error
}

// caller is the authenticated key of a request.
type caller struct {
	key    apikey.Key
	remote string
}

func (c caller) actor() string { return fmt.Sprintf("key:%d (%s)", c.key.ID, c.key.Name) }

var routeTable = []route{
	{"GET", "/healthz", "", "Liveness: the process serves HTTP.", "", (*Server).healthz},
	{"GET", "/readyz", "", "Readiness: 200 once the bank indexes are loaded, 503 before.", "", (*Server).readyz},
	{"POST", "/v1/hash", apikey.Submitter, "Hash uploaded media (multipart field file): md5, sha1, sha256, PDQ, vPDQ.", "multipart/form-data", (*Server).hash},
	{"POST", "/v1/match", apikey.Submitter, "Match signals (JSON {\"signals\":[{\"type\",\"value\"}]}) or uploaded media (multipart field file) against the enabled banks.", "application/json", (*Server).match},
	{"GET", "/v1/banks", apikey.Curator, "List banks.", "", (*Server).listBanks},
	{"POST", "/v1/banks", apikey.Curator, "Create a bank.", "application/json", (*Server).createBank},
	{"GET", "/v1/banks/{name}", apikey.Curator, "Get a bank with its signal counts and webhook.", "", (*Server).getBank},
	{"PATCH", "/v1/banks/{name}", apikey.Curator, "Update a bank: description, enabled, action, pdq_threshold.", "application/json", (*Server).updateBank},
	{"PUT", "/v1/banks/{name}/webhook", apikey.Curator, "Set (or with an empty url remove) the bank's webhook action.", "application/json", (*Server).setWebhook},
	{"POST", "/v1/banks/{name}/signals", apikey.Curator, "Add signals: one object or {\"signals\":[…]}.", "application/json", (*Server).addSignals},
	{"POST", "/v1/banks/{name}/import", apikey.Curator, "Bulk import a hash list (body; ?format=plain|csv|jsonl|te|vics&type=&category=&source=&atomic=true).", "application/octet-stream", (*Server).importSignals},
	{"GET", "/v1/banks/{name}/signals/{id}", apikey.Curator, "Get a signal.", "", (*Server).getSignal},
	{"DELETE", "/v1/banks/{name}/signals/{id}", apikey.Curator, "Remove a signal (a false positive); ?reason= is required.", "", (*Server).removeSignal},
	{"GET", "/v1/changes", apikey.Curator, "The bank change log after ?since=N (limit ?limit=, at most 5000).", "", (*Server).changes},
	{"GET", "/v1/audit", apikey.Admin, "The audit log after ?since=N, with its hash chain.", "", (*Server).auditLog},
	{"GET", "/v1/apikeys", apikey.Admin, "List API keys (never secrets).", "", (*Server).listKeys},
	{"POST", "/v1/apikeys", apikey.Admin, "Create an API key {name, role}; the secret is in this answer only.", "application/json", (*Server).createKey},
	{"DELETE", "/v1/apikeys/{id}", apikey.Admin, "Revoke an API key.", "", (*Server).revokeKey},
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range routeTable {
		mux.Handle(rt.method+" "+rt.path, s.wrap(rt))
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, openAPI())
	})
	return mux
}

// wrap adds authentication, authorisation, rate limiting, body limits,
// metrics and error mapping around a handler.
func (s *Server) wrap(rt route) http.Handler {
	name := rt.method + " " + rt.path
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		err := s.serve(rt, sw, r)
		if err != nil {
			e := toAPIError(err)
			if e.status == http.StatusInternalServerError {
				s.log.Error("request failed", "route", name, "err", err)
			}
			writeError(sw, e)
		}
		s.metrics.requests.WithLabelValues(name, strconv.Itoa(sw.status)).Inc()
		s.metrics.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
	})
}

func (s *Server) serve(rt route, w http.ResponseWriter, r *http.Request) error {
	c := caller{remote: remoteAddr(r)}
	if rt.role != "" {
		secret := bearer(r)
		k, err := s.authenticate(r.Context(), secret)
		if err != nil {
			s.metrics.authFailures.Inc()
			s.log.Warn("authentication failed", "remote", c.remote, "route", rt.path, "reason", err)
			s.auditAsync(audit.Entry{Actor: "anonymous", Action: "auth.fail", Target: rt.method + " " + rt.path, Remote: c.remote,
				Detail: mustJSON(map[string]string{"reason": err.Error()})})
			if secret == "" {
				return errorf(http.StatusUnauthorized, "unauthenticated", "an API key is required (Authorization: Bearer nig_…)")
			}
			return errorf(http.StatusUnauthorized, "unauthenticated", "invalid or revoked API key")
		}
		c.key = k
		if !k.Role.Allows(rt.role) {
			s.metrics.authFailures.Inc()
			s.log.Warn("forbidden", "key", k.ID, "role", k.Role, "route", rt.path)
			s.auditAsync(audit.Entry{Actor: c.actor(), Action: "auth.forbidden", Target: rt.method + " " + rt.path, Remote: c.remote})
			return errorf(http.StatusForbidden, "forbidden", "role %s may not %s %s (needs %s)", k.Role, rt.method, rt.path, rt.role)
		}
		if wait, ok := s.limiter.allow(k.ID); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			return errorf(http.StatusTooManyRequests, "rate_limited", "rate limit of %.0f requests/s exceeded", s.cfg.RatePerSecond)
		}
		s.usage.add(k.ID)
	}
	limit := s.cfg.MaxBodyBytes
	switch rt.body {
	case "multipart/form-data":
		limit = s.cfg.MaxUploadBytes + 1<<20
	case "application/octet-stream":
		limit = 64 * s.cfg.MaxBodyBytes
	}
	if rt.path == "/v1/match" && r.Header.Get("Content-Type") != "application/json" {
		limit = s.cfg.MaxUploadBytes + 1<<20
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	err := rt.handle(s, w, r, c)
	if rt.method != http.MethodGet && rt.role != apikey.Submitter && rt.role != "" && s.Ready() {
		// This replica reflects its own bank changes at once; the others
		// within FollowInterval.
		if cerr := s.catchUp(r.Context()); cerr != nil {
			s.log.Warn("apply own change", "err", cerr)
		}
	}
	return err
}

// keyCacheTTL is how long a verified key is trusted without asking the
// database again: a revoked key stops working on every replica within it.
const keyCacheTTL = 5 * time.Second

type cachedKey struct {
	key     apikey.Key
	expires time.Time
}

// authenticate checks a secret against the store, through a short cache so
// the match path does not read the database on every request.
func (s *Server) authenticate(ctx context.Context, secret string) (apikey.Key, error) {
	d := string(apikey.Digest(secret))
	s.keyMu.RLock()
	c, ok := s.keys[d]
	s.keyMu.RUnlock()
	if ok && time.Now().Before(c.expires) {
		return c.key, nil
	}
	k, err := apikey.Authenticate(ctx, s.st, secret)
	if err != nil {
		return k, err
	}
	s.keyMu.Lock()
	if s.keys == nil || len(s.keys) > 10000 {
		s.keys = map[string]cachedKey{}
	}
	s.keys[d] = cachedKey{k, time.Now().Add(keyCacheTTL)}
	s.keyMu.Unlock()
	return k, nil
}

// auditAsync records an entry without making the request wait (auth
// failures must not become a way to load the database synchronously).
func (s *Server) auditAsync(e audit.Entry) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := s.st.AppendAudit(ctx, e); err != nil {
			s.log.Warn("audit", "action", e.Action, "err", err)
		}
	}()
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// limiter is a per-key token bucket.
type limiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	buckets map[int64]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func (l *limiter) allow(id int64) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[int64]*bucket{}
	}
	now := time.Now()
	b := l.buckets[id]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[id] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
	}
	b.tokens--
	return 0, true
}

// usage counts requests per key between audit flushes.
type usage struct {
	mu sync.Mutex
	n  map[int64]int64
}

func (u *usage) add(id int64) {
	u.mu.Lock()
	if u.n == nil {
		u.n = map[int64]int64{}
	}
	u.n[id]++
	u.mu.Unlock()
}

func (s *Server) flushUsage(ctx context.Context) {
	s.usage.mu.Lock()
	n := s.usage.n
	s.usage.n = nil
	s.usage.mu.Unlock()
	for id, count := range n {
		e := audit.Entry{Actor: fmt.Sprintf("key:%d", id), Action: "key.use", Detail: mustJSON(map[string]int64{"requests": count})}
		if _, err := s.st.AppendAudit(ctx, e); err != nil {
			s.log.Warn("audit key use", "err", err)
		}
	}
}

type metrics struct {
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	matches      *prometheus.CounterVec
	authFailures prometheus.Counter
	delivered    prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, s *Server) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nigehban_http_requests_total",
			Help: "HTTP requests by route and status code."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "nigehban_http_request_duration_seconds",
			Help: "HTTP request latency by route.", Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14)}, []string{"route"}),
		matches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nigehban_match_hits_total",
			Help: "Matches found, by bank and signal type."}, []string{"bank", "type"}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "nigehban_auth_failures_total",
			Help: "Requests refused for a missing, invalid, revoked or insufficient API key."}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "nigehban_webhook_deliveries_total",
			Help: "Webhook events delivered."}),
	}
	reg.MustRegister(m.requests, m.latency, m.matches, m.authFailures, m.delivered,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nigehban_index_change_seq",
			Help: "Change-log position the in-memory indexes reflect."}, func() float64 {
			if x := s.idx.Load(); x != nil {
				return float64(x.Seq())
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nigehban_outbox_pending",
			Help: "Webhook events waiting for delivery."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			n, _ := s.st.OutboxDepth(ctx)
			return float64(n)
		}))
	return m
}
