package alert

import (
	"fmt"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/alert/cap"
)

// State is where an alert is in its life:
//
//	draft → pending_approval → approved → issued → updated … → cancelled | resolved
//
// Draft, pending and approved alerts may be cancelled before they are
// issued (nothing is sent then).
type State string

// States.
const (
	Draft     State = "draft"
	Pending   State = "pending_approval"
	Approved  State = "approved"
	Issued    State = "issued"
	Updated   State = "updated"
	Cancelled State = "cancelled"
	Resolved  State = "resolved"
)

// Live reports whether an alert in state s is published.
func (s State) Live() bool { return s == Issued || s == Updated }

// Tier is the kind of alert.
type Tier string

// Tiers.
const (
	// TierAlert is the full alert (AMBER-style: public broadcast through
	// the telecom regulator and media); it must pass every criterion.
	TierAlert Tier = "alert"
	// TierNotice is the lower tier "missing child notice" for cases that
	// fail the activation checklist (runaways, lost children, vague
	// descriptions): published in the feed, never broadcast.
	TierNotice Tier = "notice"
)

// Criterion is one item of the activation checklist and whether the case
// meets it.
type Criterion struct {
	Name string `json:"name"`
	Text string `json:"text"`
	Met  bool   `json:"met"`
	// Required says the alert's tier needs it.
	Required bool `json:"required"`
}

// Activation criteria (after the US DOJ AMBER criteria, adapted to the Act:
// a complaint number instead of an NCIC entry).
const (
	CritUnder18    = "under_18"
	CritAbduction  = "abduction_or_danger"
	CritDescribed  = "description"
	CritComplaint  = "complaint_number"
	minDescription = 20 // characters of physical description
)

// Checklist evaluates the activation checklist of tier t for case c (with
// its personal part, for the description).
func Checklist(c *Case, t Tier) []Criterion {
	described := false
	if p := c.Personal; p != nil {
		described = len([]rune(strings.TrimSpace(p.Child.Description))) >= minDescription &&
			(p.Child.PhotoURL != "" || strings.TrimSpace(p.Child.Clothing) != "")
	}
	full := t == TierAlert
	return []Criterion{
		{CritUnder18, "the child is under 18", c.Age < 18, true},
		{CritAbduction, "abduction, or the child is believed in danger of injury or death", c.Circumstance == Abduction || c.Danger, full},
		{CritDescribed, fmt.Sprintf("enough description to recognise the child: %d+ characters and a photo or clothing", minDescription), described, true},
		{CritComplaint, "the police complaint is recorded (its number)", c.ComplaintNo != "", full},
	}
}

// unmet returns the required criteria that are not met.
func unmet(cs []Criterion) []string {
	var out []string
	for _, c := range cs {
		if c.Required && !c.Met {
			out = append(out, c.Name)
		}
	}
	return out
}

// Message is a CAP message sent (or prepared) for a case. The XML is not
// stored: it is built from the case when asked for, so a closed case's
// details cannot linger in a stored copy.
type Message struct {
	Identifier string    `json:"identifier"`
	MsgType    string    `json:"msg_type"`
	Sent       time.Time `json:"sent"`
	// Test is copied from the alert: a test alert's messages are Test.
	Test bool `json:"test"`
	Tier Tier `json:"tier"`
	// References is the identifier of the message this one changes (the
	// CAP references triple is built from it).
	References string `json:"references,omitempty"`
	By         string `json:"by"`
	// Note is the update's text (Update) or the reason (Cancel), in
	// English and Urdu.
	Note   string `json:"note,omitempty"`
	NoteUR string `json:"note_ur,omitempty"`
	// Outcome is the case's outcome for the cancel of a resolved case.
	Outcome Outcome   `json:"outcome,omitempty"`
	Expires time.Time `json:"expires"`
}

// Alert is a case's alert or notice.
type Alert struct {
	Tier  Tier  `json:"tier"`
	State State `json:"state"`
	// Test is fixed when the alert is drafted: a test alert's messages are
	// all status=Test, and every surface marks it.
	Test      bool      `json:"test"`
	Author    string    `json:"author"`
	DraftedAt time.Time `json:"drafted_at"`
	// SubmittedBy put it up for approval; they may not approve it either.
	SubmittedBy string      `json:"submitted_by,omitempty"`
	Approver    string      `json:"approver,omitempty"`
	ApprovedAt  *time.Time  `json:"approved_at,omitempty"`
	IssuedAt    *time.Time  `json:"issued_at,omitempty"`
	RadiusKM    float64     `json:"radius_km"`
	Hours       int         `json:"hours"`
	Expires     time.Time   `json:"expires,omitzero"`
	Checklist   []Criterion `json:"checklist"`
	// Prepared are the Update and Cancel messages made ready with the
	// alert (their identifiers reserved), so cancelling is one act.
	Prepared []Message `json:"prepared,omitempty"`
	// EndedAt is when it was cancelled or resolved.
	EndedAt *time.Time `json:"ended_at,omitempty"`
}

// lastMessage returns the case's last message sent, or nil.
func (c *Case) lastMessage() *Message {
	if len(c.Messages) == 0 {
		return nil
	}
	return &c.Messages[len(c.Messages)-1]
}

// nextIdentifier returns a new CAP identifier for the case.
func (c *Case) nextIdentifier() string {
	return fmt.Sprintf("nigehban-%s-%d", c.UID, len(c.Messages)+1)
}

// draft starts an alert of tier t on c by author.
func (c *Case) draft(t Tier, test bool, radiusKM float64, hours int, by string, now time.Time) error {
	if !c.Open() {
		return fmt.Errorf("%w: the case is closed", ErrInvalid)
	}
	if t != TierAlert && t != TierNotice {
		return fmt.Errorf("%w: tier %q (want alert or notice)", ErrInvalid, t)
	}
	if a := c.Alert; a != nil && (a.State.Live() || a.State == Approved) {
		return fmt.Errorf("%w: the case already has an alert %s: update or cancel it", ErrInvalid, a.State)
	}
	if radiusKM <= 0 || radiusKM > 500 || hours <= 0 || hours > 24*14 {
		return fmt.Errorf("%w: radius %v km and validity %d h (want 0–500 km, 1–336 h)", ErrInvalid, radiusKM, hours)
	}
	c.Alert = &Alert{Tier: t, State: Draft, Test: test, Author: by, DraftedAt: now, RadiusKM: radiusKM, Hours: hours,
		Checklist: Checklist(c, t)}
	return nil
}

// submit moves the draft to pending approval if its checklist passes.
func (c *Case) submit(by string) error {
	a := c.Alert
	if a == nil || a.State != Draft {
		return fmt.Errorf("%w: no draft alert to submit", ErrInvalid)
	}
	a.Checklist = Checklist(c, a.Tier)
	if u := unmet(a.Checklist); len(u) > 0 {
		hint := ""
		if a.Tier == TierAlert {
			hint = " (a missing child notice needs fewer)"
		}
		return fmt.Errorf("%w: activation checklist not met: %s%s", ErrInvalid, strings.Join(u, ", "), hint)
	}
	a.State, a.SubmittedBy = Pending, by
	return nil
}

// approve releases a pending alert: by must be neither its author nor
// whoever submitted it.
func (c *Case) approve(by string, now time.Time) error {
	a := c.Alert
	if a == nil || a.State != Pending {
		return fmt.Errorf("%w: no alert pending approval", ErrInvalid)
	}
	if by == a.Author || by == a.SubmittedBy {
		return ErrFourEyes
	}
	a.Checklist = Checklist(c, a.Tier)
	if u := unmet(a.Checklist); len(u) > 0 {
		return fmt.Errorf("%w: activation checklist no longer met: %s", ErrInvalid, strings.Join(u, ", "))
	}
	a.State, a.Approver, a.ApprovedAt = Approved, by, &now
	return nil
}

// issue sends the approved alert and prepares its update and cancel.
func (c *Case) issue(by string, now time.Time) (Message, error) {
	a := c.Alert
	if a == nil || a.State != Approved {
		return Message{}, fmt.Errorf("%w: no approved alert to issue", ErrInvalid)
	}
	a.State, a.IssuedAt, a.Expires = Issued, &now, now.Add(time.Duration(a.Hours)*time.Hour)
	m := Message{Identifier: c.nextIdentifier(), MsgType: cap.MsgAlert, Sent: now, Test: a.Test, Tier: a.Tier, By: by, Expires: a.Expires}
	c.Messages = append(c.Messages, m)
	c.prepare()
	return m, nil
}

// prepare makes the update and cancel messages ready for the live alert.
func (c *Case) prepare() {
	a, last := c.Alert, c.lastMessage()
	ref := last.Identifier
	a.Prepared = []Message{
		{Identifier: c.nextIdentifier(), MsgType: cap.MsgUpdate, Test: a.Test, Tier: a.Tier, References: ref, Expires: a.Expires,
			Note: "Update: see the description.", NoteUR: "تازہ ترین معلومات: تفصیل دیکھیں۔"},
		{Identifier: c.nextIdentifier(), MsgType: cap.MsgCancel, Test: a.Test, Tier: a.Tier, References: ref, Expires: a.Expires,
			Note: "This alert is cancelled.", NoteUR: "یہ الرٹ منسوخ کر دیا گیا ہے۔"},
	}
}

// update sends an Update of the live alert with a new note.
func (c *Case) update(by, note, noteUR string, now time.Time) (Message, error) {
	a := c.Alert
	if a == nil || !a.State.Live() {
		return Message{}, fmt.Errorf("%w: no issued alert to update", ErrInvalid)
	}
	if strings.TrimSpace(note) == "" {
		return Message{}, fmt.Errorf("%w: an update needs its text", ErrInvalid)
	}
	m := a.Prepared[0]
	m.Sent, m.By, m.Note = now, by, note
	if noteUR != "" {
		m.NoteUR = noteUR
	} else {
		m.NoteUR = "تازہ ترین معلومات: " + note
	}
	a.State = Updated
	c.Messages = append(c.Messages, m)
	c.prepare()
	return m, nil
}

// cancel ends the alert; a live one sends its prepared Cancel (with the
// outcome when the case is resolved). It returns the message sent, if
// any.
func (c *Case) cancel(by, reason string, outcome Outcome, now time.Time) (*Message, error) {
	a := c.Alert
	if a == nil || a.State == Cancelled || a.State == Resolved {
		return nil, fmt.Errorf("%w: no alert to cancel", ErrInvalid)
	}
	end := Cancelled
	if outcome != "" {
		end = Resolved
	}
	if !a.State.Live() {
		a.State, a.EndedAt = Cancelled, &now
		return nil, nil
	}
	m := a.Prepared[1]
	m.Sent, m.By, m.Outcome = now, by, outcome
	if reason != "" {
		m.Note = "This alert is cancelled: " + reason
	}
	if outcome != "" {
		m.Note, m.NoteUR = outcomeText[outcome][0], outcomeText[outcome][1]
	}
	a.State, a.EndedAt, a.Prepared = end, &now, nil
	c.Messages = append(c.Messages, m)
	return &m, nil
}

var outcomeText = map[Outcome][2]string{
	Found:     {"The child has been found. This alert is cancelled. Thank you.", "بچہ مل گیا ہے۔ یہ الرٹ منسوخ کر دیا گیا ہے۔ شکریہ۔"},
	Recovered: {"The child has been recovered. This alert is cancelled. Thank you.", "بچہ بازیاب ہو گیا ہے۔ یہ الرٹ منسوخ کر دیا گیا ہے۔ شکریہ۔"},
	Deceased:  {"This alert is cancelled.", "یہ الرٹ منسوخ کر دیا گیا ہے۔"},
	Withdrawn: {"This alert is cancelled.", "یہ الرٹ منسوخ کر دیا گیا ہے۔"},
}
