package alert_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/alert"
	"github.com/nigehban/nigehban/internal/alert/alerttest"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// clock is the injected clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

var (
	t0       = time.Date(2026, 1, 4, 13, 0, 0, 0, time.UTC)
	operator = audit.Actor{Name: "key:1 (helpline)", Remote: "10.0.0.1"}
	police   = audit.Actor{Name: "key:2 (station)"}
	desk     = audit.Actor{Name: "user:3 (duty officer)"}
	chain    = []alert.Contact{
		{Name: "sho-kasur", Role: "station house officer", URL: "https://sho.example.org/hook", Secret: "s1"},
		{Name: "dpo-kasur", Role: "district police officer", URL: "https://dpo.example.org/hook", Secret: "s2"},
		{Name: "zarra", Role: "ZARRA duty desk", URL: "https://zarra.example.org/hook", Secret: "s3"},
	}
	partners = []alert.Partner{
		{Name: "tv", Kind: "media", URL: "https://tv.example.org/hook", Secret: "p1"},
		{Name: "pta", Kind: "regulator", URL: "https://pta.example.org/hook", Secret: "p2"},
	}
)

func newDesk(t *testing.T, st store.Store, clk *clock) *alert.Service {
	clk.Set(t0)
	return alert.NewService(st, alerttest.Ring(t), alert.Config{Sender: "alerts@zarra.example.pk", SenderName: "ZARRA (test)",
		BaseURL: "https://alerts.example.pk", Escalation: chain, Partners: partners, Now: clk.Now}, nil)
}

// entries returns the audit entries with this action.
func entries(t *testing.T, st store.Store, act string) []audit.Entry {
	t.Helper()
	all, err := st.ListAudit(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Entry
	for _, e := range all {
		if e.Action == act {
			out = append(out, e)
		}
	}
	return out
}

// outbox returns the pending webhook events (claimed far in the future).
func outbox(t *testing.T, st store.Store) []action.Event {
	t.Helper()
	evs, err := st.ClaimEvents(context.Background(), time.Now().Add(24*time.Hour), time.Millisecond, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// Give them back: pending again, due now.
	for i := range evs {
		evs[i].NextAt = time.Now()
	}
	if err := st.FinishEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(evs, func(a, b action.Event) int { return cmp.Compare(a.ID, b.ID) })
	return evs
}

func detail(t *testing.T, e audit.Entry) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Detail, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// The two-hour clock with an injected clock: warnings at 60 and 90
// minutes, the breach at 120 with its times in the transparency log, then
// one step up the chain every 30 minutes until it runs out.
func TestClock(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		clk := &clock{}
		d := newDesk(t, st, clk)
		c, err := d.Intake(ctx, alerttest.Intake(t0.Add(-3*time.Hour)), operator)
		if err != nil {
			t.Fatal(err)
		}
		type want struct{ warn, breach, escalate int }
		count := func() want {
			return want{len(entries(t, st, alert.ActClockWarning)), len(entries(t, st, alert.ActClockBreach)), len(entries(t, st, alert.ActClockEscalate))}
		}
		steps := []struct {
			name string
			at   time.Duration
			do   func()
			want want
		}{
			{"59 min: nothing", 59 * time.Minute, nil, want{}},
			{"60 min: first warning, both milestones", 60 * time.Minute, nil, want{2, 0, 0}},
			{"again at 61 min: no repeat", 61 * time.Minute, nil, want{2, 0, 0}},
			{"complaint recorded at 75 min", 75 * time.Minute, func() {
				if _, err := d.RecordComplaint(ctx, c.ID, "FIR 12/2026 PS Kasur City", police); err != nil {
					t.Fatal(err)
				}
			}, want{2, 0, 0}},
			{"90 min: second warning, agency only", 90 * time.Minute, nil, want{3, 0, 0}},
			{"119 min 59 s: no breach yet", 120*time.Minute - time.Second, nil, want{3, 0, 0}},
			{"120 min: breach of the agency deadline", 120 * time.Minute, nil, want{3, 1, 0}},
			{"149 min: no escalation yet", 149 * time.Minute, nil, want{3, 1, 0}},
			{"150 min: escalate to the DPO", 150 * time.Minute, nil, want{3, 1, 1}},
			{"180 min: escalate to ZARRA", 180 * time.Minute, nil, want{3, 1, 2}},
			{"5 h: chain exhausted", 5 * time.Hour, nil, want{3, 1, 2}},
		}
		for _, s := range steps {
			clk.Set(t0.Add(s.at))
			if s.do != nil {
				s.do()
			}
			if _, err := d.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			if got := count(); got != s.want {
				t.Fatalf("%s: warnings, breaches, escalations = %v, want %v", s.name, got, s.want)
			}
		}
		b := entries(t, st, alert.ActClockBreach)[0]
		m := detail(t, b)
		if b.Target != "missing:"+c.UID || m["milestone"] != "agency" || m["reported_at"] != t0.Format(time.RFC3339) ||
			m["due_at"] != t0.Add(2*time.Hour).Format(time.RFC3339) || m["breached_at"] != t0.Add(2*time.Hour).Format(time.RFC3339) ||
			m["contact"] != "sho-kasur" || m["late_seconds"] != 0.0 {
			t.Fatalf("breach entry: %s %s", b.Target, b.Detail)
		}
		esc := entries(t, st, alert.ActClockEscalate)
		if e := detail(t, esc[1]); e["contact"] != "zarra" || e["level"] != 2.0 || e["late_seconds"] != 3600.0 {
			t.Fatalf("second escalation: %s", esc[1].Detail)
		}
		// The log that holds them is intact.
		if _, err := audit.VerifyStore(ctx, st); err != nil {
			t.Fatal(err)
		}
		// Every step went to its contact: warnings and breach to the
		// station, escalations up the chain; no personal data in them.
		var got []string
		for _, ev := range outbox(t, st) {
			if bytes.Contains(ev.Payload, []byte(alerttest.ChildName)) {
				t.Fatalf("personal data in a clock webhook: %s", ev.Payload)
			}
			var p struct{ Type, Milestone string }
			json.Unmarshal(ev.Payload, &p)
			got = append(got, ev.Bank+" "+p.Type+" "+p.Milestone)
		}
		hooks := []string{
			"clock:sho-kasur missing.clock.warning complaint", "clock:sho-kasur missing.clock.warning agency",
			"clock:sho-kasur missing.clock.warning agency", "clock:sho-kasur missing.clock.breach agency",
			"clock:dpo-kasur missing.clock.escalate agency", "clock:zarra missing.clock.escalate agency",
		}
		if strings.Join(got, "\n") != strings.Join(hooks, "\n") {
			t.Fatalf("webhooks:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(hooks, "\n"))
		}
		// Informing the agency late is recorded as late.
		clk.Set(t0.Add(5*time.Hour + time.Minute))
		if _, err := d.AgencyInformed(ctx, c.ID, police); err != nil {
			t.Fatal(err)
		}
		inf := entries(t, st, alert.ActInformed)
		if len(inf) != 1 || detail(t, inf[0])["late"] != true {
			t.Fatalf("informed entry: %+v", inf)
		}
		board, err := d.Board(ctx)
		if err != nil || len(board) != 1 || board[0].Clock[0].ClockStatus() != "done" || board[0].Clock[1].ClockStatus() != "late" {
			t.Fatalf("board: %v %+v", err, board)
		}
	})
}

// A milestone met late with no tick in between is still a breach.
func TestLateWithoutTick(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		clk := &clock{}
		d := newDesk(t, st, clk)
		c, err := d.Intake(ctx, alerttest.Intake(t0.Add(-time.Hour)), operator)
		if err != nil {
			t.Fatal(err)
		}
		clk.Set(t0.Add(3 * time.Hour))
		if _, err := d.RecordComplaint(ctx, c.ID, "FIR 1", police); err != nil {
			t.Fatal(err)
		}
		br := entries(t, st, alert.ActClockBreach)
		if len(br) != 1 || detail(t, br[0])["late_seconds"] != 3600.0 || detail(t, br[0])["milestone"] != "complaint" {
			t.Fatalf("breach: %+v", br)
		}
	})
}

func TestIntakeRefusals(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		noKey := alert.NewService(st, nil, alert.Config{}, nil)
		if _, err := noKey.Intake(ctx, alerttest.Intake(time.Now()), operator); !errors.Is(err, sealed.ErrNoKey) {
			t.Fatalf("intake without a data key: %v", err)
		}
		d := newDesk(t, st, &clock{})
		for _, tc := range []struct {
			name string
			mod  func(*alert.Intake)
			want string
		}{
			{"adult", func(in *alert.Intake) { in.Age = 18 }, "under 18"},
			{"no name", func(in *alert.Intake) { in.Child.Name = " " }, "name"},
			{"no place", func(in *alert.Intake) { in.LastSeen.Lat, in.LastSeen.Lon = 0, 0 }, "not a place"},
			{"no district", func(in *alert.Intake) { in.LastSeen.District = "" }, "district"},
			{"phone without operator", func(in *alert.Intake) { in.Checklist.Phones[0].Operator = "" }, "maker and operator"},
			{"bad channel", func(in *alert.Intake) { in.Channel = "fax" }, "channel"},
			{"bad circumstance", func(in *alert.Intake) { in.Circumstance = "eloped" }, "circumstance"},
			{"http photo", func(in *alert.Intake) { in.Child.PhotoURL = "http://x/y.jpg" }, "https"},
		} {
			in := alerttest.Intake(t0)
			tc.mod(&in)
			if _, err := d.Intake(ctx, in, operator); !errors.Is(err, alert.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
			}
		}
		if n := len(entries(t, st, alert.ActIntake)); n != 0 {
			t.Fatalf("%d refused intakes recorded", n)
		}
	})
}

// The personal part is sealed at rest, and every view of it is logged.
func TestSealedAtRest(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		d := newDesk(t, st, &clock{})
		c, err := d.Intake(ctx, alerttest.Intake(t0), operator)
		if err != nil {
			t.Fatal(err)
		}
		r, err := st.MissingCase(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{alerttest.ChildName, "Test Guardian", "Samsung", "31.1167"} {
			if bytes.Contains(r.Doc, []byte(secret)) || bytes.Contains(r.Sealed, []byte(secret)) {
				t.Fatalf("%q stored in clear", secret)
			}
		}
		got, err := d.Get(ctx, c.ID, desk)
		if err != nil || got.Personal == nil || got.Personal.Child.Name != alerttest.ChildName || got.Personal.Checklist.Phones[0].Operator != "Jazz" {
			t.Fatalf("Get: %v %+v", err, got)
		}
		if v := entries(t, st, alert.ActView); len(v) != 1 || v[0].Actor != desk.Name {
			t.Fatalf("views logged: %+v", v)
		}
		other := alert.NewService(st, func() *sealed.Ring {
			r, _ := sealed.NewRing([]string{"other"}, [][]byte{bytes.Repeat([]byte{9}, sealed.KeySize)})
			return r
		}(), alert.Config{}, nil)
		if _, err := other.Get(ctx, c.ID, desk); !errors.Is(err, sealed.ErrUnknownKey) {
			t.Fatalf("Get with another key: %v", err)
		}
	})
}

func TestChecklist(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		d := newDesk(t, st, &clock{})
		for _, tc := range []struct {
			name      string
			mod       func(*alert.Intake)
			complaint bool
			tier      alert.Tier
			want      string // "" = passes
		}{
			{"abduction with complaint", nil, true, alert.TierAlert, ""},
			{"no complaint number", nil, false, alert.TierAlert, alert.CritComplaint},
			{"runaway not in danger", func(in *alert.Intake) { in.Circumstance, in.Danger = alert.Runaway, false }, true, alert.TierAlert, alert.CritAbduction},
			{"lost child in danger", func(in *alert.Intake) { in.Circumstance = alert.Lost }, true, alert.TierAlert, ""},
			{"vague description", func(in *alert.Intake) { in.Child.Description = "small child" }, true, alert.TierAlert, alert.CritDescribed},
			{"no photo nor clothing", func(in *alert.Intake) { in.Child.PhotoURL, in.Child.Clothing = "", "" }, true, alert.TierAlert, alert.CritDescribed},
			{"runaway as a notice", func(in *alert.Intake) { in.Circumstance, in.Danger = alert.Runaway, false }, false, alert.TierNotice, ""},
			{"vague notice", func(in *alert.Intake) { in.Child.Description = "small child" }, false, alert.TierNotice, alert.CritDescribed},
		} {
			in := alerttest.Intake(t0)
			if tc.mod != nil {
				tc.mod(&in)
			}
			c, err := d.Intake(ctx, in, operator)
			if err != nil {
				t.Fatal(err)
			}
			if tc.complaint {
				if _, err := d.RecordComplaint(ctx, c.ID, "FIR 7", police); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := d.Draft(ctx, c.ID, alert.DraftRequest{Tier: tc.tier}, operator); err != nil {
				t.Fatal(err)
			}
			c, err = d.Submit(ctx, c.ID, operator)
			if tc.want == "" {
				if err != nil || c.Alert.State != alert.Pending {
					t.Errorf("%s: %v", tc.name, err)
				}
				continue
			}
			if !errors.Is(err, alert.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v, want %s unmet", tc.name, err, tc.want)
			}
		}
	})
}
