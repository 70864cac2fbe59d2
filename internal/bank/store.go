package bank

import (
	"context"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
)

// Op is the kind of a change in the log.
type Op string

// Change log operations.
const (
	OpBankCreate   Op = "bank.create"
	OpBankUpdate   Op = "bank.update" // description, enabled, action or threshold changed
	OpSignalAdd    Op = "signal.add"
	OpSignalRemove Op = "signal.remove"
)

// Change is one entry of the ordered change log.
type Change struct {
	// Seq is strictly increasing in commit order and never reused.
	Seq   int64     `json:"seq"`
	Op    Op        `json:"op"`
	Bank  string    `json:"bank"`
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
	// BankState is the bank as this change left it (bank ops only).
	BankState *Bank `json:"bank_state,omitempty"`
	// Signal is the signal the change is about (signal ops only), as stored
	// now: a signal.add entry for a signal removed later shows the removal
	// too, which a replica applying changes in order overwrites anyway.
	Signal *Signal `json:"signal,omitempty"`
	// Reason is the curator's reason for a removal.
	Reason string `json:"reason,omitempty"`
}

// Store is what this package needs from a database. Implementations must
// make every mutating method atomic (all of it or nothing, including its
// change-log entries), durable once it returns nil, and must append change
// log entries with sequence numbers that increase in commit order.
//
// Store methods take values that Service has already validated and
// normalised; they return errors wrapping ErrNotFound and ErrExists as
// documented, and may trust their input otherwise.
//
// Audit: every mutating method takes the actor (by) and appends the act's
// audit entry in the same transaction as the change — when the entry
// cannot be appended, the change does not happen. by.Name is also the
// change log's actor. The entries: audit.ActBankCreate (detail: the
// bank), audit.ActBankUpdate (the update) and audit.ActSignalRemove (id,
// type, value, reason), on the bank's name, only when something changed;
// WriteSignals appends the entry its fn sets with SignalWriter.Audit.
type Store interface {
	ExclusionStore

	// CreateBank creates b (ID and times are set by the store) and logs
	// OpBankCreate. ErrExists if the name is taken.
	CreateBank(ctx context.Context, b Bank, by audit.Actor) (Bank, error)
	// UpdateBank applies u to the named bank and logs OpBankUpdate; when u
	// changes nothing it returns the bank with changed=false and logs
	// nothing. ErrNotFound if there is no such bank.
	UpdateBank(ctx context.Context, name string, u BankUpdate, by audit.Actor) (b Bank, changed bool, err error)
	// GetBank returns the named bank, or ErrNotFound.
	GetBank(ctx context.Context, name string) (Bank, error)
	// ListBanks returns every bank ordered by name.
	ListBanks(ctx context.Context) ([]Bank, error)
	// BankStats counts the active and removed signals of each bank by type.
	BankStats(ctx context.Context, name string) (BankStats, error)

	// WriteSignals runs fn in one transaction on the named bank: everything
	// fn adds through w commits together when fn returns nil, and nothing
	// does when fn returns an error (which WriteSignals returns) or ctx is
	// cancelled. Each added signal gets an OpSignalAdd entry by by.Name.
	// ErrNotFound if there is no such bank. Large imports call w.Add many
	// times with batches of a few thousand signals.
	WriteSignals(ctx context.Context, bank string, by audit.Actor, fn func(w SignalWriter) error) error
	// RemoveSignal marks a signal of the bank removed with reason, logs
	// OpSignalRemove and excludes its type and value from the bank (see
	// Exclusion; an existing exclusion is kept). If the signal is already removed it returns it with
	// changed=false and logs nothing. ErrNotFound if the bank or signal
	// does not exist (by type and value: no signal with that value was ever
	// in the bank).
	RemoveSignal(ctx context.Context, bank string, ref SignalRef, reason string, by audit.Actor) (s Signal, changed bool, err error)
	// GetSignal returns a signal by ID, removed or not, or ErrNotFound.
	GetSignal(ctx context.Context, id int64) (Signal, error)
	// FindSignal returns the active signal of the bank with type t and
	// value v, or ErrNotFound.
	FindSignal(ctx context.Context, bank string, t Type, v string) (Signal, error)
	// ScanSignals calls fn for each signal q selects, in ID order, while
	// streaming them from the database (memory does not grow with the
	// number of signals). fn must not keep s: it may be reused. An error
	// from fn stops the scan and is returned.
	ScanSignals(ctx context.Context, q SignalQuery, fn func(s *Signal) error) error

	// MaxSignalID returns the highest signal ID in the store, 0 when empty;
	// scans split the ID range at it to run in parallel.
	MaxSignalID(ctx context.Context) (int64, error)

	// Changes returns up to limit changes with Seq > since, in Seq order.
	Changes(ctx context.Context, since int64, limit int) ([]Change, error)
	// LastSeq returns the highest committed Seq, 0 for an empty log.
	LastSeq(ctx context.Context) (int64, error)
}

// SignalWriter adds signals inside one WriteSignals transaction.
type SignalWriter interface {
	// Add adds sigs (normalised; Bank, ID and the times are ignored). A
	// signal whose type and value is already active in the bank, or
	// repeats an earlier one in this transaction, is counted as unchanged
	// and keeps its original metadata; one the bank excludes is counted as
	// excluded and not added.
	Add(ctx context.Context, sigs []Signal) (AddCounts, error)
	// Audit sets the audit entry the transaction appends when it commits:
	// action on the bank by the actor of WriteSignals, with detail (see
	// audit.Actor.Entry). The last call wins; without one nothing is
	// audited, so every caller that changes a bank sets one.
	Audit(action string, detail any)
}

// BankStats summarises the signals of a bank.
type BankStats struct {
	Active  map[Type]int64 `json:"active"`
	Removed map[Type]int64 `json:"removed"`
}
