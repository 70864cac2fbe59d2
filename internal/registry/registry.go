// Package registry is the case registry of child-protection NGOs and
// agencies: cases (a child), incidents (each linked to a case or, from a
// newspaper monitoring sheet, standing alone), referrals between
// organisations, approvals of closure and notes; and statistics over the
// incidents that are safe to publish (internal/disclosure).
//
// Coded fields (category, sex, age band, relationship, place, district,
// province, urban/rural, police status, stage, outcome) are stored as
// stable integer codes (vocab.go, data/pakistan_districts.csv) so that any
// two-way table is one GROUP BY over small integers. Personal fields (the
// child's name and contact, the FIR number, notes) are sealed with the
// data key (internal/sealed) and never stored in clear; without a key they
// are refused (sealed.ErrNoKey).
//
// # Access
//
// Who sees what is the registry's own grant (Access), kept apart from the
// console's role ladder: a scope (own records, the team's, the
// organisation's, all), a jurisdiction (one district, one province or the
// whole country) and a reporting level (district, province or national),
// the finest geography the principal's statistics may be broken down by.
// A principal without a grant sees nothing. Every view of a case or an
// incident is appended to the transparency log in the transaction that
// reads it; every published table is logged with its SHA-256.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
)

// Errors callers branch on.
var (
	// ErrInvalid reports a field value the registry does not accept.
	ErrInvalid = errors.New("invalid registry record")
	// ErrNotFound reports a record that does not exist or that the caller
	// may not see (the two are not told apart).
	ErrNotFound = errors.New("registry record not found")
	// ErrForbidden reports an act the caller's grant does not allow.
	ErrForbidden = errors.New("not allowed by the registry grant")
	// ErrTooFine reports a statistics request finer than the caller's
	// reporting level.
	ErrTooFine = errors.New("finer than the reporting level allows")
	// ErrConflict reports a state change from the wrong state (a referral
	// already decided, a closure approved by its requester).
	ErrConflict = errors.New("registry state conflict")
)

// Scope says whose records a principal sees.
type Scope string

// Scopes, narrowest first.
const (
	ScopeOwn  Scope = "own"
	ScopeTeam Scope = "team"
	ScopeOrg  Scope = "org"
	ScopeAll  Scope = "all"
)

// Level is the finest geography of a principal's statistics.
type Level string

// Reporting levels, finest first.
const (
	LevelDistrict Level = "district"
	LevelProvince Level = "province"
	LevelNational Level = "national"
)

// Access is a principal's grant. Principal names the caller: "user:NAME"
// for a console user, "key:ID" for an API key.
type Access struct {
	Principal string `json:"principal"`
	Scope     Scope  `json:"scope"`
	Org       string `json:"org"`
	Team      string `json:"team,omitempty"`
	// Level is the finest geography statistics may be broken down by.
	Level Level `json:"level"`
	// District or Province, when set, limit every record and statistic
	// to that jurisdiction (District implies its province).
	District int `json:"district,omitempty"`
	Province int `json:"province,omitempty"`
	// Write allows creating and changing records within the scope.
	Write     bool      `json:"write"`
	GrantedBy string    `json:"granted_by,omitempty"`
	GrantedAt time.Time `json:"granted_at"`
}

// Personal is what identifies a child: sealed at rest as one value bound
// to its case.
type Personal struct {
	Name     string `json:"name,omitempty"`
	Guardian string `json:"guardian,omitempty"`
	Contact  string `json:"contact,omitempty"`
	Address  string `json:"address,omitempty"`
}

// Case is a child followed by an organisation.
type Case struct {
	ID        int64     `json:"id"`
	Org       string    `json:"org"`
	Team      string    `json:"team,omitempty"`
	Owner     string    `json:"owner"`
	Status    string    `json:"status"` // open, closure_requested, closed
	Sex       int       `json:"-"`
	AgeBand   int       `json:"-"`
	District  int       `json:"-"`
	Province  int       `json:"-"`
	Personal  *Personal `json:"personal,omitempty"`
	Extra     Extra     `json:"extra,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// Sealed is the stored form of Personal (store and service only).
	Sealed string `json:"-"`
}

// Extra holds an organisation's own fields (no schema change needed).
type Extra map[string]string

// Day is a date stored as days since 1970-01-01 (0: not known), so the
// time between two steps is a subtraction on both engines.
type Day int32

// DayOf returns the day of t (UTC).
func DayOf(t time.Time) Day { return Day(t.UTC().Unix() / 86400) }

// Time returns the day as a time at midnight UTC.
func (d Day) Time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// String is the ISO date, or "" when unknown.
func (d Day) String() string {
	if d == 0 {
		return ""
	}
	return d.Time().Format(time.DateOnly)
}

// ParseDay reads an ISO date (YYYY-MM-DD); "" is 0.
func ParseDay(s string) (Day, error) {
	if s == "" {
		return 0, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, fmt.Errorf("%w: date %q is not a YYYY-MM-DD date", ErrInvalid, s)
	}
	return DayOf(t), nil
}

// MarshalJSON writes the ISO date or null.
func (d Day) MarshalJSON() ([]byte, error) {
	if d == 0 {
		return []byte("null"), nil
	}
	return json.Marshal(d.String())
}

// UnmarshalJSON reads an ISO date or null.
func (d *Day) UnmarshalJSON(b []byte) error {
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.Join(ErrInvalid, err)
	}
	if s == nil {
		*d = 0
		return nil
	}
	v, err := ParseDay(*s)
	*d = v
	return err
}

// Incident is one reported abuse of a child, with its path through the
// justice system. Coded fields hold vocabulary codes (0: unknown).
type Incident struct {
	ID int64 `json:"id"`
	// UID is the incident's random reference (also the associated data
	// its sealed FIR number is bound to).
	UID          string `json:"uid"`
	CaseID       int64  `json:"case_id,omitempty"`
	Org          string `json:"org"`
	Team         string `json:"team,omitempty"`
	Owner        string `json:"owner"`
	Reported     Day    `json:"reported"`
	Category     int    `json:"-"`
	Sex          int    `json:"-"`
	AgeBand      int    `json:"-"`
	Relationship int    `json:"-"`
	Place        int    `json:"-"`
	District     int    `json:"-"`
	Province     int    `json:"-"`
	Area         int    `json:"-"`
	PoliceStatus int    `json:"-"`
	Stage        int    `json:"-"`
	Outcome      int    `json:"-"`
	// FIR is the First Information Report number: personal, sealed.
	FIR             string `json:"fir,omitempty"`
	FIRDate         Day    `json:"fir_date"`
	ChargeSheetDate Day    `json:"charge_sheet_date"`
	TrialDate       Day    `json:"trial_date"`
	VerdictDate     Day    `json:"verdict_date"`
	// Sections are the PPC/PECA sections charged, e.g. "PPC 376; PECA 22".
	Sections        string    `json:"sections,omitempty"`
	AcquittalReason string    `json:"acquittal_reason,omitempty"`
	Source          string    `json:"source,omitempty"`
	Extra           Extra     `json:"extra,omitempty"`
	CreatedAt       time.Time `json:"created_at"`

	SealedFIR string `json:"-"`
}

// Referral asks another organisation to take over or help with a case.
type Referral struct {
	ID        int64     `json:"id"`
	CaseID    int64     `json:"case_id"`
	FromOrg   string    `json:"from_org"`
	ToOrg     string    `json:"to_org"`
	State     string    `json:"state"`
	Reason    string    `json:"reason,omitempty"`
	By        string    `json:"by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Referral states.
const (
	ReferralRequested = "requested"
	ReferralAccepted  = "accepted"
	ReferralRejected  = "rejected"
	ReferralDone      = "done"
	ReferralRevoked   = "revoked"
)

// referralMoves lists the allowed state changes and whose act each is:
// the receiving organisation ("to") or the referring one ("from").
var referralMoves = map[[2]string]string{
	{ReferralRequested, ReferralAccepted}: "to",
	{ReferralRequested, ReferralRejected}: "to",
	{ReferralRequested, ReferralRevoked}:  "from",
	{ReferralAccepted, ReferralDone}:      "to",
	{ReferralAccepted, ReferralRevoked}:   "from",
}

// Note is a case note; Ref points at an attachment kept elsewhere
// (attachments never enter the registry). Body is sealed at rest.
type Note struct {
	ID     int64     `json:"id"`
	CaseID int64     `json:"case_id"`
	Author string    `json:"author"`
	At     time.Time `json:"at"`
	Body   string    `json:"body"`
	Ref    string    `json:"ref,omitempty"`

	Sealed string `json:"-"`
}

// Approval is a request to close a case and its decision by a second
// person (four eyes).
type Approval struct {
	ID          int64      `json:"id"`
	CaseID      int64      `json:"case_id"`
	RequestedBy string     `json:"requested_by"`
	RequestedAt time.Time  `json:"requested_at"`
	Reason      string     `json:"reason,omitempty"`
	State       string     `json:"state"` // pending, approved, rejected
	DecidedBy   string     `json:"decided_by,omitempty"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
}

// Filter selects incidents or cases: the caller's visibility (from its
// Access) and the request's own conditions. Zero fields select all.
type Filter struct {
	// Visibility.
	Scope     Scope
	Principal string
	Org       string
	Team      string
	District  int
	Province  int
	// Conditions (incidents): a year and codes.
	Year     int
	Category int
}

// Count is one cell of a two-way count: the codes of both dimensions.
type Count struct {
	A, B int
	N    int64
}

// FunnelCounts partition the incidents by the furthest step of the
// justice system they reached, and sum the days between steps.
type FunnelCounts struct {
	// Furthest counts incidents by furthest step: 0 reported only, 1 FIR,
	// 2 charge sheet, 3 trial, 4 a verdict other than conviction, 5
	// conviction.
	Furthest [6]int64
	// Days[i] sums the days from step i to step i+1 over Pairs[i]
	// incidents with both dates.
	Days  [4]int64
	Pairs [4]int64
}

// Store is what the registry needs from the database. Every method that
// changes a record or reads one for a person appends the given audit
// entry in the same transaction.
type Store interface {
	PutAccess(ctx context.Context, a Access, e audit.Entry) error
	GetAccess(ctx context.Context, principal string) (Access, error)
	ListAccess(ctx context.Context) ([]Access, error)

	// CreateCase stores a case; seal, if not nil, returns the sealed
	// personal fields bound to the new id, stored in the same transaction.
	CreateCase(ctx context.Context, c Case, seal func(id int64) (string, error), e audit.Entry) (Case, error)
	// ViewCase reads a case visible under f, logging e (its Target set to
	// the case) in the same transaction; ErrNotFound otherwise.
	ViewCase(ctx context.Context, id int64, f Filter, e audit.Entry) (Case, error)
	ListCases(ctx context.Context, f Filter, after int64, limit int, e audit.Entry) ([]Case, error)
	SetCaseStatus(ctx context.Context, id int64, status string, e audit.Entry) error

	// InsertIncidents stores incidents in one transaction (all or none)
	// and returns the first new id (ids are consecutive in input order on
	// both engines only for SQLite; use ListIncidents to read them back).
	InsertIncidents(ctx context.Context, in []Incident, e audit.Entry) (int, error)
	ViewIncident(ctx context.Context, id int64, f Filter, e audit.Entry) (Incident, error)
	// UpdateIncident replaces the fields of incident x.ID, visible under f,
	// keeping its uid, organisation, team and owner, and moves its kept
	// counts; seal, if not nil, returns the sealed FIR number for its uid
	// (nil keeps the stored one).
	UpdateIncident(ctx context.Context, x Incident, f Filter, seal func(uid string) (string, error), e audit.Entry) (Incident, error)
	ListIncidents(ctx context.Context, f Filter, after int64, limit int, e audit.Entry) ([]Incident, error)
	// ScanIncidents calls fn for every incident under f by id, for exports
	// (logged once with e).
	ScanIncidents(ctx context.Context, f Filter, e audit.Entry, fn func(Incident) error) error

	// CountIncidents counts incidents under f grouped by two columns
	// (column names from Dimensions).
	CountIncidents(ctx context.Context, f Filter, colA, colB string) ([]Count, error)
	Funnel(ctx context.Context, f Filter) (FunnelCounts, error)

	CreateReferral(ctx context.Context, r Referral, e audit.Entry) (Referral, error)
	GetReferral(ctx context.Context, id int64) (Referral, error)
	// MoveReferral changes a referral's state from one state to another
	// (ErrConflict if it is no longer in from).
	MoveReferral(ctx context.Context, id int64, from, to string, e audit.Entry) error
	ListReferrals(ctx context.Context, caseID int64) ([]Referral, error)

	// AddNote stores a note whose body seal returns sealed to its new id.
	AddNote(ctx context.Context, n Note, seal func(id int64) (string, error), e audit.Entry) (Note, error)
	ListNotes(ctx context.Context, caseID int64, e audit.Entry) ([]Note, error)

	RequestClosure(ctx context.Context, a Approval, e audit.Entry) (Approval, error)
	// DecideClosure approves or rejects a pending closure; approval closes
	// the case in the same transaction.
	DecideClosure(ctx context.Context, id int64, approve bool, by string, e audit.Entry) (Approval, error)
	GetApproval(ctx context.Context, id int64) (Approval, error)

	// AppendAudit logs a published table.
	AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error)
}
