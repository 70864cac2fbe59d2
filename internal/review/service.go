package review

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/history"
	"github.com/nigehban/nigehban/internal/sealed"
)

// Hit is one hit of a match request as the policy sees it.
type Hit struct {
	Bank        string
	SignalID    int64
	Type        string
	Value       string // the bank's value
	Distance    int
	Category    string
	Action      bank.Action // the bank's action
	ReviewAbove int
	Negative    bool
}

// Outcome is what the policy made of one hit.
type Outcome struct {
	// Action is the effective action: the bank's, or review when the hit
	// was queued, or log when it was suppressed or is a negative hit.
	Action bank.Action
	// Reason is set when the hit was queued; ReviewID once it is stored.
	Reason   Reason
	ReviewID int64
	// SuppressedBy names the negative bank that suppressed the hit.
	SuppressedBy string
}

// Acts reports whether the hit is acted on at once (webhooks fire).
func (o Outcome) Acts() bool {
	return o.Reason == "" && o.SuppressedBy == "" && o.Action != bank.ActionLog
}

// Policy applies the bank policy (see the package doc) to the hits of one
// request; quarantined says which signals the flood rule paused.
func Policy(hits []Hit, quarantined map[int64]bool) []Outcome {
	out := make([]Outcome, len(hits))
	negative := ""
	for _, h := range hits {
		if h.Negative {
			negative = h.Bank
			break
		}
	}
	for i, h := range hits {
		o := Outcome{Action: h.Action}
		switch {
		case h.Negative:
			o.Action = bank.ActionLog
		case negative != "":
			o.Action, o.SuppressedBy = bank.ActionLog, negative
		case quarantined[h.SignalID]:
			o.Action, o.Reason = bank.ActionReview, ReasonFlood
		case h.Action == bank.ActionReview:
			o.Reason = ReasonBank
		case h.ReviewAbove > 0 && h.Distance > h.ReviewAbove:
			o.Action, o.Reason = bank.ActionReview, ReasonDistance
		}
		out[i] = o
	}
	return out
}

// Deps is what Service needs from the database.
type Deps interface {
	Store
	bank.Store
	// Webhooks lists the banks' webhooks (action.Store).
	Webhooks(ctx context.Context) ([]action.Webhook, error)
	// AppendAudit appends an entry in a transaction of its own.
	AppendAudit(ctx context.Context, e audit.Entry) (audit.Entry, error)
}

// Service runs the queue over a store.
type Service struct {
	st    Deps
	banks *bank.Service
	keys  *sealed.Ring
	// Now is the clock (tests inject one); default time.Now.
	Now func() time.Time
	// Flood is the flood rule; the zero value turns it off.
	Flood FloodRule
	// Lease is how long a claim lasts (default 10 minutes).
	Lease time.Duration
	Log   *slog.Logger
	// Decided, if set, is told of every recorded decision after its
	// transaction (exchange feedback: a confirmation or a false positive
	// becomes an opinion for the exchange the signal came from). Its error
	// is returned with the decision, which stands.
	Decided func(ctx context.Context, it Item, d Decision, by audit.Actor) error
}

// NewService returns a service over st that seals uploader context with
// keys (nil: uploader context is refused), applying DefaultFloodRule.
func NewService(st Deps, keys *sealed.Ring) *Service {
	return &Service{st: st, banks: bank.NewService(st), keys: keys, Now: time.Now, Flood: DefaultFloodRule,
		Lease: 10 * time.Minute, Log: slog.Default()}
}

// Store returns the service's store.
func (s *Service) Store() Deps { return s.st }

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// Request is one match request's hits with the request's context.
type Request struct {
	Hits      []Hit
	Hashes    []Hash // the content's hashes
	ContentID string
	Submitter string
	Uploader  history.Uploader
	By        audit.Actor // who asked (quarantines are audited as theirs, by the rule)
}

// CheckUploader refuses uploader context that is invalid or that cannot be
// stored sealed (no data key): it wraps ErrInvalid or sealed.ErrNoKey.
func (s *Service) CheckUploader(u history.Uploader) error {
	if u.Empty() {
		return nil
	}
	if err := u.Check(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if !s.keys.Configured() {
		return fmt.Errorf("uploader context is personal data and is stored only encrypted: %w", sealed.ErrNoKey)
	}
	return nil
}

// Route applies the flood rule and the policy to a request's hits, queues
// those that need review, and returns one Outcome per hit. The match
// history must already hold the request's hits (they count toward the
// flood rule).
func (s *Service) Route(ctx context.Context, req Request) ([]Outcome, error) {
	if len(req.Hits) == 0 {
		return nil, nil
	}
	if err := s.CheckUploader(req.Uploader); err != nil {
		return nil, err
	}
	now := s.now()
	ids := make([]int64, 0, len(req.Hits))
	seen := map[int64]bool{}
	for _, h := range req.Hits {
		if h.SignalID != 0 && !seen[h.SignalID] && !h.Negative {
			seen[h.SignalID] = true
			ids = append(ids, h.SignalID)
		}
	}
	if s.Flood.Window > 0 {
		for _, h := range req.Hits {
			if !seen[h.SignalID] {
				continue
			}
			seen[h.SignalID] = false // once per signal
			recent, base, err := s.st.SignalHitCounts(ctx, h.SignalID, now.Add(-s.Flood.Window-s.Flood.Baseline), now.Add(-s.Flood.Window))
			if err != nil {
				return nil, fmt.Errorf("flood rule: %w", err)
			}
			if s.Flood.Tripped(recent, base) {
				q := Quarantine{SignalID: h.SignalID, Bank: h.Bank, Since: now, Recent: recent, Baseline: base, RenewBefore: now.Add(-s.Flood.Window)}
				paused, err := s.st.QuarantineSignal(ctx, q, audit.Actor{Name: "flood-rule", Remote: req.By.Remote})
				if err != nil {
					return nil, fmt.Errorf("flood rule: %w", err)
				}
				if paused {
					s.Log.Warn("flood quarantine: signal paused", "signal", h.SignalID, "bank", h.Bank, "recent", recent, "baseline", base)
				}
			}
		}
	}
	quarantined, err := s.st.QuarantinedSignals(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read flood quarantine: %w", err)
	}
	outs := Policy(req.Hits, quarantined)
	var items []Item
	var at []int
	for i, o := range outs {
		if o.Reason == "" {
			continue
		}
		h := req.Hits[i]
		it := Item{Ref: newRef(), CreatedAt: now, Bank: h.Bank, SignalID: h.SignalID, Type: h.Type, Value: h.Value,
			Distance: h.Distance, Category: h.Category, Reason: o.Reason, ContentID: req.ContentID,
			Submitter: req.Submitter, Hashes: req.Hashes}
		if !req.Uploader.Empty() {
			b, _ := json.Marshal(req.Uploader)
			if it.SealedUploader, err = s.keys.SealString(string(b), UploaderAD(it.Ref)); err != nil {
				return nil, fmt.Errorf("seal uploader context: %w", err)
			}
			it.HasUploader = true
			if req.Uploader.AccountID != "" {
				if it.UploaderBlind, err = s.keys.Blind(BlindPurpose, []byte(req.Uploader.AccountID)); err != nil {
					return nil, fmt.Errorf("blind uploader account: %w", err)
				}
			}
		}
		items = append(items, it)
		at = append(at, i)
	}
	if len(items) > 0 {
		stored, err := s.st.EnqueueReviews(ctx, items)
		if err != nil {
			return nil, fmt.Errorf("queue for review: %w", err)
		}
		for j, it := range stored {
			outs[at[j]].ReviewID = it.ID
		}
	}
	return outs, nil
}

func newRef() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Claim leases the next item to reviewer (escalated items too when
// escalated is set). ErrEmpty when there is none.
func (s *Service) Claim(ctx context.Context, reviewer string, escalated bool) (Item, error) {
	return s.st.ClaimReview(ctx, Claim{Reviewer: reviewer, Escalated: escalated, Now: s.now(), Lease: s.Lease})
}

// Options are what a decision does beyond recording it.
type Options struct {
	// AddTo is a bank the content's hashes are added to (confirm: any
	// bank; reject: a negative bank).
	AddTo string
	// Exclude, on reject, excludes the content's hashes from the item's
	// bank, so they are never imported into it.
	Exclude bool
}

// Decide records reviewer's decision on an item they hold. A confirmation
// queues the bank's decision.confirmed webhook event in the decision's
// transaction; then the content's hashes are added to opts.AddTo, or
// excluded from the item's bank, each audited by the bank service. When
// that second step fails the decision stands and the error says so.
func (s *Service) Decide(ctx context.Context, id int64, d Decision, comment string, opts Options, by audit.Actor) (Item, error) {
	if err := CheckVerdict(d, comment); err != nil {
		return Item{}, err
	}
	it, err := s.st.GetReview(ctx, id)
	if err != nil {
		return Item{}, err
	}
	if opts.AddTo != "" || opts.Exclude {
		if d != Confirm && d != Reject {
			return Item{}, fmt.Errorf("%w: only confirm and reject add hashes to banks", ErrInvalid)
		}
		if opts.Exclude && d != Reject {
			return Item{}, fmt.Errorf("%w: only a rejection excludes hashes", ErrInvalid)
		}
		if opts.AddTo != "" {
			b, err := s.banks.GetBank(ctx, opts.AddTo)
			if err != nil {
				return Item{}, err
			}
			if d == Reject && !b.Negative {
				return Item{}, fmt.Errorf("%w: a rejected item's hashes go to a negative bank; %q is not one", ErrInvalid, b.Name)
			}
			if d == Confirm && b.Negative {
				return Item{}, fmt.Errorf("%w: a confirmed item's hashes do not go to the negative bank %q", ErrInvalid, b.Name)
			}
		}
	}
	now := s.now()
	v := Verdict{ItemID: id, Reviewer: by.Name, Decision: d, Comment: comment, Now: now,
		Detail: map[string]any{"add_to": opts.AddTo, "exclude": opts.Exclude}}
	if d == Confirm {
		hooks, err := s.st.Webhooks(ctx)
		if err != nil {
			return Item{}, err
		}
		for _, hk := range hooks {
			if hk.Bank != it.Bank || !hk.Fires(it.Category, it.Type) {
				continue
			}
			evID := newRef()
			payload, _ := json.Marshal(map[string]any{"event_id": evID, "type": "decision.confirmed", "at": now,
				"bank": it.Bank, "review_id": it.ID, "content_id": it.ContentID, "signal_id": it.SignalID,
				"signal_type": it.Type, "distance": it.Distance, "category": it.Category, "hashes": it.Hashes,
				"reviewer": by.Name, "comment": comment})
			v.Events = append(v.Events, action.Event{Bank: it.Bank, URL: hk.URL, Secret: hk.Secret, Payload: payload})
			v.Detail["event_id"] = evID
		}
	}
	it, err = s.st.DecideReview(ctx, v, by)
	if err != nil {
		return Item{}, err
	}
	if err := s.apply(ctx, it, opts, comment, by); err != nil {
		return it, fmt.Errorf("decision recorded, but: %w", err)
	}
	if s.Decided != nil {
		if err := s.Decided(ctx, it, d, by); err != nil {
			return it, fmt.Errorf("decision recorded, but: %w", err)
		}
	}
	return it, nil
}

// apply adds or excludes a decided item's hashes.
func (s *Service) apply(ctx context.Context, it Item, opts Options, comment string, by audit.Actor) error {
	var sigs []bank.Signal
	for _, h := range it.Hashes {
		t, err := bank.ParseType(h.Type)
		if err != nil {
			continue
		}
		sigs = append(sigs, bank.Signal{Type: t, Value: h.Value, Category: it.Category,
			Source: fmt.Sprintf("review %d", it.ID), Note: comment, Quality: -1})
	}
	if opts.AddTo != "" && len(sigs) > 0 {
		if _, err := s.banks.AddSignals(ctx, opts.AddTo, sigs, by); err != nil {
			return fmt.Errorf("add hashes to bank %s: %w", opts.AddTo, err)
		}
	}
	if opts.Exclude {
		reason := fmt.Sprintf("review %d rejected: %s", it.ID, comment)
		for _, sg := range sigs {
			if _, _, err := s.banks.AddExclusion(ctx, it.Bank, sg.Type, sg.Value, reason, by); err != nil && !errors.Is(err, bank.ErrExists) {
				return fmt.Errorf("exclude %s from bank %s: %w", sg.Type, it.Bank, err)
			}
		}
	}
	return nil
}

// OpenUploader opens an item's uploader context without auditing: for
// code that passes on only what is not about the person (the preview's
// content URL). Use Uploader to show it to a person.
func (s *Service) OpenUploader(it Item) (history.Uploader, error) {
	var u history.Uploader
	if !it.HasUploader {
		return u, nil
	}
	pt, err := s.keys.OpenString(it.SealedUploader, UploaderAD(it.Ref))
	if err != nil {
		return u, fmt.Errorf("open uploader context of review %d: %w", it.ID, err)
	}
	if err := json.Unmarshal([]byte(pt), &u); err != nil {
		return u, fmt.Errorf("uploader context of review %d: %w", it.ID, err)
	}
	return u, nil
}

// Uploader opens an item's uploader context for a person allowed to see
// it, and audits the view (ActUploaderView) before returning it.
func (s *Service) Uploader(ctx context.Context, it Item, by audit.Actor) (history.Uploader, error) {
	u, err := s.OpenUploader(it)
	if err != nil || !it.HasUploader {
		return u, err
	}
	if _, err := s.st.AppendAudit(ctx, by.Entry(ActUploaderView, fmt.Sprintf("review:%d", it.ID), nil)); err != nil {
		return history.Uploader{}, err
	}
	return u, nil
}

// SameUploader returns up to limit other items of an item's uploader
// (by the blind index of the account id).
func (s *Service) SameUploader(ctx context.Context, it Item, limit int) ([]Item, error) {
	if len(it.UploaderBlind) == 0 {
		return nil, nil
	}
	return s.st.ReviewsByUploader(ctx, it.UploaderBlind, it.ID, limit)
}

// Lift ends a signal's flood quarantine (curators), audited.
func (s *Service) Lift(ctx context.Context, signalID int64, by audit.Actor) error {
	return s.st.LiftQuarantine(ctx, signalID, s.now(), by)
}

// Banks returns the bank service the review queue adds hashes with.
func (s *Service) Banks() *bank.Service { return s.banks }
