package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/report"
)

// TestReportsPage: child-safety users see every case's state and the
// error of a failed submission, without the case's personal data;
// moderators do not see the page.
func TestReportsPage(t *testing.T) {
	e := newEnv(t, sqliteDSN(t))
	ctx := context.Background()
	failed := report.Case{OpenedBy: "alice", UpdatedBy: "cybertip-outbox", State: report.StateFailed,
		Submission: report.Submission{ErrorKind: "permanent", LastError: "cybertip submit: code 4100 report rejected"}}
	seal := func(int64) (string, error) { return "sealed-acct-42", nil }
	entry := func(id int64) audit.Entry {
		return audit.Actor{Name: "alice"}.Entry(report.ActOpen, report.Target(id), nil)
	}
	if _, err := e.st.CreateReportCase(ctx, failed, seal, entry); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	done := report.Case{OpenedBy: "alice", UpdatedBy: "bob", State: report.StateSubmitted, ApprovedBy: "bob", ApprovedAt: &now,
		Submission: report.Submission{ReportID: 4711, Finished: &now}}
	if _, err := e.st.CreateReportCase(ctx, done, seal, entry); err != nil {
		t.Fatal(err)
	}
	cs := e.session(t, "cs", account.ChildSafety)
	resp := e.do(t, "GET", "/ui/reports", cs, nil, nil)
	body := readBody(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("reports page: %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{"code 4100 report rejected", "[permanent]", "4711", `id="failed-count"`, `href="/ui/reports"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "acct-42") {
		t.Error("the page shows case content")
	}
	resp = e.do(t, "GET", "/ui/reports?state=submitted", cs, nil, nil)
	if body := readBody(t, resp); strings.Contains(body, "4100") || !strings.Contains(body, "4711") {
		t.Error("state filter ignored")
	}
	mod := e.session(t, "mo", account.Moderator)
	if resp := e.do(t, "GET", "/ui/reports", mod, nil, nil); resp.StatusCode != 403 {
		t.Errorf("moderator: %d", resp.StatusCode)
	}
}
