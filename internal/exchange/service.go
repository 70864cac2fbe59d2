package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/sealed"
)

// Service is what the CLI, the API and background jobs use: exchanges with
// their credentials sealed, fetches, and the opinion outbox.
type Service struct {
	St    Store
	Banks bank.Store
	// Keys seal credentials; without a key, exchanges with credentials are
	// refused (sealed.ErrNoKey).
	Keys *sealed.Ring
	// HTTP is the client adapters use (http.DefaultClient if nil).
	HTTP *http.Client
	Log  *slog.Logger
	// NewAdapter builds the adapter of an exchange (the package's
	// NewAdapter if nil; tests swap it).
	NewAdapter func(x Exchange, c *http.Client) (Adapter, error)
}

func credentialsAD(name string) string { return "exchange|credentials|" + name }

// Add validates and stores a new exchange; its credentials are sealed.
func (s *Service) Add(ctx context.Context, x Exchange, by audit.Actor) (Exchange, error) {
	if err := x.Validate(); err != nil {
		return Exchange{}, err
	}
	if _, err := s.Banks.GetBank(ctx, x.Bank); err != nil {
		return Exchange{}, fmt.Errorf("exchange %s: bank %q: %w", x.Name, x.Bank, err)
	}
	if len(x.Credentials) > 0 {
		if !s.Keys.Configured() {
			return Exchange{}, fmt.Errorf("exchange %s: credentials are stored sealed: %w", x.Name, sealed.ErrNoKey)
		}
		b, _ := json.Marshal(x.Credentials)
		var err error
		if x.SealedCredentials, err = s.Keys.SealString(string(b), credentialsAD(x.Name)); err != nil {
			return Exchange{}, fmt.Errorf("exchange %s: seal credentials: %w", x.Name, err)
		}
	}
	out, err := s.St.CreateExchange(ctx, x, by)
	if err != nil {
		return Exchange{}, fmt.Errorf("add exchange %s: %w", x.Name, err)
	}
	return out, nil
}

// Open returns the named exchange with its credentials opened.
func (s *Service) Open(ctx context.Context, name string) (Exchange, error) {
	x, err := s.St.GetExchange(ctx, name)
	if err != nil {
		return Exchange{}, fmt.Errorf("exchange %s: %w", name, err)
	}
	if x.SealedCredentials != "" {
		plain, err := s.Keys.OpenString(x.SealedCredentials, credentialsAD(x.Name))
		if err != nil {
			return Exchange{}, fmt.Errorf("exchange %s: open credentials: %w", name, err)
		}
		if err := json.Unmarshal([]byte(plain), &x.Credentials); err != nil {
			return Exchange{}, fmt.Errorf("exchange %s: credentials: %w", name, err)
		}
	}
	return x, nil
}

// Adapter returns the adapter of the named exchange.
func (s *Service) Adapter(ctx context.Context, name string) (Adapter, error) {
	x, err := s.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	c := s.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	mk := s.NewAdapter
	if mk == nil {
		mk = NewAdapter
	}
	return mk(x, c)
}

// Fetch runs one fetch of the named exchange with sy's settings (sy.Store
// and sy.Banks default to the service's).
func (s *Service) Fetch(ctx context.Context, name string, sy Syncer) (Result, error) {
	ad, err := s.Adapter(ctx, name)
	if err != nil {
		return Result{}, err
	}
	if sy.Store == nil {
		sy.Store = s.St
	}
	if sy.Banks == nil {
		sy.Banks = s.Banks
	}
	if sy.Log == nil {
		sy.Log = s.Log
	}
	return sy.Fetch(ctx, name, ad)
}

// Feedback turns a review decision about a stored signal into an opinion
// for the exchange the signal came from, queued in the outbox (the review
// queue calls it on confirm and false positive). decision identifies the
// decision (e.g. "review:123"): the same decision queues one opinion,
// however often it is given. A signal that came from no exchange returns
// queued false and no error.
func (s *Service) Feedback(ctx context.Context, sig bank.Signal, v Verdict, decision string, by audit.Actor) (queued bool, err error) {
	if !v.Valid() {
		return false, fmt.Errorf("%w verdict %q", ErrInvalid, v)
	}
	if decision == "" {
		return false, fmt.Errorf("%w: a decision id is required", ErrInvalid)
	}
	name := sig.Extra[MetaExchange]
	if name == "" {
		return false, nil
	}
	x, err := s.St.GetExchange(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return false, nil // the exchange was deleted since
	}
	if err != nil {
		return false, fmt.Errorf("exchange %s: %w", name, err)
	}
	if !TakesFeedback(x.Kind) {
		return false, nil
	}
	op := Opinion{Exchange: name, SignalID: sig.ID, EntryID: sig.Extra[MetaEntry], Member: sig.Extra[MetaMember],
		Type: sig.Type, Value: sig.Value, Verdict: v, Decision: decision}
	created, err := s.St.QueueOpinion(ctx, op, by)
	if err != nil {
		return false, fmt.Errorf("queue opinion for exchange %s: %w", name, err)
	}
	return created, nil
}

// TakesFeedback reports whether exchanges of kind k accept opinions.
func TakesFeedback(k Kind) bool {
	return k == KindNCMEC || k == KindStopNCII
}

// Backoff returns the wait before attempt n+1 of an opinion (n ≥ 1):
// 10 s doubling, at most an hour.
func Backoff(n int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// Deliver sends the due opinions of the outbox, each to its exchange, and
// returns how many were accepted. An opinion is marked sent only after the
// exchange accepted it; adapters pass Opinion.Decision as an idempotency key
// so a resend after a crash between the two is not counted twice.
func (s *Service) Deliver(ctx context.Context, now time.Time) (int, error) {
	ops, err := s.St.DueOpinions(ctx, now, 100)
	if err != nil {
		return 0, fmt.Errorf("opinions due: %w", err)
	}
	adapters := map[string]Adapter{}
	sent := 0
	var errs []error
	for _, op := range ops {
		ad, ok := adapters[op.Exchange]
		if !ok {
			if ad, err = s.Adapter(ctx, op.Exchange); err != nil {
				errs = append(errs, err)
				continue
			}
			adapters[op.Exchange] = ad
		}
		if err := ad.Report(ctx, op); err != nil {
			next := now.Add(Backoff(op.Attempts + 1))
			var re *RetryError
			if errors.As(err, &re) {
				next = now.Add(max(re.After, Backoff(op.Attempts+1)))
			}
			if ferr := s.St.OpinionFailed(ctx, op.ID, err.Error(), next); ferr != nil {
				return sent, ferr
			}
			errs = append(errs, fmt.Errorf("opinion %d to %s: %w", op.ID, op.Exchange, err))
			continue
		}
		if err := s.St.OpinionSent(ctx, op.ID, now); err != nil {
			return sent, err
		}
		sent++
	}
	return sent, errors.Join(errs...)
}
