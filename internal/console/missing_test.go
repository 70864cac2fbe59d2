package console_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/alert"
	"github.com/nigehban/nigehban/internal/alert/alerttest"
)

// The desk through the console: intake by form, the clock board, a test
// alert that looks like one, the author never offered nor allowed the
// approval, a second person approving and issuing.
func TestMissingDesk(t *testing.T) {
	e := newEnv(t, sqliteDSN(t))
	author := e.session(t, "amina", account.ChildSafety)
	second := e.session(t, "bilal", account.ChildSafety)
	in := alerttest.Intake(time.Now())
	form := url.Values{"channel": {"police"}, "name": {in.Child.Name}, "age": {"9"}, "sex": {"male"},
		"description": {in.Child.Description}, "clothing": {in.Child.Clothing}, "last_seen_at": {"2026-01-04T18:30"},
		"lat": {"31.1167"}, "lon": {"74.45"}, "district": {"Kasur"}, "circumstance": {"abduction"}, "danger": {"1"},
		"guardian_name": {"Test Guardian"}, "reporter_name": {"ASI Test"}, "friends": {"a\nb\n"},
		"phones": {"Nokia, 105, Zong, 0300"}}
	resp := e.do(t, "POST", "/ui/missing", author, form, nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/ui/missing/") {
		t.Fatalf("intake: %d %s\n%s", resp.StatusCode, loc, readBody(t, resp))
	}
	id, _ := strconv.ParseInt(strings.TrimPrefix(loc, "/ui/missing/"), 10, 64)
	c, err := e.desk.Get(t.Context(), id, testActor)
	if err != nil || c.Personal.Checklist.Phones[0].Operator != "Zong" || len(c.Personal.Checklist.FriendsAndAcquaintances) != 2 ||
		c.LastSeenAt != time.Date(2026, 1, 4, 13, 30, 0, 0, time.UTC) || !strings.Contains(c.ReportedBy, "(amina)") {
		t.Fatalf("case from the form: %v %+v %+v", err, c, c.Personal)
	}
	board := readBody(t, e.do(t, "GET", "/ui/missing", second, nil, nil))
	if !strings.Contains(board, `href="/ui/missing/`+strconv.FormatInt(id, 10)+`"`) || strings.Contains(board, in.Child.Name) {
		t.Fatalf("board lacks the case or shows the child:\n%s", board)
	}
	post := func(cookie, op string, f url.Values) *http.Response {
		t.Helper()
		if f == nil {
			f = url.Values{}
		}
		return e.do(t, "POST", "/ui/missing/"+strconv.FormatInt(id, 10)+"/"+op, cookie, f, nil)
	}
	for _, step := range []struct {
		op string
		f  url.Values
	}{
		{"complaint", url.Values{"number": {"FIR 3"}}},
		{"draft", url.Values{"tier": {"alert"}, "test": {"1"}, "radius_km": {"20"}, "hours": {"24"}}},
		{"submit", nil},
	} {
		if r := post(author, step.op, step.f); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", step.op, r.StatusCode, readBody(t, r))
		}
	}
	page := readBody(t, e.do(t, "GET", "/ui/missing/"+strconv.FormatInt(id, 10), author, nil, nil))
	if !strings.Contains(page, `class="desk test-mode"`) || !strings.Contains(page, `id="test-banner"`) ||
		!strings.Contains(page, `id="not-yours"`) || strings.Contains(page, `id="approve"`) {
		t.Fatalf("author's view of a pending test alert:\n%s", page)
	}
	if r := post(author, "approve", nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("author approving through the console: %d", r.StatusCode)
	}
	page = readBody(t, e.do(t, "GET", "/ui/missing/"+strconv.FormatInt(id, 10), second, nil, nil))
	if !strings.Contains(page, `id="approve" data-confirm="Approve this TEST alert?"`) {
		t.Fatalf("second person's view:\n%s", page)
	}
	for _, op := range []string{"approve", "issue"} {
		if r := post(second, op, nil); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", op, r.StatusCode, readBody(t, r))
		}
	}
	c, _ = e.desk.Get(t.Context(), id, testActor)
	if c.Alert.State != alert.Issued || !c.Messages[0].Test || c.Alert.Approver == c.Alert.Author {
		t.Fatalf("after issue: %+v", c.Alert)
	}
	page = readBody(t, e.do(t, "GET", "/ui/missing/"+strconv.FormatInt(id, 10), second, nil, nil))
	if !strings.Contains(page, `id="test-banner"`) || strings.Contains(page, `id="live-banner"`) || !strings.Contains(page, "&lt;status&gt;Test&lt;/status&gt;") {
		t.Fatalf("issued test alert page:\n%s", page)
	}
	// A viewer may not see the desk at all.
	viewer := e.session(t, "v", account.Viewer)
	if r := e.do(t, "GET", "/ui/missing", viewer, nil, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer on the board: %d", r.StatusCode)
	}
}
