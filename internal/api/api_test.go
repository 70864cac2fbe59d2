package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
	"github.com/nigehban/nigehban/internal/testtool"
	"github.com/nigehban/nigehban/internal/vpdq"
)

const bridge = "../../../shared/testdata/pdq/images/bridge-mods/"

// testServer runs a Server over dsn behind a real HTTP listener.
type testServer struct {
	url   string
	st    store.Store
	srv   *Server
	admin string
	stop  func()
}

func startServer(t *testing.T, dsn string, cfg Config) *testServer {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
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
	deadline := testtool.WaitUntil(t)
	for !srv.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("server not ready")
		}
		time.Sleep(10 * time.Millisecond)
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

func (ts *testServer) key(t *testing.T, role apikey.Role) string {
	t.Helper()
	k, secret, err := apikey.New("test-"+string(role), role, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.st.CreateAPIKey(context.Background(), k, audit.Actor{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	return secret
}

// call does one request and decodes the JSON answer.
func (ts *testServer) call(t *testing.T, key, method, path string, body any, contentType string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd, contentType = bytes.NewReader(j), "application/json"
	}
	req, _ := http.NewRequest(method, ts.url+path, rd)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: bad JSON %q", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

func multipartFile(t *testing.T, name string, data []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const bridgePDQ = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"

func TestEndToEnd(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, dsn string) {
		{
			ts := startServer(t, dsn, Config{})
			curator, submitter := ts.key(t, apikey.Curator), ts.key(t, apikey.Submitter)

			if code, _ := ts.call(t, curator, "POST", "/v1/banks", map[string]any{"name": "ngo", "pdq_threshold": 31}, ""); code != 201 {
				t.Fatalf("create bank: %d", code)
			}
			code, out := ts.call(t, curator, "POST", "/v1/banks/ngo/signals", map[string]any{"type": "pdq", "value": bridgePDQ, "category": "A1"}, "")
			if code != 200 {
				t.Fatalf("add signal: %d %v", code, out)
			}
			sigID := out["results"].([]any)[0].(map[string]any)["signal"].(map[string]any)["id"].(float64)

			// By hash: a near-duplicate (2 bits off) matches with its category.
			near := []byte(bridgePDQ)
			near[0] = 'c'
			code, out = ts.call(t, submitter, "POST", "/v1/match", map[string]any{"signals": []map[string]string{{"type": "pdq", "value": string(near)}}}, "")
			ms := out["matches"].([]any)
			if code != 200 || len(ms) != 1 || ms[0].(map[string]any)["category"] != "A1" || ms[0].(map[string]any)["distance"].(float64) != 1 {
				t.Fatalf("match by hash: %d %v", code, out)
			}
			// By upload: an edited copy of the photo matches, and all its hashes come back.
			body, ct := multipartFile(t, "upload.jpg", mustRead(t, bridge+"blur-a-lot.jpg"))
			code, out = ts.call(t, submitter, "POST", "/v1/match", body, ct)
			if code != 200 || len(out["matches"].([]any)) != 1 || out["hashes"].(map[string]any)["sha256"] == nil {
				t.Fatalf("match by upload: %d %v", code, out)
			}
			code, out = ts.call(t, submitter, "POST", "/v1/hash", body, ct)
			if code != 200 || out["pdq"] == nil || out["md5"] == nil {
				t.Fatalf("hash: %d %v", code, out)
			}

			// Removing the signal (a false positive) stops the match.
			if code, out := ts.call(t, curator, "DELETE", "/v1/banks/ngo/signals/"+ftoa(sigID)+"?reason=false+positive", nil, ""); code != 200 {
				t.Fatalf("remove: %d %v", code, out)
			}
			if err := ts.srv.catchUp(context.Background()); err != nil {
				t.Fatal(err)
			}
			_, out = ts.call(t, submitter, "POST", "/v1/match", map[string]any{"signals": []map[string]string{{"type": "pdq", "value": bridgePDQ}}}, "")
			if len(out["matches"].([]any)) != 0 {
				t.Errorf("removed signal still matches: %v", out)
			}

			// Bad input: clear 4xx, never 500.
			bad := []struct {
				name, key, method, path string
				body                    any
				ct                      string
				want                    int
			}{
				{"malformed json", submitter, "POST", "/v1/match", `{"signals":[`, "application/json", 400},
				{"unknown field", submitter, "POST", "/v1/match", `{"signalz":[]}`, "application/json", 400},
				{"wrong hash length", submitter, "POST", "/v1/match", `{"signals":[{"type":"pdq","value":"abc"}]}`, "application/json", 400},
				{"unknown type", submitter, "POST", "/v1/match", `{"signals":[{"type":"photodna","value":"abc"}]}`, "application/json", 400},
				{"bad md5", submitter, "POST", "/v1/match", `{"signals":[{"type":"md5","value":"xyz"}]}`, "application/json", 400},
				{"no key", "", "POST", "/v1/match", `{}`, "application/json", 401},
				{"wrong key", "nig_" + strings.Repeat("A", 43), "POST", "/v1/match", `{}`, "application/json", 401},
				{"submitter curating", submitter, "POST", "/v1/banks", `{"name":"x"}`, "application/json", 403},
				{"curator minting keys", curator, "POST", "/v1/apikeys", `{"name":"x","role":"admin"}`, "application/json", 403},
				{"missing bank", curator, "GET", "/v1/banks/nope", nil, "", 404},
				{"duplicate bank", curator, "POST", "/v1/banks", `{"name":"ngo"}`, "application/json", 409},
				{"bad bank name", curator, "POST", "/v1/banks", `{"name":"../etc"}`, "application/json", 400},
				{"remove without reason", curator, "DELETE", "/v1/banks/ngo/signals/1", nil, "", 400},
				{"oversized body", submitter, "POST", "/v1/match", `{"signals":[{"type":"pdq","value":"` + strings.Repeat("a", 5<<20) + `"}]}`, "application/json", 413},
			}
			corrupt, cct := multipartFile(t, "x.jpg", mustRead(t, bridge+"aaa-orig.jpg")[:5000])
			bad = append(bad, struct {
				name, key, method, path string
				body                    any
				ct                      string
				want                    int
			}{"corrupt image", submitter, "POST", "/v1/hash", corrupt, cct, 200})
			for _, b := range bad {
				code, out := ts.call(t, b.key, b.method, b.path, b.body, b.ct)
				if code != b.want {
					t.Errorf("%s: status %d, want %d (%v)", b.name, code, b.want, out)
				}
				if code >= 400 && (out["error"] == nil || out["error"].(map[string]any)["message"] == "") {
					t.Errorf("%s: no error message: %v", b.name, out)
				}
				if b.name == "corrupt image" && !strings.Contains(out["error"].(string), "corrupt") {
					t.Errorf("corrupt image: hashes without an error: %v", out)
				}
			}

			// OpenAPI lists every route; metrics count requests; the audit chain holds.
			_, out = ts.call(t, "", "GET", "/openapi.json", nil, "")
			paths := out["paths"].(map[string]any)
			for _, rt := range routeTable {
				if op, ok := paths[rt.path].(map[string]any)[strings.ToLower(rt.method)]; !ok || op == nil {
					t.Errorf("openapi.json lacks %s %s", rt.method, rt.path)
				}
			}
			resp, err := ts.get(t, ts.admin, "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			m, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Contains(m, []byte(`nigehban_http_requests_total{code="401",route="POST /v1/match"}`)) ||
				!bytes.Contains(m, []byte("nigehban_auth_failures_total")) {
				t.Errorf("metrics missing request counts:\n%.2000s", m)
			}
			time.Sleep(100 * time.Millisecond) // auth failures are audited asynchronously
			n, err := audit.VerifyStore(context.Background(), ts.st)
			if err != nil || n < 5 {
				t.Errorf("audit: %d entries, %v", n, err)
			}
			es, _ := ts.st.ListAudit(context.Background(), 0, 1000)
			actions := map[string]bool{}
			for _, e := range es {
				actions[e.Action] = true
			}
			for _, a := range []string{"bank.create", "signal.add", "signal.remove", "auth.fail", "auth.forbidden"} {
				if !actions[a] {
					t.Errorf("no %s in the audit log (%v)", a, actions)
				}
			}
		}
	})
}

func ftoa(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(json.Number(jsonNum(f)).String(), "0"), ".")
}

func jsonNum(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

// TestWebhook checks a match fires a signed webhook delivered from the
// outbox, and that the audit entry of the match names the event.
func TestWebhook(t *testing.T) {
	got := make(chan *http.Request, 4)
	bodies := make(chan []byte, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer recv.Close()
	ts := startServer(t, storetest.SQLitePath(t), Config{WebhookAllowPrivate: true})
	ts.call(t, ts.admin, "POST", "/v1/banks", map[string]any{"name": "victims"}, "")
	ts.call(t, ts.admin, "POST", "/v1/banks/victims/signals", map[string]any{"type": "pdq", "value": bridgePDQ}, "")
	const secret = "0123456789abcdef-secret"
	if code, out := ts.call(t, ts.admin, "PUT", "/v1/banks/victims/webhook", map[string]any{"url": recv.URL, "secret": secret}, ""); code != 200 {
		t.Fatalf("webhook: %d %v", code, out)
	}
	_, out := ts.call(t, ts.admin, "POST", "/v1/match", map[string]any{"signals": []map[string]string{{"type": "pdq", "value": bridgePDQ}}}, "")
	if ids := out["event_ids"].([]any); len(ids) != 1 {
		t.Fatalf("no event queued: %v", out)
	}
	select {
	case r := <-got:
		body := <-bodies
		if !action.Verify(secret, r.Header.Get(action.HeaderTimestamp), r.Header.Get(action.HeaderSignature), body) {
			t.Error("bad signature")
		}
		if !bytes.Contains(body, []byte(bridgePDQ)) || !bytes.Contains(body, []byte(out["event_ids"].([]any)[0].(string))) {
			t.Errorf("payload %s", body)
		}
		var p struct {
			EventID string `json:"event_id"`
		}
		if json.Unmarshal(body, &p); p.EventID != out["event_ids"].([]any)[0] || r.Header.Get(action.HeaderEvent) != p.EventID {
			t.Errorf("event ids differ: answer %v, payload %q, header %q", out["event_ids"], p.EventID, r.Header.Get(action.HeaderEvent))
		}
	case <-time.After(time.Until(testtool.WaitUntil(t))):
		t.Fatal("webhook not delivered")
	}
}

// TestReplicas runs two servers on one PostgreSQL database: a signal added
// through one is matched by the other within 2 seconds.
func TestReplicas(t *testing.T) {
	if os.Getenv("NIGEHBAN_TEST_POSTGRES") == "" {
		t.Skip("NIGEHBAN_TEST_POSTGRES not set (scripts/test sets it)")
	}
	dsn := storetest.PostgresURL(t)
	a := startServer(t, dsn, Config{WebhookAllowPrivate: true})
	b := startServer(t, dsn, Config{WebhookAllowPrivate: true})
	a.call(t, a.admin, "POST", "/v1/banks", map[string]any{"name": "shared"}, "")
	start := time.Now()
	if code, _ := a.call(t, a.admin, "POST", "/v1/banks/shared/signals", map[string]any{"type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e"}, ""); code != 200 {
		t.Fatal("add through replica A failed")
	}
	for {
		_, out := b.call(t, b.admin, "POST", "/v1/match", map[string]any{"signals": []map[string]string{{"type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e"}}}, "")
		if len(out["matches"].([]any)) == 1 {
			t.Logf("replica B matched %v after the add through A", time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("replica B did not match within 2 s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A webhook set through A fires on B's matches within about a second.
	if code, out := a.call(t, a.admin, "PUT", "/v1/banks/shared/webhook", map[string]any{"url": "http://127.0.0.1:1/hook", "secret": "0123456789abcdef"}, ""); code != 200 {
		t.Fatalf("webhook through A: %d %v", code, out)
	}
	start = time.Now()
	for {
		_, out := b.call(t, b.admin, "POST", "/v1/match", map[string]any{"signals": []map[string]string{{"type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e"}}}, "")
		if ids, _ := out["event_ids"].([]any); len(ids) == 1 {
			t.Logf("replica B fired the webhook set through A after %v", time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Since(start) > 3*time.Second {
			t.Fatal("replica B did not use the webhook set through A within 3 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSlowClientAndLeaks: a client that never finishes its headers is cut
// off, and serving many bad requests leaks no goroutines.
func TestSlowClientAndLeaks(t *testing.T) {
	ts := startServer(t, storetest.SQLitePath(t), Config{})
	before := runtime.NumGoroutine()
	for range 50 {
		ts.call(t, "", "POST", "/v1/match", "{", "application/json")
		ts.call(t, ts.admin, "POST", "/v1/match", `{"signals":[{"type":"pdq","value":"zz"}]}`, "application/json")
	}
	http.DefaultClient.CloseIdleConnections()
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("POST /v1/match HTTP/1.1\r\nHost: x\r\n")) // and never the rest
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	start := time.Now()
	answer, err := io.ReadAll(conn) // until the server closes the connection
	conn.Close()
	// The server answers 408 or just closes, within its 5 s header timeout.
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("slow client held the connection for %v", time.Since(start).Round(time.Millisecond))
	} else if len(answer) > 0 && !bytes.HasPrefix(answer, []byte("HTTP/1.1 408")) {
		t.Errorf("slow client answered %.40q, want 408 or a close", answer)
	}
	deadline := testtool.WaitUntil(t)
	for runtime.NumGoroutine() > before+5 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+5 {
		t.Errorf("goroutines grew from %d to %d", before, n)
	}
}

// TestVideoMatch stores a clip's vPDQ signal and matches an edited variant
// (greyscale) uploaded as a file, and not a different scene.
func TestVideoMatch(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes videos")
	}
	const videos = "../../../shared/testdata/vpdq/videos/"
	ts := startServer(t, storetest.SQLitePath(t), Config{})
	ts.call(t, ts.admin, "POST", "/v1/banks", map[string]any{"name": "clips"}, "")
	orig, ct := multipartFile(t, "orig.mp4", mustRead(t, videos+"chair-orig-22-sd-bar.mp4"))
	code, out := ts.call(t, ts.admin, "POST", "/v1/hash", orig, ct)
	if code != 200 || out["vpdq"] == nil {
		t.Fatalf("hash video: %d %v", code, out)
	}
	// The bank signal is the compact vPDQ form the match answer echoes.
	_, m := ts.call(t, ts.admin, "POST", "/v1/match", orig, ct)
	var signal string
	for _, s := range m["signals"].([]any) {
		if s.(map[string]any)["type"] == "vpdq" {
			signal = s.(map[string]any)["value"].(string)
		}
	}
	if code, out := ts.call(t, ts.admin, "POST", "/v1/banks/clips/signals", map[string]any{"type": "vpdq", "value": signal, "category": "B"}, ""); code != 200 {
		t.Fatalf("add vpdq signal: %d %v", code, out)
	}
	grey, ct := multipartFile(t, "grey.mp4", mustRead(t, videos+"chair-22-sd-grey-bar.mp4"))
	_, out = ts.call(t, ts.admin, "POST", "/v1/match", grey, ct)
	var hit map[string]any
	for _, mm := range out["matches"].([]any) {
		if mm.(map[string]any)["type"] == "vpdq" {
			hit = mm.(map[string]any)
		}
	}
	if hit == nil || hit["category"] != "B" || hit["query_match_percent"].(float64) < 80 {
		t.Fatalf("grey variant did not match the stored video: %v", out["matches"])
	}
	other, ct := multipartFile(t, "other.mp4", mustRead(t, videos+"doorknob-hd-no-bar.mp4"))
	_, out = ts.call(t, ts.admin, "POST", "/v1/match", other, ct)
	if len(out["matches"].([]any)) != 0 {
		t.Errorf("a different scene matched: %v", out["matches"])
	}
}

// TestCostlyVideoUpload: a small upload that would cost many frame decodes
// (a tiny high-frame-rate clip) is refused from its header by the upload
// budget, with the reason, before ffmpeg decodes it.
func TestCostlyVideoUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("makes a clip with ffmpeg")
	}
	clip := filepath.Join(t.TempDir(), "fast.mp4")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=32x32:rate=100:duration=20",
		"-c:v", "mpeg4", "-y", clip).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	ts := startServer(t, storetest.SQLitePath(t), Config{Video: vpdq.Options{MaxDecodedFrames: 1000}})
	body, ct := multipartFile(t, "fast.mp4", mustRead(t, clip))
	code, res := ts.call(t, ts.admin, "POST", "/v1/hash", body, ct)
	msg := fmt.Sprint(res)
	if code != 200 && code != 422 || !strings.Contains(msg, "frames to decode") {
		t.Errorf("2,000-frame clip with a 1,000-frame budget: %d %v", code, res)
	}
	if res["vpdq"] != nil {
		t.Errorf("the clip was hashed: %v", res)
	}
}

// get does a GET with key (none when empty) and returns the response.
func (ts *testServer) get(t *testing.T, key, path string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest("GET", ts.url+path, nil)
	if err != nil {
		return nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return http.DefaultClient.Do(req)
}
