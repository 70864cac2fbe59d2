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
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
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
	// FinishEvents records the outcome of delivery attempts (State,
	// Attempts, NextAt, LastError of each event) in one transaction. The
	// NextAt of delivered events (when they were delivered, for pruning)
	// may be recorded up to a second later than given.
	FinishEvents(ctx context.Context, events []Event) error
	// OutboxDepth counts pending events.
	OutboxDepth(ctx context.Context) (int64, error)
	// DeadEventCount counts dead events.
	DeadEventCount(ctx context.Context) (int64, error)
	// PruneDelivered deletes up to limit delivered events whose delivery
	// (NextAt) is before before, and returns how many it deleted.
	PruneDelivered(ctx context.Context, before time.Time, limit int) (int64, error)
	// DeadEvents lists up to limit dead events with an id above after, by
	// increasing id (secrets included: callers must not show them).
	DeadEvents(ctx context.Context, after int64, limit int) ([]Event, error)
	// RetryDead makes the dead events with the given ids (every dead event
	// if ids is nil) pending again, due now with no attempts, and appends
	// its audit entry (audit.ActWebhookRetry, detail: the ids retried) by by
	// in the same transaction. It returns the ids made pending; ids that are
	// not dead events are left alone and not returned.
	RetryDead(ctx context.Context, ids []int64, by audit.Actor) ([]int64, error)
}

// EventID returns the id receivers see for e: the payload's event_id (the
// id the match answer listed), else the outbox row id.
func (e Event) EventID() string {
	var p struct {
		EventID string `json:"event_id"`
	}
	if json.Unmarshal(e.Payload, &p) == nil && p.EventID != "" {
		return p.EventID
	}
	return strconv.FormatInt(e.ID, 10)
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
