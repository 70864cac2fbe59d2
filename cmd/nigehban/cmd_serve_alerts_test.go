package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/alert/alerttest"
	"github.com/nigehban/nigehban/internal/alert/cap"
)

// TestServeAlerts: `serve --alerts FILE --data-key KEY` enables the
// missing-child desk: intake over the API, the public Atom feed; a
// configuration readable by others is refused.
func TestServeAlerts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildNigehban(t)
	dir := t.TempDir()
	db, key, conf := filepath.Join(dir, "n.db"), filepath.Join(dir, "data.key"), filepath.Join(dir, "alerts.json")
	runNigehban(t, bin, "datakey", "generate", key)
	cfg := `{"sender":"alerts@zarra.example.pk","base_url":"https://alerts.example.pk",
		"partners":[{"name":"tv","kind":"media","url":"https://tv.example.org/hook","secret":"s"}]}`
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "serve", "--db", db, "--addr", freeAddr(t), "--alerts", conf, "--data-key", key).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "chmod 600") {
		t.Fatalf("serve with a world-readable alert config: %v\n%s", err, out)
	}
	os.Chmod(conf, 0o600)
	kout, err := exec.Command(bin, "apikey", "create", "--db", db, "--role", "submitter", "--name", "helpline").Output()
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(kout))

	addr := freeAddr(t)
	var stderr bytes.Buffer
	srv := exec.Command(bin, "serve", "--db", db, "--addr", addr, "--alerts", conf, "--data-key", key)
	srv.Stderr = &stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	base := "http://" + addr
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready:\n%s", stderr.String())
		}
	}
	body, _ := json.Marshal(alerttest.Intake(time.Now().Add(-time.Hour)))
	req, _ := http.NewRequest("POST", base+"/v1/missing", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || bytes.Contains(b, []byte(alerttest.ChildName)) {
		t.Fatalf("intake: %d %s", resp.StatusCode, b)
	}
	resp, err = http.Get(base + "/alerts/feed.atom")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if f, err := cap.ParseFeed(b); resp.StatusCode != 200 || err != nil || f.ID != "https://alerts.example.pk/alerts/feed.atom" {
		t.Fatalf("feed: %d %v\n%s", resp.StatusCode, err, b)
	}
}
