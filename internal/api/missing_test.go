package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/testtool"

	"github.com/nigehban/nigehban/internal/alert"
	"github.com/nigehban/nigehban/internal/alert/alerttest"
	"github.com/nigehban/nigehban/internal/alert/cap"
	"github.com/nigehban/nigehban/internal/alert/cap/captest"
	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/sealed"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// startDesk runs a server with the missing-child desk over a new database
// of the engine of dsn.
func startDesk(t *testing.T, dsn string) *testServer {
	t.Helper()
	return startDeskKeys(t, dsn, alerttest.Ring(t))
}

// startDeskKeys is startDesk with these data keys (nil: none).
func startDeskKeys(t *testing.T, dsn string, keys *sealed.Ring) *testServer {
	t.Helper()
	return startDeskWith(t, dsn, keys, alert.Config{Sender: "alerts@zarra.example.pk", BaseURL: "https://alerts.example.pk"}, Config{NoDeliver: true})
}

// startDeskWith runs a server with a desk of this configuration.
func startDeskWith(t *testing.T, dsn string, keys *sealed.Ring, dc alert.Config, cfg Config) *testServer {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Alerts = alert.NewService(st, keys, dc, nil)
	srv := New(st, cfg, slog.New(slog.DiscardHandler))
	hs := NewHTTPServer(srv.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	bg, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { srv.Run(bg); close(done) }()
	for deadline := testtool.WaitUntil(t); !srv.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("server not ready")
		}
	}
	ts := &testServer{url: "http://" + ln.Addr().String(), st: st, srv: srv}
	ts.admin = ts.key(t, apikey.Admin)
	var once sync.Once
	ts.stop = func() {
		once.Do(func() {
			hs.Shutdown(context.Background())
			cancel()
			<-done
			st.Close()
		})
	}
	t.Cleanup(ts.stop)
	return ts
}

// public GETs a public path and returns its status and body.
func (ts *testServer) public(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp, err := ts.get(t, "", path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// newCase reports a case and drafts and submits an alert with key author;
// it returns the case's path.
func newCase(t *testing.T, ts *testServer, author string, test bool) string {
	t.Helper()
	code, out := ts.call(t, author, "POST", "/v1/missing", alerttest.Intake(time.Now().Add(-time.Hour)), "")
	if code != 201 {
		t.Fatalf("intake: %d %v", code, out)
	}
	p := fmt.Sprintf("/v1/missing/%v", out["case"].(map[string]any)["id"])
	for _, step := range []struct {
		path string
		body any
	}{
		{"/complaint", map[string]string{"number": "FIR 9/2026"}},
		{"/alert", map[string]any{"tier": "alert", "test": test}},
		{"/alert/submit", nil},
	} {
		if code, out := ts.call(t, author, "POST", p+step.path, step.body, ""); code != 200 {
			t.Fatalf("%s: %d %v", step.path, code, out)
		}
	}
	return p
}

func alertState(t *testing.T, ts *testServer, p string) string {
	t.Helper()
	code, out := ts.call(t, ts.admin, "GET", p, nil, "")
	if code != 200 {
		t.Fatalf("get: %d %v", code, out)
	}
	return out["case"].(map[string]any)["alert"].(map[string]any)["state"].(string)
}

// The author of an alert can never approve it, whatever the role of the
// key: over the API, for every role; a second key then can.
func TestAlertAuthorCannotApprove(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, dsn string) {
		ts := startDesk(t, dsn)
		approver := ts.key(t, apikey.Curator)
		for _, role := range []apikey.Role{apikey.Submitter, apikey.Curator, apikey.Admin} {
			t.Run(string(role), func(t *testing.T) {
				author := ts.key(t, role)
				p := newCase(t, ts, author, false)
				code, out := ts.call(t, author, "POST", p+"/alert/approve", nil, "")
				wantCode := "four_eyes"
				if !role.Allows(apikey.Curator) {
					wantCode = "forbidden"
				}
				if code != http.StatusForbidden || out["error"] == nil {
					t.Fatalf("author (%s) approving: %d %v", role, code, out)
				}
				if got := out["error"].(map[string]any)["code"]; wantCode == "four_eyes" && got != wantCode {
					t.Fatalf("author (%s) approving: code %v, want %s", role, got, wantCode)
				}
				if s := alertState(t, ts, p); s != string(alert.Pending) {
					t.Fatalf("after refusal the alert is %s", s)
				}
				if code, out := ts.call(t, approver, "POST", p+"/alert/approve", nil, ""); code != 200 {
					t.Fatalf("second person approving: %d %v", code, out)
				}
				if code, out := ts.call(t, author, "POST", p+"/alert/approve", nil, ""); code != 403 && code != 422 {
					t.Fatalf("author approving again: %d %v", code, out)
				}
			})
		}
		if _, err := audit.VerifyStore(context.Background(), ts.st); err != nil {
			t.Fatal(err)
		}
	})
}

// A test-mode alert is Test in every message and entry, and the request
// cannot ask for another status.
func TestAlertTestModeOverAPI(t *testing.T) {
	ts := startDesk(t, storetest.SQLitePath(t))
	author, approver := ts.key(t, apikey.Submitter), ts.key(t, apikey.Curator)
	code, out := ts.call(t, author, "POST", "/v1/missing", alerttest.Intake(time.Now().Add(-time.Hour)), "")
	if code != 201 {
		t.Fatalf("intake: %d %v", code, out)
	}
	p := fmt.Sprintf("/v1/missing/%v", out["case"].(map[string]any)["id"])
	if code, out := ts.call(t, author, "POST", p+"/alert", map[string]any{"tier": "alert", "test": true, "status": "Actual"}, ""); code != 400 {
		t.Fatalf("draft naming a status: %d %v", code, out)
	}
	p = newCase(t, ts, author, true)
	for _, step := range []struct {
		key, path string
		body      any
	}{
		{approver, "/alert/approve", nil},
		{approver, "/alert/issue", nil},
		{approver, "/alert/update", map[string]string{"note": "seen near the canal"}},
		{author, "/close", map[string]string{"outcome": "found"}},
	} {
		if code, out := ts.call(t, step.key, "POST", p+step.path, step.body, ""); code != 200 {
			t.Fatalf("%s: %d %v", step.path, code, out)
		}
	}
	code, out = ts.call(t, ts.admin, "GET", p, nil, "")
	msgs := out["case"].(map[string]any)["messages"].([]any)
	if code != 200 || len(msgs) != 3 {
		t.Fatalf("messages: %d %v", code, out)
	}
	// The alert and update have left (the case is closed); the cancel is
	// published, Test.
	for i, m := range msgs {
		id := m.(map[string]any)["identifier"].(string)
		code, doc := ts.public(t, "/alerts/cap/"+id)
		if i < 2 {
			if code != http.StatusGone {
				t.Fatalf("withdrawn message %s: %d", id, code)
			}
			continue
		}
		a := captest.Validate(t, doc)
		if a.Status != cap.StatusTest || a.MsgType != cap.MsgCancel || strings.Contains(string(doc), ">Actual<") {
			t.Fatalf("test cancel:\n%s", doc)
		}
	}
	code, feedDoc := ts.public(t, "/alerts/feed.atom")
	f, err := cap.ParseFeed(feedDoc)
	if code != 200 || err != nil || len(f.Entries) != 1 || !strings.HasPrefix(f.Entries[0].Title, "[TEST] Cancelled") {
		t.Fatalf("feed: %d %v\n%s", code, err, feedDoc)
	}
	for _, e := range entriesOf(t, ts.st, alert.ActAlertIssue, alert.ActAlertUpdate, alert.ActAlertCancel) {
		if !strings.Contains(string(e.Detail), `"status":"Test"`) {
			t.Fatalf("%s audited as %s", e.Action, e.Detail)
		}
	}
}

// A live actual alert over the API: CAP and feed public, the intake
// without a data key refused, the board without personal data.
func TestMissingOverAPI(t *testing.T) {
	ts := startDesk(t, storetest.SQLitePath(t))
	author, approver := ts.key(t, apikey.Submitter), ts.key(t, apikey.Curator)
	p := newCase(t, ts, author, false)
	for _, path := range []string{"/alert/approve", "/alert/issue"} {
		if code, out := ts.call(t, approver, "POST", p+path, nil, ""); code != 200 {
			t.Fatalf("%s: %d %v", path, code, out)
		}
	}
	code, feedDoc := ts.public(t, "/alerts/feed.atom")
	f, err := cap.ParseFeed(feedDoc)
	if code != 200 || err != nil || len(f.Entries) != 1 {
		t.Fatalf("feed: %d %v\n%s", code, err, feedDoc)
	}
	href := f.Entries[0].Links[0].Href
	code, doc := ts.public(t, strings.TrimPrefix(href, "https://alerts.example.pk"))
	a := captest.Validate(t, doc)
	if code != 200 || a.Status != cap.StatusActual || !strings.Contains(string(doc), alerttest.ChildName) {
		t.Fatalf("published alert: %d\n%s", code, doc)
	}
	code, out := ts.call(t, author, "GET", "/v1/missing", nil, "")
	if code != 200 || len(out["cases"].([]any)) != 1 || strings.Contains(fmt.Sprint(out), alerttest.ChildName) {
		t.Fatalf("board: %d %v", code, out)
	}
	if code, _ := ts.call(t, author, "GET", p, nil, ""); code != 403 {
		t.Fatalf("a submitter reading personal data: %d", code)
	}
	if code, out := ts.call(t, approver, "GET", "/v1/missing/stats?month="+time.Now().Format("2006-01"), nil, ""); code != 200 || out["cases"] == nil {
		t.Fatalf("stats: %d %v", code, out)
	}
	if code, _ := ts.public(t, "/alerts/cap/nigehban-0000-1"); code != 404 {
		t.Fatalf("unknown message: %d", code)
	}

	// Without a desk the routes answer 404; without a data key, intake 503.
	plain := startServer(t, storetest.SQLitePath(t), Config{NoDeliver: true})
	if code, _ := plain.public(t, "/alerts/feed.atom"); code != 404 {
		t.Fatalf("feed without a desk: %d", code)
	}
	nokey := startDeskKeys(t, storetest.SQLitePath(t), nil)
	code, out = nokey.call(t, nokey.admin, "POST", "/v1/missing", alerttest.Intake(time.Now()), "")
	if code != 503 || out["error"].(map[string]any)["code"] != "no_data_key" {
		t.Fatalf("intake without a data key: %d %v", code, out)
	}
}

// entriesOf returns the audit entries with any of these actions.
func entriesOf(t *testing.T, st store.Store, acts ...string) []audit.Entry {
	t.Helper()
	all, err := st.ListAudit(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Entry
	for _, e := range all {
		for _, a := range acts {
			if e.Action == a {
				out = append(out, e)
			}
		}
	}
	return out
}

// Partners receive the alert and, when the case closes, its cancel:
// delivered signed by the outbox, verifiable with their secret.
func TestAlertWebhooksDelivered(t *testing.T) {
	type got struct {
		typ, status, capURL string
		ok                  bool
	}
	ch := make(chan got, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p struct {
			Type, Status, CapURL string `json:"-"`
		}
		var m map[string]any
		json.Unmarshal(body, &m)
		p.Type, _ = m["type"].(string)
		p.Status, _ = m["status"].(string)
		p.CapURL, _ = m["cap_url"].(string)
		ch <- got{p.Type, p.Status, p.CapURL, action.Verify("partner-secret", r.Header.Get(action.HeaderTimestamp), r.Header.Get(action.HeaderSignature), body)}
	}))
	defer recv.Close()
	ts := startDeskWith(t, storetest.SQLitePath(t), alerttest.Ring(t), alert.Config{Sender: "alerts@zarra.example.pk", BaseURL: "https://alerts.example.pk",
		Partners: []alert.Partner{{Name: "tv", Kind: "media", URL: recv.URL, Secret: "partner-secret"}}},
		Config{WebhookAllowPrivate: true})
	author, approver := ts.key(t, apikey.Submitter), ts.key(t, apikey.Curator)
	p := newCase(t, ts, author, false)
	for _, step := range []struct {
		key, path string
		body      any
	}{
		{approver, "/alert/approve", nil}, {approver, "/alert/issue", nil}, {author, "/close", map[string]string{"outcome": "found"}},
	} {
		if code, out := ts.call(t, step.key, "POST", p+step.path, step.body, ""); code != 200 {
			t.Fatalf("%s: %d %v", step.path, code, out)
		}
	}
	var types []string
	for len(types) < 2 {
		select {
		case g := <-ch:
			if !g.ok || g.status != cap.StatusActual || !strings.HasPrefix(g.capURL, "https://alerts.example.pk/alerts/cap/nigehban-") {
				t.Fatalf("delivery %+v", g)
			}
			types = append(types, g.typ)
		case <-time.After(time.Until(testtool.WaitUntil(t))):
			t.Fatalf("deliveries so far: %v", types)
		}
	}
	// Deliveries run concurrently: receivers order by the CAP sent time
	// and references, not by arrival.
	slices.Sort(types)
	if strings.Join(types, ",") != "alert.cancel,alert.issue" {
		t.Fatalf("partner received %v", types)
	}
}
