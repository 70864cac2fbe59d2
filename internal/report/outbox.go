package report

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/report/cybertip"
)

// ErrNoContent is what a ContentSource returns for an item whose bytes it
// does not hand over: the file is then described in the report only.
var ErrNoContent = errors.New("no content for this item")

// ContentSource hands the Submitter the bytes of an item's file to upload
// to NCMEC (the platform's storage, or a legal hold it controls). The
// service itself keeps no content.
type ContentSource interface {
	Content(ctx context.Context, caseID int64, it Item) ([]byte, error)
}

// CyberTipConfig is the sealed CyberTipline configuration: the endpoint,
// the credentials and the reporting platform.
type CyberTipConfig struct {
	URL      string `json:"url"` // cybertip.ProductionURL, cybertip.TestURL or a test server
	Username string `json:"username"`
	Password string `json:"password"`
	ESP      ESP    `json:"esp"`
}

const secretCyberTip = "cybertip"

// SaveCyberTip seals and stores the CyberTipline configuration (the
// password never in clear in the database), audited without the secret.
func (s *Service) SaveCyberTip(ctx context.Context, actor audit.Actor, cfg CyberTipConfig) error {
	switch {
	case cfg.URL == "" || cfg.Username == "" || cfg.Password == "":
		return fmt.Errorf("%w: cybertip url, username and password are required", ErrInvalid)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	v, err := s.Keys.SealString(string(b), "report|secret|"+secretCyberTip)
	if err != nil {
		return fmt.Errorf("CyberTipline credentials: %w", err)
	}
	env := "custom"
	switch cfg.URL {
	case cybertip.ProductionURL:
		env = "production"
	case cybertip.TestURL:
		env = "test"
	}
	return s.Store.PutSecret(ctx, secretCyberTip, v, actor.Entry(ActCreds, "report:cybertip",
		map[string]string{"environment": env, "url": cfg.URL, "username": cfg.Username}))
}

// LoadCyberTip opens the stored CyberTipline configuration.
func (s *Service) LoadCyberTip(ctx context.Context) (CyberTipConfig, error) {
	var cfg CyberTipConfig
	v, err := s.Store.GetSecret(ctx, secretCyberTip)
	if err != nil {
		return cfg, fmt.Errorf("CyberTipline is not configured (nigehban report cybertip set): %w", err)
	}
	pt, err := s.Keys.OpenString(v, "report|secret|"+secretCyberTip)
	if err != nil {
		return cfg, fmt.Errorf("CyberTipline credentials: %w", err)
	}
	return cfg, json.Unmarshal([]byte(pt), &cfg)
}

// Submitter sends approved CyberTipline cases: submit, upload and describe
// each file, finish. Its state is the case's Submission, written after
// every step, so a process killed at any point resumes where it stopped
// without a second report. Retryable failures are retried with backoff;
// permanent ones put the case in StateFailed with the error, for a person.
type Submitter struct {
	Service *Service
	// Client, when nil, is built from the stored configuration on each
	// pass (LoadCyberTip).
	Client  *cybertip.Client
	Content ContentSource // nil: no files are uploaded
	// MaxAttempts of a step before the case fails (default 8).
	MaxAttempts int
	// Backoff is the wait before attempt n+1 (default 2^n s, at most 1 h).
	Backoff func(n int) time.Duration
	// Lease is how long a pass holds a case (default 5 minutes): it is
	// claimed by writing NextAt = now + Lease under the case's version,
	// so of several replicas one works it, and after a crash another
	// resumes it once the lease ends. Each recorded step renews it.
	Lease time.Duration
	Log   *slog.Logger
	// StepHook, when set, runs after each step is answered ("submit.sent",
	// before its answer is recorded) and after each step is recorded
	// ("submit", "upload", "fileinfo"); an error stops the pass at once,
	// as a kill would (tests use it).
	StepHook func(ctx context.Context, c Case, step string) error
}

var actorOutbox = audit.Actor{Name: "cybertip-outbox"}

func (sb *Submitter) log() *slog.Logger {
	if sb.Log != nil {
		return sb.Log
	}
	return slog.Default()
}

func (sb *Submitter) backoff(n int) time.Duration {
	if sb.Backoff != nil {
		return sb.Backoff(n)
	}
	return min(time.Duration(1)<<min(n, 12)*time.Second, time.Hour)
}

func (sb *Submitter) hook(ctx context.Context, c Case, step string) error {
	if sb.StepHook == nil {
		return nil
	}
	return sb.StepHook(ctx, c, step)
}

// Run works the outbox every interval until ctx ends.
func (sb *Submitter) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := sb.RunOnce(ctx); err != nil && ctx.Err() == nil {
			sb.log().Error("cybertip outbox", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce works every due case once and returns how many it finished.
func (sb *Submitter) RunOnce(ctx context.Context) (int, error) {
	s := sb.Service
	cases, err := s.Store.DueReportCases(ctx, s.now(), 100)
	if err != nil || len(cases) == 0 {
		return 0, err
	}
	client, esp := sb.Client, s.ESP
	if client == nil {
		cfg, err := s.LoadCyberTip(ctx)
		if err != nil {
			return 0, err
		}
		client, esp = &cybertip.Client{BaseURL: cfg.URL, Username: cfg.Username, Password: cfg.Password}, cfg.ESP
	}
	done := 0
	for _, c := range cases {
		ok, err := sb.process(ctx, client, esp, c)
		if err != nil {
			return done, err
		}
		if ok {
			done++
		}
	}
	return done, nil
}

// process advances one case as far as it goes; it returns whether the
// case was finished.
func (sb *Submitter) process(ctx context.Context, client *cybertip.Client, esp ESP, c Case) (bool, error) {
	s := sb.Service
	ct, err := s.Content(c)
	if err != nil {
		return false, err
	}
	lease := sb.Lease
	if lease <= 0 {
		lease = 5 * time.Minute
	}
	save := func(e *audit.Entry) error {
		c.UpdatedBy = actorOutbox.Name
		if c.State == StateApproved || c.State == StateSubmitting {
			held := s.now().Add(lease)
			c.NextAt = &held
		}
		nc, err := s.Store.UpdateReportCase(ctx, c, e)
		if err != nil {
			return err
		}
		c = nc
		return nil
	}
	fail := func(step string, err error) (bool, error) {
		sub := &c.Submission
		sub.LastError = err.Error()
		var ce *cybertip.Error
		uncertain := errors.As(err, &ce) && ce.Uncertain && step == "submit"
		switch {
		case uncertain:
			sub.ErrorKind = "uncertain"
		case errors.Is(err, cybertip.ErrRetryable):
			sub.Attempts++
			if sub.Attempts < sb.maxAttempts() {
				sub.ErrorKind = "retryable"
				sb.log().Warn("cybertip step failed, will retry", "case", c.ID, "step", step, "attempt", sub.Attempts, "err", err)
				if err := ignoreConflict(save(nil)); err != nil {
					return false, err
				}
				// The lease save set NextAt; the retry waits the backoff.
				next := s.now().Add(sb.backoff(sub.Attempts))
				c.NextAt = &next
				nc, err := s.Store.UpdateReportCase(ctx, c, nil)
				if err == nil {
					c = nc
				}
				return false, ignoreConflict(err)
			}
			sub.ErrorKind = "permanent"
			sub.LastError = fmt.Sprintf("%s (gave up after %d attempts)", err, sub.Attempts)
		default:
			sub.ErrorKind = "permanent"
		}
		c.State, c.NextAt = StateFailed, nil
		sb.log().Error("cybertip case failed", "case", c.ID, "step", step, "kind", sub.ErrorKind, "err", err)
		e := actorOutbox.Entry(ActError, c.Target(), map[string]any{"step": step, "kind": sub.ErrorKind, "error": sub.LastError})
		return false, ignoreConflict(save(&e))
	}
	// Claim the case for this pass.
	if err := save(nil); err != nil {
		return false, ignoreConflict(err)
	}
	sub := &c.Submission
	if sub.ReportID == 0 {
		if sub.Inflight {
			return fail("submit", &cybertip.Error{Op: "submit", Uncertain: true,
				Msg: "a submit was sent and its answer was not recorded (the process stopped): check NCMEC's portal for this case, then retry it with the report id found there, or 0 if none arrived"})
		}
		sub.Inflight = true
		if err := save(nil); err != nil {
			return false, ignoreConflict(err)
		}
		id, err := client.Submit(ctx, BuildReport(ct, esp))
		if err == nil {
			err = sb.hook(ctx, c, "submit.sent")
			if err != nil {
				return false, err
			}
		}
		sub = &c.Submission
		if err != nil {
			var ce *cybertip.Error
			if !(errors.As(err, &ce) && ce.Uncertain) {
				sub.Inflight = false
			}
			return fail("submit", err)
		}
		sub.ReportID, sub.Inflight, sub.Attempts, sub.LastError, sub.ErrorKind = id, false, 0, "", ""
		sub.Files = make([]FileStep, len(ct.Items))
		for i := range sub.Files {
			sub.Files[i].Item = i
		}
		c.State = StateSubmitting
		e := actorOutbox.Entry(ActSubmit, c.Target(), map[string]any{"report_id": id, "items": len(ct.Items), "url": client.BaseURL})
		if err := save(&e); err != nil {
			return false, err
		}
		if err := sb.hook(ctx, c, "submit"); err != nil {
			return false, err
		}
	}
	for i := range c.Submission.Files {
		fs := c.Submission.Files[i]
		it := ct.Items[fs.Item]
		if fs.FileID == "" && fs.Skipped == "" {
			data, err := sb.content(ctx, c.ID, it)
			switch {
			case errors.Is(err, ErrNoContent):
				c.Submission.Files[i].Skipped = "the platform did not hand over the file; it is described by its hashes"
				if err := save(nil); err != nil {
					return false, err
				}
				continue
			case err != nil:
				return fail("upload", fmt.Errorf("%w: content of item %d: %w", cybertip.ErrRetryable, fs.Item+1, err))
			}
			if err := checkBytes(it, data); err != nil {
				return fail("upload", err)
			}
			sum := md5.Sum(data)
			fid, err := client.Upload(ctx, c.Submission.ReportID, uploadName(it, fs.Item), data, hex.EncodeToString(sum[:]))
			if err != nil {
				return fail("upload", err)
			}
			c.Submission.Files[i].FileID, c.Submission.Attempts, c.Submission.LastError, c.Submission.ErrorKind = fid, 0, "", ""
			e := actorOutbox.Entry(ActFile, c.Target(), map[string]any{"report_id": c.Submission.ReportID, "item": fs.Item + 1,
				"file_id": fid, "sha256": sha256hex(data), "md5": hex.EncodeToString(sum[:])})
			if err := save(&e); err != nil {
				return false, err
			}
			if err := sb.hook(ctx, c, "upload"); err != nil {
				return false, err
			}
		}
		fs = c.Submission.Files[i]
		if fs.FileID != "" && !fs.Described {
			if err := client.FileInfo(ctx, FileDetails(it, c.Submission.ReportID, fs.FileID)); err != nil {
				return fail("fileinfo", err)
			}
			c.Submission.Files[i].Described, c.Submission.Attempts, c.Submission.LastError, c.Submission.ErrorKind = true, 0, "", ""
			if err := save(nil); err != nil {
				return false, err
			}
			if err := sb.hook(ctx, c, "fileinfo"); err != nil {
				return false, err
			}
		}
	}
	files, err := client.Finish(ctx, c.Submission.ReportID)
	if err != nil {
		return fail("finish", err)
	}
	now := s.now()
	c.State, c.NextAt = StateSubmitted, nil
	c.Submission.Finished, c.Submission.Attempts, c.Submission.LastError, c.Submission.ErrorKind = &now, 0, "", ""
	e := actorOutbox.Entry(ActFinish, c.Target(), map[string]any{"report_id": c.Submission.ReportID, "files": files})
	if err := save(&e); err != nil {
		return false, err
	}
	sb.log().Info("cybertip report finished", "case", c.ID, "report_id", c.Submission.ReportID, "files", len(files))
	return true, nil
}

func (sb *Submitter) maxAttempts() int {
	if sb.MaxAttempts > 0 {
		return sb.MaxAttempts
	}
	return 8
}

func (sb *Submitter) content(ctx context.Context, caseID int64, it Item) ([]byte, error) {
	if sb.Content == nil {
		return nil, ErrNoContent
	}
	return sb.Content.Content(ctx, caseID, it)
}

// checkBytes refuses bytes that are not the item's file (its hashes known).
func checkBytes(it Item, data []byte) error {
	if it.SHA256 != "" && sha256hex(data) != it.SHA256 {
		return fmt.Errorf("%w: the content handed over for item hit %d does not have its sha256", cybertip.ErrPermanent, it.HitID)
	}
	if it.MD5 != "" {
		sum := md5.Sum(data)
		if hex.EncodeToString(sum[:]) != it.MD5 {
			return fmt.Errorf("%w: the content handed over for item hit %d does not have its md5", cybertip.ErrPermanent, it.HitID)
		}
	}
	return nil
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func uploadName(it Item, i int) string {
	if it.FileName != "" {
		return it.FileName
	}
	return fmt.Sprintf("item-%d", i+1)
}

// ignoreConflict drops ErrConflict: another replica moved the case on.
func ignoreConflict(err error) error {
	if errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}

// Retract withdraws a case's unfinished report at NCMEC.
func (sb *Submitter) Retract(ctx context.Context, actor audit.Actor, id int64) (Case, error) {
	s := sb.Service
	c, err := s.Store.GetReportCase(ctx, id)
	if err != nil {
		return c, err
	}
	if c.Submission.ReportID == 0 || c.Submission.Finished != nil || c.State == StateRetracted {
		return c, fmt.Errorf("%w: case %d has no unfinished report at NCMEC", ErrState, id)
	}
	client := sb.Client
	if client == nil {
		cfg, err := s.LoadCyberTip(ctx)
		if err != nil {
			return c, err
		}
		client = &cybertip.Client{BaseURL: cfg.URL, Username: cfg.Username, Password: cfg.Password}
	}
	if err := client.Retract(ctx, c.Submission.ReportID); err != nil {
		return c, err
	}
	c.State, c.NextAt, c.UpdatedBy = StateRetracted, nil, actor.Name
	e := actor.Entry(ActRetract, c.Target(), map[string]any{"report_id": c.Submission.ReportID})
	return s.Store.UpdateReportCase(ctx, c, &e)
}
