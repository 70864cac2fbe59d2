package main

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/console"
)

// TestServeConsole: `nigehban serve` mounts the console at /ui/ beside the
// API; a user made with `nigehban user create` sets a password with the
// printed token and sees the banks the index holds.
func TestServeConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildNigehban(t)
	db := filepath.Join(t.TempDir(), "n.db")
	runNigehban(t, bin, "bank", "create", "--db", db, "hotline")
	runNigehban(t, bin, "bank", "add", "--db", db, "hotline", "--type", "md5", "d41d8cd98f00b204e9800998ecf8427e")
	cmd := exec.Command(bin, "user", "create", "--db", db, "--role", "viewer", "vic")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("user create: %v\n%s", err, stderr.String())
	}
	token := strings.TrimSpace(string(out))

	addr := freeAddr(t)
	srv := exec.Command(bin, "serve", "--db", db, "--addr", addr, "--insecure-cookies")
	srv.Stderr = &stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	base := "http://" + addr
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready:\n%s", stderr.String())
		}
	}
	resp, err := http.Get(base + "/ui/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") != console.CSP {
		t.Fatalf("/ui/login: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.PostForm(base+"/ui/setup", url.Values{"token": {token},
		"password": {"a long enough password"}, "password2": {"a long enough password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		session = c
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil || !session.HttpOnly {
		t.Fatalf("setup: %d, cookie %v", resp.StatusCode, session)
	}
	req, _ := http.NewRequest("GET", base+"/ui/banks", nil)
	req.AddCookie(session)
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "hotline") || !strings.Contains(string(page), `<td class="num">1</td>`) {
		t.Fatalf("/ui/banks: %d\n%s", resp.StatusCode, page)
	}
	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the API beside the console: %v", err)
	}
}
