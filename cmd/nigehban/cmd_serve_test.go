package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/action"
)

// TestServeOutboxSurvivesKill: a match acknowledged to the caller fires its
// webhook even when the process is killed (SIGKILL) before delivering it.
func TestServeOutboxSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	bin := buildNigehban(t)
	db := filepath.Join(t.TempDir(), "n.db")
	var secret string
	for _, line := range strings.Split(runNigehban(t, bin, "apikey", "create", "--db", db, "--role", "admin", "--name", "ops"), "\n") {
		if strings.HasPrefix(line, "nig_") {
			secret = strings.TrimSpace(line)
		}
	}
	if secret == "" {
		t.Fatal("no secret printed")
	}

	var accept atomic.Bool
	var mu sync.Mutex
	var delivered []string
	const hookSecret = "kill-test-secret-0123456789"
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !accept.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if !action.Verify(hookSecret, r.Header.Get(action.HeaderTimestamp), r.Header.Get(action.HeaderSignature), body) {
			t.Error("bad signature")
		}
		var p struct {
			EventID string `json:"event_id"`
		}
		json.Unmarshal(body, &p)
		mu.Lock()
		delivered = append(delivered, p.EventID)
		mu.Unlock()
	}))
	defer recv.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--db", db, "--addr", addr)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return cmd
				}
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatal("serve did not become ready")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	call := func(method, path, body string) map[string]any {
		req, _ := http.NewRequest(method, "http://"+addr+path, bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
		}
		return out
	}

	srv := start()
	call("POST", "/v1/banks", `{"name":"victims"}`)
	const h = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
	call("POST", "/v1/banks/victims/signals", `{"type":"pdq","value":"`+h+`"}`)
	call("PUT", "/v1/banks/victims/webhook", `{"url":"`+recv.URL+`","secret":"`+hookSecret+`"}`)
	out := call("POST", "/v1/match", `{"signals":[{"type":"pdq","value":"`+h+`"}]}`)
	srv.Process.Signal(syscall.SIGKILL) // right after the acknowledgement
	srv.Wait()
	ids, _ := out["event_ids"].([]any)
	if len(ids) != 1 {
		t.Fatalf("no event acknowledged: %v", out)
	}
	mu.Lock()
	early := len(delivered)
	mu.Unlock()
	if early != 0 {
		t.Fatalf("receiver was down but accepted %d events", early)
	}

	accept.Store(true)
	srv = start()
	defer func() { srv.Process.Signal(syscall.SIGTERM); srv.Wait() }()
	deadline := time.Now().Add(45 * time.Second) // worst case: the 15 s claim lease of the killed process
	for {
		mu.Lock()
		got := append([]string(nil), delivered...)
		mu.Unlock()
		if len(got) > 0 {
			if got[0] != ids[0].(string) {
				t.Errorf("delivered %v, acknowledged %v", got, ids)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the acknowledged event was never delivered after the restart")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
