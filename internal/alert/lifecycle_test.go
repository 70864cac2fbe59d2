package alert_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/alert"
	"github.com/nigehban/nigehban/internal/alert/alerttest"
	"github.com/nigehban/nigehban/internal/alert/cap"
	"github.com/nigehban/nigehban/internal/alert/cap/captest"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// published returns the CAP document of a published message, validated
// against the schema with both languages.
func published(t *testing.T, d *alert.Service, id string) cap.Alert {
	t.Helper()
	doc, err := d.CAP(context.Background(), id)
	if err != nil {
		t.Fatalf("CAP %s: %v", id, err)
	}
	return captest.Validate(t, doc)
}

// feed returns the parsed Atom feed.
func feed(t *testing.T, d *alert.Service) (cap.Feed, []byte) {
	t.Helper()
	b, err := d.Feed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f, err := cap.ParseFeed(b)
	if err != nil {
		t.Fatalf("feed does not parse as Atom: %v\n%s", err, b)
	}
	return f, b
}

// The whole life of an alert, for an actual and a test alert: every CAP
// message validates with both languages, updates and cancels reference
// their predecessor, a test alert never says Actual, and when the case
// closes the child leaves the feed and the partners get the cancel.
func TestAlertLifecycle(t *testing.T) {
	for _, test := range []bool{false, true} {
		name := "actual"
		if test {
			name = "test-mode"
		}
		t.Run(name, func(t *testing.T) {
			storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
				lifecycle(t, st, test)
			})
		})
	}
}

func lifecycle(t *testing.T, st store.Store, test bool) {
	ctx := context.Background()
	clk := &clock{}
	d := newDesk(t, st, clk)
	wantStatus := cap.StatusActual
	if test {
		wantStatus = cap.StatusTest
	}
	c, err := d.Intake(ctx, alerttest.Intake(t0.Add(-30*time.Minute)), operator)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(20 * time.Minute)
	if _, err := d.RecordComplaint(ctx, c.ID, "FIR 12/2026", police); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Draft(ctx, c.ID, alert.DraftRequest{Tier: alert.TierAlert, Test: test, RadiusKM: 25}, operator); err != nil {
		t.Fatal(err)
	}
	// Nothing can be issued before approval.
	if _, err := d.Issue(ctx, c.ID, desk); !errors.Is(err, alert.ErrInvalid) {
		t.Fatalf("issue of a draft: %v", err)
	}
	if _, err := d.Approve(ctx, c.ID, desk); !errors.Is(err, alert.ErrInvalid) {
		t.Fatalf("approve of a draft: %v", err)
	}
	if _, err := d.Submit(ctx, c.ID, operator); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Approve(ctx, c.ID, operator); !errors.Is(err, alert.ErrFourEyes) {
		t.Fatalf("author approving: %v", err)
	}
	if r := entries(t, st, alert.ActAlertRefused); len(r) != 1 || r[0].Actor != operator.Name {
		t.Fatalf("refused approval not audited: %+v", r)
	}
	c, err = d.Approve(ctx, c.ID, desk)
	if err != nil || c.Alert.Approver != desk.Name || c.Alert.State != alert.Approved {
		t.Fatalf("approve: %v %+v", err, c.Alert)
	}
	clk.Add(time.Minute)
	c, err = d.Issue(ctx, c.ID, desk)
	if err != nil {
		t.Fatal(err)
	}
	first := c.Messages[0]
	a := published(t, d, first.Identifier)
	if a.Status != wantStatus || a.MsgType != cap.MsgAlert || a.References != "" || a.Scope != "Public" {
		t.Fatalf("alert header: %+v", a)
	}
	for _, in := range a.Info {
		if in.Category[0] != "Rescue" || in.Urgency != "Immediate" || in.Severity != "Severe" || in.Certainty != "Likely" ||
			in.Area[0].Circle[0] != "31.11670,74.45000 25" || in.Expires.Sub(a.Sent.Time) != 24*time.Hour {
			t.Fatalf("info %s: %+v", in.Language, in)
		}
		if !strings.Contains(in.Description, alerttest.ChildName) || in.Resource[0].URI == "" {
			t.Fatalf("info %s lacks the child: %+v", in.Language, in)
		}
		marked := strings.HasPrefix(in.Headline, "TEST — ") || strings.HasPrefix(in.Headline, "آزمائشی پیغام")
		if marked != test || strings.HasPrefix(in.Description, "TEST") && !test {
			t.Fatalf("headline %q (test=%v)", in.Headline, test)
		}
	}
	if a.Info[0].Event != "بچے کا اغوا" || a.Info[1].Event != "Child Abduction" || a.Info[1].EventCode[0].Value != "CAE" {
		t.Fatalf("events: %q %q", a.Info[0].Event, a.Info[1].Event)
	}
	// The prepared update and cancel are ready with the alert.
	if p := c.Alert.Prepared; len(p) != 2 || p[0].MsgType != cap.MsgUpdate || p[1].MsgType != cap.MsgCancel || p[1].References != first.Identifier {
		t.Fatalf("prepared: %+v", c.Alert.Prepared)
	}
	full, err := d.Get(ctx, c.ID, desk)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range full.Alert.Prepared {
		doc, err := d.MessageXML(full, p.Identifier)
		if err != nil {
			t.Fatal(err)
		}
		pa := captest.Validate(t, doc)
		if pa.References != a.Reference() || pa.Status != wantStatus {
			t.Fatalf("prepared %s: references %q, status %s", p.MsgType, pa.References, pa.Status)
		}
	}

	clk.Add(time.Hour)
	c, err = d.Update(ctx, c.ID, "Seen at 14:10 near the Kasur bus stand.", "", desk)
	if err != nil {
		t.Fatal(err)
	}
	upd := published(t, d, c.Messages[1].Identifier)
	if upd.MsgType != cap.MsgUpdate || upd.References != a.Reference() || upd.Status != wantStatus ||
		!strings.Contains(upd.Info[1].Description, "bus stand") {
		t.Fatalf("update: %+v", upd)
	}
	f, _ := feed(t, d)
	if len(f.Entries) != 2 {
		t.Fatalf("feed entries: %+v", f.Entries)
	}
	for _, e := range f.Entries {
		if strings.HasPrefix(e.Title, "[TEST]") != test || e.Categories[0].Term != wantStatus {
			t.Fatalf("feed entry %+v (test=%v)", e, test)
		}
	}

	clk.Add(3 * time.Hour)
	c, err = d.Close(ctx, c.ID, alert.Recovered, desk)
	if err != nil {
		t.Fatal(err)
	}
	cancel := c.Messages[2]
	ca := published(t, d, cancel.Identifier)
	if ca.MsgType != cap.MsgCancel || ca.References != upd.Reference() || ca.Status != wantStatus {
		t.Fatalf("cancel: %+v", ca)
	}
	doc, _ := d.CAP(ctx, cancel.Identifier)
	if bytes.Contains(doc, []byte(alerttest.ChildName)) || bytes.Contains(doc, []byte("photos.example.org")) {
		t.Fatalf("the cancel names the child:\n%s", doc)
	}
	// The child's details have left the feed and the message URLs.
	for _, m := range c.Messages[:2] {
		if _, err := d.CAP(ctx, m.Identifier); !errors.Is(err, alert.ErrGone) {
			t.Fatalf("CAP of %s after closure: %v", m.MsgType, err)
		}
	}
	f, raw := feed(t, d)
	if len(f.Entries) != 1 || !strings.Contains(f.Entries[0].Title, "Cancelled") || bytes.Contains(raw, []byte(alerttest.ChildName)) {
		t.Fatalf("feed after closure:\n%s", raw)
	}
	// The cancel leaves the feed after CancelInFeed.
	clk.Add(49 * time.Hour)
	if f, _ := feed(t, d); len(f.Entries) != 0 {
		t.Fatalf("feed two days later: %+v", f.Entries)
	}

	// Every partner got the alert, the update and the cancel, signed
	// webhooks in the outbox, with the status of the alert and no
	// personal data.
	got := map[string][]string{}
	for _, ev := range outbox(t, st) {
		if bytes.Contains(ev.Payload, []byte(alerttest.ChildName)) {
			t.Fatalf("personal data in a partner webhook: %s", ev.Payload)
		}
		var p struct {
			Type, Status, Identifier string
			Test                     bool
		}
		json.Unmarshal(ev.Payload, &p)
		if p.Status != wantStatus || p.Test != test {
			t.Fatalf("webhook %s: status %s test %v", ev.Payload, p.Status, p.Test)
		}
		got[ev.Bank] = append(got[ev.Bank], p.Type)
	}
	for _, p := range partners {
		if g := strings.Join(got["alert:"+p.Name], ","); g != "alert.issue,alert.update,alert.cancel" {
			t.Fatalf("partner %s got %s", p.Name, g)
		}
	}
	for _, act := range []string{alert.ActAlertDraft, alert.ActAlertSubmit, alert.ActAlertApprove, alert.ActAlertIssue,
		alert.ActAlertUpdate, alert.ActAlertCancel, alert.ActCaseClose} {
		if len(entries(t, st, act)) != 1 {
			t.Fatalf("%s not audited once", act)
		}
	}
	if _, err := audit.VerifyStore(ctx, st); err != nil {
		t.Fatal(err)
	}
}

// A notice (lower tier) is a Missing Child message, Expected/Moderate, and
// a cancel of a live alert is one act by one person.
func TestNoticeAndCancel(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		clk := &clock{}
		d := newDesk(t, st, clk)
		in := alerttest.Intake(t0)
		in.Circumstance, in.Danger = alert.Runaway, false
		c, err := d.Intake(ctx, in, operator)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Draft(ctx, c.ID, alert.DraftRequest{Tier: alert.TierNotice}, operator); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Submit(ctx, c.ID, operator); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Approve(ctx, c.ID, desk); err != nil {
			t.Fatal(err)
		}
		if c, err = d.Issue(ctx, c.ID, operator); err != nil {
			t.Fatal(err)
		}
		n := published(t, d, c.Messages[0].Identifier)
		if n.Info[1].Event != "Missing Child" || n.Info[1].Urgency != "Expected" || n.Info[1].Severity != "Moderate" ||
			len(n.Info[1].EventCode) != 0 || !strings.HasPrefix(n.Info[1].Headline, "Missing child notice") {
			t.Fatalf("notice: %+v", n.Info[1])
		}
		if _, err := d.Draft(ctx, c.ID, alert.DraftRequest{Tier: alert.TierAlert}, operator); !errors.Is(err, alert.ErrInvalid) {
			t.Fatalf("second alert over a live one: %v", err)
		}
		clk.Add(time.Minute)
		if c, err = d.Cancel(ctx, c.ID, "issued in error", operator); err != nil {
			t.Fatal(err)
		}
		ca := published(t, d, c.Messages[1].Identifier)
		if ca.MsgType != cap.MsgCancel || ca.References != n.Reference() || !strings.Contains(ca.Info[1].Description, "issued in error") {
			t.Fatalf("cancel: %+v", ca)
		}
		if _, err := d.CAP(ctx, c.Messages[0].Identifier); !errors.Is(err, alert.ErrGone) {
			t.Fatalf("cancelled notice still published: %v", err)
		}
	})
}

// Whoever submitted a draft may not approve it either: the two people are
// the author (or submitter) and the approver.
func TestSubmitterCannotApprove(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		d := newDesk(t, st, &clock{})
		c, err := d.Intake(ctx, alerttest.Intake(t0), operator)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.RecordComplaint(ctx, c.ID, "FIR 5", police); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Draft(ctx, c.ID, alert.DraftRequest{Tier: alert.TierAlert}, operator); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Submit(ctx, c.ID, police); err != nil {
			t.Fatal(err)
		}
		for _, who := range []audit.Actor{operator, police} {
			if _, err := d.Approve(ctx, c.ID, who); !errors.Is(err, alert.ErrFourEyes) {
				t.Fatalf("%s approving: %v", who.Name, err)
			}
		}
		if c, err = d.Approve(ctx, c.ID, desk); err != nil || c.Alert.Approver != desk.Name {
			t.Fatalf("third person: %v", err)
		}
	})
}
