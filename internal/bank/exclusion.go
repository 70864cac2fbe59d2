package bank

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
)

// ErrExcluded: the value is on the bank's exclusion list, so it is not
// added (see Exclusion).
var ErrExcluded = errors.New("excluded from the bank")

// Exclusion is a value a bank refuses. Removing a signal excludes its type
// and value, so a removed signal stays removed: adding or re-importing it
// later reports it as excluded instead of adding it back. Curators list
// exclusions, add them (with a reason) for values that must never enter the
// bank, and remove them to allow a value again. An exclusion does not
// remove a signal that is active when it is added.
type Exclusion struct {
	Bank      string    `json:"bank"`
	Type      Type      `json:"type"`
	Value     string    `json:"value"`
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// ExclusionStore is the part of Store that keeps exclusion lists. Adding
// and removing append their audit entries (audit.ActExclusionAdd, with the
// type, value and reason; audit.ActExclusionRemove, with type and value) in
// the same transaction.
type ExclusionStore interface {
	// AddExclusion excludes x.Type and x.Value from the bank (CreatedAt and
	// CreatedBy set by the store). When the value is already excluded it
	// returns that exclusion with added=false and audits nothing.
	// ErrNotFound if there is no such bank.
	AddExclusion(ctx context.Context, bank string, x Exclusion, by audit.Actor) (stored Exclusion, added bool, err error)
	// RemoveExclusion allows t and v in the bank again; ErrNotFound if the
	// bank does not exist or does not exclude them.
	RemoveExclusion(ctx context.Context, bank string, t Type, v string, by audit.Actor) error
	// Exclusions lists the bank's exclusions, oldest first; ErrNotFound if
	// there is no such bank.
	Exclusions(ctx context.Context, bank string) ([]Exclusion, error)
}

// Exclusions lists the named bank's exclusions, oldest first.
func (s *Service) Exclusions(ctx context.Context, bank string) ([]Exclusion, error) {
	if err := ValidateName(bank); err != nil {
		return nil, err
	}
	xs, err := s.st.Exclusions(ctx, bank)
	if err != nil {
		return nil, fmt.Errorf("exclusions of bank %q: %w", bank, err)
	}
	return xs, nil
}

// AddExclusion validates and normalises t and v and excludes them from the
// bank, recording why. added is false when they were already excluded (the
// existing exclusion is returned unchanged).
func (s *Service) AddExclusion(ctx context.Context, bank string, t Type, v, reason string, by audit.Actor) (Exclusion, bool, error) {
	if err := validateChange(bank, by, reason, "the value is excluded"); err != nil {
		return Exclusion{}, false, err
	}
	t, v, err := normalizeRef(t, v)
	if err != nil {
		return Exclusion{}, false, err
	}
	x, added, err := s.st.AddExclusion(ctx, bank, Exclusion{Type: t, Value: v, Reason: reason}, by)
	if err != nil {
		return Exclusion{}, false, fmt.Errorf("exclude %s %s from bank %q: %w", t, v, bank, err)
	}
	return x, added, nil
}

// RemoveExclusion allows t and v in the bank again.
func (s *Service) RemoveExclusion(ctx context.Context, bank string, t Type, v string, by audit.Actor) error {
	if err := ValidateName(bank); err != nil {
		return err
	}
	if err := ValidateActor(by.Name); err != nil {
		return err
	}
	t, v, err := normalizeRef(t, v)
	if err != nil {
		return err
	}
	if err := s.st.RemoveExclusion(ctx, bank, t, v, by); err != nil {
		return fmt.Errorf("allow %s %s in bank %q again: %w", t, v, bank, err)
	}
	return nil
}

// validateChange validates the bank name, the actor and the curator's
// reason of a change (why: what the reason must explain).
func validateChange(bank string, by audit.Actor, reason, why string) error {
	if err := ValidateName(bank); err != nil {
		return err
	}
	if err := ValidateActor(by.Name); err != nil {
		return err
	}
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("%w reason: empty (say why %s)", ErrInvalid, why)
	}
	return validateText("reason", reason, MaxReasonLen, true)
}

// normalizeRef parses a signal type and normalises a value of it.
func normalizeRef(t Type, v string) (Type, string, error) {
	pt, err := ParseType(string(t))
	if err != nil {
		return "", "", err
	}
	nv, err := NormalizeValue(pt, v)
	if err != nil {
		return "", "", err
	}
	return pt, nv, nil
}
