package alert

import (
	"time"
)

// Milestone is one of the two things section 8 of the Act requires within
// two hours of the report.
type Milestone string

// Milestones of the two-hour clock.
const (
	// MilestoneComplaint: the police have recorded the complaint.
	MilestoneComplaint Milestone = "complaint"
	// MilestoneAgency: the ZARRA agency has been informed.
	MilestoneAgency Milestone = "agency"
)

// Deadline is the state of one milestone's clock.
type Deadline struct {
	Milestone Milestone  `json:"milestone"`
	Due       time.Time  `json:"due"`
	DoneAt    *time.Time `json:"done_at,omitempty"`
	// Warnings counts the warnings sent (Config.Warnings, in order).
	Warnings   int        `json:"warnings"`
	BreachedAt *time.Time `json:"breached_at,omitempty"`
	// Escalations counts the contacts of the chain notified after the
	// breach; LastEscalation is when the last one was.
	Escalations    int        `json:"escalations"`
	LastEscalation *time.Time `json:"last_escalation,omitempty"`
}

// Contact is one step of the escalation chain (for example the station
// house officer, the district police officer, the ZARRA duty desk):
// notified through a signed webhook.
type Contact struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

// ClockEvent is what the clock did to a deadline at one tick.
type ClockEvent struct {
	Kind      string // ActClockWarning, ActClockBreach or ActClockEscalate
	Milestone Milestone
	Reported  time.Time
	Due       time.Time
	At        time.Time // the clock's time of the event
	// Level is the escalation chain index notified (warnings and the
	// breach notify level 0); Contact is that step, if configured.
	Level   int
	Contact *Contact
	// Remaining (warnings) or Late (breach, escalation) in whole seconds.
	Remaining, Late time.Duration
}

// tick advances the case's deadlines to now and returns what happened:
// at most one warning per deadline (the latest one crossed), the breach
// when the deadline passes unmet, and one escalation step up the chain per
// EscalateEvery after it while the milestone stays unmet.
func (c *Case) tick(now time.Time, cfg *Config) []ClockEvent {
	if !c.Open() {
		return nil
	}
	var out []ClockEvent
	contact := func(level int) *Contact {
		if level < len(cfg.Escalation) {
			return &cfg.Escalation[level]
		}
		return nil
	}
	for i := range c.Clock {
		d := &c.Clock[i]
		if d.DoneAt != nil {
			continue
		}
		crossed := 0
		for _, w := range cfg.Warnings {
			if !now.Before(c.ReportedAt.Add(w)) && c.ReportedAt.Add(w).Before(d.Due) {
				crossed++
			}
		}
		if crossed > d.Warnings && now.Before(d.Due) {
			d.Warnings = crossed
			out = append(out, ClockEvent{Kind: ActClockWarning, Milestone: d.Milestone, Reported: c.ReportedAt, Due: d.Due,
				At: now, Contact: contact(0), Remaining: d.Due.Sub(now)})
		}
		if now.Before(d.Due) {
			continue
		}
		if d.BreachedAt == nil {
			t := now
			d.BreachedAt, d.Warnings = &t, crossed
			d.Escalations, d.LastEscalation = 1, &t
			out = append(out, ClockEvent{Kind: ActClockBreach, Milestone: d.Milestone, Reported: c.ReportedAt, Due: d.Due,
				At: now, Contact: contact(0), Late: now.Sub(d.Due)})
			continue
		}
		if d.Escalations < len(cfg.Escalation) && !now.Before(d.LastEscalation.Add(cfg.EscalateEvery)) {
			t := now
			level := d.Escalations
			d.Escalations, d.LastEscalation = level+1, &t
			out = append(out, ClockEvent{Kind: ActClockEscalate, Milestone: d.Milestone, Reported: c.ReportedAt, Due: d.Due,
				At: now, Level: level, Contact: contact(level), Late: now.Sub(d.Due)})
		}
	}
	return out
}

// complete marks milestone m done at now and reports whether it was late.
func (c *Case) complete(m Milestone, now time.Time) (d Deadline, ok bool) {
	for i := range c.Clock {
		if c.Clock[i].Milestone == m {
			if c.Clock[i].DoneAt != nil {
				return c.Clock[i], false
			}
			t := now
			c.Clock[i].DoneAt = &t
			return c.Clock[i], true
		}
	}
	return Deadline{}, false
}

// ClockStatus summarises a deadline for the board: "done", "late" (done
// after the breach), "ok", "warning" or "breached".
func (d Deadline) ClockStatus() string {
	switch {
	case d.DoneAt != nil && d.BreachedAt != nil:
		return "late"
	case d.DoneAt != nil:
		return "done"
	case d.BreachedAt != nil:
		return "breached"
	case d.Warnings > 0:
		return "warning"
	}
	return "ok"
}
