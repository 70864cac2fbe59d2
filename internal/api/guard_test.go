package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/store/storetest"
	"github.com/nigehban/nigehban/internal/testtool"
)

func TestLimiter(t *testing.T) {
	l := newLimiter[string](2, 3) // 2 tokens a second, burst 3
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		if _, ok := l.allow("a", t0); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	wait, ok := l.allow("a", t0)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th request: ok=%v wait=%v, want refused for 500ms", ok, wait)
	}
	if !l.blocked("a", t0) || l.blocked("b", t0) {
		t.Error("blocked: a should be, b should not")
	}
	if _, ok := l.allow("a", t0.Add(499*time.Millisecond)); ok {
		t.Error("allowed before a token was due")
	}
	if _, ok := l.allow("a", t0.Add(1000*time.Millisecond)); !ok {
		t.Error("refused after a token was due")
	}
	if _, ok := l.allow("b", t0); !ok {
		t.Error("keys share a bucket")
	}
	got := l.drain(t0.Add(time.Second))
	if got["a"] != (usage{used: 4, refused: 2}) || got["b"] != (usage{used: 1}) {
		t.Errorf("drain = %v", got)
	}
	if again := l.drain(t0.Add(time.Second)); len(again) != 0 {
		t.Errorf("second drain = %v, want nothing new", again)
	}
	// Idle (refilled) buckets are forgotten; drained ones are not refilled.
	l.drain(t0.Add(10 * time.Second))
	if len(l.buckets) != 0 {
		t.Errorf("%d idle buckets kept", len(l.buckets))
	}
}

// TestRateLimits: a key over its rate gets 429 with Retry-After; an address
// that keeps presenting bad keys is cut off after failBurst attempts, each
// of which is audited, and the rest summed up; key use is audited per key.
func TestRateLimits(t *testing.T) {
	ts := startServer(t, storetest.SQLitePath(t), Config{RatePerSecond: 0.5, Burst: 2})
	sub := ts.key(t, apikey.Submitter)
	if code, _ := ts.call(t, ts.admin, "GET", "/v1/banks", nil, ""); code != 200 { // now known (cached)
		t.Fatalf("admin: %d", code)
	}
	body := `{"signals":[{"type":"md5","value":"d41d8cd98f00b204e9800998ecf8427e"}]}`
	for i, want := range []int{200, 200, 429} {
		code, out := ts.call(t, sub, "POST", "/v1/match", body, "application/json")
		if code != want {
			t.Fatalf("request %d: %d %v, want %d", i, code, out, want)
		}
	}
	resp := ts.raw(t, sub, "POST", "/v1/match", body)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("over the rate: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	bad := "nig_" + strings.Repeat("B", 43)
	for i := range failBurst {
		if code, out := ts.call(t, bad, "GET", "/v1/banks", nil, ""); code != 401 {
			t.Fatalf("bad key %d: %d %v", i, code, out)
		}
	}
	resp = ts.raw(t, bad, "GET", "/v1/banks", "")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("after %d failures: %d, Retry-After %q", failBurst, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	ts.call(t, "", "GET", "/v1/banks", nil, "") // missing key: refused too
	// A key this replica already knows still works from that address.
	if code, _ := ts.call(t, ts.admin, "GET", "/v1/banks", nil, ""); code != 200 {
		t.Errorf("known key refused from a blocked address: %d", code)
	}

	ts.srv.flushUsage(context.Background())
	counts := map[string]int{}
	var refused, keyUse map[string]int64
	deadline := testtool.WaitUntil(t)
	for {
		es, err := ts.st.ListAudit(context.Background(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		clear(counts)
		for _, e := range es {
			counts[e.Action]++
			switch {
			case e.Action == "auth.fail.refused":
				json.Unmarshal(e.Detail, &refused)
			case e.Action == "key.use" && e.Actor == fmt.Sprintf("key:%d", keyID(t, ts, sub)):
				json.Unmarshal(e.Detail, &keyUse)
			}
		}
		if counts["auth.fail"] >= failBurst || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // refusals are audited in the background
	}
	if counts["auth.fail"] != failBurst || refused["count"] != 2 {
		t.Errorf("audit: %d auth.fail entries (want %d), refused summary %v (want 2)", counts["auth.fail"], failBurst, refused)
	}
	if keyUse["requests"] != 2 || keyUse["rate_limited"] != 2 {
		t.Errorf("key.use of the submitter: %v, want 2 requests and 2 rate limited", keyUse)
	}
	if n, err := audit.VerifyStore(context.Background(), ts.st); err != nil {
		t.Errorf("audit chain after %d entries: %v", n, err)
	}
}

func keyID(t *testing.T, ts *testServer, secret string) int64 {
	t.Helper()
	k, err := apikey.Authenticate(context.Background(), ts.st, secret)
	if err != nil {
		t.Fatal(err)
	}
	return k.ID
}

// raw does one request and returns the response (body read and closed).
func (ts *testServer) raw(t *testing.T, key, method, path, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, ts.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestWebhookFilters: a rule limited to some categories and types queues
// events only for those matches.
func TestWebhookFilters(t *testing.T) {
	ts := startServer(t, storetest.SQLitePath(t), Config{NoDeliver: true, WebhookAllowPrivate: true})
	ts.call(t, ts.admin, "POST", "/v1/banks", map[string]any{"name": "b"}, "")
	const mdA, mdB = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	ts.call(t, ts.admin, "POST", "/v1/banks/b/signals", map[string]any{"signals": []map[string]string{
		{"type": "md5", "value": mdA, "category": "A1"},
		{"type": "md5", "value": mdB, "category": "B2"},
		{"type": "pdq", "value": bridgePDQ, "category": "A1"},
	}}, "")
	code, out := ts.call(t, ts.admin, "PUT", "/v1/banks/b/webhook", map[string]any{"url": "http://127.0.0.1:1/hook",
		"secret": "0123456789abcdef", "categories": []string{"A1"}, "types": []string{"MD5"}}, "")
	if code != 200 || out["types"].([]any)[0] != "md5" {
		t.Fatalf("set webhook: %d %v", code, out)
	}
	if code, _ := ts.call(t, ts.admin, "PUT", "/v1/banks/b/webhook", map[string]any{"url": "http://x/", "secret": "0123456789abcdef",
		"types": []string{"photodna"}}, ""); code != 400 {
		t.Errorf("unknown webhook type: %d, want 400", code)
	}
	for _, tc := range []struct {
		typ, value string
		events     int
	}{{"md5", mdA, 1}, {"md5", mdB, 0}, {"pdq", bridgePDQ, 0}} {
		_, out := ts.call(t, ts.admin, "POST", "/v1/match", map[string]any{"signals": []map[string]string{{"type": tc.typ, "value": tc.value}}}, "")
		ids, _ := out["event_ids"].([]any)
		if len(out["matches"].([]any)) != 1 || len(ids) != tc.events {
			t.Errorf("match %s %s: %v, want 1 match and %d events", tc.typ, tc.value, out, tc.events)
		}
	}
	if n, _ := ts.st.OutboxDepth(context.Background()); n != 1 {
		t.Errorf("outbox holds %d events, want 1", n)
	}
	_, out = ts.call(t, ts.admin, "GET", "/v1/banks/b", nil, "")
	if hk := out["webhook"].(map[string]any); hk["secret"] != nil || hk["url"] != "http://127.0.0.1:1/hook" {
		t.Errorf("bank shows webhook %v", hk)
	}
}

// TestFollowOtherWriters: signals added by another writer (the CLI, another
// replica) are matched once the change log is followed, with their
// category and value; the index size metrics count them.
func TestFollowOtherWriters(t *testing.T) {
	ts := startServer(t, storetest.SQLitePath(t), Config{FollowInterval: 20 * time.Millisecond})
	svc := bank.NewService(ts.st)
	ctx := context.Background()
	if _, err := svc.CreateBank(ctx, bank.NewBank("cli"), audit.Actor{Name: "cli-user"}); err != nil {
		t.Fatal(err)
	}
	const sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
	for _, s := range []bank.Signal{
		{Type: bank.SHA1, Value: strings.ToUpper(sha1), Category: "known", Quality: -1},
		{Type: bank.PDQ, Value: bridgePDQ, Category: "victim", Quality: -1},
	} {
		if _, _, err := svc.AddSignal(ctx, "cli", s, audit.Actor{Name: "cli-user"}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := testtool.WaitUntil(t)
	var out map[string]any
	for {
		_, out = ts.call(t, ts.admin, "POST", "/v1/match", map[string]any{"signals": []map[string]string{
			{"type": "sha1", "value": strings.ToUpper(sha1)}, {"type": "pdq", "value": bridgePDQ}}}, "")
		if len(out["matches"].([]any)) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := map[string][2]string{}
	for _, m := range out["matches"].([]any) {
		m := m.(map[string]any)
		typ, _ := m["type"].(string)
		value, _ := m["value"].(string)
		cat, _ := m["category"].(string)
		got[typ] = [2]string{value, cat}
	}
	if got["sha1"] != [2]string{sha1, "known"} || got["pdq"] != [2]string{bridgePDQ, "victim"} {
		t.Errorf("matches %v", out["matches"])
	}
	resp, err := ts.get(t, ts.admin, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`nigehban_index_signals{bank="cli",type="pdq"} 1`, `nigehban_index_signals{bank="cli",type="sha1"} 1`,
		`nigehban_index_signals{bank="cli",type="md5"} 0`, `nigehban_match_hits_total{bank="cli",type="pdq"} 1`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestListSignals pages through a bank's signals.
func TestListSignals(t *testing.T) {
	ts := startServer(t, storetest.SQLitePath(t), Config{})
	ts.call(t, ts.admin, "POST", "/v1/banks", map[string]any{"name": "b"}, "")
	var sigs []map[string]string
	for i := range 5 {
		sigs = append(sigs, map[string]string{"type": "md5", "value": fmt.Sprintf("%032x", i+1)})
	}
	sigs = append(sigs, map[string]string{"type": "pdq", "value": bridgePDQ})
	_, out := ts.call(t, ts.admin, "POST", "/v1/banks/b/signals", map[string]any{"signals": sigs}, "")
	first := int64(out["results"].([]any)[0].(map[string]any)["signal"].(map[string]any)["id"].(float64))
	ts.call(t, ts.admin, "DELETE", fmt.Sprintf("/v1/banks/b/signals/%d?reason=fp", first), nil, "")

	var seen []string
	path := "/v1/banks/b/signals?limit=2&type=md5"
	for pages := 0; ; pages++ {
		code, out := ts.call(t, ts.admin, "GET", path, nil, "")
		if code != 200 || pages > 5 {
			t.Fatalf("%s: %d %v", path, code, out)
		}
		for _, s := range out["signals"].([]any) {
			seen = append(seen, s.(map[string]any)["value"].(string))
		}
		next, ok := out["next_after"].(float64)
		if !ok {
			break
		}
		path = fmt.Sprintf("/v1/banks/b/signals?limit=2&type=md5&after=%d", int64(next))
	}
	want := []string{fmt.Sprintf("%032x", 2), fmt.Sprintf("%032x", 3), fmt.Sprintf("%032x", 4), fmt.Sprintf("%032x", 5)}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("paged md5 signals %v, want %v (the removed one left out)", seen, want)
	}
	if _, out := ts.call(t, ts.admin, "GET", "/v1/banks/b/signals?removed=true", nil, ""); len(out["signals"].([]any)) != 6 {
		t.Errorf("with removed: %d signals, want 6", len(out["signals"].([]any)))
	}
	for path, want := range map[string]int{"/v1/banks/b/signals?type=photodna": 400, "/v1/banks/b/signals?limit=99999": 400, "/v1/banks/nope/signals": 404} {
		if code, _ := ts.call(t, ts.admin, "GET", path, nil, ""); code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
	}
}

// TestWebhookDestinations: by default a curator cannot point a webhook at
// the server's own network (SSRF); the deployment can allow it.
func TestWebhookDestinations(t *testing.T) {
	strict := startServer(t, storetest.SQLitePath(t), Config{NoDeliver: true})
	strict.call(t, strict.admin, "POST", "/v1/banks", map[string]any{"name": "b"}, "")
	for _, u := range []string{"http://127.0.0.1:9/hook", "http://localhost/", "http://169.254.169.254/latest/meta-data/",
		"http://[::ffff:10.0.0.1]/", "http://0x7f000001/", "http://192.168.0.10/", "http://user:pw@example.org/"} {
		code, out := strict.call(t, strict.admin, "PUT", "/v1/banks/b/webhook", map[string]any{"url": u, "secret": "0123456789abcdef"}, "")
		if code != 400 {
			t.Errorf("webhook %s: %d %v, want 400", u, code, out)
		}
	}
	if code, out := strict.call(t, strict.admin, "PUT", "/v1/banks/b/webhook", map[string]any{"url": "https://hooks.example.org/x", "secret": "0123456789abcdef"}, ""); code != 200 {
		t.Errorf("public webhook: %d %v", code, out)
	}
	open := startServer(t, storetest.SQLitePath(t), Config{NoDeliver: true, WebhookAllowPrivate: true})
	open.call(t, open.admin, "POST", "/v1/banks", map[string]any{"name": "b"}, "")
	if code, out := open.call(t, open.admin, "PUT", "/v1/banks/b/webhook", map[string]any{"url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef"}, ""); code != 200 {
		t.Errorf("private webhook with WebhookAllowPrivate: %d %v", code, out)
	}
}

// TestValidKeyUnderBadKeyFlood: callers sharing an address (everyone behind
// one reverse proxy) are never refused a valid key because others sent bad
// ones: neither a key already in use nor one used for the first time.
func TestValidKeyUnderBadKeyFlood(t *testing.T) {
	ts := startServer(t, storetest.SQLitePath(t), Config{})
	fresh := ts.key(t, apikey.Curator) // never presented to the server yet
	bad := "nig_" + strings.Repeat("C", 43)
	var refused int
	for i := range 3 * failBurst {
		code, _ := ts.call(t, bad, "GET", "/v1/banks", nil, "")
		if code == 429 {
			refused++
		}
		if i < failBurst+2 || i%4 != 0 {
			continue
		}
		// The address is blocked now: the fresh key's first use comes after.
		key := ts.admin
		if i%8 == 0 {
			key = fresh
		}
		if code, out := ts.call(t, key, "GET", "/v1/banks", nil, ""); code != 200 {
			t.Fatalf("valid key during the flood (after %d bad keys): %d %v", i+1, code, out)
		}
	}
	if refused == 0 {
		t.Errorf("the bad keys were never throttled")
	}
}

// TestTrustedProxy: behind a trusted proxy the failed-auth limit applies to
// each client named in X-Forwarded-For, not to the proxy; without trusting
// it, the header is ignored (a client cannot pick its address).
func TestTrustedProxy(t *testing.T) {
	bad := "nig_" + strings.Repeat("D", 43)
	get := func(ts *testServer, client string) int {
		req, _ := http.NewRequest("GET", ts.url+"/v1/banks", nil)
		req.Header.Set("Authorization", "Bearer "+bad)
		req.Header.Set("X-Forwarded-For", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	proxied := startServer(t, storetest.SQLitePath(t), Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	for range failBurst + 5 {
		get(proxied, "198.51.100.1")
	}
	if code := get(proxied, "198.51.100.1"); code != 429 {
		t.Errorf("flooding client: %d, want 429", code)
	}
	if code := get(proxied, "198.51.100.2"); code != 401 {
		t.Errorf("another client behind the same proxy: %d, want 401 (its own bucket)", code)
	}
	direct := startServer(t, storetest.SQLitePath(t), Config{})
	for i := range failBurst + 5 {
		get(direct, "198.51.100."+strconv.Itoa(i)) // a forged header per request
	}
	if code := get(direct, "198.51.100.200"); code != 429 {
		t.Errorf("untrusted X-Forwarded-For changed the client's address: %d, want 429", code)
	}
}

// TestAuditFlood: when refused requests come faster than the audit queue
// drains, what could not be written is counted in the log itself.
func TestAuditFlood(t *testing.T) {
	ts := startServer(t, storetest.SQLitePath(t), Config{})
	const n = auditQueueLen + 2000
	for i := range n {
		ts.srv.auditAsync(audit.Entry{Actor: "anonymous", Action: "auth.fail", Remote: "192.0.2." + strconv.Itoa(i%250)})
	}
	var written, summed int64
	deadline := testtool.WaitUntil(t)
	for time.Now().Before(deadline) {
		written, summed = 0, 0
		for since := int64(0); ; {
			es, err := ts.st.ListAudit(context.Background(), since, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) == 0 {
				break
			}
			for _, e := range es {
				switch e.Action {
				case "auth.fail":
					written++
				case "audit.dropped":
					var d struct {
						Count    int64            `json:"count"`
						ByAction map[string]int64 `json:"by_action"`
					}
					json.Unmarshal(e.Detail, &d)
					if d.ByAction["auth.fail"] != d.Count {
						t.Errorf("summary %s", e.Detail)
					}
					summed += d.Count
				}
			}
			since = es[len(es)-1].Seq
		}
		if written+summed == n {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d entries written, %d counted in summaries", written, summed)
	if written+summed != n || summed == 0 {
		t.Errorf("%d written + %d summed, want %d with some summed", written, summed, n)
	}
}

// TestMetricsAccess: /metrics names banks and counts their hits, so it needs
// a curator key on the API listener, or moves to a listener of its own.
func TestMetricsAccess(t *testing.T) {
	ts := startServer(t, storetest.SQLitePath(t), Config{})
	for key, want := range map[string]int{"": 401, ts.key(t, apikey.Submitter): 403, ts.key(t, apikey.Curator): 200} {
		resp, err := ts.get(t, key, "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == 200) != strings.Contains(string(body), "nigehban_http_requests_total") {
			t.Errorf("metrics with a key of %q: %d, want %d", key[:min(len(key), 8)], resp.StatusCode, want)
		}
	}
	sep := startServer(t, storetest.SQLitePath(t), Config{MetricsSeparate: true})
	if resp, err := sep.get(t, sep.admin, "/metrics"); err != nil || resp.StatusCode != 404 {
		t.Errorf("metrics on the API listener when separate: %v %v", resp.StatusCode, err)
	}
	rec := httptest.NewRecorder()
	sep.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "nigehban_") {
		t.Errorf("separate metrics handler: %d", rec.Code)
	}
}
