// Package review is what happens between a hit and an action: the bank
// policy that decides whether a hit is acted on at once or queued for a
// person, the review queue those people work through, and the flood rule
// that pauses a signal whose hits suddenly surge.
//
// # Policy (Decide)
//
// For the hits of one match request:
//
//  1. If any hit is of a negative bank (bank.Bank.Negative, an allow list
//     of known benign content), every hit of the other banks is suppressed:
//     no action, no review. The negative hits themselves are never acted on.
//  2. A hit of a signal in flood quarantine goes to review (ReasonFlood).
//  3. A hit of a bank whose action is review goes to review (ReasonBank).
//  4. A PDQ hit farther than the bank's ReviewAbove (when set) goes to
//     review whatever the bank's action (ReasonDistance).
//  5. Every other hit is acted on as its bank says (block, report, log).
//
// # Queue
//
// A queued item is one hit with the request's content id, submitter, all
// its query hashes and, if the platform gave it, the uploader context sealed
// with the data key. A reviewer claims the next item with a lease
// (ClaimNext): two reviewers never hold the same item, and an item whose
// lease expired returns to the queue. Decisions: confirm, reject (a false
// positive), escalate (to curators and admins) or skip (back to the queue,
// not offered to the same reviewer again), each with a comment, each
// audited in the transaction that records it. Confirm queues the bank's
// webhook event decision.confirmed in that transaction and may add the
// content's hashes to a bank; reject may add them to a negative bank or
// exclude them from the item's bank.
//
// # Flood quarantine (FloodRule)
//
// A signal whose hits in the last Window (1 h) are at least MinHits (20)
// and more than Factor (10) times what its own Baseline (the 7 days before
// that window) predicts for one window is paused: from then on its hits go
// to review instead of being acted on, until a curator lifts the pause.
// Counts come from the match history, so every replica sees the same rate.
package review

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/signal"
)

// Errors callers branch on.
var (
	// ErrNotFound: no such item.
	ErrNotFound = errors.New("review item not found")
	// ErrEmpty: nothing to claim.
	ErrEmpty = errors.New("review queue is empty")
	// ErrNotHeld: the caller does not hold the item's lease (never claimed,
	// expired and taken by someone else, or already decided).
	ErrNotHeld = errors.New("review item is not leased to you (claim it again)")
	// ErrInvalid: a decision, comment or option failed validation.
	ErrInvalid = errors.New("invalid review input")
)

// Reason says why a hit was queued.
type Reason string

// Reasons.
const (
	ReasonBank     Reason = "bank"     // the bank's action is review
	ReasonDistance Reason = "distance" // farther than the bank's review_above
	ReasonFlood    Reason = "flood"    // the signal is in flood quarantine
)

// State is where an item is.
type State string

// States.
const (
	Open      State = "open"
	Escalated State = "escalated" // waiting for a curator or admin
	Confirmed State = "confirmed"
	Rejected  State = "rejected"
)

// Decision is what a reviewer decides.
type Decision string

// Decisions.
const (
	Confirm  Decision = "confirm"
	Reject   Decision = "reject" // a false positive
	Escalate Decision = "escalate"
	Skip     Decision = "skip"
)

// Decisions lists the valid decisions.
var Decisions = []Decision{Confirm, Reject, Escalate, Skip}

// Audit actions of the queue.
const (
	ActDecide       = "review.decide"        // detail: decision, comment, state, bank, signal
	ActUploaderView = "review.uploader.view" // a person saw an item's uploader context
	ActPreview      = "review.preview"       // a person unblurred (or was shown) a preview
	ActQuarantine   = "signal.quarantine"    // the flood rule paused a signal
	ActLift         = "signal.quarantine.lift"
)

// MaxComment bounds a decision's comment (bytes).
const MaxComment = 4096

// Hash is one of the content's hashes, as the match request gave it.
type Hash struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Item is one queued hit.
type Item struct {
	ID        int64     `json:"id"`
	Ref       string    `json:"-"` // random, binds the sealed uploader to this row
	CreatedAt time.Time `json:"created_at"`
	Bank      string    `json:"bank"`
	SignalID  int64     `json:"signal_id"`
	Type      string    `json:"type"`
	Value     string    `json:"value"` // the bank's value that matched
	Distance  int       `json:"distance"`
	Category  string    `json:"category,omitempty"`
	Reason    Reason    `json:"reason"`
	ContentID string    `json:"content_id,omitempty"`
	Submitter string    `json:"submitter"`
	Hashes    []Hash    `json:"hashes"` // every hash of the content
	// SealedUploader is the uploader context sealed (sealed.Ring.SealString
	// with UploaderAD(Ref)); UploaderBlind the blind index of its account
	// id. Never serialised: Service opens it for those allowed to see it.
	SealedUploader string `json:"-"`
	UploaderBlind  []byte `json:"-"`
	HasUploader    bool   `json:"has_uploader"`

	State      State      `json:"state"`
	LeaseOwner string     `json:"lease_owner,omitempty"`
	LeaseUntil *time.Time `json:"lease_until,omitempty"`
	DecidedBy  string     `json:"decided_by,omitempty"`
	DecidedAt  *time.Time `json:"decided_at,omitempty"`
	Comment    string     `json:"comment,omitempty"`
}

// UploaderAD is the associated data an item's uploader context is sealed
// with: the value belongs to this row and field and nowhere else.
func UploaderAD(ref string) string { return "review_items.uploader:" + ref }

// BlindPurpose is the purpose of the blind index of uploader account ids.
const BlindPurpose = "uploader-account"

// Leased reports whether reviewer holds its lease at now.
func (it Item) Leased(reviewer string, now time.Time) bool {
	return it.LeaseOwner == reviewer && it.LeaseUntil != nil && now.Before(*it.LeaseUntil) &&
		(it.State == Open || it.State == Escalated)
}

// Query selects items, newest first.
type Query struct {
	States    []State // any of these; nil for every state
	Bank      string  // exact; "" for any
	ContentID string  // exact; "" for any
	Before    int64   // only IDs below this; 0 from the newest
	Limit     int     // 1..1000
}

// Claim asks for the next item.
type Claim struct {
	Reviewer string
	// Escalated lets the reviewer take escalated items (curators, admins),
	// which come before open ones.
	Escalated bool
	Now       time.Time
	Lease     time.Duration
}

// Verdict is one decision on an item.
type Verdict struct {
	ItemID   int64
	Reviewer string
	Decision Decision
	Comment  string
	Now      time.Time
	// Events are queued in the decision's transaction (the bank's
	// decision.confirmed webhook).
	Events []action.Event
	// Detail is added to the audit entry (what the decision will add to
	// which bank).
	Detail map[string]any
}

// Stats describes the queue.
type Stats struct {
	Open, Escalated int64
	Oldest          *time.Time // of the items waiting (open or escalated)
}

// Quarantine is a signal the flood rule paused.
type Quarantine struct {
	SignalID int64      `json:"signal_id"`
	Bank     string     `json:"bank"`
	Since    time.Time  `json:"since"`
	Recent   int64      `json:"recent"`   // hits in the window that tripped the rule
	Baseline int64      `json:"baseline"` // hits in the baseline period before it
	LiftedAt *time.Time `json:"lifted_at,omitempty"`
	LiftedBy string     `json:"lifted_by,omitempty"`
	// RenewBefore: a lifted pause is renewed only if it was lifted before
	// this (one window before Since: the hits that tripped the rule must
	// all be later than the lift).
	RenewBefore time.Time `json:"-"`
}

// Store keeps the queue; implemented by the store engines.
type Store interface {
	// EnqueueReviews stores items (ID, State set by the store) and returns
	// them with their IDs, in one transaction.
	EnqueueReviews(ctx context.Context, items []Item) ([]Item, error)
	// ClaimReview leases the next waiting item to c.Reviewer until
	// c.Now+c.Lease: the one they already hold, else the oldest escalated
	// (with c.Escalated) then open item nobody holds (or whose lease
	// expired) and they did not skip. ErrEmpty when there is none. Two
	// concurrent claims never get the same item.
	ClaimReview(ctx context.Context, c Claim) (Item, error)
	// GetReview returns an item, or ErrNotFound.
	GetReview(ctx context.Context, id int64) (Item, error)
	// DecideReview records v on an item v.Reviewer holds (ErrNotHeld
	// otherwise) and appends its audit entry (ActDecide, by by) and v.Events
	// in the same transaction. Confirm and reject end the item; escalate
	// sends it to the escalated queue; skip returns it and remembers the
	// reviewer. The lease ends in every case.
	DecideReview(ctx context.Context, v Verdict, by audit.Actor) (Item, error)
	// ListReviews returns the items q selects, newest first.
	ListReviews(ctx context.Context, q Query) ([]Item, error)
	// ReviewsByUploader returns up to limit items with this uploader blind
	// index other than item except, newest first.
	ReviewsByUploader(ctx context.Context, blind []byte, except int64, limit int) ([]Item, error)
	// ReviewStats counts the waiting items.
	ReviewStats(ctx context.Context) (Stats, error)

	// SignalHitCounts counts the match-history hits of a signal at or
	// after recentFrom, and between baselineFrom and recentFrom.
	SignalHitCounts(ctx context.Context, signalID int64, baselineFrom, recentFrom time.Time) (recent, baseline int64, err error)
	// QuarantineSignal pauses q.SignalID unless it is paused already, and
	// appends ActQuarantine by by in the same transaction; it reports
	// whether it paused it.
	QuarantineSignal(ctx context.Context, q Quarantine, by audit.Actor) (bool, error)
	// QuarantinedSignals returns which of ids are paused now.
	QuarantinedSignals(ctx context.Context, ids []int64) (map[int64]bool, error)
	// ListQuarantine returns the pauses in force (all, lifted too, with
	// all), newest first.
	ListQuarantine(ctx context.Context, all bool) ([]Quarantine, error)
	// LiftQuarantine ends a signal's pause at at and appends ActLift by by;
	// ErrNotFound if it is not paused.
	LiftQuarantine(ctx context.Context, signalID int64, at time.Time, by audit.Actor) error

	// PreviewPref returns a user's preview preference ("", "blur" or
	// "clear"); SetPreviewPref stores it.
	PreviewPref(ctx context.Context, userID int64) (string, error)
	SetPreviewPref(ctx context.Context, userID int64, pref string) error
}

// FloodRule is the flood quarantine rule (see the package doc).
type FloodRule struct {
	Window   time.Duration // default 1 h
	Baseline time.Duration // default 7 days before the window
	Factor   float64       // default 10
	MinHits  int64         // default 20
}

// DefaultFloodRule is the rule serve applies.
var DefaultFloodRule = FloodRule{Window: time.Hour, Baseline: 7 * 24 * time.Hour, Factor: 10, MinHits: 20}

// Tripped reports whether recent hits in one window, against baseline
// hits in the baseline period, trip the rule.
func (r FloodRule) Tripped(recent, baseline int64) bool {
	if r.Window <= 0 || r.Baseline <= 0 || recent < r.MinHits {
		return false
	}
	expected := float64(baseline) * float64(r.Window) / float64(r.Baseline)
	return float64(recent) > r.Factor*max(expected, 1)
}

// CheckVerdict validates a decision and its comment.
func CheckVerdict(d Decision, comment string) error {
	ok := false
	for _, x := range Decisions {
		ok = ok || x == d
	}
	if !ok {
		return fmt.Errorf("%w: decision %q: want one of confirm, reject, escalate, skip", ErrInvalid, d)
	}
	if err := signal.CheckText("comment", comment, MaxComment, true); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if d == Escalate && strings.TrimSpace(comment) == "" {
		return fmt.Errorf("%w: an escalation needs a comment for whoever takes it", ErrInvalid)
	}
	return nil
}
