package alert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/alert/cap"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/sealed"
)

// Partner receives signed webhooks of every message sent (issue, update,
// cancel): media houses, the telecom regulator's gateway, partner NGOs.
// The payload names the message and links to its CAP document; it carries
// no personal data, so the outbox holds none.
type Partner struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"` // media, regulator, partner
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

// Config sets up the desk; zero fields take the defaults.
type Config struct {
	// Sender is the CAP sender (an address naming the originator, no
	// spaces); SenderName its readable name; Contact what the public
	// calls (default "ZARRA helpline 1099").
	Sender, SenderName, Contact string
	// BaseURL is the public base (https://host) of /alerts/feed.atom and
	// /alerts/cap/{identifier}.
	BaseURL string
	// RadiusKM (default 20) and Hours (default 24) are an alert's default
	// circle around the last seen point and validity.
	RadiusKM float64
	Hours    int
	// Deadline is the clock of section 8 (default 2 h); Warnings are sent
	// at these times after the report (default 60 and 90 min);
	// EscalateEvery is the step up the Escalation chain after a breach
	// (default 30 min).
	Deadline      time.Duration
	Warnings      []time.Duration
	EscalateEvery time.Duration
	Escalation    []Contact
	// Partners receive every message.
	Partners []Partner
	// CancelInFeed is how long a cancel stays in the feed after its case
	// closed or its alert ended (default 48 h), so aggregators see it.
	CancelInFeed time.Duration
	// Zone is the time zone of messages (default Pakistan, UTC+5).
	Zone *time.Location
	// Now is the clock (default time.Now); tests inject theirs.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Sender == "" {
		c.Sender = "nigehban@localhost"
	}
	if c.SenderName == "" {
		c.SenderName = "Nigehban missing-child desk"
	}
	if c.Contact == "" {
		c.Contact = "ZARRA helpline 1099"
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.BaseURL == "" {
		c.BaseURL = "http://localhost:8080"
	}
	if c.RadiusKM <= 0 {
		c.RadiusKM = 20
	}
	if c.Hours <= 0 {
		c.Hours = 24
	}
	if c.Deadline <= 0 {
		c.Deadline = 2 * time.Hour
	}
	if c.Warnings == nil {
		c.Warnings = []time.Duration{60 * time.Minute, 90 * time.Minute}
	}
	if c.EscalateEvery <= 0 {
		c.EscalateEvery = 30 * time.Minute
	}
	if c.CancelInFeed <= 0 {
		c.CancelInFeed = 48 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Service is the missing-child desk over a Store. Every change is audited
// in its transaction; personal data is sealed with the data keys.
type Service struct {
	st   Store
	keys *sealed.Ring
	cfg  Config
	log  *slog.Logger

	// feed caches the public feed for feedTTL (a changed case on this
	// replica clears it; other replicas' changes show within feedTTL).
	feedMu  sync.Mutex
	feedAt  time.Time
	feedDoc []byte
}

// feedTTL is how long the public feed is served from memory.
const feedTTL = 5 * time.Second

// NewService returns the desk over st; keys may be nil (intake is then
// refused with sealed.ErrNoKey).
func NewService(st Store, keys *sealed.Ring, cfg Config, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{st: st, keys: keys, cfg: cfg.withDefaults(), log: log}
}

// Config returns the desk's configuration with defaults applied.
func (s *Service) Config() Config { return s.cfg }

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

func target(c *Case) string { return "missing:" + c.UID }

func sealAD(uid string) []byte { return []byte("missing_case:" + uid + ":personal") }

// Intake records a new case reported by by and starts its clock.
func (s *Service) Intake(ctx context.Context, in Intake, by audit.Actor) (*Case, error) {
	if !s.keys.Configured() {
		return nil, fmt.Errorf("missing-child intake holds personal data: %w", sealed.ErrNoKey)
	}
	if err := in.Check(); err != nil {
		return nil, err
	}
	now := s.now()
	reported := in.ReportedAt.UTC()
	if in.ReportedAt.IsZero() {
		reported = now
	}
	if reported.After(now.Add(time.Minute)) {
		return nil, fmt.Errorf("%w: reported_at is in the future", ErrInvalid)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	c := &Case{UID: hex.EncodeToString(b[:]), Channel: in.Channel, Age: in.Age, Sex: in.Sex,
		District: strings.TrimSpace(in.LastSeen.District), Circumstance: in.Circumstance, Danger: in.Danger,
		LastSeenAt: in.LastSeen.At.UTC(), ReportedAt: reported, ReportedBy: by.Name,
		Personal: &Personal{Child: in.Child, Guardian: in.Guardian, Reporter: in.Reporter, Checklist: in.Checklist,
			Lat: in.LastSeen.Lat, Lon: in.LastSeen.Lon, Place: in.LastSeen.Place, Suspect: in.Suspect}}
	for _, m := range []Milestone{MilestoneComplaint, MilestoneAgency} {
		c.Clock = append(c.Clock, Deadline{Milestone: m, Due: reported.Add(s.cfg.Deadline)})
	}
	pj, err := json.Marshal(c.Personal)
	if err != nil {
		return nil, err
	}
	sealedP, err := s.keys.Seal(pj, sealAD(c.UID))
	if err != nil {
		return nil, fmt.Errorf("seal case: %w", err)
	}
	doc, err := encodeDoc(c)
	if err != nil {
		return nil, err
	}
	e := by.Entry(ActIntake, target(c), map[string]any{"channel": c.Channel, "district": c.District,
		"reported_at": c.ReportedAt, "due_at": c.ReportedAt.Add(s.cfg.Deadline), "circumstance": c.Circumstance})
	r, err := s.st.CreateMissingCase(ctx, Record{UID: c.UID, District: c.District, ReportedAt: c.ReportedAt,
		Doc: doc, Sealed: sealedP}, e)
	if err != nil {
		return nil, fmt.Errorf("record missing-child case: %w", err)
	}
	c.ID, c.Version = r.ID, r.Version
	return c, nil
}

// encodeDoc returns the case's document: everything but Personal.
func encodeDoc(c *Case) ([]byte, error) {
	cp := *c
	cp.Personal = nil
	b, err := json.Marshal(&cp)
	if err != nil {
		return nil, fmt.Errorf("encode case: %w", err)
	}
	return b, nil
}

// decode turns a record into a case, opening its sealed part if asked
// (and present).
func (s *Service) decode(r Record, personal bool) (*Case, error) {
	var c Case
	if err := json.Unmarshal(r.Doc, &c); err != nil {
		return nil, fmt.Errorf("decode case %d: %w", r.ID, err)
	}
	c.ID, c.Version = r.ID, r.Version
	if personal && len(r.Sealed) > 0 {
		pj, err := s.keys.Open(r.Sealed, sealAD(c.UID))
		if err != nil {
			return nil, fmt.Errorf("open case %d: %w", r.ID, err)
		}
		var p Personal
		if err := json.Unmarshal(pj, &p); err != nil {
			return nil, fmt.Errorf("decode case %d: %w", r.ID, err)
		}
		c.Personal = &p
	}
	return &c, nil
}

// Get returns case id with its personal part; the view is audited.
func (s *Service) Get(ctx context.Context, id int64, by audit.Actor) (*Case, error) {
	r, err := s.st.MissingCase(ctx, id)
	if err != nil {
		return nil, err
	}
	c, err := s.decode(r, true)
	if err != nil {
		return nil, err
	}
	if _, err := s.st.AppendAudit(ctx, by.Entry(ActView, target(c), nil)); err != nil {
		return nil, fmt.Errorf("audit view: %w", err)
	}
	return c, nil
}

// Board lists the open cases without personal data, oldest report first
// (the clock board).
func (s *Service) Board(ctx context.Context) ([]*Case, error) {
	return s.list(ctx, Filter{OpenOnly: true})
}

func (s *Service) list(ctx context.Context, f Filter) ([]*Case, error) {
	rs, err := s.st.MissingCases(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]*Case, 0, len(rs))
	for _, r := range rs {
		c, err := s.decode(r, f.WithSealed)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// change is what a mutation produced besides the case itself.
type change struct {
	entries []audit.Entry
	events  []action.Event
}

// mutate applies fn to case id and stores the result with fn's audit
// entries and events in one transaction, retrying when another writer got
// there first.
func (s *Service) mutate(ctx context.Context, id int64, personal bool, fn func(c *Case, now time.Time, ch *change) error) (*Case, error) {
	for attempt := 0; ; attempt++ {
		r, err := s.st.MissingCase(ctx, id)
		if err != nil {
			return nil, err
		}
		c, err := s.decode(r, personal)
		if err != nil {
			return nil, err
		}
		var ch change
		if err := fn(c, s.now(), &ch); err != nil {
			return nil, err
		}
		doc, err := encodeDoc(c)
		if err != nil {
			return nil, err
		}
		nr, err := s.st.UpdateMissingCase(ctx, Record{ID: r.ID, UID: r.UID, Version: r.Version, ClosedAt: c.ClosedAt,
			District: r.District, ReportedAt: r.ReportedAt, Doc: doc}, ch.entries, ch.events)
		if errors.Is(err, ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.feedMu.Lock()
		s.feedDoc = nil
		s.feedMu.Unlock()
		c.Version = nr.Version
		return c, nil
	}
}

// clockDetail is the audit detail of a clock event: the times that make a
// breach evidence.
func clockDetail(c *Case, d Deadline, ev *ClockEvent) map[string]any {
	m := map[string]any{"milestone": d.Milestone, "district": c.District, "reported_at": c.ReportedAt, "due_at": d.Due}
	if d.DoneAt != nil {
		m["done_at"] = *d.DoneAt
	}
	if d.BreachedAt != nil {
		m["breached_at"] = *d.BreachedAt
	}
	if ev != nil {
		m["at"] = ev.At
		if ev.Remaining > 0 {
			m["remaining_seconds"] = int64(ev.Remaining / time.Second)
		}
		if ev.Late > 0 || ev.Kind != ActClockWarning {
			m["late_seconds"] = int64(ev.Late / time.Second)
		}
		if ev.Contact != nil {
			m["level"], m["contact"], m["role"] = ev.Level, ev.Contact.Name, ev.Contact.Role
		}
	}
	return m
}

// milestone records m done for case id (the complaint with its number).
func (s *Service) milestone(ctx context.Context, id int64, m Milestone, number string, by audit.Actor) (*Case, error) {
	return s.mutate(ctx, id, false, func(c *Case, now time.Time, ch *change) error {
		if !c.Open() {
			return fmt.Errorf("%w: the case is closed", ErrInvalid)
		}
		action := ActInformed
		if m == MilestoneComplaint {
			number = strings.TrimSpace(number)
			if number == "" {
				return fmt.Errorf("%w: the complaint number is required", ErrInvalid)
			}
			c.ComplaintNo, c.ComplaintAt, action = number, &now, ActComplaint
		} else {
			c.InformedAt = &now
		}
		d, ok := c.complete(m, now)
		if !ok {
			return fmt.Errorf("%w: %s already recorded", ErrInvalid, m)
		}
		if d.BreachedAt == nil && now.After(d.Due) {
			// Late, and no tick saw the breach first: it is still one.
			for i := range c.Clock {
				if c.Clock[i].Milestone == m {
					c.Clock[i].BreachedAt = &now
					d = c.Clock[i]
				}
			}
			ev := ClockEvent{Kind: ActClockBreach, Milestone: m, Reported: c.ReportedAt, Due: d.Due, At: now, Late: now.Sub(d.Due)}
			ch.entries = append(ch.entries, by.Entry(ActClockBreach, target(c), clockDetail(c, d, &ev)))
		}
		det := clockDetail(c, d, nil)
		det["late"] = now.After(d.Due)
		ch.entries = append(ch.entries, by.Entry(action, target(c), det))
		return nil
	})
}

// RecordComplaint records the police complaint (FIR or roznamcha number).
func (s *Service) RecordComplaint(ctx context.Context, id int64, number string, by audit.Actor) (*Case, error) {
	return s.milestone(ctx, id, MilestoneComplaint, number, by)
}

// AgencyInformed records that the ZARRA agency was informed.
func (s *Service) AgencyInformed(ctx context.Context, id int64, by audit.Actor) (*Case, error) {
	return s.milestone(ctx, id, MilestoneAgency, "", by)
}

// Tick advances every open case's clock to now: warnings, breaches and
// escalations are audited with their times and sent to the chain. It
// returns the number of clock events.
func (s *Service) Tick(ctx context.Context) (int, error) {
	open, err := s.Board(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, oc := range open {
		if evs := oc.tick(s.now(), &s.cfg); len(evs) == 0 {
			continue // nothing due: no write
		}
		_, err := s.mutate(ctx, oc.ID, false, func(c *Case, now time.Time, ch *change) error {
			for _, ev := range c.tick(now, &s.cfg) {
				n++
				var d Deadline
				for _, x := range c.Clock {
					if x.Milestone == ev.Milestone {
						d = x
					}
				}
				ch.entries = append(ch.entries, audit.Actor{Name: "clock"}.Entry(ev.Kind, target(c), clockDetail(c, d, &ev)))
				if ev.Contact != nil {
					ch.events = append(ch.events, s.event("clock:"+ev.Contact.Name, ev.Contact.URL, ev.Contact.Secret,
						map[string]any{"event_id": fmt.Sprintf("%s-%s-%s-%d", c.UID, ev.Milestone, ev.Kind, d.Warnings+d.Escalations),
							"type": ev.Kind, "case": c.UID, "case_id": c.ID, "district": c.District, "milestone": ev.Milestone,
							"reported_at": c.ReportedAt, "due_at": ev.Due, "at": ev.At, "level": ev.Level, "role": ev.Contact.Role}))
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrConflict) {
			return n, fmt.Errorf("clock of case %d: %w", oc.ID, err)
		}
	}
	return n, nil
}

// Run ticks the clock every interval until ctx ends.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("missing-child clock", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// event returns an outbox event with a JSON payload.
func (s *Service) event(lane, url, secret string, payload map[string]any) action.Event {
	b, _ := json.Marshal(payload)
	return action.Event{Bank: lane, URL: url, Secret: secret, Payload: b}
}

// announce queues m to every partner and audits it.
func (s *Service) announce(c *Case, m Message, kind string, by audit.Actor, ch *change) error {
	if _, err := BuildCAP(c, m, &s.cfg); err != nil { // never announce what cannot be built
		return err
	}
	url := s.cfg.BaseURL + "/alerts/cap/" + m.Identifier
	for _, p := range s.cfg.Partners {
		ch.events = append(ch.events, s.event("alert:"+p.Name, p.URL, p.Secret, map[string]any{
			"event_id": m.Identifier, "type": kind, "test": m.Test, "status": capStatus(m), "msg_type": m.MsgType,
			"tier": m.Tier, "case": c.UID, "identifier": m.Identifier, "sent": m.Sent, "cap_url": url,
			"feed_url": s.cfg.BaseURL + "/alerts/feed.atom"}))
	}
	ch.entries = append(ch.entries, by.Entry(kind, target(c), map[string]any{"identifier": m.Identifier,
		"msg_type": m.MsgType, "status": capStatus(m), "references": m.References, "sent": m.Sent, "partners": len(s.cfg.Partners)}))
	return nil
}

func capStatus(m Message) string {
	if m.Test {
		return cap.StatusTest
	}
	return cap.StatusActual
}

// DraftRequest starts an alert.
type DraftRequest struct {
	Tier     Tier    `json:"tier"`
	Test     bool    `json:"test"`
	RadiusKM float64 `json:"radius_km"`
	Hours    int     `json:"hours"`
}

// Draft starts an alert (or notice) on case id, authored by by.
func (s *Service) Draft(ctx context.Context, id int64, req DraftRequest, by audit.Actor) (*Case, error) {
	if req.RadiusKM == 0 {
		req.RadiusKM = s.cfg.RadiusKM
	}
	if req.Hours == 0 {
		req.Hours = s.cfg.Hours
	}
	return s.mutate(ctx, id, true, func(c *Case, now time.Time, ch *change) error {
		if err := c.draft(req.Tier, req.Test, req.RadiusKM, req.Hours, by.Name, now); err != nil {
			return err
		}
		ch.entries = append(ch.entries, by.Entry(ActAlertDraft, target(c), map[string]any{"tier": req.Tier, "test": req.Test,
			"radius_km": req.RadiusKM, "hours": req.Hours, "checklist": c.Alert.Checklist}))
		return nil
	})
}

// Submit puts the draft up for approval, if its checklist passes.
func (s *Service) Submit(ctx context.Context, id int64, by audit.Actor) (*Case, error) {
	return s.mutate(ctx, id, true, func(c *Case, now time.Time, ch *change) error {
		if err := c.submit(by.Name); err != nil {
			return err
		}
		ch.entries = append(ch.entries, by.Entry(ActAlertSubmit, target(c), map[string]any{"checklist": c.Alert.Checklist, "test": c.Alert.Test}))
		return nil
	})
}

// Approve releases the pending alert; by must not be its author
// (ErrFourEyes, and the attempt is audited).
func (s *Service) Approve(ctx context.Context, id int64, by audit.Actor) (*Case, error) {
	c, err := s.mutate(ctx, id, true, func(c *Case, now time.Time, ch *change) error {
		if err := c.approve(by.Name, now); err != nil {
			return err
		}
		ch.entries = append(ch.entries, by.Entry(ActAlertApprove, target(c), map[string]any{"author": c.Alert.Author, "test": c.Alert.Test}))
		return nil
	})
	if errors.Is(err, ErrFourEyes) {
		if _, aerr := s.st.AppendAudit(ctx, by.Entry(ActAlertRefused, fmt.Sprintf("missing:%d", id),
			map[string]string{"reason": "author may not approve"})); aerr != nil {
			return nil, errors.Join(err, aerr)
		}
	}
	return c, err
}

// Issue sends the approved alert to the feed and the partners.
func (s *Service) Issue(ctx context.Context, id int64, by audit.Actor) (*Case, error) {
	return s.mutate(ctx, id, true, func(c *Case, now time.Time, ch *change) error {
		m, err := c.issue(by.Name, now)
		if err != nil {
			return err
		}
		return s.announce(c, m, ActAlertIssue, by, ch)
	})
}

// Update sends an update of the live alert.
func (s *Service) Update(ctx context.Context, id int64, note, noteUR string, by audit.Actor) (*Case, error) {
	return s.mutate(ctx, id, true, func(c *Case, now time.Time, ch *change) error {
		m, err := c.update(by.Name, note, noteUR, now)
		if err != nil {
			return err
		}
		return s.announce(c, m, ActAlertUpdate, by, ch)
	})
}

// Cancel ends the alert: a live one sends its prepared cancel at once (one
// person may cancel: a wrong alert must not wait for a second one).
func (s *Service) Cancel(ctx context.Context, id int64, reason string, by audit.Actor) (*Case, error) {
	return s.mutate(ctx, id, true, func(c *Case, now time.Time, ch *change) error {
		m, err := c.cancel(by.Name, reason, "", now)
		if err != nil {
			return err
		}
		if m == nil {
			ch.entries = append(ch.entries, by.Entry(ActAlertCancel, target(c), map[string]any{"reason": reason, "sent": false}))
			return nil
		}
		return s.announce(c, *m, ActAlertCancel, by, ch)
	})
}

// Close closes case id with its outcome: a live alert is resolved with a
// cancel to the feed and every partner, and the child's details leave the
// feed.
func (s *Service) Close(ctx context.Context, id int64, outcome Outcome, by audit.Actor) (*Case, error) {
	switch outcome {
	case Found, Recovered, Deceased, Withdrawn:
	default:
		return nil, fmt.Errorf("%w: outcome %q (want found, recovered, deceased or withdrawn)", ErrInvalid, outcome)
	}
	return s.mutate(ctx, id, true, func(c *Case, now time.Time, ch *change) error {
		if !c.Open() {
			return fmt.Errorf("%w: the case is already closed", ErrInvalid)
		}
		if a := c.Alert; a != nil && a.State != Cancelled && a.State != Resolved {
			m, err := c.cancel(by.Name, "", outcome, now)
			if err != nil {
				return err
			}
			if m != nil {
				if err := s.announce(c, *m, ActAlertCancel, by, ch); err != nil {
					return err
				}
			}
		}
		c.Outcome, c.ClosedAt = outcome, &now
		ch.entries = append(ch.entries, by.Entry(ActCaseClose, target(c), map[string]any{"outcome": outcome,
			"reported_at": c.ReportedAt, "closed_at": now}))
		return nil
	})
}

// Zone is the time zone the desk writes and reads local times in.
func (s *Service) Zone() *time.Location { return s.cfg.zone() }
