package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/protect"
	"github.com/nigehban/nigehban/internal/store/storetest"
	"github.com/nigehban/nigehban/internal/testtool"
)

// protectConfig is a test configuration: little work per proof and PIN, a
// small per-address budget of failures, and loopback as a trusted proxy so
// each test client can name its own address in X-Forwarded-For.
func protectConfig() Config {
	return Config{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Protect: protect.Config{Difficulty: 8, ChecksPerHour: 3, LockAfter: 4,
			KDF: account.KDF{Time: 1, Memory: 8 << 10, Threads: 1}},
	}
}

// protectCall does one keyless request from client address from.
func (ts *testServer) protectCall(t *testing.T, from, method, path, pin string, body any) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = strings.NewReader(string(j))
	}
	req, _ := http.NewRequest(method, ts.url+path, rd)
	req.Header.Set("X-Forwarded-For", from)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if pin != "" {
		req.Header.Set("X-Protect-PIN", pin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: %d %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out, resp.Header
}

// submitCase solves a challenge and submits signals from address from.
func (ts *testServer) submitCase(t *testing.T, from string, signals []map[string]any) (number, pin string) {
	t.Helper()
	code, ch, _ := ts.protectCall(t, from, "GET", "/v1/protect/challenge", "", nil)
	if code != 200 {
		t.Fatalf("challenge: %d %v", code, ch)
	}
	proof := map[string]string{"challenge": ch["challenge"].(string),
		"nonce": protect.Solve(ch["challenge"].(string), int(ch["difficulty"].(float64)))}
	body := map[string]any{"signals": signals, "age": "13-15", "category": "sextortion", "proof": proof}
	code, rc, _ := ts.protectCall(t, from, "POST", "/v1/protect/cases", "", body)
	if code != http.StatusCreated {
		t.Fatalf("submit: %d %v", code, rc)
	}
	// The same proof twice is refused.
	if code, out, _ := ts.protectCall(t, from, "POST", "/v1/protect/cases", "", body); code != http.StatusForbidden {
		t.Errorf("replayed proof: %d %v, want 403", code, out)
	}
	return rc["number"].(string), rc["pin"].(string)
}

const (
	protectPDQ    = "d8f8f0cce0f4a84f0e370a22028f67f0b36e2ed596623e1d33e6b39c4e9c9b22"
	protectShared = "f0a10efd51cc3d429053d48d0fffbc32e34e0e17ada952a9d29685210ea9e5af"
	protectMD5    = "0123456789abcdef0123456789abcdef"
	protectSHA256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// TestProtectLifecycle submits a case, checks its status, is refused and
// then rate limited on wrong PINs, withdraws it, and checks the hashes left
// the bank (matching no more) with removals in the change log, while a
// hash another case also submitted stays.
func TestProtectLifecycle(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, dsn string) {
		ts := startServer(t, dsn, protectConfig())
		q := 93
		number, pin := ts.submitCase(t, "203.0.113.1", []map[string]any{
			{"type": "pdq", "value": protectPDQ, "quality": q},
			{"type": "pdq", "value": protectShared, "quality": q},
			{"type": "md5", "value": protectMD5},
			{"type": "sha256", "value": protectSHA256},
		})
		if d := strings.ReplaceAll(number, "-", ""); len(d) != protect.NumberDigits+1 || protect.CheckDigit(d[:protect.NumberDigits]) != d[protect.NumberDigits] {
			t.Fatalf("case number %q: want %d digits with a valid check digit", number, protect.NumberDigits+1)
		}
		if len(pin) != protect.PINDigits {
			t.Fatalf("PIN %q", pin)
		}
		other, _ := ts.submitCase(t, "203.0.113.2", []map[string]any{{"type": "pdq", "value": protectShared, "quality": q}})
		if other == number {
			t.Fatal("two cases got one number")
		}

		// The bank exists, review only, and matches the hashes.
		b, err := ts.srv.svc.GetBank(context.Background(), protect.VictimBank)
		if err != nil || b.Action != bank.ActionReview {
			t.Fatalf("victim bank %+v, %v", b, err)
		}
		sub := ts.key(t, apikey.Submitter)
		if n := ts.hitsSoon(t, sub, "pdq", protectPDQ, 1); n != 1 {
			t.Fatalf("before withdrawal: %d hits, want 1", n)
		}

		path := "/v1/protect/cases/" + number
		code, st, _ := ts.protectCall(t, "203.0.113.3", "GET", path, pin, nil)
		if code != 200 || st["state"] != "active" || st["hashes"].(map[string]any)["pdq"] != 2.0 {
			t.Fatalf("status: %d %v", code, st)
		}
		// Urdu digits and no dashes are the same number.
		if code, _, _ := ts.protectCall(t, "203.0.113.3", "GET", "/v1/protect/cases/"+toUrdu(strings.ReplaceAll(number, "-", "")), pin, nil); code != 200 {
			t.Errorf("number in Urdu digits: %d", code)
		}

		// Wrong PINs: refused, then the address is limited.
		wrong := "00000000"
		if wrong == pin {
			wrong = "11111111"
		}
		for i := range 3 {
			code, out, _ := ts.protectCall(t, "198.51.100.9", "GET", path, wrong, nil)
			if code != http.StatusNotFound {
				t.Fatalf("wrong PIN %d: %d %v", i, code, out)
			}
		}
		code, out, h := ts.protectCall(t, "198.51.100.9", "DELETE", path, pin, nil)
		if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
			t.Fatalf("after 3 wrong PINs: %d %v, want 429 with Retry-After", code, out)
		}
		// A wrong number's check digit is caught like a wrong PIN.
		if code, _, _ := ts.protectCall(t, "198.51.100.10", "GET", "/v1/protect/cases/1234567890123", pin, nil); code != 404 && code != 429 {
			t.Errorf("bad number: %d", code)
		}

		since, err := ts.st.LastSeq(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		code, st, _ = ts.protectCall(t, "203.0.113.4", "DELETE", path, pin, nil)
		if code != 200 || st["state"] != "withdrawn" {
			t.Fatalf("withdraw: %d %v", code, st)
		}
		if n := ts.hitsSoon(t, sub, "pdq", protectPDQ, 0); n != 0 {
			t.Errorf("after withdrawal: %d hits, want 0", n)
		}
		if n := ts.hits(t, sub, "pdq", protectShared); n != 1 {
			t.Errorf("hash of another active case: %d hits, want 1", n)
		}
		changes, err := ts.st.Changes(context.Background(), since, 100)
		if err != nil {
			t.Fatal(err)
		}
		removed := map[string]bool{}
		for _, c := range changes {
			if c.Op == bank.OpSignalRemove && c.Signal != nil {
				removed[c.Signal.Value] = true
			}
		}
		for _, v := range []string{protectPDQ, protectMD5, protectSHA256} {
			if !removed[v] {
				t.Errorf("change log after withdrawal has no removal of %s (changes %+v)", v, changes)
			}
		}
		if removed[protectShared] {
			t.Error("the shared hash was removed")
		}
		code, st, _ = ts.protectCall(t, "203.0.113.4", "GET", path, pin, nil)
		if code != 200 || st["state"] != "withdrawn" || len(st["hashes"].(map[string]any)) != 0 {
			t.Errorf("status after withdrawal: %d %v", code, st)
		}

		// The audit log has the case's acts, with no address and no number.
		entries, err := ts.st.ListAudit(context.Background(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		acts := map[string]int{}
		for _, e := range entries {
			if e.Actor != protect.Actor {
				continue
			}
			acts[e.Action]++
			if e.Remote != "" || strings.Contains(string(e.Detail), strings.ReplaceAll(number, "-", "")) {
				t.Errorf("audit entry %+v names the address or the case", e)
			}
		}
		if acts[protect.ActCaseCreate] != 2 || acts[protect.ActCaseWithdraw] != 1 {
			t.Errorf("audit acts %v", acts)
		}
	})
}

func toUrdu(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '۰' + (r - '0')
		}
		return r
	}, s)
}

// hitsSoon is hits once it equals want (a replica follows the change log
// every FollowInterval), or when the wait ends (testtool.WaitUntil).
func (ts *testServer) hitsSoon(t *testing.T, key, typ, value string, want int) int {
	t.Helper()
	deadline := testtool.WaitUntil(t)
	for {
		n := ts.hits(t, key, typ, value)
		if n == want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hits matches one signal and counts the hits in the victim bank.
func (ts *testServer) hits(t *testing.T, key, typ, value string) int {
	t.Helper()
	code, out := ts.call(t, key, "POST", "/v1/match", map[string]any{"signals": []map[string]string{{"type": typ, "value": value}}}, "")
	if code != 200 {
		t.Fatalf("match: %d %v", code, out)
	}
	n := 0
	b, _ := json.Marshal(out)
	var res struct {
		Matches []struct {
			Bank string `json:"bank"`
		} `json:"matches"`
	}
	json.Unmarshal(b, &res)
	for _, m := range res.Matches {
		if m.Bank == protect.VictimBank {
			n++
		}
	}
	return n
}
