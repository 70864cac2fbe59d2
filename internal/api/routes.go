package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nigehban/nigehban/internal/apikey"
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
	{"POST", "/v1/match", apikey.Submitter, "Match signals (JSON {\"signals\":[{\"type\",\"value\"}],\"content_id\":…}) or uploaded media (multipart field file, optional field content_id) against the enabled banks; every hit is kept in the match history with the content_id.", "application/json", (*Server).match},
	{"GET", "/v1/matches", apikey.Curator, "The match history, newest first (?content_id=&bank=&before=ID&limit=N≤1000); next_before pages on.", "", (*Server).listMatches},
	{"GET", "/v1/banks", apikey.Curator, "List banks.", "", (*Server).listBanks},
	{"POST", "/v1/banks", apikey.Curator, "Create a bank.", "application/json", (*Server).createBank},
	{"GET", "/v1/banks/{name}", apikey.Curator, "Get a bank with its signal counts and webhook.", "", (*Server).getBank},
	{"PATCH", "/v1/banks/{name}", apikey.Curator, "Update a bank: description, enabled, action, pdq_threshold.", "application/json", (*Server).updateBank},
	{"PUT", "/v1/banks/{name}/webhook", apikey.Curator, "Set (or with an empty url remove) the bank's webhook action.", "application/json", (*Server).setWebhook},
	{"POST", "/v1/banks/{name}/signals", apikey.Curator, "Add signals: one object or {\"signals\":[…]}.", "application/json", (*Server).addSignals},
	{"POST", "/v1/banks/{name}/import", apikey.Curator, "Bulk import a hash list (body; ?format=plain|csv|jsonl|te|vics&type=&category=&source=&atomic=true).", "application/octet-stream", (*Server).importSignals},
	{"GET", "/v1/banks/{name}/signals", apikey.Curator, "List a bank's signals by id, a page at a time (?after=ID&limit=N≤5000&type=&removed=true); next_after pages on.", "", (*Server).listSignals},
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
	handle := func(pattern string, h http.Handler) {
		mux.Handle(pattern, h)
		s.patterns = append(s.patterns, pattern)
	}
	for _, rt := range routeTable {
		handle(rt.method+" "+rt.path, s.wrap(rt))
	}
	handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
	doc, err := json.Marshal(openAPI())
	if err != nil {
		panic(err) // a literal document: cannot fail
	}
	handle("GET /openapi.json", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	}))
	return mux
}

// wrap adds authentication, authorisation, rate limiting, body limits,
// metrics and error mapping around a handler.
func (s *Server) wrap(rt route) http.Handler {
	name := rt.method + " " + rt.path
	// Resolved once: label lookups per request cost more than the counting.
	latency := s.metrics.latency.WithLabelValues(name)
	ok := s.metrics.requests.WithLabelValues(name, "200")
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
		if sw.status == http.StatusOK {
			ok.Inc()
		} else {
			s.metrics.requests.WithLabelValues(name, strconv.Itoa(sw.status)).Inc()
		}
		latency.Observe(time.Since(start).Seconds())
	})
}

func (s *Server) serve(rt route, w http.ResponseWriter, r *http.Request) error {
	c := caller{remote: remoteAddr(r)}
	if rt.role != "" {
		secret := bearer(r)
		k, err := s.authenticate(r.Context(), secret, c.remote)
		if err != nil {
			return s.refuse(w, c, rt, err, secret == "")
		}
		c.key = k
		if !k.Role.Allows(rt.role) {
			return s.refuse(w, c, rt, fmt.Errorf("role %s may not %s %s (needs %s)", k.Role, rt.method, rt.path, rt.role), false)
		}
		if wait, ok := s.keyLimit.allow(k.ID, time.Now()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			return errorf(http.StatusTooManyRequests, "rate_limited", "rate limit of %.0f requests/s exceeded", s.cfg.RatePerSecond)
		}
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
// the match path does not read the database on every request. A remote
// address that has used up its failed attempts is not looked up at all
// (unless its key is cached): guessing costs no database reads.
func (s *Server) authenticate(ctx context.Context, secret, remote string) (apikey.Key, error) {
	if secret == "" {
		return apikey.Key{}, apikey.ErrNotFound
	}
	d := string(apikey.Digest(secret))
	s.keyMu.RLock()
	c, ok := s.keys[d]
	s.keyMu.RUnlock()
	if ok && time.Now().Before(c.expires) {
		return c.key, nil
	}
	if s.failLimit.blocked(remote, time.Now()) {
		return apikey.Key{}, apikey.ErrNotFound
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
