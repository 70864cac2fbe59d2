// Package report turns confirmed matches into reports to law enforcement:
// report cases (one per reported account), a four-eyes release, the
// CyberTipline submission through a durable outbox (Submitter), and the
// signed NCCIA / court packet (Export, Verify).
//
// A case's content — the reported person, victims, upload details, notes —
// is personal data: it is stored sealed (internal/sealed), bound to the
// case's row, and opened only to build a report or a packet. Every change
// of a case writes an audit entry (target "report:ID") in the transaction
// of the change, so a packet can prove its case's custody from the
// transparency log.
package report

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/history"
)

// State is where a case stands.
type State string

// States of a case.
const (
	// StateOpen: being assembled; hits of the same account join it.
	StateOpen State = "open"
	// StateApproved: a second person released it; the Submitter sends it
	// (CyberTipline cases) or it is exported (packets).
	StateApproved State = "approved"
	// StateSubmitting: NCMEC holds an open report; files are being sent.
	StateSubmitting State = "submitting"
	// StateSubmitted: finished at NCMEC.
	StateSubmitted State = "submitted"
	// StateFailed: a permanent error; a person must act (retry or retract).
	StateFailed State = "failed"
	// StateRetracted: the report was withdrawn at NCMEC.
	StateRetracted State = "retracted"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound = errors.New("report case not found")
	// ErrConflict: the case changed since it was read.
	ErrConflict = errors.New("report case changed concurrently")
	// ErrSameApprover: four eyes — the person who opened or last edited
	// a case cannot release it.
	ErrSameApprover = errors.New("a case must be approved by a second person")
	// ErrState: the act is not possible in the case's state.
	ErrState = errors.New("not possible in the case's state")
	// ErrInvalid wraps invalid input.
	ErrInvalid = errors.New("invalid report case")
)

// Audit actions of report cases.
const (
	ActOpen    = "report.open"
	ActUpdate  = "report.update"
	ActApprove = "report.approve"
	ActSubmit  = "report.submit"
	ActFile    = "report.file"
	ActFinish  = "report.finish"
	ActError   = "report.error"
	ActRetry   = "report.retry"
	ActRetract = "report.retract"
	ActExport  = "report.export"
	ActCreds   = "report.credentials"
)

// Case is a report case as stored: the clear columns and the sealed
// content.
type Case struct {
	ID           int64      `json:"id"`
	OpenedAt     time.Time  `json:"opened_at"`
	OpenedBy     string     `json:"opened_by"`
	UpdatedBy    string     `json:"updated_by"`
	State        State      `json:"state"`
	Version      int64      `json:"version"`
	SubjectBlind []byte     `json:"-"` // sealed.Blind of the reported account
	ApprovedBy   string     `json:"approved_by,omitempty"`
	ApprovedAt   *time.Time `json:"approved_at,omitempty"`
	// Submission is the CyberTipline outbox state (no personal data).
	Submission Submission `json:"submission"`
	// NextAt is when the Submitter next works on the case.
	NextAt *time.Time `json:"next_at,omitempty"`
	// Sealed is the sealed Content.
	Sealed string `json:"-"`
}

// Target is the audit target of the case's entries.
func (c Case) Target() string { return Target(c.ID) }

// Target is the audit target of case id.
func Target(id int64) string { return "report:" + strconv.FormatInt(id, 10) }

// Submission is the CyberTipline outbox state of a case.
type Submission struct {
	ReportID  int64      `json:"report_id,omitempty"` // NCMEC's
	Inflight  bool       `json:"inflight,omitempty"`  // a submit was sent and its answer not recorded
	Files     []FileStep `json:"files,omitempty"`     // per item, in item order
	Attempts  int        `json:"attempts,omitempty"`
	LastError string     `json:"last_error,omitempty"`
	ErrorKind string     `json:"error_kind,omitempty"` // "retryable", "permanent", "uncertain"
	Finished  *time.Time `json:"finished,omitempty"`
}

// FileStep is the progress of one item's file at NCMEC.
type FileStep struct {
	Item      int    `json:"item"`
	FileID    string `json:"file_id,omitempty"`
	Described bool   `json:"described,omitempty"`
	Skipped   string `json:"skipped,omitempty"` // why no file was uploaded
}

// Content is the sealed part of a case.
type Content struct {
	IncidentType string    `json:"incident_type"`
	Escalate     bool      `json:"escalate,omitempty"`
	Notes        []Note    `json:"notes,omitempty"`
	Subject      Subject   `json:"subject"`
	Victims      []Victim  `json:"victims,omitempty"`
	Items        []Item    `json:"items"`
	Legal        Legal     `json:"legal"`
	Destinations []string  `json:"destinations"` // "cybertip", "nccia"
	Updated      time.Time `json:"updated"`
}

// Note is a reviewer's note.
type Note struct {
	At   time.Time `json:"at"`
	By   string    `json:"by"`
	Text string    `json:"text"`
}

// Subject is the reported person or account.
type Subject struct {
	AccountIDs  []string    `json:"account_ids,omitempty"`
	ScreenNames []string    `json:"screen_names,omitempty"`
	Emails      []string    `json:"emails,omitempty"`
	Phones      []string    `json:"phones,omitempty"`
	IPEvents    []IPEvent   `json:"ip_events,omitempty"`
	DeviceIDs   []string    `json:"device_ids,omitempty"`
	Names       []string    `json:"names,omitempty"`
	Platform    string      `json:"platform,omitempty"`
	ProfileURLs []string    `json:"profile_urls,omitempty"`
	Extra       []NameValue `json:"extra,omitempty"`
}

// IPEvent is an address the subject used, with port and time.
type IPEvent struct {
	IP    string    `json:"ip"`
	Port  int       `json:"port,omitempty"`
	At    time.Time `json:"at,omitzero"`
	Event string    `json:"event,omitempty"` // Upload, Login, …
}

// NameValue is a labelled value.
type NameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Victim is a victim where known (often only an age range).
type Victim struct {
	Name       string `json:"name,omitempty"`
	Age        int    `json:"age,omitempty"`
	AccountID  string `json:"account_id,omitempty"`
	ScreenName string `json:"screen_name,omitempty"`
	Notes      string `json:"notes,omitempty"`
}

// Item is one file of the case: the hit that found it, the original
// file's hashes and the upload's details.
type Item struct {
	HitID          int64     `json:"hit_id"`
	MatchedAt      time.Time `json:"matched_at"`
	Bank           string    `json:"bank"`
	SignalID       int64     `json:"signal_id"`
	SignalType     string    `json:"signal_type"`
	SignalValue    string    `json:"signal_value"` // the query's hash that matched
	Distance       int       `json:"distance"`
	ContentID      string    `json:"content_id,omitempty"`
	MD5            string    `json:"md5,omitempty"`
	SHA1           string    `json:"sha1,omitempty"`
	SHA256         string    `json:"sha256,omitempty"`
	PDQ            string    `json:"pdq,omitempty"`
	FileName       string    `json:"file_name,omitempty"`
	UploadedAt     time.Time `json:"uploaded_at,omitzero"`
	IP             string    `json:"ip,omitempty"`
	Port           int       `json:"port,omitempty"`
	Classification string    `json:"classification,omitempty"` // reviewer's: A1, A2, B1, B2
	ClassifiedBy   string    `json:"classified_by,omitempty"`
	Preserved      int64     `json:"preserved,omitempty"` // vault item id, if the bytes were preserved
}

// Legal is a packet's case and legal references (Pakistan: FIR, PECA
// 2016, PPC).
type Legal struct {
	FIR      string   `json:"fir,omitempty"`      // First Information Report number and police station
	Agency   string   `json:"agency,omitempty"`   // e.g. "FIA Cyber Crime Wing / NCCIA"
	Sections []string `json:"sections,omitempty"` // e.g. "PECA 2016 s.22", "PECA 2016 s.22-A", "PPC s.292-B"
	Court    string   `json:"court,omitempty"`
	Officer  string   `json:"officer,omitempty"`
}

// DefaultSections are the sections a Pakistani packet cites unless told
// otherwise: PECA 2016 s.22 (child pornography), s.22-A (online sexual
// abuse / grooming, as amended) and PPC s.292-B/292-C (child pornography).
var DefaultSections = []string{"PECA 2016 s.22", "PECA 2016 s.22-A", "PPC s.292-B", "PPC s.292-C"}

// Store keeps report cases; implemented by the store engines. Every write
// appends its audit entry in the same transaction.
type Store interface {
	// CreateReportCase inserts c (ID, OpenedAt, Version set by the store), its
	// content as seal(id) returns it (sealed to the row) and the entry
	// entry(id) makes, in one transaction.
	CreateReportCase(ctx context.Context, c Case, seal func(id int64) (string, error), entry func(id int64) audit.Entry) (Case, error)
	// GetReportCase returns a case or ErrNotFound.
	GetReportCase(ctx context.Context, id int64) (Case, error)
	// ListReportCases returns cases, newest first; state "" for all.
	ListReportCases(ctx context.Context, state State, limit int) ([]Case, error)
	// OpenReportCaseOf returns the open case of a subject (by blind index), or
	// ErrNotFound.
	OpenReportCaseOf(ctx context.Context, blind []byte) (Case, error)
	// UpdateReportCase writes c if its stored Version is still c.Version
	// (else ErrConflict), incrementing it, and appends e (when not nil)
	// in the same transaction.
	UpdateReportCase(ctx context.Context, c Case, e *audit.Entry) (Case, error)
	// DueReportCases returns approved or submitting cases whose NextAt is
	// before now (or unset).
	DueReportCases(ctx context.Context, now time.Time, limit int) ([]Case, error)
	// CaseEntries returns the audit entries whose target is target, in
	// order.
	CaseEntries(ctx context.Context, target string) ([]audit.Entry, error)
	// HitsByID returns the match-history hits with these ids (missing ids
	// are left out).
	HitsByID(ctx context.Context, ids []int64) ([]history.Hit, error)
	// PutSecret stores a sealed credential under name with its audit
	// entry; GetSecret returns it ("" and ErrNotFound when unset).
	PutSecret(ctx context.Context, name, sealedValue string, e audit.Entry) error
	GetSecret(ctx context.Context, name string) (string, error)
}
