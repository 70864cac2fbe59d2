package alert

import (
	"context"
	"time"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/audit"
)

// Record is a case as stored: the document (the case without its personal
// part, JSON) and the sealed personal part, with the columns queries
// filter on.
type Record struct {
	ID      int64
	UID     string
	Version int64
	// ClosedAt is when the case closed; nil while it is open.
	ClosedAt   *time.Time
	District   string
	ReportedAt time.Time
	Doc        []byte
	// Sealed is the sealed JSON of Personal; written once, at intake.
	Sealed []byte
}

// Filter selects cases.
type Filter struct {
	// OpenOnly selects open cases.
	OpenOnly bool
	// ClosedSince, when set, selects open cases and those closed at or
	// after it.
	ClosedSince time.Time
	// From and To bound the report time (From ≤ reported < To) when set.
	From, To time.Time
	// WithSealed reads the sealed part too.
	WithSealed bool
}

// Store keeps missing-child cases; the store engines implement it.
type Store interface {
	// CreateMissingCase inserts r (ID and Version are set: Version 1) and
	// appends e to the audit log in the same transaction.
	CreateMissingCase(ctx context.Context, r Record, e audit.Entry) (Record, error)
	// UpdateMissingCase replaces the document and ClosedAt of case r.ID if
	// its stored version is still r.Version (else ErrConflict; ErrNotFound
	// when there is no such case), bumps the version, and in the same
	// transaction appends the entries to the audit log and queues the
	// webhook events. The sealed part is not changed.
	UpdateMissingCase(ctx context.Context, r Record, entries []audit.Entry, events []action.Event) (Record, error)
	// MissingCase returns case id with its sealed part (ErrNotFound).
	MissingCase(ctx context.Context, id int64) (Record, error)
	// MissingCaseByUID returns the case with this UID (ErrNotFound).
	MissingCaseByUID(ctx context.Context, uid string, withSealed bool) (Record, error)
	// MissingCases lists the cases f selects by id.
	MissingCases(ctx context.Context, f Filter) ([]Record, error)
	// AppendAudit appends an entry of its own (views of personal data).
	AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error)
}

// Audit actions of the missing-child desk.
const (
	ActIntake        = "missing.intake"
	ActView          = "missing.view"
	ActComplaint     = "missing.complaint"
	ActInformed      = "missing.agency_informed"
	ActClockWarning  = "missing.clock.warning"
	ActClockBreach   = "missing.clock.breach"
	ActClockEscalate = "missing.clock.escalate"
	ActAlertDraft    = "alert.draft"
	ActAlertSubmit   = "alert.submit"
	ActAlertApprove  = "alert.approve"
	ActAlertRefused  = "alert.approve_refused"
	ActAlertIssue    = "alert.issue"
	ActAlertUpdate   = "alert.update"
	ActAlertCancel   = "alert.cancel"
	ActCaseClose     = "missing.close"
)
