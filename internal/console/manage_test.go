package console_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/history"
)

// postMultipart sends a multipart form (files: field → file name and
// content) with the session cookie, without following redirects.
func (e *env) postMultipart(t *testing.T, path, cookie string, fields map[string]string, files map[string][2]string) *http.Response {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	for k, f := range files {
		w, err := mw.CreateFormFile(k, f[0])
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, f[1])
	}
	mw.Close()
	req, err := http.NewRequest("POST", e.srv.URL+path, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.AddCookie(&http.Cookie{Name: "nigehban_session", Value: cookie})
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestBankManagement: a curator creates a bank, changes its settings,
// imports a list (following its progress page to the end) and exports it.
func TestBankManagement(t *testing.T) {
	e := newEnv(t, sqliteDSN(t))
	ctx := context.Background()
	cur := e.session(t, "cur", account.Curator)

	resp := e.do(t, "POST", "/ui/banks", cur, url.Values{"name": {"victims"}, "description": {"self-submitted"},
		"action": {"review"}, "pdq_threshold": {"20"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/banks/victims?msg=created" {
		t.Fatalf("create: %d %s", resp.StatusCode, readBody(t, resp))
	}
	if resp := e.do(t, "POST", "/ui/banks", cur, url.Values{"name": {"victims"}}, nil); resp.StatusCode != http.StatusConflict {
		t.Fatalf("create twice: %d", resp.StatusCode)
	}
	if resp := e.do(t, "POST", "/ui/banks", cur, url.Values{"name": {"x"}, "pdq_threshold": {"999"}}, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("threshold 999: %d", resp.StatusCode)
	}
	resp = e.do(t, "POST", "/ui/banks/victims/settings", cur, url.Values{"description": {"d2"}, "action": {"block"},
		"pdq_threshold": {"25"}}, nil) // enabled unticked: disabled
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("settings: %d %s", resp.StatusCode, readBody(t, resp))
	}
	b, err := e.st.GetBank(ctx, "victims")
	if err != nil || b.Description != "d2" || b.Action != bank.ActionBlock || b.PDQThreshold != 25 || b.Enabled {
		t.Fatalf("after settings: %+v %v", b, err)
	}

	list := "0123456789abcdef0123456789abcdef\nfedcba9876543210fedcba9876543210\nnot a hash\n"
	resp = e.postMultipart(t, "/ui/banks/victims/import", cur, map[string]string{"format": "auto", "category": "c1"},
		map[string][2]string{"file": {"list.txt", list}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/ui/imports/") {
		t.Fatalf("import: %d %s %s", resp.StatusCode, loc, readBody(t, resp))
	}
	var page string
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp := e.do(t, "GET", loc, cur, nil, nil)
		page = readBody(t, resp)
		if resp.Header.Get("Refresh") == "" {
			break // done: the page stops refreshing itself
		}
		if time.Now().After(deadline) {
			t.Fatalf("import still running:\n%s", page)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !regexp.MustCompile(`id="import-added">2 `).MatchString(page) || !regexp.MustCompile(`id="import-bad">1<`).MatchString(page) {
		t.Fatalf("import result page:\n%s", page)
	}
	st, err := e.st.BankStats(ctx, "victims")
	if err != nil || st.Active[bank.MD5] != 2 {
		t.Fatalf("signals after import: %+v %v", st, err)
	}

	resp = e.do(t, "GET", "/ui/banks/victims/export?format=plain", cur, nil, nil)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Disposition"), "victims.txt") ||
		!strings.Contains(body, "0123456789abcdef0123456789abcdef") || !strings.Contains(body, "fedcba9876543210fedcba9876543210") {
		t.Fatalf("export: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Disposition"), body)
	}
	if resp := e.do(t, "GET", "/ui/banks/victims/export?format=nope", cur, nil, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("export in an unknown format: %d", resp.StatusCode)
	}
	acts := auditActions(t, e.st)
	for _, want := range []string{"bank.create", "bank.update", "bank.import"} {
		if !hasAction(acts, want) {
			t.Errorf("audit lacks %s: %v", want, acts)
		}
	}
}

// TestWebhooksPage: a curator sets a bank's webhook, sends a signed test
// event that the receiver verifies, and the test is audited; a bad URL or
// short secret is refused, and the secret is never shown.
func TestWebhooksPage(t *testing.T) {
	e := newEnv(t, sqliteDSN(t))
	cur := e.session(t, "cur", account.Curator)
	const secret = "0123456789abcdef-secret"
	var mu sync.Mutex
	var got []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ok := action.Verify(secret, r.Header.Get(action.HeaderTimestamp), r.Header.Get(action.HeaderSignature), body)
		mu.Lock()
		got = append(got, string(body))
		mu.Unlock()
		if !ok {
			http.Error(w, "bad signature", http.StatusUnauthorized)
		}
	}))
	defer recv.Close()

	for name, form := range map[string]url.Values{
		"bad scheme":   {"bank": {"b1"}, "url": {"ftp://x.example/"}, "secret": {secret}},
		"short secret": {"bank": {"b1"}, "url": {recv.URL}, "secret": {"short"}},
	} {
		if resp := e.do(t, "POST", "/ui/webhooks", cur, form, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, resp.StatusCode)
		}
	}
	resp := e.do(t, "POST", "/ui/webhooks", cur, url.Values{"bank": {"b1"}, "url": {recv.URL}, "secret": {secret}, "types": {"pdq, md5"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("set webhook: %d %s", resp.StatusCode, readBody(t, resp))
	}
	page := readBody(t, e.do(t, "GET", "/ui/webhooks", cur, nil, nil))
	if !strings.Contains(page, recv.URL) || strings.Contains(page, secret) {
		t.Fatalf("webhooks page shows the URL %v, the secret %v", strings.Contains(page, recv.URL), strings.Contains(page, secret))
	}
	resp = e.do(t, "POST", "/ui/banks/b1/webhook/test", cur, url.Values{}, nil)
	page = readBody(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "delivered in") {
		t.Fatalf("test delivery: %d\n%s", resp.StatusCode, page)
	}
	mu.Lock()
	if len(got) != 1 || !strings.Contains(got[0], `"webhook.test"`) {
		t.Fatalf("receiver got %q", got)
	}
	mu.Unlock()
	// A receiver that refuses: the page says so with a 502.
	recv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusInternalServerError) })
	resp = e.do(t, "POST", "/ui/banks/b1/webhook/test", cur, url.Values{}, nil)
	if page := readBody(t, resp); resp.StatusCode != http.StatusBadGateway || !strings.Contains(page, "500") {
		t.Fatalf("refused test delivery: %d\n%s", resp.StatusCode, page)
	}
	if n := count(auditActions(t, e.st), "webhook.test"); n != 2 {
		t.Fatalf("%d webhook.test entries, want 2", n)
	}
	if resp := e.do(t, "POST", "/ui/webhooks/dead/retry", cur, url.Values{"all": {"1"}}, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("retry all: %d", resp.StatusCode)
	}
}

// TestDebugger: the matching debugger compares files and hashes with every
// algorithm: a rotated copy is far by plain PDQ and close by the dihedral
// forms; two hashes give their distance.
func TestDebugger(t *testing.T) {
	e := newEnv(t, sqliteDSN(t))
	mod := e.session(t, "mod", account.Moderator)
	read := func(name string) string {
		b, err := os.ReadFile("../../../shared/testdata/pdq/png/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	resp := e.postMultipart(t, "/ui/debug", mod, nil, map[string][2]string{
		"file_a": {"orig.png", read("dih_bridge-1-original.png")},
		"file_b": {"rot.png", read("dih_bridge-2-rotate-90.png")},
	})
	page := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("compare files: %d\n%s", resp.StatusCode, page)
	}
	rows := regexp.MustCompile(`<tr><td>([^<]+)</td><td class="num">([^<]+)</td><td>[^<]*</td>\s*<td>(?:<strong>)?(yes|no)`).FindAllStringSubmatch(page, -1)
	verdict := map[string]string{}
	for _, r := range rows {
		verdict[r[1]] = r[3]
	}
	if verdict["MD5"] != "no" || verdict["PDQ"] != "no" || verdict["PDQ, rotated or mirrored"] != "yes" {
		t.Fatalf("verdicts %v\n%s", verdict, page)
	}
	if !strings.Contains(page, "rotated 90°") && !strings.Contains(page, "rotated 270°") {
		t.Errorf("the dihedral row does not name the rotation:\n%s", page)
	}
	a := strings.Repeat("f", 64)
	b := strings.Repeat("f", 60) + "0000"
	resp = e.postMultipart(t, "/ui/debug", mod, map[string]string{"hash_a": a, "type_a": "pdq", "hash_b": b, "type_b": "pdq"}, nil)
	page = readBody(t, resp)
	if !regexp.MustCompile(`<td>PDQ</td><td class="num">16</td>`).MatchString(page) {
		t.Fatalf("two hashes 16 bits apart:\n%s", page)
	}
	resp = e.postMultipart(t, "/ui/debug", mod, map[string]string{"hash_a": "zz", "type_a": "pdq"}, nil)
	if page := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `id="error"`) {
		t.Fatalf("bad input: %d\n%s", resp.StatusCode, page)
	}
}

// TestOverviewChart: hits of the last 30 days are drawn per bank.
func TestOverviewChart(t *testing.T) {
	e := newEnv(t, sqliteDSN(t))
	v := e.session(t, "v", account.Viewer)
	if page := readBody(t, e.do(t, "GET", "/ui/", v, nil, nil)); !strings.Contains(page, `id="no-hits"`) {
		t.Fatalf("overview without hits:\n%s", page)
	}
	now := time.Now().UTC()
	var hits []history.Hit
	for i := range 5 {
		hits = append(hits, history.Hit{At: now.Add(-time.Duration(i) * 24 * time.Hour), Submitter: "k", Bank: "b1", SignalID: e.sig.ID, Type: "md5", Value: e.sig.Value})
	}
	if err := e.st.RecordHits(context.Background(), hits); err != nil {
		t.Fatal(err)
	}
	page := readBody(t, e.do(t, "GET", "/ui/", v, nil, nil))
	if n := strings.Count(page, "<rect x="); n != 5 || !strings.Contains(page, "b1: 5") {
		t.Fatalf("%d bars, legend b1: 5 %v\n%s", n, strings.Contains(page, "b1: 5"), page)
	}
}
