package console_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/alert"
)

// acceptConfirms makes the tab's confirmation dialogs answer yes and keeps
// their text in sessionStorage (it survives the form's navigation).
func acceptConfirms(t *testing.T, ctx context.Context) {
	t.Helper()
	eval[bool](t, ctx, `window.confirm = function (m) { sessionStorage.setItem("confirmed", m); return true; }; true`)
}

// TestBrowserMissingDesk: in the real pages, an operator reports a child
// and drafts a test alert; the test alert is framed differently from
// everything else, its author is not offered the approval, and a second
// person approves and issues it after confirmations that say TEST.
func TestBrowserMissingDesk(t *testing.T) {
	s := newSite(t)
	op, second := s.tab(t), s.tab(t)
	s.firstLogin(t, op, s.user(t, "amina", account.ChildSafety))
	s.firstLogin(t, second, s.user(t, "bilal", account.ChildSafety))

	s.open(t, op, "/ui/missing/new")
	fill := [][2]string{{"name", "Fictional Child"}, {"age", "8"}, {"description", "thin, 125 cm, short black hair, mole on the right cheek"},
		{"clothing", "blue school uniform"}, {"lat", "31.5204"}, {"lon", "74.3587"}, {"district", "Lahore"},
		{"guardian_name", "Test Parent"}, {"reporter_name", "Operator 7"}}
	var acts []chromedp.Action[chromedp.Void]
	for _, f := range fill {
		acts = append(acts, chromedp.SendKeys(chromedp.CSS(`[name="`+f[0]+`"]`), f[1]))
	}
	acts = append(acts, chromedp.SetValue(chromedp.CSS(`[name="last_seen_at"]`), "2026-01-04T10:15"),
		chromedp.SetValue(chromedp.CSS(`[name="circumstance"]`), "abduction"))
	step(t, op, "fill intake", acts...)
	submit(t, op, `#intake button[type="submit"]`)
	casePath := strings.TrimPrefix(location(t, op), s.url)
	if !strings.HasPrefix(casePath, "/ui/missing/") {
		t.Fatalf("after intake at %s", casePath)
	}
	step(t, op, "complaint number", chromedp.SendKeys(chromedp.CSS(`[name="number"]`), "FIR 44/2026"))
	submit(t, op, `form[action$="/complaint"] button`)
	step(t, op, "test mode", chromedp.Click(chromedp.CSS(`#draft [name="test"]`)))
	submit(t, op, `#draft button`)
	submit(t, op, `form[action$="/submit"] button`)

	// The author's page: framed as a test, no approve button.
	frame := `getComputedStyle(document.getElementById("desk")).borderTopColor`
	if c := eval[string](t, op, frame); c != "rgb(106, 61, 154)" {
		t.Errorf("test alert frame colour %q", c)
	}
	if got := text(t, op, "#test-banner"); !strings.Contains(got, "TEST ALERT") {
		t.Errorf("banner %q", got)
	}
	if n := eval[int](t, op, `document.querySelectorAll("#approve").length`); n != 0 {
		t.Error("the author is offered the approval")
	}

	s.open(t, second, casePath)
	acceptConfirms(t, second)
	submit(t, second, "#approve")
	if m := eval[string](t, second, `sessionStorage.getItem("confirmed")`); !strings.Contains(m, "TEST") {
		t.Errorf("approval confirmation %q", m)
	}
	acceptConfirms(t, second)
	submit(t, second, "#issue")
	if m := eval[string](t, second, `sessionStorage.getItem("confirmed")`); !strings.Contains(m, "TEST alert (status=Test)") {
		t.Errorf("issue confirmation %q", m)
	}
	if st := text(t, second, "#alert-state"); st != string(alert.Issued) {
		t.Fatalf("state after issue %q", st)
	}
	if c := eval[string](t, second, frame); c != "rgb(106, 61, 154)" {
		t.Errorf("issued test alert frame colour %q", c)
	}
	if n := eval[int](t, second, `document.querySelectorAll("#live-banner").length`); n != 0 {
		t.Error("a test alert shows the live banner")
	}
	cases, err := s.desk.Board(context.Background())
	if err != nil || len(cases) != 1 || !cases[0].Messages[0].Test || cases[0].Alert.Author == cases[0].Alert.Approver {
		t.Fatalf("desk after the browser: %v %+v", err, cases)
	}
}
