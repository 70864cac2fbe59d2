package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
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
	"github.com/nigehban/nigehban/internal/testtool"
)

// TestServeBinary runs `nigehban serve` as a process: killing it, and
// stopping it gracefully.
func TestServeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	bin := buildNigehban(t)
	t.Run("OutboxSurvivesKill", func(t *testing.T) { testServeOutboxSurvivesKill(t, bin) })
	t.Run("GracefulShutdown", func(t *testing.T) { testServeGracefulShutdown(t, bin) })
	t.Run("MetricsAddr", func(t *testing.T) { testServeMetricsAddr(t, bin) })
}

// testServeMetricsAddr: --metrics-addr serves /metrics keyless on its own
// listener and takes it off the API's.
func testServeMetricsAddr(t *testing.T, bin string) {
	db := filepath.Join(t.TempDir(), "n.db")
	secret := adminKey(t, bin, db)
	addr, maddr := freeAddr(t), freeAddr(t)
	srv := startServe(t, bin, db, addr, "--metrics-addr", maddr)
	defer func() { srv.Process.Kill(); srv.Wait() }()
	resp, err := http.Get("http://" + maddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("nigehban_http_requests_total")) {
		t.Errorf("metrics address: %d %.200s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("/metrics on the API address with --metrics-addr: %d, want 404", resp.StatusCode)
	}
}

// adminKey creates the first admin key of db with the CLI.
func adminKey(t *testing.T, bin, db string) string {
	t.Helper()
	for _, line := range strings.Split(runNigehban(t, bin, "apikey", "create", "--db", db, "--role", "admin", "--name", "ops"), "\n") {
		if strings.HasPrefix(line, "nig_") {
			return strings.TrimSpace(line)
		}
	}
	t.Fatal("no secret printed")
	return ""
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs the binary and waits until it is ready.
func startServe(t *testing.T, bin, db, addr string, extra ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--db", db, "--addr", addr, "--webhook-allow-private"}, extra...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
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
			cmd.Wait()
			t.Fatalf("serve did not become ready:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testServeGracefulShutdown: on SIGTERM the server stops accepting
// connections, finishes the request in flight, and exits 0.
func testServeGracefulShutdown(t *testing.T, bin string) {
	db := filepath.Join(t.TempDir(), "n.db")
	secret := adminKey(t, bin, db)
	addr := freeAddr(t)
	srv := startServe(t, bin, db, addr)
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()

	// A request in flight: its body arrives in two halves, SIGTERM between.
	body := `{"signals":[{"type":"md5","value":"d41d8cd98f00b204e9800998ecf8427e"}]}`
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/match HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		secret, len(body), body[:20])
	time.Sleep(300 * time.Millisecond) // the server has read the headers
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := testtool.WaitUntil(t)
	for { // the listener closes
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-exited:
		t.Fatalf("exited (%v) before the request in flight finished", err)
	default:
	}
	conn.Write([]byte(body[20:]))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("request in flight: %v", err)
	}
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(out, []byte(`"matches":[]`)) {
		t.Errorf("request in flight: %d %s", resp.StatusCode, out)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(15 * time.Second):
		srv.Process.Kill()
		t.Fatal("serve did not exit after SIGTERM")
	}
}

// testServeOutboxSurvivesKill: a match acknowledged to the caller fires its
// webhook even when the process is killed (SIGKILL) before delivering it.
func testServeOutboxSurvivesKill(t *testing.T, bin string) {
	db := filepath.Join(t.TempDir(), "n.db")
	secret := adminKey(t, bin, db)

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

	addr := freeAddr(t)
	start := func() *exec.Cmd { return startServe(t, bin, db, addr) }
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
