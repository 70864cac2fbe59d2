package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/console"
	"github.com/nigehban/nigehban/internal/history"
	"github.com/nigehban/nigehban/internal/report"
	"github.com/nigehban/nigehban/internal/review"
	"github.com/nigehban/nigehban/internal/sealed"
)

// TestReportActions: a child-safety moderator holding a review item opens
// a report case from it (its match-history hit and uploader context) and
// lands on the case; a second person (curator) approves it, the opener
// cannot (four eyes, and approve needs the curator role as in the API); a
// failed case is retried with the NCMEC report id; every step audited.
func TestReportActions(t *testing.T) {
	var keys *sealed.Ring
	e := newEnvWith(t, sqliteDSN(t), func(cfg *console.Config) { keys = cfg.DataKeys })
	ctx := context.Background()
	rsvc := &report.Service{Store: e.st, Keys: keys}
	if err := rsvc.SaveCyberTip(ctx, testActor, report.CyberTipConfig{URL: "https://cybertip.invalid", Username: "esp",
		Password: "secret", ESP: report.ESP{Platform: "Example", Email: "safety@example.org"}}); err != nil {
		t.Fatal(err)
	}
	// Two uploads matched signal e.sig: one with uploader context, one
	// without; both in the match history and queued for review.
	route := review.NewService(e.st, keys)
	for i, up := range []history.Uploader{{AccountID: "acct-7", IP: "192.0.2.10", Port: 41000}, {}} {
		cid := fmt.Sprintf("upload-%d", i)
		if err := e.st.RecordHits(ctx, []history.Hit{{At: time.Now().UTC(), Submitter: "key:1 (platform)", ContentID: cid,
			Bank: "b1", SignalID: e.sig.ID, Type: "md5", Value: e.sig.Value}}); err != nil {
			t.Fatal(err)
		}
		if _, err := route.Route(ctx, review.Request{ContentID: cid, Submitter: "key:1 (platform)", Uploader: up,
			Hits:   []review.Hit{{Bank: "b1", SignalID: e.sig.ID, Type: "md5", Value: e.sig.Value, Action: bank.ActionReview}},
			Hashes: []review.Hash{{Type: "md5", Value: e.sig.Value}, {Type: "sha1", Value: strings.Repeat("ab", 20)}}}); err != nil {
			t.Fatal(err)
		}
	}
	cs := e.session(t, "cs", account.ChildSafety)
	mod := e.session(t, "mod", account.Moderator)
	claim := func(cookie string) string {
		t.Helper()
		resp := e.do(t, "POST", "/ui/reviews/claim", cookie, url.Values{}, nil)
		loc := resp.Header.Get("Location")
		if !regexp.MustCompile(`^/ui/reviews/\d+$`).MatchString(loc) {
			t.Fatalf("claim: %d %q", resp.StatusCode, loc)
		}
		return loc
	}
	item := claim(cs) // the oldest: with uploader context
	if body := readBody(t, e.do(t, "GET", item, cs, nil, nil)); !strings.Contains(body, `id="open-report"`) {
		t.Fatal("child-safety item page lacks the open-report form")
	}
	other := claim(mod)
	if body := readBody(t, e.do(t, "GET", other, mod, nil, nil)); strings.Contains(body, `id="open-report"`) {
		t.Error("a moderator is offered to open a report")
	}
	if resp := e.do(t, "POST", other+"/report", mod, url.Values{}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("moderator opens a report: %d", resp.StatusCode)
	}

	resp := e.do(t, "POST", item+"/report", cs, url.Values{"note": {"seen twice this week"}}, nil)
	loc := resp.Header.Get("Location")
	m := regexp.MustCompile(`^/ui/reports/(\d+)\?msg=opened$`).FindStringSubmatch(loc)
	if m == nil {
		t.Fatalf("open a report: %d %q %s", resp.StatusCode, loc, readBody(t, resp))
	}
	casePath := "/ui/reports/" + m[1]
	cases, err := e.st.ListReportCases(ctx, "", 10)
	if err != nil || len(cases) != 1 {
		t.Fatalf("cases: %d, %v", len(cases), err)
	}
	rc := cases[0]
	_, ct, err := rsvc.View(ctx, testActor, rc.ID, e.st)
	if err != nil {
		t.Fatal(err)
	}
	if rc.State != report.StateOpen || len(ct.Items) != 1 || ct.Items[0].SignalID != e.sig.ID || ct.Items[0].SHA1 != strings.Repeat("ab", 20) ||
		ct.Subject.AccountIDs[0] != "acct-7" || len(ct.Notes) != 1 {
		t.Errorf("case %+v content %+v", rc, ct)
	}
	body := readBody(t, e.do(t, "GET", casePath, cs, nil, nil))
	if !strings.Contains(body, "report.open") || strings.Contains(body, "acct-7") || strings.Contains(body, `id="approve"`) {
		t.Error("case page: history missing, personal data shown, or approve offered to child-safety")
	}
	// The opener is a curator now: still not the second person.
	if _, err := e.con.Accounts().SetRole(ctx, "cs", account.Curator, "test"); err != nil {
		t.Fatal(err)
	}
	cs = e.session(t, "cs", account.Curator) // a role change ends sessions
	if body := readBody(t, e.do(t, "GET", casePath, cs, nil, nil)); !strings.Contains(body, `id="four-eyes"`) {
		t.Error("opener not told a second person approves")
	}
	if resp := e.do(t, "POST", casePath+"/approve", cs, url.Values{}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("opener approves: %d, want 403", resp.StatusCode)
	}
	cur := e.session(t, "cur2", account.Curator)
	if body := readBody(t, e.do(t, "GET", casePath, cur, nil, nil)); !strings.Contains(body, `id="approve"`) {
		t.Error("second curator is not offered approve")
	}
	resp = e.do(t, "POST", casePath+"/approve", cur, url.Values{}, nil)
	if resp.Header.Get("Location") != casePath+"?msg=approved" {
		t.Fatalf("approve: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), readBody(t, resp))
	}
	if rc, _ := e.st.GetReportCase(ctx, rc.ID); rc.State != report.StateApproved {
		t.Errorf("after approve: %s", rc.State)
	}
	if resp := e.do(t, "POST", casePath+"/approve", cur, url.Values{}, nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("second approve: %d, want 409", resp.StatusCode)
	}
	if resp := e.do(t, "POST", casePath+"/retry", cur, url.Values{}, nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("retry of an approved case: %d, want 409", resp.StatusCode)
	}

	// A failed case: retried with the report id found at NCMEC.
	now := time.Now().UTC()
	failed, err := e.st.CreateReportCase(ctx, report.Case{OpenedBy: "alice", UpdatedBy: "cybertip-outbox", State: report.StateFailed,
		ApprovedBy: "bob", ApprovedAt: &now, Submission: report.Submission{ErrorKind: "uncertain", LastError: "timeout after submit", Attempts: 3}},
		func(int64) (string, error) { return "sealed", nil },
		func(id int64) audit.Entry {
			return audit.Actor{Name: "alice"}.Entry(report.ActOpen, report.Target(id), nil)
		})
	if err != nil {
		t.Fatal(err)
	}
	fp := fmt.Sprintf("/ui/reports/%d", failed.ID)
	if body := readBody(t, e.do(t, "GET", fp, cur, nil, nil)); !strings.Contains(body, `id="retry"`) || !strings.Contains(body, "timeout after submit") {
		t.Error("failed case page lacks retry or its error")
	}
	if resp := e.do(t, "POST", fp+"/retry", cur, url.Values{"report_id": {"x1"}}, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("retry with a bad report id: %d", resp.StatusCode)
	}
	resp = e.do(t, "POST", fp+"/retry", cur, url.Values{"report_id": {"4711"}}, nil)
	if resp.Header.Get("Location") != fp+"?msg=retried" {
		t.Fatalf("retry: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if c, _ := e.st.GetReportCase(ctx, failed.ID); c.State != report.StateSubmitting || c.Submission.ReportID != 4711 || c.Submission.LastError != "" {
		t.Errorf("after retry: %s %+v", c.State, c.Submission)
	}

	// The item without uploader context cannot be reported.
	e.do(t, "POST", item+"/decide", cs, url.Values{"decision": {"confirm"}}, nil)
	e.do(t, "POST", other+"/decide", mod, url.Values{"decision": {"skip"}}, nil)
	noUp := claim(cs)
	if resp := e.do(t, "POST", noUp+"/report", cs, url.Values{}, nil); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("report without uploader context: %d, want 422", resp.StatusCode)
	}
	acts := auditActions(t, e.st)
	for act, n := range map[string]int{report.ActOpen: 2, report.ActApprove: 1, report.ActRetry: 1, review.ActUploaderView: 1} {
		if got := count(acts, act); got < n {
			t.Errorf("%d %s entries, want at least %d", got, act, n)
		}
	}
}
