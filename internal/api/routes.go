package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/nigehban/nigehban/internal/apikey"
)

// route is one endpoint: the mux pattern, the role it needs ("" = public),
// its OpenAPI description, the request bodies it accepts with their size
// limits, and whether it changes banks. The mux, the limits applied to each
// request and /openapi.json are all built from this table, so neither the
// document nor the guards can drift from the routes.
type route struct {
	method, path string
	role         apikey.Role
	summary      string
	// bodies are the request media types the route reads, each with its
	// size limit. A request whose Content-Type matches none of them is read
	// under the first one's limit (the handler then refuses it). A route
	// with no bodies reads none; a stray body is still bounded by
	// Config.MaxBodyBytes.
	bodies []body
	// changesBanks says the route may change banks, signals or webhooks:
	// after it runs, this replica applies the change log before answering,
	// so the caller's next match sees the change.
	changesBanks bool
	handle       func(*Server, http.ResponseWriter, *http.Request, caller) error
}

// body is one request media type a route accepts and its size limit.
type body struct {
	mediaType string
	limit     bodyLimit
}

// bodyLimit names a request body size limit; Server.maxBytes turns it into
// bytes from the Config.
type bodyLimit int

const (
	// limitJSON is Config.MaxBodyBytes.
	limitJSON bodyLimit = iota
	// limitUpload is Config.MaxUploadBytes plus 1 MiB of multipart framing.
	limitUpload
	// limitImport is 64 × Config.MaxBodyBytes (bulk hash lists).
	limitImport
	// limitProtect is protectMaxBody: one self-submission's hashes.
	limitProtect
)

// String is the limit's name in /openapi.json (x-body-limit).
func (l bodyLimit) String() string {
	switch l {
	case limitJSON:
		return "json"
	case limitUpload:
		return "upload"
	case limitImport:
		return "import"
	case limitProtect:
		return "protect"
	}
	return fmt.Sprintf("bodyLimit(%d)", int(l))
}

// Request bodies of the route table.
var (
	jsonBody      = []body{{"application/json", limitJSON}}
	uploadBody    = []body{{"multipart/form-data", limitUpload}}
	importBody    = []body{{"application/octet-stream", limitImport}}
	protectBody   = []body{{"application/json", limitProtect}}
	jsonOrUpload  = []body{{"application/json", limitJSON}, {"multipart/form-data", limitUpload}}
	noRequestBody []body
)

// Values of route.changesBanks, named for the table.
const (
	changesBanks = true
	noBankChange = false
)

// caller is the authenticated key of a request.
type caller struct {
	key    apikey.Key
	remote string
}

func (c caller) actor() string { return fmt.Sprintf("key:%d (%s)", c.key.ID, c.key.Name) }

var routeTable = []route{
	{"GET", "/healthz", "", "Liveness: the process serves HTTP.", noRequestBody, noBankChange, (*Server).healthz},
	{"GET", "/readyz", "", "Readiness: 200 once the bank indexes are loaded, 503 before.", noRequestBody, noBankChange, (*Server).readyz},
	{"POST", "/v1/hash", apikey.Submitter, "Hash uploaded media (multipart field file): md5, sha1, sha256, PDQ, vPDQ.", uploadBody, noBankChange, (*Server).hash},
	{"POST", "/v1/match", apikey.Submitter, "Match signals (JSON {\"signals\":[{\"type\",\"value\"}],\"content_id\":…,\"uploader\":{…}}) or uploaded media (multipart field file, optional fields content_id, uploader (a JSON object) and variants: none, borders or all, the PDQ variants of an image tried beside it, default the server's) against the enabled banks; a PDQ hit names the variant that matched; every hit is kept in the match history with the content_id; the bank policy queues hits for review (uploader context stored sealed: needs serve --data-key).", jsonOrUpload, noBankChange, (*Server).match},
	{"GET", "/v1/matches", apikey.Curator, "The match history, newest first (?content_id=&bank=&before=ID&limit=N≤1000); next_before pages on.", noRequestBody, noBankChange, (*Server).listMatches},
	{"GET", "/v1/reviews", apikey.Curator, "The review queue, newest first (?state=open|escalated|confirmed|rejected&bank=&content_id=&before=ID&limit=N≤1000), with the number of items waiting; never uploader context.", noRequestBody, noBankChange, (*Server).listReviews},
	{"POST", "/v1/reviews/claim", apikey.Curator, "Claim the next review item with a lease (escalated items first); 204 when the queue is empty.", noRequestBody, noBankChange, (*Server).claimReview},
	{"GET", "/v1/reviews/{id}", apikey.Curator, "Get a review item; ?uploader=true adds its uploader context for admin keys (audited).", noRequestBody, noBankChange, (*Server).getReview},
	{"POST", "/v1/reviews/{id}/decision", apikey.Curator, "Decide an item the key holds {decision: confirm|reject|escalate|skip, comment, add_to, exclude}; audited; confirm queues the bank's decision.confirmed webhook.", jsonBody, changesBanks, (*Server).decideReview},
	{"GET", "/v1/quarantine", apikey.Curator, "Signals the flood rule paused (?all=true: lifted ones too).", noRequestBody, noBankChange, (*Server).listQuarantine},
	{"DELETE", "/v1/quarantine/{id}", apikey.Curator, "Lift a signal's flood quarantine; audited.", noRequestBody, noBankChange, (*Server).liftQuarantine},
	{"GET", "/v1/banks", apikey.Curator, "List banks.", noRequestBody, noBankChange, (*Server).listBanks},
	{"POST", "/v1/banks", apikey.Curator, "Create a bank.", jsonBody, changesBanks, (*Server).createBank},
	{"GET", "/v1/banks/{name}", apikey.Curator, "Get a bank with its signal counts and webhook.", noRequestBody, noBankChange, (*Server).getBank},
	{"PATCH", "/v1/banks/{name}", apikey.Curator, "Update a bank: description, enabled, action, pdq_threshold, review_above, negative.", jsonBody, changesBanks, (*Server).updateBank},
	{"PUT", "/v1/banks/{name}/webhook", apikey.Curator, "Set (or with an empty url remove) the bank's webhook action.", jsonBody, changesBanks, (*Server).setWebhook},
	{"POST", "/v1/banks/{name}/signals", apikey.Curator, "Add signals: one object or {\"signals\":[…]}.", jsonBody, changesBanks, (*Server).addSignals},
	{"POST", "/v1/banks/{name}/import", apikey.Curator, "Bulk import a hash list (body; ?format=plain|csv|jsonl|te|vics|nigehban&type=&category=&source=&atomic=true).", importBody, changesBanks, (*Server).importSignals},
	{"GET", "/v1/banks/{name}/signals", apikey.Curator, "List a bank's signals by id, a page at a time (?after=ID&limit=N≤5000&type=&removed=true); next_after pages on.", noRequestBody, noBankChange, (*Server).listSignals},
	{"GET", "/v1/banks/{name}/signals/{id}", apikey.Curator, "Get a signal.", noRequestBody, noBankChange, (*Server).getSignal},
	{"DELETE", "/v1/banks/{name}/signals/{id}", apikey.Curator, "Remove a signal (a false positive); ?reason= is required.", noRequestBody, changesBanks, (*Server).removeSignal},
	{"GET", "/v1/banks/{name}/exclusions", apikey.Curator, "List the values the bank refuses (removed signals stay removed), oldest first.", noRequestBody, noBankChange, (*Server).listExclusions},
	{"POST", "/v1/banks/{name}/exclusions", apikey.Curator, "Exclude a value from the bank {type, value, reason}: adding or importing it is then reported as excluded.", jsonBody, changesBanks, (*Server).addExclusion},
	{"DELETE", "/v1/banks/{name}/exclusions", apikey.Curator, "Allow an excluded value again (?type=&value=).", noRequestBody, changesBanks, (*Server).removeExclusion},
	{"GET", "/v1/webhooks/dead", apikey.Curator, "List dead webhook events (attempts exhausted), by id, a page at a time (?after=ID&limit=N≤1000); never secrets.", noRequestBody, noBankChange, (*Server).deadEvents},
	{"POST", "/v1/webhooks/dead/retry", apikey.Curator, "Retry dead webhook events {\"ids\":[…]} or {\"all\":true}: pending again with fresh attempts; audited.", jsonBody, noBankChange, (*Server).retryDead},
	{"GET", "/v1/changes", apikey.Curator, "The bank change log after ?since=N (limit ?limit=, at most 5000).", noRequestBody, noBankChange, (*Server).changes},
	{"GET", "/v1/audit", apikey.Admin, "The audit log after ?since=N, with its hash chain.", noRequestBody, noBankChange, (*Server).auditLog},
	{"GET", "/v1/apikeys", apikey.Admin, "List API keys (never secrets).", noRequestBody, noBankChange, (*Server).listKeys},
	{"POST", "/v1/apikeys", apikey.Admin, "Create an API key {name, role}; the secret is in this answer only.", jsonBody, noBankChange, (*Server).createKey},
	{"DELETE", "/v1/apikeys/{id}", apikey.Admin, "Revoke an API key.", noRequestBody, noBankChange, (*Server).revokeKey},
	{"GET", "/v1/protect/challenge", "", "A proof-of-work challenge for one self-submission (no key: the public /protect page).", noRequestBody, noBankChange, (*Server).protectChallenge},
	{"POST", "/v1/protect/cases", "", "Submit hashes of one's own images {signals:[{type,value,quality,variant,of}], age, category, proof:{challenge,nonce}} into the victim-submitted bank (review only; a PDQ central crop names its variant, crop97…crop80, and its parent PDQ in of); answers a case number and PIN, shown once. No key; limited per address.", protectBody, changesBanks, (*Server).protectSubmit},
	{"GET", "/v1/protect/cases/{number}", "", "A self-submitted case's status; the PIN in the X-Protect-PIN header. Wrong PINs are limited per address and lock the case.", noRequestBody, noBankChange, (*Server).protectStatus},
	{"DELETE", "/v1/protect/cases/{number}", "", "Withdraw a self-submitted case (PIN in X-Protect-PIN): its hashes leave the bank at once and the change log carries their removal to replicas and partners.", noRequestBody, changesBanks, (*Server).protectWithdraw},
	{"GET", "/metrics", apikey.Curator, "Prometheus metrics (they name banks and count their hits, so a curator key is needed; serve --metrics-addr serves them without one on a separate, internal address).", noRequestBody, noBankChange, (*Server).serveMetrics},
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
	c := caller{remote: s.remoteAddr(r)}
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
	body := &limitedBody{limit: s.maxBytes(rt, r.Header.Get("Content-Type"))}
	body.ReadCloser = http.MaxBytesReader(w, r.Body, body.limit)
	r.Body = body
	err := rt.handle(s, w, r, c)
	if err != nil && body.exceeded {
		// Whatever the handler made of the short read (a multipart or JSON
		// parse error), the cause is the route's limit: 413.
		err = fmt.Errorf("%s %s: %w", rt.method, rt.path, &http.MaxBytesError{Limit: body.limit})
	}
	if rt.changesBanks && s.Ready() {
		// This replica reflects its own bank changes at once; the others
		// within FollowInterval.
		if cerr := s.catchUp(r.Context()); cerr != nil {
			s.log.Warn("apply own change", "err", cerr)
		}
	}
	return err
}

// maxBytes is the body size limit of a request to rt with the given
// Content-Type, from the route's table entry.
func (s *Server) maxBytes(rt route, contentType string) int64 {
	if len(rt.bodies) == 0 {
		return s.cfg.MaxBodyBytes
	}
	b := rt.bodies[0]
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		for _, c := range rt.bodies {
			if c.mediaType == mt {
				b = c
				break
			}
		}
	}
	switch b.limit {
	case limitUpload:
		return s.cfg.MaxUploadBytes + 1<<20
	case limitImport:
		return 64 * s.cfg.MaxBodyBytes
	case limitProtect:
		return protectMaxBody
	}
	return s.cfg.MaxBodyBytes
}

// limitedBody is a request body under http.MaxBytesReader that remembers
// whether the limit was hit.
type limitedBody struct {
	io.ReadCloser
	limit    int64
	exceeded bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		b.exceeded = true
	}
	return n, err
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
//
// A remote address that has used up its failed attempts (often a reverse
// proxy that everyone shares) is still looked up, so a valid key is never
// refused for other callers' failures: a key this replica has seen valid
// always is, and others are while a process-wide budget of lookups for
// blocked addresses lasts (blockedLookupRate a second), which bounds what a
// flood of guesses costs the database.
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
	if now := time.Now(); s.failLimit.blocked(remote, now) && !ok {
		if _, allowed := s.blockedLookups.allow(struct{}{}, now); !allowed {
			return apikey.Key{}, apikey.ErrNotFound
		}
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
