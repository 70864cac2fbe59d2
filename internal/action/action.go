// Package action delivers match events to the webhooks bank curators set.
//
// Events are written to an outbox table in the same transaction as the
// audit entry of the match, before the caller gets its answer, so a match
// acknowledged to a platform is never lost: a deliverer (in every `serve`
// replica) claims due events, POSTs them signed with HMAC-SHA256, and
// retries with exponential backoff and jitter until the receiver answers
// 2xx or the attempts run out (the event is then kept as dead for an
// operator). Delivery is at least once: receivers deduplicate by event id.
package action

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
)

// Webhook is a bank's action rule: where to send its match events, and
// for which matches. Empty Categories or Types mean every category or type.
type Webhook struct {
	Bank       string   `json:"bank"`
	URL        string   `json:"url"`
	Secret     string   `json:"-"`
	Categories []string `json:"categories,omitempty"`
	Types      []string `json:"types,omitempty"`
}

// Fires reports whether a match of a signal with this category and type
// triggers the webhook.
func (w Webhook) Fires(category, typ string) bool {
	return (len(w.Categories) == 0 || slices.Contains(w.Categories, category)) &&
		(len(w.Types) == 0 || slices.Contains(w.Types, typ))
}

// Event is one outbox row.
type Event struct {
	ID        int64           `json:"id"`
	Bank      string          `json:"bank"`
	URL       string          `json:"url"`
	Secret    string          `json:"-"`
	Payload   json.RawMessage `json:"payload"`
	Attempts  int             `json:"attempts"`
	NextAt    time.Time       `json:"next_at"`
	State     string          `json:"state"` // pending, delivered, dead
	LastError string          `json:"last_error,omitempty"`
}

// Event states.
const (
	Pending   = "pending"
	Delivered = "delivered"
	Dead      = "dead"
)

// Store is the outbox; implemented by the store engines.
type Store interface {
	// SetWebhook sets (or with an empty URL removes) a bank's webhook and
	// appends its audit entry (audit.ActBankWebhook on the bank, detail:
	// the webhook without its secret) by by in the same transaction.
	SetWebhook(ctx context.Context, w Webhook, by audit.Actor) error
	// Webhooks lists every bank's webhook, secrets included.
	Webhooks(ctx context.Context) ([]Webhook, error)
	// ClaimEvents returns up to limit pending events due at now and pushes
	// their NextAt to now+lease, so no other deliverer takes them meanwhile.
	ClaimEvents(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Event, error)
	// FinishEvent records a delivery attempt's outcome (State, Attempts,
	// NextAt, LastError from e).
	FinishEvent(ctx context.Context, e Event) error
	// OutboxDepth counts pending events.
	OutboxDepth(ctx context.Context) (int64, error)
}

// Headers of a delivery.
const (
	HeaderSignature = "X-Nigehban-Signature" // "sha256=" + hex HMAC of "timestamp.body"
	HeaderTimestamp = "X-Nigehban-Timestamp" // unix seconds; receivers reject stale ones (replay)
	HeaderEvent     = "X-Nigehban-Event"     // event id, for deduplication
)

// Sign returns the signature header value for a body sent at ts.
func Sign(secret string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a delivery's signature in constant time: what a receiver
// does, and what the tests do.
func Verify(secret, ts, signature string, body []byte) bool {
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	return hmac.Equal([]byte(Sign(secret, t, body)), []byte(signature))
}

// Deliverer sends due outbox events. The zero value is not usable: set Store.
type Deliverer struct {
	Store Store
	// Client sends the deliveries; nil means NewClient(10 s, AllowPrivate).
	Client *http.Client
	// AllowPrivate lets the default client deliver to loopback and private
	// addresses (receivers inside the deployment's own network, tests).
	AllowPrivate bool
	Interval     time.Duration // polling interval (default 200 ms)
	MaxAttempts  int           // default 12 (about 1.5 hours of backoff)
	BaseBackoff  time.Duration // default 1 s, doubled per attempt, capped at 30 min
	Log          *slog.Logger
	OnDelivered  func(Event) // optional hook (metrics)

	clientOnce sync.Once
	client     *http.Client
}

// Run delivers until ctx ends.
func (d *Deliverer) Run(ctx context.Context) {
	interval := d.Interval
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		d.RunOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce claims and attempts the events due now.
func (d *Deliverer) RunOnce(ctx context.Context) int {
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	// The lease outlasts one delivery attempt (10 s client timeout), so no
	// other deliverer takes an event while it is being sent.
	events, err := d.Store.ClaimEvents(ctx, time.Now(), 15*time.Second, 32)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("claim outbox events", "err", err)
		}
		return 0
	}
	for _, e := range events {
		d.attempt(ctx, log, e)
	}
	return len(events)
}

func (d *Deliverer) attempt(ctx context.Context, log *slog.Logger, e Event) {
	client := d.Client
	if client == nil {
		d.clientOnce.Do(func() { d.client = NewClient(10*time.Second, d.AllowPrivate) })
		client = d.client
	}
	maxAttempts := d.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 12
	}
	base := d.BaseBackoff
	if base <= 0 {
		base = time.Second
	}
	err := post(ctx, client, e)
	e.Attempts++
	if err == nil {
		e.State, e.LastError = Delivered, ""
		if d.OnDelivered != nil {
			d.OnDelivered(e)
		}
	} else {
		e.LastError = err.Error()
		if e.Attempts >= maxAttempts {
			e.State = Dead
			log.Error("webhook event dead after retries", "event", e.ID, "bank", e.Bank, "err", err)
		} else {
			backoff := min(base<<min(e.Attempts-1, 20), 30*time.Minute)
			backoff += time.Duration(rand.Int64N(int64(backoff)/2 + 1)) // jitter: replicas don't retry in step
			e.NextAt = time.Now().Add(backoff)
			log.Warn("webhook delivery failed, will retry", "event", e.ID, "bank", e.Bank, "attempt", e.Attempts, "in", backoff, "err", err)
		}
	}
	// A finish that fails leaves the event pending: it is delivered again
	// after the lease (at least once).
	if ferr := d.Store.FinishEvent(context.WithoutCancel(ctx), e); ferr != nil {
		log.Warn("record webhook attempt", "event", e.ID, "err", ferr)
	}
}

func post(ctx context.Context, client *http.Client, e Event) error {
	ts := time.Now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(e.Payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(e.Secret, ts, e.Payload))
	req.Header.Set(HeaderEvent, strconv.FormatInt(e.ID, 10))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
	return nil
}
