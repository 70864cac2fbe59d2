package exchange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/review"
	"github.com/nigehban/nigehban/internal/sealed"
)

// ReviewHook is the review queue's Decided hook over a store: the exchange
// feedback of ReviewFeedback when st also keeps exchanges, nil otherwise.
// The API and the console install it on their review services.
func ReviewHook(st bank.Store, keys *sealed.Ring, log *slog.Logger) func(context.Context, review.Item, review.Decision, audit.Actor) error {
	xs, ok := st.(Store)
	if !ok {
		return nil
	}
	return (&Service{St: xs, Banks: st, Keys: keys, Log: log}).ReviewFeedback()
}

// ReviewFeedback returns the review queue's Decided hook: a confirmation
// becomes a true-positive opinion, a rejection a false positive, for the
// exchange the matched signal came from (once per decision: the decision
// id is "review:ID"); escalations and skips say nothing yet.
func (s *Service) ReviewFeedback() func(context.Context, review.Item, review.Decision, audit.Actor) error {
	return func(ctx context.Context, it review.Item, d review.Decision, by audit.Actor) error {
		var v Verdict
		switch d {
		case review.Confirm:
			v = TruePositive
		case review.Reject:
			v = FalsePositive
		default:
			return nil
		}
		sig, err := s.Banks.GetSignal(ctx, it.SignalID)
		if errors.Is(err, bank.ErrNotFound) {
			return nil // removed since: nobody to tell
		}
		if err != nil {
			return fmt.Errorf("exchange feedback: %w", err)
		}
		if _, err := s.Feedback(ctx, sig, v, "review:"+strconv.FormatInt(it.ID, 10), by); err != nil {
			return fmt.Errorf("exchange feedback: %w", err)
		}
		return nil
	}
}
