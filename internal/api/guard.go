package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
)

// Failed authentications are limited per remote address: each is logged and
// audited until the address's bucket (failBurst, refilled at failRate a
// second) is empty; then they are answered 429, counted, and summed up in
// one audit entry a minute, so guessing keys is slow and a flood of bad
// keys cannot flood the log or the database.
const (
	failRate  = 1.0
	failBurst = 20
	// A blocked address's keys are still checked (a valid key is never
	// refused for others' failures), within this process-wide budget of
	// lookups a second.
	blockedLookupRate  = 200.0
	blockedLookupBurst = 400
)

// refuse answers a request whose key is missing, wrong, revoked or lacks
// the route's role.
func (s *Server) refuse(w http.ResponseWriter, c caller, rt route, reason error, missing bool) error {
	if c.key.ID == 0 && !missing && !errors.Is(reason, apikey.ErrNotFound) && !errors.Is(reason, apikey.ErrRevoked) {
		return fmt.Errorf("authenticate: %w", reason) // the store failed: 500, not the caller's fault
	}
	s.metrics.authFailures.Inc()
	if wait, ok := s.failLimit.allow(c.remote, time.Now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		return errorf(http.StatusTooManyRequests, "rate_limited", "too many failed authentications from %s", c.remote)
	}
	target := rt.method + " " + rt.path
	if c.key.ID != 0 {
		s.log.Warn("forbidden", "remote", c.remote, "key", c.key.ID, "route", target, "reason", reason)
		s.auditAsync(audit.Entry{Actor: c.actor(), Action: "auth.forbidden", Target: target, Remote: c.remote,
			Detail: mustJSON(map[string]string{"reason": reason.Error()})})
		return errorf(http.StatusForbidden, "forbidden", "%v", reason)
	}
	s.log.Warn("authentication failed", "remote", c.remote, "route", target, "reason", reason)
	s.auditAsync(audit.Entry{Actor: "anonymous", Action: "auth.fail", Target: target, Remote: c.remote,
		Detail: mustJSON(map[string]string{"reason": reason.Error()})})
	if missing {
		return errorf(http.StatusUnauthorized, "unauthenticated", "an API key is required (Authorization: Bearer nig_…)")
	}
	return errorf(http.StatusUnauthorized, "unauthenticated", "invalid or revoked API key")
}

// limiter is a token bucket per key (an API key's id, or a remote address),
// which also counts what it allowed and refused between drains.
type limiter[K comparable] struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	buckets map[K]*bucket
}

type bucket struct {
	tokens        float64
	last          time.Time
	used, refused int64
}

// maxBuckets bounds a limiter's memory between drains; beyond it, buckets
// that have refilled (idle keys) are forgotten at once.
const maxBuckets = 100_000

func newLimiter[K comparable](rate float64, burst int) *limiter[K] {
	return &limiter[K]{rate: rate, burst: float64(burst), buckets: map[K]*bucket{}}
}

// allow takes a token for k, or says how long until one is due.
func (l *limiter[K]) allow(k K, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[k]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.forgetIdle(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[k] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		b.refused++
		return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
	}
	b.tokens--
	b.used++
	return 0, true
}

// blocked reports whether k has no token left (without taking one).
func (l *limiter[K]) blocked(k K, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[k]
	return b != nil && b.tokens+now.Sub(b.last).Seconds()*l.rate < 1
}

// usage is what a limiter allowed and refused for one key.
type usage struct{ used, refused int64 }

// drain returns the counts per key since the last drain, resets them and
// forgets idle keys.
func (l *limiter[K]) drain(now time.Time) map[K]usage {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[K]usage{}
	for k, b := range l.buckets {
		if b.used != 0 || b.refused != 0 {
			out[k] = usage{b.used, b.refused}
			b.used, b.refused = 0, 0
		}
	}
	l.forgetIdle(now)
	return out
}

// forgetIdle drops buckets that are full again and have nothing to report:
// a new bucket starts full, so forgetting them changes no decision.
func (l *limiter[K]) forgetIdle(now time.Time) {
	for k, b := range l.buckets {
		if b.used == 0 && b.refused == 0 && b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// auditQueueLen bounds the entries waiting to be written asynchronously.
const auditQueueLen = 4096

// auditAsync queues an entry for the background writer, so that refused
// requests never wait on (or load) the database. A full queue drops the
// entry and counts it: the per-minute summaries still record the volume.
//
// When the queue is full (a flood of refused requests) the entry is not
// written, but it is not lost without trace either: the writer appends an
// "audit.dropped" entry counting what was dropped, by action, and over which
// interval, as soon as the queue has drained.
func (s *Server) auditAsync(e audit.Entry) {
	select {
	case s.auditQ <- e:
	default:
		s.metrics.auditDropped.Inc()
		s.dropped.add(e.Action, time.Now())
	}
}

// droppedAudits counts the entries auditAsync could not queue.
type droppedAudits struct {
	mu          sync.Mutex
	byAction    map[string]int64
	first, last time.Time
}

func (d *droppedAudits) add(action string, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byAction == nil {
		d.byAction, d.first = map[string]int64{}, now
	}
	d.byAction[action]++
	d.last = now
}

// take returns the summary entry of what was dropped since the last take,
// and false when nothing was.
func (d *droppedAudits) take() (audit.Entry, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byAction == nil {
		return audit.Entry{}, false
	}
	var n int64
	for _, c := range d.byAction {
		n += c
	}
	e := audit.Entry{Actor: "nigehban", Action: "audit.dropped", Detail: mustJSON(map[string]any{
		"count": n, "by_action": d.byAction, "from": d.first.UTC(), "to": d.last.UTC(),
		"reason": "audit queue full (a flood of refused requests); these entries were counted, not written",
	})}
	d.byAction = nil
	return e, true
}

// writeAudits writes queued entries until ctx ends, then what is left.
func (s *Server) writeAudits(ctx context.Context) {
	write := func(ctx context.Context, e audit.Entry) {
		if _, err := s.st.AppendAudit(ctx, e); err != nil {
			s.log.Warn("audit", "action", e.Action, "err", err)
		}
	}
	summarise := func(ctx context.Context) {
		if e, ok := s.dropped.take(); ok {
			write(ctx, e)
		}
	}
	for {
		select {
		case e := <-s.auditQ:
			write(ctx, e)
			if len(s.auditQ) == 0 {
				summarise(ctx)
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			for {
				select {
				case e := <-s.auditQ:
					write(fctx, e)
				default:
					summarise(fctx)
					return
				}
			}
		}
	}
}

// flushUsage audits, per key, the requests served and refused (rate
// limited) since the last flush, and per remote address the failed
// authentications that were refused without their own entry.
func (s *Server) flushUsage(ctx context.Context) {
	now := time.Now()
	for id, u := range s.keyLimit.drain(now) {
		e := audit.Entry{Actor: fmt.Sprintf("key:%d", id), Action: "key.use",
			Detail: mustJSON(map[string]int64{"requests": u.used, "rate_limited": u.refused})}
		if _, err := s.st.AppendAudit(ctx, e); err != nil {
			s.log.Warn("audit key use", "err", err)
		}
	}
	for remote, u := range s.failLimit.drain(now) {
		if u.refused == 0 {
			continue // each allowed failure has its own entry
		}
		s.log.Warn("failed authentications refused", "remote", remote, "count", u.refused)
		e := audit.Entry{Actor: "anonymous", Action: "auth.fail.refused", Remote: remote,
			Detail: mustJSON(map[string]int64{"count": u.refused})}
		if _, err := s.st.AppendAudit(ctx, e); err != nil {
			s.log.Warn("audit failed authentications", "err", err)
		}
	}
}

type metrics struct {
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	matches      *prometheus.CounterVec
	authFailures prometheus.Counter
	delivered    prometheus.Counter
	auditDropped prometheus.Counter
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
		auditDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "nigehban_audit_dropped_total",
			Help: "Asynchronous audit entries (refused requests) dropped because the queue was full."}),
	}
	reg.MustRegister(m.requests, m.latency, m.matches, m.authFailures, m.delivered, m.auditDropped,
		indexCollector{s},
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

// indexCollector reports the in-memory indexes' sizes per bank and type.
type indexCollector struct{ s *Server }

var indexSignalsDesc = prometheus.NewDesc("nigehban_index_signals",
	"Signals in the in-memory match indexes, by bank and type (PDQ counts removed ones until merged away).",
	[]string{"bank", "type"}, nil)

func (c indexCollector) Describe(ch chan<- *prometheus.Desc) { ch <- indexSignalsDesc }

func (c indexCollector) Collect(ch chan<- prometheus.Metric) {
	x := c.s.idx.Load()
	if x == nil {
		return
	}
	for _, b := range x.Banks() {
		for _, t := range []bank.Type{bank.PDQ, bank.MD5, bank.SHA1, bank.SHA256, bank.VPDQ} {
			ch <- prometheus.MustNewConstMetric(indexSignalsDesc, prometheus.GaugeValue, float64(x.Size(b.Name, t)), b.Name, string(t))
		}
	}
}
