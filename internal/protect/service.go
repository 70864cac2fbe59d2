package protect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/hashlist"
	"github.com/nigehban/nigehban/internal/variant"
)

// Config tunes the service; zero fields take the defaults.
type Config struct {
	// Difficulty is the proof of work a submission needs, in leading zero
	// bits of a SHA-256 (default 18: about a second on a cheap phone).
	Difficulty int
	// ProofKey signs challenges (default: random per process). Replicas
	// behind one load balancer need the same key.
	ProofKey []byte
	// ProofTTL is how long a challenge stays valid (default 10 minutes).
	ProofTTL time.Duration
	// SubmitsPerHour bounds submissions per client address (default 10).
	SubmitsPerHour int
	// ChecksPerHour bounds failed status and withdrawal attempts (wrong or
	// unknown number, wrong PIN) per client address (default 20).
	ChecksPerHour int
	// LockAfter wrong PINs lock a case for LockFor (default 5, 1 hour).
	LockAfter int
	LockFor   time.Duration
	// MaxSignals bounds the hashes of one case (default 2000).
	MaxSignals int
	// KDF hashes PINs (default account.DefaultKDF, argon2id).
	KDF account.KDF
	// Log receives warnings (default slog.Default()).
	Log *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Difficulty <= 0 {
		c.Difficulty = 18
	}
	if c.ProofTTL <= 0 {
		c.ProofTTL = 10 * time.Minute
	}
	if c.SubmitsPerHour <= 0 {
		c.SubmitsPerHour = 10
	}
	if c.ChecksPerHour <= 0 {
		c.ChecksPerHour = 20
	}
	if c.LockAfter <= 0 {
		c.LockAfter = 5
	}
	if c.LockFor <= 0 {
		c.LockFor = time.Hour
	}
	if c.MaxSignals <= 0 {
		c.MaxSignals = 2000
	}
	if c.KDF == (account.KDF{}) {
		c.KDF = account.DefaultKDF
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// Service runs cases: submission, status, withdrawal. Safe for concurrent
// use.
type Service struct {
	st     Store
	banks  *bank.Service
	cfg    Config
	prover *prover
	submit *limiter
	checks *limiter

	hashing   chan struct{} // one slot per core for argon2id
	dummyOnce sync.Once
	dummy     string
}

// NewService returns a Service over st, adding hashes through banks.
func NewService(st Store, banks *bank.Service, cfg Config) *Service {
	cfg = cfg.withDefaults()
	return &Service{st: st, banks: banks, cfg: cfg, prover: newProver(cfg.ProofKey, cfg.Difficulty, cfg.ProofTTL),
		submit:  newLimiter(cfg.SubmitsPerHour, time.Hour),
		checks:  newLimiter(cfg.ChecksPerHour, time.Hour),
		hashing: make(chan struct{}, 2)}
}

// LimitError is ErrLimited with the time to wait.
type LimitError struct {
	RetryAfter time.Duration
	What       string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("too many %s from this address: try again in %s", e.What, e.RetryAfter.Round(time.Second))
}

// Unwrap makes errors.Is(err, ErrLimited) true.
func (e *LimitError) Unwrap() error { return ErrLimited }

// Challenge issues a proof-of-work challenge for one submission.
func (s *Service) Challenge() Challenge { return s.prover.issue(time.Now()) }

// Signal is one submitted hash: type md5, sha1, sha256, pdq or vpdq, its
// value, and for PDQ the quality (0..100). A bank-side variant (a PDQ hash
// of a central crop of the image, variant.CentralCrops) names its crop in
// Variant ("crop90") and its parent, the image's own PDQ hash submitted
// beside it, in Of; it is stored linked to the parent as `nigehban hash
// --bank-variants` and bank import store crops.
type Signal struct {
	Type    string `json:"type"`
	Value   string `json:"value"`
	Quality *int   `json:"quality,omitempty"`
	Variant string `json:"variant,omitempty"`
	Of      string `json:"of,omitempty"`
}

// Submission is what the page sends: hashes, the optional age and
// category the person chose, and the solved challenge. Nothing else.
type Submission struct {
	Signals  []Signal `json:"signals"`
	Age      string   `json:"age,omitempty"`
	Category string   `json:"category,omitempty"`
	Proof    Proof    `json:"proof"`
}

// Receipt is the answer to a submission: shown once, never recoverable.
type Receipt struct {
	Number  string `json:"number"` // formatted in groups of four
	PIN     string `json:"pin"`
	Hashes  int    `json:"hashes"`  // hashes now in the bank for this case
	Refused int    `json:"refused"` // hashes the bank excludes (removed earlier)
}

// Status is what a case number and PIN show.
type Status struct {
	Number    string         `json:"number"`
	State     string         `json:"state"` // "active" or "withdrawn"
	Submitted string         `json:"submitted"`
	Withdrawn string         `json:"withdrawn,omitempty"`
	Hashes    map[string]int `json:"hashes"` // active hashes by type
}

func (s *Service) validate(sub *Submission) ([]bank.Signal, error) {
	if !slices.Contains(Ages, sub.Age) {
		return nil, fmt.Errorf("%w: age %q: want one of %q", ErrInvalid, sub.Age, Ages[1:])
	}
	if !slices.Contains(Categories, sub.Category) {
		return nil, fmt.Errorf("%w: category %q: want one of %q", ErrInvalid, sub.Category, Categories[1:])
	}
	if len(sub.Signals) == 0 || len(sub.Signals) > s.cfg.MaxSignals {
		return nil, fmt.Errorf("%w: %d hashes: give 1 to %d", ErrInvalid, len(sub.Signals), s.cfg.MaxSignals)
	}
	seen := map[string]bool{}
	parents := map[string]bool{} // plain PDQ hashes: what variants may name as parent
	for _, in := range sub.Signals {
		if t, err := bank.ParseType(in.Type); err == nil && t == bank.PDQ && in.Variant == "" && in.Of == "" {
			if v, err := bank.NormalizeValue(bank.PDQ, in.Value); err == nil {
				parents[v] = true
			}
		}
	}
	var out []bank.Signal
	for i, in := range sub.Signals {
		t, err := bank.ParseType(in.Type)
		if err != nil {
			return nil, fmt.Errorf("%w: hash %d: %v", ErrInvalid, i, err)
		}
		v, err := bank.NormalizeValue(t, in.Value)
		if err != nil {
			return nil, fmt.Errorf("%w: hash %d: %v", ErrInvalid, i, err)
		}
		q := -1
		if in.Quality != nil {
			if t != bank.PDQ || *in.Quality < 0 || *in.Quality > 100 {
				return nil, fmt.Errorf("%w: hash %d: a quality (0..100) goes with PDQ hashes only", ErrInvalid, i)
			}
			q = *in.Quality
		}
		var extra map[string]string
		if in.Variant != "" || in.Of != "" {
			if extra, err = variantExtra(t, in, parents); err != nil {
				return nil, fmt.Errorf("%w: hash %d: %v", ErrInvalid, i, err)
			}
			k := extra[hashlist.ExtraVariantOf] + ":" + in.Variant
			if seen[k] {
				return nil, fmt.Errorf("%w: hash %d: two %s crops of one image", ErrInvalid, i, in.Variant)
			}
			seen[k] = true
		}
		if k := string(t) + ":" + v; !seen[k] {
			seen[k] = true
			out = append(out, bank.Signal{Type: t, Value: v, Quality: q, Category: sub.Category, Source: "protect", Extra: extra})
		}
	}
	return out, nil
}

// cropNames are the bank-side variants a submission may carry.
var cropNames = func() map[string]bool {
	m := map[string]bool{}
	for _, p := range variant.CropScales {
		m[fmt.Sprintf("crop%d", p)] = true
	}
	return m
}()

// variantExtra checks a bank-side variant and returns the Extra that links
// it to its parent: a central crop of an image whose own PDQ hash (a plain
// PDQ signal of the same submission) is the parent.
func variantExtra(t bank.Type, in Signal, parents map[string]bool) (map[string]string, error) {
	if t != bank.PDQ || !cropNames[in.Variant] {
		return nil, fmt.Errorf("variant %q of a %s hash: want a PDQ central crop (crop%d … crop%d)",
			in.Variant, t, variant.CropScales[0], variant.CropScales[len(variant.CropScales)-1])
	}
	of, err := bank.NormalizeValue(bank.PDQ, in.Of)
	if err != nil || !parents[of] {
		return nil, fmt.Errorf("variant %s: its parent %q is not a PDQ hash of this submission", in.Variant, in.Of)
	}
	return map[string]string{hashlist.ExtraVariant: in.Variant, hashlist.ExtraVariantOf: of}, nil
}

// ensureBank creates the victim-submitted bank on first use: review only.
func (s *Service) ensureBank(ctx context.Context) error {
	if _, err := s.banks.GetBank(ctx, VictimBank); err == nil {
		return nil
	} else if !errors.Is(err, bank.ErrNotFound) {
		return err
	}
	b := bank.NewBank(VictimBank)
	b.Description = "Hashes people submitted of their own images through /protect: unverified, so matches go to human review, never automatic action."
	// POLICY: the bank's policy must be review (bank.PolicyReview) once
	// bank policies exist; ActionReview is the default action until then.
	b.Action = bank.ActionReview
	_, err := s.banks.CreateBank(ctx, b, audit.Actor{Name: Actor})
	if errors.Is(err, bank.ErrExists) {
		return nil // another request or replica created it first
	}
	return err
}

// Submit stores a case: the hashes go into the victim-submitted bank and
// the person gets a case number and PIN. remote is the client's address,
// used for the rate limit only and never stored.
func (s *Service) Submit(ctx context.Context, sub Submission, remote string) (Receipt, error) {
	now := time.Now()
	if wait, ok := s.submit.take(remote, now); !ok {
		return Receipt{}, &LimitError{RetryAfter: wait, What: "submissions"}
	}
	sigs, err := s.validate(&sub)
	if err != nil {
		return Receipt{}, err
	}
	if err := s.prover.verify(sub.Proof, now); err != nil {
		return Receipt{}, err
	}
	if err := s.ensureBank(ctx); err != nil {
		return Receipt{}, fmt.Errorf("victim bank: %w", err)
	}
	var ids []int64
	refused := 0
	for chunk := range slices.Chunk(sigs, bank.MaxAddBatch) {
		out, err := s.banks.AddSignals(ctx, VictimBank, chunk, audit.Actor{Name: Actor})
		if err != nil {
			return Receipt{}, fmt.Errorf("add hashes: %w", err)
		}
		for _, o := range out {
			if o.Excluded {
				refused++
				continue
			}
			ids = append(ids, o.Signal.ID)
		}
	}
	pin, err := NewPIN()
	if err != nil {
		return Receipt{}, err
	}
	ph, err := s.hashPIN(ctx, pin)
	if err != nil {
		return Receipt{}, err
	}
	for range 5 {
		number, err := NewNumber()
		if err != nil {
			return Receipt{}, err
		}
		c := Case{Number: number, PINHash: ph, Age: sub.Age, Category: sub.Category}
		e := AuditEntry{Action: ActCaseCreate, Detail: map[string]any{"hashes": len(ids), "refused": refused}}
		err = s.st.CreateProtectCase(ctx, c, ids, e)
		if errors.Is(err, ErrExists) {
			continue
		}
		if err != nil {
			return Receipt{}, fmt.Errorf("store case: %w", err)
		}
		return Receipt{Number: FormatNumber(number), PIN: pin, Hashes: len(ids), Refused: refused}, nil
	}
	return Receipt{}, fmt.Errorf("store case: no free case number after 5 draws")
}

func (s *Service) hashPIN(ctx context.Context, pin string) (string, error) {
	if err := s.slot(ctx); err != nil {
		return "", err
	}
	defer func() { <-s.hashing }()
	return s.cfg.KDF.HashPassword(pin)
}

func (s *Service) slot(ctx context.Context) error {
	select {
	case s.hashing <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// authenticate checks number and PIN, counting failures per address and
// per case. Unknown numbers cost the same time as known ones.
func (s *Service) authenticate(ctx context.Context, number, pin, remote string) (Case, error) {
	now := time.Now()
	if wait, blocked := s.checks.empty(remote, now); blocked {
		return Case{}, &LimitError{RetryAfter: wait, What: "failed attempts"}
	}
	fail := func(err error) (Case, error) {
		s.checks.take(remote, now)
		return Case{}, err
	}
	n, perr := ParseNumber(number)
	p, ok := normalizeDigits(pin, PINDigits)
	c, err := Case{}, perr
	if perr == nil {
		c, err = s.st.ProtectCase(ctx, n)
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Case{}, fmt.Errorf("read case: %w", err)
	}
	if c.LockedUntil != nil && now.Before(*c.LockedUntil) {
		return Case{}, &LimitError{RetryAfter: c.LockedUntil.Sub(now), What: "wrong PINs for this case"}
	}
	hash := c.PINHash
	if hash == "" {
		s.dummyOnce.Do(func() { s.dummy, _ = s.cfg.KDF.HashPassword("no case has this PIN") })
		hash = s.dummy
	}
	if err := s.slot(ctx); err != nil {
		return Case{}, err
	}
	match := account.VerifyPassword(hash, p) && ok && len(p) == PINDigits
	<-s.hashing
	if err != nil {
		return fail(fmt.Errorf("case %s: %w", number, ErrNotFound))
	}
	if _, rerr := s.st.RecordProtectPIN(ctx, n, match, s.cfg.LockAfter, now.Add(s.cfg.LockFor)); rerr != nil {
		return Case{}, fmt.Errorf("record PIN check: %w", rerr)
	}
	if !match {
		return fail(fmt.Errorf("case %s: %w", FormatNumber(n), ErrWrongPIN))
	}
	return c, nil
}

// Status shows a case to whoever has its number and PIN.
func (s *Service) Status(ctx context.Context, number, pin, remote string) (Status, error) {
	c, err := s.authenticate(ctx, number, pin, remote)
	if err != nil {
		return Status{}, err
	}
	return s.status(ctx, c)
}

func (s *Service) status(ctx context.Context, c Case) (Status, error) {
	st := Status{Number: FormatNumber(c.Number), State: "active", Submitted: c.CreatedAt.UTC().Format(time.DateOnly), Hashes: map[string]int{}}
	if c.WithdrawnAt != nil {
		// Hashes another case also submitted stay in the bank; whether
		// there are any is that other person's business.
		st.State, st.Withdrawn = "withdrawn", c.WithdrawnAt.UTC().Format(time.DateOnly)
		return st, nil
	}
	all, _, err := s.st.ProtectCaseSignals(ctx, c.Number)
	if err != nil {
		return st, fmt.Errorf("case hashes: %w", err)
	}
	for _, id := range all {
		sig, err := s.banks.GetSignal(ctx, id)
		if err != nil {
			return st, err
		}
		if sig.RemovedAt == nil {
			st.Hashes[string(sig.Type)]++
		}
	}
	return st, nil
}

// Withdraw withdraws a case: its hashes leave the bank at once (a hash
// another active case also submitted stays), recorded in the change log as
// removals that replicas and partners apply. Withdrawing twice is harmless.
func (s *Service) Withdraw(ctx context.Context, number, pin, remote string) (Status, error) {
	c, err := s.authenticate(ctx, number, pin, remote)
	if err != nil {
		return Status{}, err
	}
	if c.WithdrawnAt == nil {
		_, only, err := s.st.ProtectCaseSignals(ctx, c.Number)
		if err != nil {
			return Status{}, fmt.Errorf("case hashes: %w", err)
		}
		removed := 0
		for _, id := range only {
			_, changed, err := s.banks.RemoveSignal(ctx, VictimBank, bank.SignalRef{ID: id},
				"withdrawn by the person who submitted it", audit.Actor{Name: Actor})
			if err != nil && !errors.Is(err, bank.ErrNotFound) {
				return Status{}, fmt.Errorf("withdraw hashes: %w", err)
			}
			if changed {
				removed++
			}
		}
		e := AuditEntry{Action: ActCaseWithdraw, Detail: map[string]any{"removed": removed}}
		if _, err := s.st.WithdrawProtectCase(ctx, c.Number, e); err != nil {
			return Status{}, fmt.Errorf("withdraw case: %w", err)
		}
		if c, err = s.st.ProtectCase(ctx, c.Number); err != nil {
			return Status{}, fmt.Errorf("read case: %w", err)
		}
	}
	return s.status(ctx, c)
}
