package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/console"
	"github.com/nigehban/nigehban/internal/review"
)

// TestBankPolicyForm: a curator sets a bank's review policy on its page;
// the policy router sees it at once and the change is audited; invalid
// values are refused and change nothing.
func TestBankPolicyForm(t *testing.T) {
	e := newEnv(t, sqliteDSN(t))
	ctx := context.Background()
	cur := e.session(t, "cur", account.Curator)
	for _, tc := range []struct {
		name        string
		form        url.Values
		status      int
		action      bank.Action
		above       int
		negative    bool
		page        string // on the bank's page afterwards
		wantChanged bool
	}{
		{"block with review above 24", url.Values{"action": {"block"}, "review_above": {"24"}}, 303, bank.ActionBlock, 24, false,
			"hits are acted on (block); PDQ hits farther than 24 go to review", true},
		{"review bank", url.Values{"action": {"review"}, "review_above": {"0"}}, 303, bank.ActionReview, 0, false,
			"review bank: every hit goes to a person", true},
		{"negative", url.Values{"action": {"log"}, "negative": {"1"}}, 303, bank.ActionLog, 0, true,
			"negative bank", true},
		{"same again", url.Values{"action": {"log"}, "negative": {"1"}}, 303, bank.ActionLog, 0, true, "negative bank", false},
		{"distance too far", url.Values{"action": {"block"}, "review_above": {"300"}}, 400, bank.ActionLog, 0, true, "negative bank", false},
		{"not a number", url.Values{"action": {"block"}, "review_above": {"far"}}, 400, bank.ActionLog, 0, true, "negative bank", false},
		{"unknown action", url.Values{"action": {"delete"}}, 400, bank.ActionLog, 0, true, "negative bank", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := count(auditActions(t, e.st), "bank.update")
			resp := e.do(t, "POST", "/ui/banks/b1/policy", cur, tc.form, nil)
			readBody(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			b, err := e.st.GetBank(ctx, "b1")
			if err != nil {
				t.Fatal(err)
			}
			if b.Action != tc.action || b.ReviewAbove != tc.above || b.Negative != tc.negative {
				t.Errorf("bank %s above %d negative %v, want %s %d %v", b.Action, b.ReviewAbove, b.Negative, tc.action, tc.above, tc.negative)
			}
			if got := count(auditActions(t, e.st), "bank.update") - before; (got == 1) != tc.wantChanged {
				t.Errorf("%d bank.update entries, changed %v", got, tc.wantChanged)
			}
			body := readBody(t, e.do(t, "GET", "/ui/banks/b1", cur, nil, nil))
			if !strings.Contains(body, tc.page) {
				t.Errorf("bank page lacks %q", tc.page)
			}
		})
	}
	if resp := e.do(t, "POST", "/ui/banks/nope/policy", cur, url.Values{"action": {"block"}}, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("policy of a missing bank: %d", resp.StatusCode)
	}
}

// TestQuarantinePage: child-safety users see the signals the flood rule
// paused, keep one paused (audited, still paused) and release it (lifted
// through the review service, audited); released pauses show with ?all=1.
func TestQuarantinePage(t *testing.T) {
	e := newEnv(t, sqliteDSN(t))
	ctx := context.Background()
	if ok, err := e.st.QuarantineSignal(ctx, review.Quarantine{SignalID: e.sig.ID, Bank: "b1", Since: time.Now().UTC(),
		Recent: 31, Baseline: 2}, testActor); err != nil || !ok {
		t.Fatalf("quarantine: %v %v", ok, err)
	}
	cs := e.session(t, "cs", account.ChildSafety)
	id := itoa(e.sig.ID)
	body := readBody(t, e.do(t, "GET", "/ui/quarantine", cs, nil, nil))
	for _, want := range []string{`id="q-` + id + `"`, `<td class="num">31</td>`, e.sig.Value, `id="release-` + id + `"`, `href="/ui/quarantine"`} {
		if !strings.Contains(body, want) {
			t.Errorf("quarantine page lacks %q", want)
		}
	}
	resp := e.do(t, "POST", "/ui/quarantine/"+id+"/keep", cs, url.Values{"comment": {"checking with the source"}}, nil)
	if resp.Header.Get("Location") != "/ui/quarantine?msg=kept" {
		t.Fatalf("keep: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	paused, err := e.st.QuarantinedSignals(ctx, []int64{e.sig.ID})
	if err != nil || !paused[e.sig.ID] {
		t.Fatalf("kept signal not paused: %v %v", paused, err)
	}
	if n := count(auditActions(t, e.st), console.ActQuarantineKeep); n != 1 {
		t.Errorf("%d keep entries, want 1", n)
	}
	resp = e.do(t, "POST", "/ui/quarantine/"+id+"/release", cs, url.Values{}, nil)
	if resp.Header.Get("Location") != "/ui/quarantine?msg=released" {
		t.Fatalf("release: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if paused, _ := e.st.QuarantinedSignals(ctx, []int64{e.sig.ID}); paused[e.sig.ID] {
		t.Error("released signal still paused")
	}
	if n := count(auditActions(t, e.st), review.ActLift); n != 1 {
		t.Errorf("%d lift entries, want 1", n)
	}
	for _, op := range []string{"release", "keep"} {
		if resp := e.do(t, "POST", "/ui/quarantine/"+id+"/"+op, cs, url.Values{}, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s of a released signal: %d, want 404", op, resp.StatusCode)
		}
	}
	if body := readBody(t, e.do(t, "GET", "/ui/quarantine", cs, nil, nil)); strings.Contains(body, `id="q-`+id+`"`) {
		t.Error("released signal still listed")
	}
	body = readBody(t, e.do(t, "GET", "/ui/quarantine?all=1", cs, nil, nil))
	if !strings.Contains(body, `id="q-`+id+`"`) || !strings.Contains(body, "(cs)") || strings.Contains(body, `id="release-`+id+`"`) {
		t.Error("?all=1 does not show the released pause with who released it, without actions")
	}
}
