package protect_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/protect"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

func testService(st store.Store) *protect.Service {
	return protect.NewService(st, bank.NewService(st), protect.Config{Difficulty: 4, ChecksPerHour: 100, LockAfter: 3,
		KDF: account.KDF{Time: 1, Memory: 8 << 10, Threads: 1}})
}

func submit(t *testing.T, svc *protect.Service, remote string, sigs ...protect.Signal) protect.Receipt {
	t.Helper()
	ch := svc.Challenge()
	rc, err := svc.Submit(context.Background(), protect.Submission{Signals: sigs,
		Proof: protect.Proof{Challenge: ch.Challenge, Nonce: protect.Solve(ch.Challenge, ch.Difficulty)}}, remote)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// TestCaseLock: wrong PINs from many addresses lock the case, and then even
// the right PIN waits; the PIN is stored only as an argon2id hash.
func TestCaseLock(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		svc := testService(st)
		ctx := context.Background()
		rc := submit(t, svc, "192.0.2.1", protect.Signal{Type: "md5", Value: strings.Repeat("ab", 16)})
		wrong := "99999999"
		if rc.PIN == wrong { // a PIN is random: never guess the right one
			wrong = "99999998"
		}
		for i := range 3 {
			_, err := svc.Status(ctx, rc.Number, wrong, fmt.Sprintf("198.51.100.%d", i))
			if !errors.Is(err, protect.ErrWrongPIN) {
				t.Fatalf("wrong PIN %d: %v", i, err)
			}
		}
		if _, err := svc.Status(ctx, rc.Number, rc.PIN, "203.0.113.50"); !errors.Is(err, protect.ErrLimited) {
			t.Fatalf("locked case, right PIN: %v, want ErrLimited", err)
		}
		n, _ := protect.ParseNumber(rc.Number)
		c, err := st.ProtectCase(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(c.PINHash, "$argon2id$") || strings.Contains(c.PINHash, rc.PIN) || c.FailedPINs != 3 || c.LockedUntil == nil {
			t.Errorf("stored case %+v", c)
		}
	})
}

// TestSubmitRefuses: malformed submissions are refused before anything is
// stored.
func TestSubmitRefuses(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		svc := testService(st)
		ch := svc.Challenge()
		proof := protect.Proof{Challenge: ch.Challenge, Nonce: protect.Solve(ch.Challenge, ch.Difficulty)}
		q := 200
		for _, tc := range []struct {
			name string
			sub  protect.Submission
			want error
		}{
			{"no hashes", protect.Submission{Proof: proof}, protect.ErrInvalid},
			{"bad hash", protect.Submission{Signals: []protect.Signal{{Type: "pdq", Value: "xyz"}}, Proof: proof}, protect.ErrInvalid},
			{"bad quality", protect.Submission{Signals: []protect.Signal{{Type: "pdq", Value: strings.Repeat("0f", 32), Quality: &q}}, Proof: proof}, protect.ErrInvalid},
			{"bad age", protect.Submission{Signals: []protect.Signal{{Type: "md5", Value: strings.Repeat("ab", 16)}}, Age: "7", Proof: proof}, protect.ErrInvalid},
			{"no proof", protect.Submission{Signals: []protect.Signal{{Type: "md5", Value: strings.Repeat("ab", 16)}}}, protect.ErrProof},
		} {
			if _, err := svc.Submit(context.Background(), tc.sub, "192.0.2.9"); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		if _, err := bank.NewService(st).GetBank(context.Background(), protect.VictimBank); !errors.Is(err, bank.ErrNotFound) {
			t.Errorf("refused submissions created the bank: %v", err)
		}
	})
}

// TestPages: the pages' security headers, Subresource Integrity on every
// script and the stylesheet, the published WebAssembly hash, and both
// languages.
func TestPages(t *testing.T) {
	web, err := protect.NewWeb()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	get := func(path string) (*http.Response, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, tc := range []struct {
		path, csp, lang, dir string
		wasm                 bool
	}{
		{"/protect", protect.CSP, "ur", "rtl", true},
		{"/protect?lang=en", protect.CSP, "en", "ltr", true},
		{"/protect/status", protect.StatusCSP, "ur", "rtl", false},
		{"/protect/status?lang=en", protect.StatusCSP, "en", "ltr", false},
	} {
		resp, body := get(tc.path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") != tc.csp {
			t.Errorf("%s: %d, CSP %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
		}
		if strings.Contains(resp.Header.Get("Content-Security-Policy"), "wasm-unsafe-eval") != tc.wasm {
			t.Errorf("%s: 'wasm-unsafe-eval' where it is not needed, or missing", tc.path)
		}
		if resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s sets a cookie", tc.path)
		}
		if !strings.Contains(body, fmt.Sprintf(`lang="%s" dir="%s"`, tc.lang, tc.dir)) {
			t.Errorf("%s: not in %s, %s", tc.path, tc.lang, tc.dir)
		}
		if n := strings.Count(body, "<script src="); n != 1 || strings.Count(body, `integrity="sha384-`) != 2 {
			t.Errorf("%s: %d scripts, %d integrity attributes", tc.path, n, strings.Count(body, `integrity="sha384-`))
		}
		if !strings.Contains(body, web.Wasm().SHA256) {
			t.Errorf("%s does not show the WebAssembly's hash", tc.path)
		}
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			t.Errorf("%s refers to another site", tc.path)
		}
	}
	resp, body := get("/protect/wasm.json")
	if resp.StatusCode != 200 || !strings.Contains(body, web.Wasm().SHA256) || !strings.Contains(body, protect.WasmBuild) {
		t.Errorf("wasm.json: %d %s", resp.StatusCode, body)
	}
	resp, _ = get("/protect/static/nigehban.wasm")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/wasm" {
		t.Errorf("wasm: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
