// Package exchange keeps banks in sync with hash-sharing programmes (NCMEC's
// Hash Sharing API, StopNCII, ThreatExchange), plain hash lists served over
// HTTPS and partner Nigehban instances, in both directions: additions,
// updates and explicit deletions come in; opinions on what matched (true or
// false positive) go back.
//
// # Shape
//
// An Adapter speaks one exchange's protocol. It is stateless between calls:
// everything it needs to resume is in the Checkpoint it returns with each
// Page, which the Syncer commits through Store.ApplyPage in the same
// transaction as the page's signals (so a crash loses nothing and applies
// nothing twice) and which never moves backwards (ApplyPage refuses a
// position lower than the stored one, and a page fetched from a checkpoint
// another fetcher has since moved).
//
// Entries carry the exchange's metadata (entry and member ids,
// classification), which the Syncer keeps in the signal's Extra under the
// Meta* keys so that matches, the review queue and API callers see where a
// hash came from.
//
// An entry sent again is an update (update.go): the signals the exchange
// brought that it touches are replaced when its metadata changed, and a
// value its entry no longer holds is withdrawn; an unchanged entry changes
// nothing.
//
// Partner instances (NigehbanAdapter, Publisher) exchange pages proven by
// the publisher's transparency log (changelog.go): the change log is
// committed to the log in blocks, each page is whole blocks with the
// commitment's inclusion proof in the checkpoint the subscriber verified,
// and a page that does not match (a change added, removed, altered or
// withheld) is refused with ErrUnproven before anything is applied.
//
// Opinions (Feedback) go through a durable outbox (Store.QueueOpinion): one
// row per review decision, sent by Deliver until the exchange accepts it,
// never twice once accepted.
package exchange

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
)

// Kind names an exchange protocol.
type Kind string

// Exchange kinds.
const (
	// KindHashList is any HTTP(S) URL serving a list in a format
	// internal/hashlist reads, fetched with conditional GET; the list is the
	// whole truth: values that leave it are withdrawn.
	KindHashList Kind = "hashlist"
	// KindNCMEC is NCMEC's Hash Sharing API v2 (XML, time-windowed paging).
	KindNCMEC Kind = "ncmec"
	// KindStopNCII is StopNCII's FetchHashes API.
	KindStopNCII Kind = "stopncii"
	// KindThreatExchange is ThreatExchange's threat_updates.
	KindThreatExchange Kind = "threatexchange"
	// KindNigehban is a bank of a partner Nigehban instance.
	KindNigehban Kind = "nigehban"
)

// Kinds lists every kind an adapter exists for (see NewAdapter).
var Kinds = []Kind{KindHashList, KindNCMEC, KindStopNCII, KindThreatExchange, KindNigehban}

// Keys of bank.Signal.Extra that carry an exchange's metadata.
const (
	MetaExchange = "exchange"        // the exchange's name
	MetaEntry    = "exchange_entry"  // the exchange's id of the entry
	MetaMember   = "exchange_member" // the member (ESP, partner) that shared it
	MetaClass    = "exchange_class"  // the exchange's classification
	MetaOpinion  = "exchange_opinion"
)

// Audit actions of this package (appended in the transaction of the change).
const (
	ActCreate  = "exchange.create"
	ActUpdate  = "exchange.update"
	ActSync    = "exchange.sync"
	ActReset   = "exchange.reset"
	ActOpinion = "exchange.opinion"
)

// Errors callers branch on.
var (
	// ErrNotFound: no exchange of that name.
	ErrNotFound = errors.New("exchange not found")
	// ErrExists: an exchange of that name exists.
	ErrExists = errors.New("exchange exists")
	// ErrInvalid wraps invalid input.
	ErrInvalid = errors.New("invalid exchange input")
	// ErrBackwards: a checkpoint older than the committed one was offered.
	ErrBackwards = errors.New("exchange checkpoint would move backwards")
	// ErrConflict: the checkpoint moved since the page was fetched (another
	// fetcher committed first); the page is discarded, nothing is applied.
	ErrConflict = errors.New("exchange checkpoint moved by another fetcher")
	// ErrDisabled: the exchange is disabled.
	ErrDisabled = errors.New("exchange disabled")
	// ErrRateLimited is returned (wrapped in a *RetryError) when the server
	// asked us to slow down.
	ErrRateLimited = errors.New("exchange rate limit")
	// ErrMalformed wraps a page the adapter could not read; the checkpoint
	// stays where it was.
	ErrMalformed = errors.New("malformed exchange page")
	// ErrUnsupported: the adapter cannot do this (e.g. a plain list takes no
	// opinions).
	ErrUnsupported = errors.New("not supported by this exchange")
)

// RetryError is an error after which the caller should wait After before
// trying again (a 429 or 503 with Retry-After).
type RetryError struct {
	After time.Duration
	Err   error
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

// Unwrap returns the cause.
func (e *RetryError) Unwrap() error { return e.Err }

// Checkpoint is where a fetch stands.
type Checkpoint struct {
	// Pos orders checkpoints of one exchange (a time in Unix microseconds,
	// a sequence number, a line count): once committed it never decreases,
	// except through an explicit, audited Reset. 0 means the beginning.
	Pos int64 `json:"pos"`
	// State is the adapter's own resume state (a paging token, an ETag),
	// opaque to everything else.
	State string `json:"state,omitempty"`
}

// Entry is one change an exchange reports.
type Entry struct {
	// Signal is the hash (Type and Value; Category, Quality and Extra as
	// the exchange gives them). The Syncer sets Source and the Meta* keys
	// on a copy: Extra is read only (adapters may share one map between
	// entries).
	Signal bank.Signal
	// ID is the exchange's id of the entry ("" if it has none).
	ID string
	// Member is who shared it (an NCMEC member/ESP id, a partner).
	Member string
	// Class is the exchange's classification (NCMEC A1/A2/B1/B2…), kept
	// as the signal's category when the signal has none.
	Class string
	// Deleted says the exchange withdrew the hash: it leaves the bank. A
	// deletion may give only ID (no Signal value): every hash that entry
	// brought is withdrawn.
	Deleted bool
	// Update says the entry replaces an earlier version of the same hash
	// (new metadata): the stored signal is replaced.
	Update bool
}

// Page is one step of a fetch.
type Page struct {
	Entries []Entry
	// Next is the checkpoint after this page; committed with its entries.
	Next Checkpoint
	// More is true when the exchange has more to give now; false ends the
	// fetch (the next fetch resumes from Next later).
	More bool
	// Snapshot says Entries are the complete list (a plain hash list):
	// every signal this exchange added before that is not in it is
	// withdrawn. A snapshot is one page.
	Snapshot bool
	// NotModified says nothing changed since Next.State (conditional GET).
	NotModified bool
}

// Verdict is our opinion of a signal after review.
type Verdict string

// Verdicts.
const (
	TruePositive  Verdict = "true_positive"
	FalsePositive Verdict = "false_positive"
	PendingReview Verdict = "pending_review"
)

// Valid reports whether v is a known verdict.
func (v Verdict) Valid() bool {
	return v == TruePositive || v == FalsePositive || v == PendingReview
}

// Opinion is a review decision about a signal that came from an exchange,
// to be sent back to it.
type Opinion struct {
	ID       int64      `json:"id"`
	Exchange string     `json:"exchange"`
	SignalID int64      `json:"signal_id"`
	EntryID  string     `json:"entry_id"`
	Member   string     `json:"member,omitempty"`
	Type     bank.Type  `json:"type"`
	Value    string     `json:"value"`
	Verdict  Verdict    `json:"verdict"`
	Decision string     `json:"decision"` // the caller's id of the decision: one opinion per decision
	At       time.Time  `json:"at"`
	By       string     `json:"by"`
	Attempts int        `json:"attempts"`
	SentAt   *time.Time `json:"sent_at,omitempty"`
	Err      string     `json:"last_error,omitempty"`
}

// Adapter speaks one exchange's protocol.
type Adapter interface {
	// Fetch returns the changes after cp: additions, updates and
	// deletions, and the checkpoint after them. It must not skip or repeat
	// anything given the same cp (so a crash between Fetch and the commit
	// only refetches), and returns errors wrapping ErrMalformed for pages it
	// cannot read and *RetryError for rate limits.
	Fetch(ctx context.Context, cp Checkpoint) (Page, error)
	// Report sends one opinion to the exchange. It may be called again
	// with the same opinion after a failure (the outbox retries), so
	// adapters use op.Decision as an idempotency key where the protocol
	// has one. ErrUnsupported if the exchange takes no feedback.
	Report(ctx context.Context, op Opinion) error
}

// Exchange is one configured exchange.
type Exchange struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Bank receives the exchange's signals (one bank per exchange is
	// recommended: a snapshot withdraws only signals of this exchange).
	Bank string `json:"bank"`
	URL  string `json:"url"`
	// Settings are the adapter's options (e.g. NCMEC member filter).
	Settings map[string]string `json:"settings,omitempty"`
	// Credentials are the adapter's secrets (user, password, token). In
	// the store they are sealed (SealedCredentials); Store methods take and
	// return them sealed, the Service opens them.
	Credentials map[string]string `json:"-"`
	// SealedCredentials is Credentials sealed with the data key.
	SealedCredentials string `json:"-"`
	Enabled           bool   `json:"enabled"`
	// StaleAfter: when the last successful fetch is older than this, the
	// next fetch starts from scratch (0: never).
	StaleAfter time.Duration `json:"stale_after"`
	Checkpoint Checkpoint    `json:"checkpoint"`
	State      State         `json:"state"`
	CreatedAt  time.Time     `json:"created_at"`
	CreatedBy  string        `json:"created_by"`
}

// State is what a fetch left visible: progress and the last error.
type State struct {
	// SyncStart is when the fetch in progress began (nil: none running or
	// the last one finished).
	SyncStart *time.Time `json:"sync_start,omitempty"`
	Fetched   int64      `json:"fetched"` // entries applied, all time
	// Staged counts hashes that a fetch of an earlier version staged in
	// its table and did not merge (see staging.go): the next fetch merges
	// them first. Until then the bank, its change log and the live
	// indexes do not see them.
	Staged      int64      `json:"staged,omitempty"`
	LastFetchAt *time.Time `json:"last_fetch_at,omitempty"`
	LastOKAt    *time.Time `json:"last_ok_at,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// Validate checks the fields a caller sets.
func (x *Exchange) Validate() error {
	if !nameRE.MatchString(x.Name) {
		return fmt.Errorf("%w name %q: lower-case letters, digits, '.', '_' and '-', at most 63", ErrInvalid, x.Name)
	}
	if err := bank.ValidateName(x.Bank); err != nil {
		return fmt.Errorf("%w bank: %w", ErrInvalid, err)
	}
	switch x.Kind {
	case KindHashList, KindNCMEC, KindStopNCII, KindThreatExchange, KindNigehban:
	default:
		return fmt.Errorf("%w kind %q", ErrInvalid, x.Kind)
	}
	if x.URL == "" {
		return fmt.Errorf("%w: url is required", ErrInvalid)
	}
	if x.StaleAfter < 0 {
		return fmt.Errorf("%w stale_after %s", ErrInvalid, x.StaleAfter)
	}
	return nil
}

// Writer changes a bank inside one ApplyPage transaction.
type Writer interface {
	// Add adds signals as bank.SignalWriter.Add does (already active:
	// unchanged; excluded by a curator: not added).
	Add(ctx context.Context, sigs []bank.Signal) (bank.AddCounts, error)
	// Withdraw removes the active signals refs name (by type and value)
	// with reason, each logged as a signal.remove change. Unlike a
	// curator's removal it does not exclude the value: the exchange may
	// share it again. Values not active in the bank are skipped; it
	// returns how many it removed.
	Withdraw(ctx context.Context, refs []bank.SignalRef, reason string) (int, error)
	// WithdrawEntries withdraws every hash the exchange's entries (by
	// Entry.ID, as recorded by earlier pages) brought.
	WithdrawEntries(ctx context.Context, entries []string, reason string) (int, error)
	// Current returns the bank's active signals that the exchange's
	// entries (by Entry.ID) brought, and those holding one of refs'
	// values: what a page's entries may update.
	Current(ctx context.Context, entries []string, refs []bank.SignalRef) ([]bank.Signal, error)
}

// Applied counts what one page changed. An update (Entry.Update) counts
// as one withdrawn and one added signal.
type Applied struct {
	Added     int `json:"added"`
	Unchanged int `json:"unchanged"`
	Excluded  int `json:"excluded"`
	Withdrawn int `json:"withdrawn"`
}

// Store is what this package needs from the database.
type Store interface {
	// CreateExchange stores x (credentials sealed), audited ActCreate.
	// ErrExists if the name is taken.
	CreateExchange(ctx context.Context, x Exchange, by audit.Actor) (Exchange, error)
	// GetExchange returns the named exchange, or ErrNotFound.
	GetExchange(ctx context.Context, name string) (Exchange, error)
	// ListExchanges returns every exchange by name.
	ListExchanges(ctx context.Context) ([]Exchange, error)
	// SetExchangeEnabled enables or disables an exchange, audited.
	SetExchangeEnabled(ctx context.Context, name string, enabled bool, by audit.Actor) error
	// ApplyPage runs fn in one transaction on the exchange's bank and
	// commits next as the exchange's checkpoint in the same transaction,
	// with the audit entry ActSync (detail: counts and position) and the
	// change-log entries of every signal fn adds or withdraws. It refuses
	// with ErrConflict when the stored checkpoint is not prev, and with
	// ErrBackwards when next.Pos < prev.Pos; nothing is applied then.
	ApplyPage(ctx context.Context, name string, prev, next Checkpoint, by audit.Actor,
		detail map[string]any, fn func(w Writer) error) error
	// ResetCheckpoint moves the checkpoint back to the beginning (staleness
	// policy, or a curator's refetch), audited ActReset.
	ResetCheckpoint(ctx context.Context, name, reason string, by audit.Actor) error
	// RecordFetch records a fetch's progress (start: a fetch began;
	// fetched: entries applied; err: its failure, "" on success; done: it
	// ended).
	RecordFetch(ctx context.Context, name string, start bool, fetched int64, errText string, done bool) error

	// QueueOpinion adds op to the outbox unless the same decision is
	// already there (created false), audited ActOpinion, and marks the
	// signal disputed when the verdict contradicts what the exchange
	// said (a false positive of a hash the exchange shares as positive).
	QueueOpinion(ctx context.Context, op Opinion, by audit.Actor) (created bool, err error)
	// DueOpinions returns up to limit unsent opinions due by now, oldest
	// first.
	DueOpinions(ctx context.Context, now time.Time, limit int) ([]Opinion, error)
	// OpinionSent marks an opinion delivered; OpinionFailed records a
	// failed attempt and when to try again.
	OpinionSent(ctx context.Context, id int64, at time.Time) error
	OpinionFailed(ctx context.Context, id int64, errText string, next time.Time) error
	// ListOpinions returns the opinions of an exchange, newest first.
	ListOpinions(ctx context.Context, exchange string, limit int) ([]Opinion, error)
	// Disputed reports whether a signal is marked disputed.
	Disputed(ctx context.Context, signalID int64) (bool, error)
}
