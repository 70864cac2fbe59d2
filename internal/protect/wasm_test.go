package protect_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestWasmFresh rebuilds the WebAssembly from this checkout exactly as go
// generate does and compares it byte for byte with the committed, embedded
// static/nigehban.wasm, and wasm_exec.js with the Go toolchain's: a change
// to the hashing code without `go generate ./internal/protect` fails here.
// GOOS=js builds with -trimpath and -buildvcs=false are reproducible; the
// bytes depend on the Go release, so the committed file is that of the
// release this test reports.
func TestWasmFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the WebAssembly (about 10 s): skipped with -short")
	}
	goBin := filepath.Join(goroot(t), "bin", "go")
	out := filepath.Join(t.TempDir(), "nigehban.wasm")
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, "../../cmd/nigehban-wasm"}
	cmd := exec.Command(goBin, args...)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("static/nigehban.wasm")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, committed) {
		t.Errorf("static/nigehban.wasm (%d bytes) is stale: the sources build %d different bytes with %s; run go generate ./internal/protect and commit",
			len(committed), len(built), runtime.Version())
	}
	execJS, err := os.ReadFile(filepath.Join(goroot(t), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile("static/wasm_exec.js"); !bytes.Equal(got, execJS) {
		t.Errorf("static/wasm_exec.js differs from %s's; run go generate ./internal/protect", runtime.Version())
	}
}

// goroot is the GOROOT of the go command on PATH (the toolchain that
// generates the committed files).
func goroot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	return strings.TrimSpace(string(out))
}
