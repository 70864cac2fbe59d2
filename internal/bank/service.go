package bank

import (
	"context"
	"fmt"

	"github.com/nigehban/nigehban/internal/audit"
)

// Service is the bank API callers use: it validates and normalises input,
// then delegates to a Store. It holds no state of its own, so one Service
// may be shared by any number of goroutines if its Store may.
//
// Every change takes the actor who makes it (by: name and remote address)
// and is audited in its own transaction, whoever calls — the API and the
// CLI alike (see Store).
type Service struct {
	st Store
}

// NewService returns a Service over st.
func NewService(st Store) *Service { return &Service{st: st} }

// Store returns the underlying store, for callers that scan signals directly
// (index building) or read the change log.
func (s *Service) Store() Store { return s.st }

// CreateBank validates b and creates it.
func (s *Service) CreateBank(ctx context.Context, b Bank, by audit.Actor) (Bank, error) {
	if err := b.Validate(); err != nil {
		return Bank{}, err
	}
	if err := ValidateActor(by.Name); err != nil {
		return Bank{}, err
	}
	created, err := s.st.CreateBank(ctx, b, by)
	if err != nil {
		return Bank{}, fmt.Errorf("create bank %q: %w", b.Name, err)
	}
	return created, nil
}

// UpdateBank validates u against the current bank and applies it. changed is
// false (and nothing is logged) when u leaves the bank as it was.
func (s *Service) UpdateBank(ctx context.Context, name string, u BankUpdate, by audit.Actor) (Bank, bool, error) {
	if err := ValidateName(name); err != nil {
		return Bank{}, false, err
	}
	if err := ValidateActor(by.Name); err != nil {
		return Bank{}, false, err
	}
	cur, err := s.GetBank(ctx, name)
	if err != nil {
		return Bank{}, false, err
	}
	if err := u.Apply(cur).Validate(); err != nil {
		return Bank{}, false, err
	}
	b, changed, err := s.st.UpdateBank(ctx, name, u, by)
	if err != nil {
		return Bank{}, false, fmt.Errorf("update bank %q: %w", name, err)
	}
	return b, changed, nil
}

// GetBank returns the named bank.
func (s *Service) GetBank(ctx context.Context, name string) (Bank, error) {
	if err := ValidateName(name); err != nil {
		return Bank{}, err
	}
	b, err := s.st.GetBank(ctx, name)
	if err != nil {
		return Bank{}, fmt.Errorf("bank %q: %w", name, err)
	}
	return b, nil
}

// ListBanks returns every bank ordered by name.
func (s *Service) ListBanks(ctx context.Context) ([]Bank, error) {
	bs, err := s.st.ListBanks(ctx)
	if err != nil {
		return nil, fmt.Errorf("list banks: %w", err)
	}
	return bs, nil
}

// BankStats counts the signals of the named bank by type.
func (s *Service) BankStats(ctx context.Context, name string) (BankStats, error) {
	if err := ValidateName(name); err != nil {
		return BankStats{}, err
	}
	st, err := s.st.BankStats(ctx, name)
	if err != nil {
		return BankStats{}, fmt.Errorf("bank %q stats: %w", name, err)
	}
	return st, nil
}

// AddSignal normalises sig and adds it to the bank in its own transaction,
// audited (audit.ActSignalAdd, detail: type and value) when it adds it. A
// value the bank excludes is not added: the error wraps ErrExcluded and
// the signal returned is sig as normalised.
// It returns the stored signal: the new one, or the one already active with
// the same type and value (added false), whose metadata is left as it was.
func (s *Service) AddSignal(ctx context.Context, bank string, sig Signal, by audit.Actor) (stored Signal, added bool, err error) {
	out, err := s.AddSignals(ctx, bank, []Signal{sig}, by)
	switch {
	case len(out) != 1:
		return Signal{}, false, err
	case err != nil:
		return Signal{}, out[0].Added, err
	case out[0].Excluded:
		return out[0].Signal, false, fmt.Errorf("add %s signal %s to bank %q: %w (removed earlier; remove the exclusion to allow it)",
			out[0].Signal.Type, out[0].Signal.Value, bank, ErrExcluded)
	}
	return out[0].Signal, out[0].Added, nil
}

// AddOutcome is what AddSignals did with one signal of its batch.
type AddOutcome struct {
	Signal   Signal `json:"signal"`             // as stored (as given when excluded)
	Added    bool   `json:"added"`              // false: already in the bank, or excluded
	Excluded bool   `json:"excluded,omitempty"` // removed earlier: see Exclusions
}

// MaxAddBatch bounds the signals one AddSignals call takes; larger lists
// go through Import.
const MaxAddBatch = 10_000

// AddSignals adds a batch of signals to a bank in one transaction, with one
// audit entry for the batch: all of them or, on any invalid signal or
// error, none. Values already in the bank are unchanged and excluded ones
// are reported, as with AddSignal. The outcomes follow the input order.
func (s *Service) AddSignals(ctx context.Context, bank string, sigs []Signal, by audit.Actor) ([]AddOutcome, error) {
	if err := ValidateName(bank); err != nil {
		return nil, err
	}
	if err := ValidateActor(by.Name); err != nil {
		return nil, err
	}
	if len(sigs) == 0 || len(sigs) > MaxAddBatch {
		return nil, fmt.Errorf("%w batch of %d signals: give 1 to %d (larger lists: import)", ErrInvalid, len(sigs), MaxAddBatch)
	}
	out := make([]AddOutcome, len(sigs))
	for i := range sigs {
		sig := sigs[i]
		if err := sig.Normalize(); err != nil {
			if len(sigs) == 1 {
				return nil, err // AddSignal's error, as it always read
			}
			return nil, fmt.Errorf("signal %d: %w", i, err)
		}
		out[i].Signal = sig
	}
	var total AddCounts
	err := s.st.WriteSignals(ctx, bank, by, func(w SignalWriter) error {
		for i := range out {
			n, err := w.Add(ctx, []Signal{out[i].Signal})
			if err != nil && len(out) > 1 {
				return fmt.Errorf("signal %d: %w", i, err)
			} else if err != nil {
				return err
			}
			out[i].Added, out[i].Excluded = n.Added > 0, n.Excluded > 0
			total.Added += n.Added
			total.Unchanged += n.Unchanged
			total.Excluded += n.Excluded
		}
		if total.Added > 0 {
			detail := map[string]any{"count": len(out), "result": total}
			if len(out) == 1 {
				detail = map[string]any{"type": out[0].Signal.Type, "value": out[0].Signal.Value}
			}
			w.Audit(audit.ActSignalAdd, detail)
		}
		return nil
	})
	if err != nil {
		if len(out) == 1 {
			return nil, fmt.Errorf("add %s signal to bank %q: %w", out[0].Signal.Type, bank, err)
		}
		return nil, fmt.Errorf("add %d signals to bank %q: %w", len(out), bank, err)
	}
	for i := range out {
		if out[i].Excluded {
			out[i].Signal.Bank = bank
			continue
		}
		stored, err := s.st.FindSignal(ctx, bank, out[i].Signal.Type, out[i].Signal.Value)
		if err != nil {
			// Only a concurrent removal between the two calls gets here.
			return out, fmt.Errorf("read back signal %d in bank %q: %w", i, bank, err)
		}
		out[i].Signal = stored
	}
	return out, nil
}

// RemoveSignal marks a signal removed, recording why. Removal is how a
// curator corrects a false positive: the signal stays in the history and the
// change log, and stops matching. changed is false when it was already
// removed.
func (s *Service) RemoveSignal(ctx context.Context, bank string, ref SignalRef, reason string, by audit.Actor) (Signal, bool, error) {
	if err := validateChange(bank, by, reason, "the signal is removed"); err != nil {
		return Signal{}, false, err
	}
	if ref.ID == 0 {
		var err error
		if ref.Type, ref.Value, err = normalizeRef(ref.Type, ref.Value); err != nil {
			return Signal{}, false, err
		}
	} else if ref.ID < 0 {
		return Signal{}, false, fmt.Errorf("%w signal id %d", ErrInvalid, ref.ID)
	}
	sig, changed, err := s.st.RemoveSignal(ctx, bank, ref, reason, by)
	if err != nil {
		return Signal{}, false, fmt.Errorf("remove %v from bank %q: %w", ref, bank, err)
	}
	return sig, changed, nil
}

// GetSignal returns a signal by ID.
func (s *Service) GetSignal(ctx context.Context, id int64) (Signal, error) {
	sig, err := s.st.GetSignal(ctx, id)
	if err != nil {
		return Signal{}, fmt.Errorf("signal %d: %w", id, err)
	}
	return sig, nil
}

// ScanSignals streams the signals q selects; see Store.ScanSignals. Unknown
// bank names in q are an error (ErrNotFound), so a typo cannot silently
// select nothing.
func (s *Service) ScanSignals(ctx context.Context, q SignalQuery, fn func(*Signal) error) error {
	for _, name := range q.Banks {
		if _, err := s.GetBank(ctx, name); err != nil {
			return err
		}
	}
	for _, t := range q.Types {
		if !t.Valid() {
			return fmt.Errorf("%w signal type %q", ErrInvalid, t)
		}
	}
	if err := s.st.ScanSignals(ctx, q, fn); err != nil {
		return fmt.Errorf("scan signals: %w", err)
	}
	return nil
}

// Changes returns up to limit changes after sequence number since.
func (s *Service) Changes(ctx context.Context, since int64, limit int) ([]Change, error) {
	if since < 0 || limit <= 0 {
		return nil, fmt.Errorf("%w change range: since %d, limit %d", ErrInvalid, since, limit)
	}
	cs, err := s.st.Changes(ctx, since, limit)
	if err != nil {
		return nil, fmt.Errorf("changes since %d: %w", since, err)
	}
	return cs, nil
}
