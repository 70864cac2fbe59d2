package bank

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/signal"
)

// Errors callers branch on. Stores and Service wrap them with context, so
// test with errors.Is.
var (
	// ErrNotFound: the bank or signal does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a bank with that name already exists.
	ErrExists = errors.New("already exists")
	// ErrInvalid: a name, value, field or option failed validation.
	ErrInvalid = errors.New("invalid")
)

// Action is what a match against a bank should lead to by default. The
// decision layer may override it; the bank only records the curator's intent.
type Action string

// Actions a bank can default to.
const (
	ActionReview Action = "review" // queue for human review (the default: hash lists contain mistakes)
	ActionBlock  Action = "block"  // block the content outright
	ActionReport Action = "report" // block and file a report
	ActionLog    Action = "log"    // record the match only
)

// Actions lists every valid Action, in the order help texts show them.
var Actions = []Action{ActionReview, ActionBlock, ActionReport, ActionLog}

// Valid reports whether a is one of Actions.
func (a Action) Valid() bool {
	for _, v := range Actions {
		if a == v {
			return true
		}
	}
	return false
}

// DefaultPDQThreshold is the Hamming distance at or below which a PDQ hash
// matches, as recommended by the PDQ authors.
const DefaultPDQThreshold = 31

// Limits on free-text fields, so one bad line cannot bloat a bank.
const (
	MaxNameLen        = 64
	MaxDescriptionLen = 4096
	MaxCategoryLen    = 256
	MaxSourceLen      = 1024
	MaxNoteLen        = 64 << 10
	MaxExtraLen       = 64 << 10 // all keys and values of Signal.Extra together
	MaxExtraKeys      = 64
	MaxActorLen       = 256
	MaxReasonLen      = 4096
)

// Bank is a named collection of signals.
type Bank struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	Enabled      bool   `json:"enabled"`
	Action       Action `json:"action"`
	PDQThreshold int    `json:"pdq_threshold"`
	// ReviewAbove, when > 0, sends hits farther than this PDQ distance to
	// the review queue whatever Action says (a near match on a block bank
	// is confirmed by a person first); 0 turns it off.
	ReviewAbove int `json:"review_above"`
	// Negative marks a bank of known benign content (an allow list): a
	// request that hits it has the hits of every other bank suppressed —
	// no action, no review — and the negative hits are never acted on.
	Negative  bool      `json:"negative"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

// NewBank returns a bank with the defaults: enabled, ActionReview,
// DefaultPDQThreshold.
func NewBank(name string) Bank {
	return Bank{Name: name, Enabled: true, Action: ActionReview, PDQThreshold: DefaultPDQThreshold}
}

// BankUpdate changes some fields of a bank; nil fields stay as they are.
type BankUpdate struct {
	Description  *string `json:"description,omitempty"`
	Enabled      *bool   `json:"enabled,omitempty"`
	Action       *Action `json:"action,omitempty"`
	PDQThreshold *int    `json:"pdq_threshold,omitempty"`
	ReviewAbove  *int    `json:"review_above,omitempty"`
	Negative     *bool   `json:"negative,omitempty"`
}

// Empty reports whether u changes nothing.
func (u BankUpdate) Empty() bool {
	return u.Description == nil && u.Enabled == nil && u.Action == nil && u.PDQThreshold == nil &&
		u.ReviewAbove == nil && u.Negative == nil
}

// Apply returns b with u's fields set.
func (u BankUpdate) Apply(b Bank) Bank {
	if u.Description != nil {
		b.Description = *u.Description
	}
	if u.Enabled != nil {
		b.Enabled = *u.Enabled
	}
	if u.Action != nil {
		b.Action = *u.Action
	}
	if u.PDQThreshold != nil {
		b.PDQThreshold = *u.PDQThreshold
	}
	if u.ReviewAbove != nil {
		b.ReviewAbove = *u.ReviewAbove
	}
	if u.Negative != nil {
		b.Negative = *u.Negative
	}
	return b
}

// ValidateName checks that name is a safe identifier: 1–64 characters of
// lower-case ASCII letters, digits, '-', '_' and '.', starting with a letter
// or digit. Names appear in file names, URLs and shell commands, so nothing
// else is allowed.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("%w bank name: empty", ErrInvalid)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w bank name %.20q…: longer than %d characters", ErrInvalid, name, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return fmt.Errorf("%w bank name %q: use lower-case letters, digits, '-', '_' and '.', starting with a letter or digit", ErrInvalid, name)
		}
	}
	return nil
}

// Validate checks every field of b that a caller sets.
func (b Bank) Validate() error {
	if err := ValidateName(b.Name); err != nil {
		return err
	}
	if err := validateText("description", b.Description, MaxDescriptionLen, true); err != nil {
		return err
	}
	if !b.Action.Valid() {
		return fmt.Errorf("%w action %q: want one of %v", ErrInvalid, b.Action, Actions)
	}
	if b.PDQThreshold < 0 || b.PDQThreshold > 256 {
		return fmt.Errorf("%w PDQ threshold %d: want 0..256", ErrInvalid, b.PDQThreshold)
	}
	if b.ReviewAbove < 0 || b.ReviewAbove > 256 {
		return fmt.Errorf("%w review_above %d: want 0 (off) ..256", ErrInvalid, b.ReviewAbove)
	}
	return nil
}

// ValidateActor checks the actor string every mutation records: non-empty,
// at most MaxActorLen bytes, printable.
func ValidateActor(actor string) error {
	if strings.TrimSpace(actor) == "" {
		return fmt.Errorf("%w actor: empty (every change records who made it)", ErrInvalid)
	}
	return validateText("actor", actor, MaxActorLen, false)
}

// validateText checks that s is valid UTF-8 of at most max bytes without
// control characters (newlines and tabs allowed when multiline is set):
// internal/signal.CheckText, wrapping ErrInvalid.
func validateText(field, s string, max int, multiline bool) error {
	if err := signal.CheckText(field, s, max, multiline); err != nil {
		return invalid(err)
	}
	return nil
}
