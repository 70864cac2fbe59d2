// Package alert is the missing-child desk of the Zainab Alert, Response and
// Recovery Act 2020 (ZARRA): intake of a missing child, the two-hour clock
// of section 8, alerts with four-eyes release, CAP 1.2 messages (package
// cap), the Atom feed aggregators read, signed webhooks to media and
// partners, and monthly statistics.
//
// # The Act
//
// Section 8 obliges the police to record a complaint of a missing child
// and inform the ZARRA agency within two hours, and to collect a checklist:
// the child's friends and acquaintances, the vehicles or means of travel
// available, and electronic devices (phone maker and operator). Wilful
// delay is an offence (1–2 years, Rs 50,000–100,000), so a missed deadline
// is evidence and goes into the transparency log. A "missing child" is
// anyone under 18 reported missing, runaways included. (Sources: the Act at
// legislation.pk and the summaries in docs/research/wave2.md §6.3.)
//
// # Lessons designed in
//
// Hawaii, 13 January 2018: one person, the same screen for tests and live
// alerts, 38 minutes to cancel. Here an alert is released only by a second
// person who is not its author (Approve refuses the author whatever their
// role), a test alert is marked so from its draft and can never produce a
// CAP message with status Actual (BuildCAP derives the status from the
// alert, and refuses a mismatch), and the cancel and update messages are
// prepared with every alert, so cancelling is one act by one person.
//
// # Personal data
//
// The child's identity and description, the guardian, the reporter and the
// section 8 checklist are sealed (internal/sealed) with associated data
// binding them to their case; without a data key intake is refused
// (sealed.ErrNoKey). Statistics read only the unsealed facts: district, age,
// sex, circumstances, outcome and the times of the case. When a case
// closes its photo and details leave the feed: closed cases publish only
// their cancel, which names no one.
package alert

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Sentinel errors callers branch on.
var (
	// ErrNotFound: no such case.
	ErrNotFound = errors.New("missing-child case not found")
	// ErrInvalid: the request breaks a rule of intake or of the alert's
	// state machine (wrong state, failed checklist).
	ErrInvalid = errors.New("invalid")
	// ErrConflict: the case changed since it was read (another replica or
	// operator); read it again and retry.
	ErrConflict = errors.New("missing-child case changed concurrently")
	// ErrFourEyes: the author of an alert (or of its draft update) tried to
	// approve it.
	ErrFourEyes = errors.New("the author of an alert may not approve it: a second person must")
	// ErrGone: the case is closed and its details have left the feed.
	ErrGone = errors.New("case closed: its alert has been withdrawn")
)

// Circumstance is how the child went missing.
type Circumstance string

// Circumstances.
const (
	Abduction Circumstance = "abduction"
	Runaway   Circumstance = "runaway"
	Lost      Circumstance = "lost"
	Unknown   Circumstance = "unknown"
)

// Channel is who reported the case.
type Channel string

// Channels of intake.
const (
	Helpline Channel = "helpline" // the 1099 helpline
	Police   Channel = "police"   // a police station
	NGO      Channel = "ngo"      // a partner organisation
	Web      Channel = "web"      // the public web or app form
)

// Sex values.
const (
	Female = "female"
	Male   = "male"
	Other  = "other"
	// SexUnknown is also the value of an empty Sex.
	SexUnknown = "unknown"
)

// Outcome is how a case closed.
type Outcome string

// Outcomes.
const (
	Found     Outcome = "found"     // came back or was found safe
	Recovered Outcome = "recovered" // recovered from an abductor
	Deceased  Outcome = "deceased"
	Withdrawn Outcome = "withdrawn" // report withdrawn or in error
)

// Child is the missing child: sealed at rest.
type Child struct {
	Name string `json:"name"`
	// Description is the physical description (height, build,
	// complexion, hair, marks); DescriptionUR the same in Urdu, if given.
	Description   string `json:"description"`
	DescriptionUR string `json:"description_ur,omitempty"`
	Clothing      string `json:"clothing,omitempty"`
	// PhotoURL is where partners fetch the photo (the photo itself is
	// never stored here); PhotoType is its media type.
	PhotoURL  string `json:"photo_url,omitempty"`
	PhotoType string `json:"photo_type,omitempty"`
}

// Person is a guardian or reporter: sealed at rest.
type Person struct {
	Name         string `json:"name"`
	Relation     string `json:"relation,omitempty"`
	Phone        string `json:"phone,omitempty"`
	Organisation string `json:"organisation,omitempty"`
}

// Phone is a device the child had or could use (s.8: maker and operator).
type Phone struct {
	Maker    string `json:"maker"`
	Model    string `json:"model,omitempty"`
	Operator string `json:"operator"`
	Number   string `json:"number,omitempty"`
}

// PoliceChecklist is what section 8 of the Act has the police collect.
type PoliceChecklist struct {
	FriendsAndAcquaintances []string `json:"friends_and_acquaintances"`
	Vehicles                []string `json:"vehicles"`
	Phones                  []Phone  `json:"phones"`
}

// LastSeen is where and when the child was last seen. The coordinates and
// place are sealed; the district and time are not (statistics, the clock).
type LastSeen struct {
	At       time.Time `json:"at"`
	Lat      float64   `json:"lat"`
	Lon      float64   `json:"lon"`
	Place    string    `json:"place,omitempty"`
	District string    `json:"district"`
}

// Personal is the sealed part of a case.
type Personal struct {
	Child     Child           `json:"child"`
	Guardian  Person          `json:"guardian"`
	Reporter  Person          `json:"reporter"`
	Checklist PoliceChecklist `json:"checklist"`
	Lat       float64         `json:"lat"`
	Lon       float64         `json:"lon"`
	Place     string          `json:"place,omitempty"`
	// Suspect describes a suspected abductor and their vehicle, if known.
	Suspect string `json:"suspect,omitempty"`
}

// Intake is a new report of a missing child.
type Intake struct {
	Channel      Channel         `json:"channel"`
	Child        Child           `json:"child"`
	Age          int             `json:"age"`
	Sex          string          `json:"sex"`
	LastSeen     LastSeen        `json:"last_seen"`
	Circumstance Circumstance    `json:"circumstance"`
	Danger       bool            `json:"danger"` // the child is believed in danger of injury or death
	Guardian     Person          `json:"guardian"`
	Reporter     Person          `json:"reporter"`
	Checklist    PoliceChecklist `json:"checklist"`
	Suspect      string          `json:"suspect,omitempty"`
	// ReportedAt is when the report was received (the clock starts there);
	// zero means now.
	ReportedAt time.Time `json:"reported_at,omitzero"`
}

// Check validates an intake and normalises its enumerations.
func (in *Intake) Check() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if !slices.Contains([]Channel{Helpline, Police, NGO, Web}, in.Channel) {
		bad("channel %q (want helpline, police, ngo or web)", in.Channel)
	}
	if strings.TrimSpace(in.Child.Name) == "" {
		bad("the child's name is required")
	}
	if in.Age < 0 || in.Age > 17 {
		bad("age %d: the Act covers children under 18", in.Age)
	}
	in.Sex = strings.ToLower(strings.TrimSpace(in.Sex))
	if in.Sex == "" {
		in.Sex = SexUnknown
	}
	if !slices.Contains([]string{Female, Male, Other, SexUnknown}, in.Sex) {
		bad("sex %q (want female, male, other or unknown)", in.Sex)
	}
	if in.Circumstance == "" {
		in.Circumstance = Unknown
	}
	if !slices.Contains([]Circumstance{Abduction, Runaway, Lost, Unknown}, in.Circumstance) {
		bad("circumstance %q (want abduction, runaway, lost or unknown)", in.Circumstance)
	}
	ls := in.LastSeen
	if ls.At.IsZero() {
		bad("last_seen.at is required")
	}
	if math.IsNaN(ls.Lat) || math.IsNaN(ls.Lon) || ls.Lat < -90 || ls.Lat > 90 || ls.Lon < -180 || ls.Lon > 180 || (ls.Lat == 0 && ls.Lon == 0) {
		bad("last_seen lat/lon (%v, %v) is not a place", ls.Lat, ls.Lon)
	}
	if strings.TrimSpace(ls.District) == "" {
		bad("last_seen.district is required")
	}
	if strings.TrimSpace(in.Guardian.Name) == "" && strings.TrimSpace(in.Guardian.Phone) == "" {
		bad("a guardian's name or phone is required")
	}
	if strings.TrimSpace(in.Reporter.Name) == "" {
		bad("the reporter's name is required")
	}
	for _, p := range in.Checklist.Phones {
		if p.Maker == "" || p.Operator == "" {
			bad("each phone needs its maker and operator (s.8)")
			break
		}
	}
	if in.Child.PhotoURL != "" && !strings.HasPrefix(in.Child.PhotoURL, "https://") {
		bad("child.photo_url must be an https:// URL")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(errs, "; "))
	}
	return nil
}

// Case is a missing-child case as the desk sees it (Personal decrypted).
type Case struct {
	ID int64 `json:"id"`
	// UID is the case's random public identifier: CAP identifiers and the
	// associated data of its sealed fields derive from it.
	UID          string       `json:"uid"`
	Version      int64        `json:"version"`
	Channel      Channel      `json:"channel"`
	Age          int          `json:"age"`
	Sex          string       `json:"sex"`
	District     string       `json:"district"`
	Circumstance Circumstance `json:"circumstance"`
	Danger       bool         `json:"danger"`
	LastSeenAt   time.Time    `json:"last_seen_at"`
	ReportedAt   time.Time    `json:"reported_at"`
	ReportedBy   string       `json:"reported_by"`
	// ComplaintNo is the police complaint (FIR or roznamcha) number, set
	// when the complaint is recorded at ComplaintAt.
	ComplaintNo string     `json:"complaint_no,omitempty"`
	ComplaintAt *time.Time `json:"complaint_at,omitempty"`
	// InformedAt is when the ZARRA agency was informed.
	InformedAt *time.Time `json:"informed_at,omitempty"`
	// Clock is the state of the two-hour clock's deadlines.
	Clock []Deadline `json:"clock"`
	// Alert is the case's alert or notice, if one was drafted.
	Alert *Alert `json:"alert,omitempty"`
	// Messages are the CAP messages sent for the case, oldest first.
	Messages []Message  `json:"messages,omitempty"`
	Outcome  Outcome    `json:"outcome,omitempty"`
	ClosedAt *time.Time `json:"closed_at,omitempty"`
	// Personal is nil when the case was read without its sealed part.
	Personal *Personal `json:"personal,omitempty"`
}

// Open reports whether the case is still open.
func (c *Case) Open() bool { return c.ClosedAt == nil }

// AgeBand is the case's age band in statistics.
func (c *Case) AgeBand() string {
	switch {
	case c.Age < 5:
		return "0-4"
	case c.Age < 10:
		return "5-9"
	case c.Age < 14:
		return "10-13"
	default:
		return "14-17"
	}
}
