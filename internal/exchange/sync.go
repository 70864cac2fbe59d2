package exchange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
)

// Syncer fetches exchanges into their banks.
type Syncer struct {
	Store Store
	// Banks is read to find what a snapshot (a whole list) no longer holds.
	Banks bank.Store
	// By is the actor of the changes ("exchange:<name>" if zero).
	By audit.Actor
	// Log receives one line per page and per failure (slog.Default if nil).
	Log *slog.Logger
	// Progress, if set, is called after each committed page with the
	// entries applied so far in this fetch.
	Progress func(applied int64)
	// MaxRetries bounds the rate-limit waits of one fetch (default 5);
	// MaxWait caps one wait (default 5 minutes).
	MaxRetries int
	MaxWait    time.Duration
	// OnAdded, if set, is called after each committed page with the
	// signals it added (retroactive matching hooks in here).
	OnAdded func(ctx context.Context, bankName string, sigs []bank.Signal)
	// Now returns the time (time.Now if nil).
	Now func() time.Time
}

// Result is the outcome of one Fetch.
type Result struct {
	Pages   int     `json:"pages"`
	Applied Applied `json:"applied"`
	Invalid int     `json:"invalid"` // entries whose hash was not valid, skipped
	Reset   bool    `json:"reset"`   // the checkpoint was stale and started over
	From    int64   `json:"from"`
	To      int64   `json:"to"`
}

func (s *Syncer) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Syncer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Fetch brings the exchange's bank up to date: pages from the committed
// checkpoint until the adapter has no more, each committed with its
// checkpoint. It records progress and the last error on the exchange.
func (s *Syncer) Fetch(ctx context.Context, name string, ad Adapter) (Result, error) {
	var res Result
	x, err := s.Store.GetExchange(ctx, name)
	if err != nil {
		return res, fmt.Errorf("exchange %s: %w", name, err)
	}
	if !x.Enabled {
		return res, fmt.Errorf("exchange %s: %w", name, ErrDisabled)
	}
	by := s.By
	if by.Name == "" {
		by = audit.Actor{Name: "exchange:" + name}
	}
	if x.StaleAfter > 0 && x.Checkpoint.Pos != 0 && (x.State.LastOKAt == nil || s.now().Sub(*x.State.LastOKAt) > x.StaleAfter) {
		reason := fmt.Sprintf("no successful fetch for more than %s: refetch from scratch", x.StaleAfter)
		if err := s.Store.ResetCheckpoint(ctx, name, reason, by); err != nil {
			return res, fmt.Errorf("exchange %s: reset stale checkpoint: %w", name, err)
		}
		x.Checkpoint = Checkpoint{}
		res.Reset = true
		s.log().Info("exchange checkpoint stale, refetching", "exchange", name, "stale_after", x.StaleAfter)
	}
	if err := s.Store.RecordFetch(ctx, name, true, 0, "", false); err != nil {
		return res, fmt.Errorf("exchange %s: %w", name, err)
	}
	res.From = x.Checkpoint.Pos
	res.To = x.Checkpoint.Pos
	err = s.fetch(ctx, x, ad, by, &res)
	errText := ""
	if err != nil {
		errText = err.Error()
		s.log().Warn("exchange fetch failed", "exchange", name, "err", err)
	}
	if rerr := s.Store.RecordFetch(context.WithoutCancel(ctx), name, false, 0, errText, true); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return res, fmt.Errorf("exchange %s: %w", name, err)
	}
	return res, nil
}

func (s *Syncer) fetch(ctx context.Context, x Exchange, ad Adapter, by audit.Actor, res *Result) error {
	maxRetries, maxWait := s.MaxRetries, s.MaxWait
	if maxRetries == 0 {
		maxRetries = 5
	}
	if maxWait == 0 {
		maxWait = 5 * time.Minute
	}
	retries := 0
	var applied int64
	for {
		page, err := ad.Fetch(ctx, x.Checkpoint)
		var re *RetryError
		if errors.As(err, &re) && retries < maxRetries {
			retries++
			wait := min(max(re.After, time.Second/10), maxWait)
			s.log().Info("exchange asks to wait", "exchange", x.Name, "wait", wait, "err", re.Err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			continue
		}
		if err != nil {
			return err
		}
		retries = 0
		if page.NotModified {
			return nil
		}
		n, err := s.apply(ctx, x, page, by, res)
		if err != nil {
			return err
		}
		res.Pages++
		applied += n
		x.Checkpoint = page.Next
		res.To = page.Next.Pos
		if s.Progress != nil {
			s.Progress(applied)
		}
		if !page.More {
			return nil
		}
	}
}

// step is a run of entries applied together: adds, or withdrawals.
type step struct {
	adds     []bank.Signal
	withdraw []bank.SignalRef
	entries  []string // withdrawn by entry id
}

// apply commits one page with its checkpoint.
func (s *Syncer) apply(ctx context.Context, x Exchange, page Page, by audit.Actor, res *Result) (int64, error) {
	var steps []step
	var added []bank.Signal
	cur := func() *step {
		if len(steps) == 0 {
			steps = append(steps, step{})
		}
		return &steps[len(steps)-1]
	}
	seen := map[bank.SignalRef]bool{}
	invalid := 0
	for _, e := range page.Entries {
		if e.Deleted && e.Signal.Value == "" && e.ID != "" {
			if len(cur().adds) > 0 {
				steps = append(steps, step{})
			}
			cur().entries = append(cur().entries, e.ID)
			continue
		}
		sig := e.Signal
		if err := sig.Normalize(); err != nil {
			invalid++
			continue
		}
		ref := bank.SignalRef{Type: sig.Type, Value: sig.Value}
		if page.Snapshot {
			seen[ref] = true
		}
		if e.Deleted || e.Update {
			if len(cur().adds) > 0 {
				steps = append(steps, step{})
			}
			cur().withdraw = append(cur().withdraw, ref)
			if e.Deleted {
				continue
			}
		}
		if (len(cur().withdraw) > 0 || len(cur().entries) > 0) && !e.Update {
			steps = append(steps, step{})
		}
		s.tag(&sig, x.Name, e)
		cur().adds = append(cur().adds, sig)
	}
	if page.Snapshot {
		var gone []bank.SignalRef
		err := s.Banks.ScanSignals(ctx, bank.SignalQuery{Banks: []string{x.Bank}}, func(sg *bank.Signal) error {
			ref := bank.SignalRef{Type: sg.Type, Value: sg.Value}
			if sg.Extra[MetaExchange] == x.Name && !seen[ref] {
				gone = append(gone, ref)
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("read bank %s: %w", x.Bank, err)
		}
		if len(gone) > 0 {
			steps = append(steps, step{withdraw: gone})
		}
	}
	var a Applied
	detail := map[string]any{"entries": len(page.Entries)}
	err := s.Store.ApplyPage(ctx, x.Name, x.Checkpoint, page.Next, by, detail, func(w Writer) error {
		a = Applied{}
		added = added[:0]
		if upd, err := s.updates(ctx, w, x, page); err != nil {
			return err
		} else if len(upd) > 0 {
			n, err := w.Withdraw(ctx, upd, "updated by exchange "+x.Name)
			if err != nil {
				return err
			}
			a.Withdrawn += n
		}
		for _, st := range steps {
			if len(st.withdraw) > 0 {
				n, err := w.Withdraw(ctx, st.withdraw, "withdrawn by exchange "+x.Name)
				if err != nil {
					return err
				}
				a.Withdrawn += n
			}
			if len(st.entries) > 0 {
				n, err := w.WithdrawEntries(ctx, st.entries, "withdrawn by exchange "+x.Name)
				if err != nil {
					return err
				}
				a.Withdrawn += n
			}
			for i := 0; i < len(st.adds); i += 5000 {
				batch := st.adds[i:min(i+5000, len(st.adds))]
				n, err := w.Add(ctx, batch)
				if err != nil {
					return err
				}
				a.Added += n.Added
				a.Unchanged += n.Unchanged
				a.Excluded += n.Excluded
				if s.OnAdded != nil && n.Added > 0 {
					added = append(added, batch...)
				}
			}
		}
		detail["result"] = a
		return nil
	})
	if err != nil {
		return 0, err
	}
	res.Invalid += invalid
	res.Applied.Added += a.Added
	res.Applied.Unchanged += a.Unchanged
	res.Applied.Excluded += a.Excluded
	res.Applied.Withdrawn += a.Withdrawn
	s.log().Debug("exchange page applied", "exchange", x.Name, "entries", len(page.Entries), "to", page.Next.Pos,
		"added", a.Added, "withdrawn", a.Withdrawn)
	if s.OnAdded != nil && len(added) > 0 {
		s.OnAdded(ctx, x.Bank, added)
	}
	return int64(a.Added + a.Withdrawn), nil
}

// tag sets the source and the exchange's metadata on sig.
func (s *Syncer) tag(sig *bank.Signal, name string, e Entry) {
	sig.Source = "exchange:" + name
	if sig.Extra == nil {
		sig.Extra = map[string]string{}
	}
	sig.Extra[MetaExchange] = name
	if e.ID != "" {
		sig.Extra[MetaEntry] = e.ID
	}
	if e.Member != "" {
		sig.Extra[MetaMember] = e.Member
	}
	if e.Class != "" {
		sig.Extra[MetaClass] = e.Class
		if sig.Category == "" {
			sig.Category = e.Class
		}
	}
}
