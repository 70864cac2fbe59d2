package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/fingerprint"
	"github.com/nigehban/nigehban/internal/scan"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// scanTree writes n random files (1–8 KiB) in a few folders and a zip of
// members, and returns the root and the number of manifest entries a scan
// of it has.
func scanTree(t *testing.T, n, members int) (string, int) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "evidence")
	r := rand.New(rand.NewPCG(7, 7))
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("dir%02d", i%13))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1024+r.IntN(7*1024))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d.bin", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range members {
		w, _ := zw.Create(fmt.Sprintf("m/%04d.txt", i))
		fmt.Fprintf(w, "member %d\n", i)
	}
	zw.Close()
	if err := os.WriteFile(filepath.Join(root, "zz.zip"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return root, n + 1 + members
}

// manifestKeys reads a manifest and returns how often each path appears.
func manifestKeys(t *testing.T, out string) map[string]int {
	t.Helper()
	f, err := os.Open(filepath.Join(out, scan.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e scan.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("manifest line %q: %v", sc.Text(), err)
		}
		seen[e.Path]++
	}
	return seen
}

func countLines(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte{'\n'})
}

// TestScanKillResume kills a real scan with SIGKILL mid-way, resumes it,
// and checks that every file is listed exactly once, that custody.json tells
// the crash, and that scan verify passes, then fails once an output is
// tampered with.
func TestScanKillResume(t *testing.T) {
	bin := buildNigehban(t)
	root, total := scanTree(t, 3000, 400)
	out := filepath.Join(t.TempDir(), "out")
	// A killed scan cannot remove its private spool directory: keep it in
	// the test's own temporary directory.
	args := []string{"scan", "--case", "K-1", "--examiner", "tester", "--out", out, "--workers", "1", "--temp-dir", t.TempDir(), root}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for countLines(filepath.Join(out, scan.ManifestName)) < 1 {
		select {
		case err := <-exited:
			t.Fatalf("scan finished (%v) before it was killed; make the tree larger", err)
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("scan never got going")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err == nil {
		t.Fatal("scan finished before SIGKILL; make the tree larger")
	}
	before := countLines(filepath.Join(out, scan.ManifestName))
	if before >= total {
		t.Fatalf("killed scan had listed all %d entries", total)
	}
	t.Logf("killed after %d of %d entries were on disk", before, total)

	res, err := exec.Command(bin, append(args, "--resume")...).CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, res)
	}
	seen := manifestKeys(t, out)
	if len(seen) != total {
		t.Errorf("%d distinct entries after resume, want %d", len(seen), total)
	}
	for p, n := range seen {
		if n != 1 {
			t.Errorf("%q listed %d times", p, n)
		}
	}
	c, err := scan.ReadCustody(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Runs) != 2 || c.Runs[0].Status != scan.StatusCrashed || c.Runs[1].Status != scan.StatusComplete || c.Status != scan.StatusComplete {
		t.Errorf("custody runs %+v", c.Runs)
	}

	if res, err := exec.Command(bin, "scan", "verify", out).CombinedOutput(); err != nil || !strings.Contains(string(res), ": OK") {
		t.Errorf("verify: %v\n%s", err, res)
	}
	csvPath := filepath.Join(out, scan.CSVName)
	b, _ := os.ReadFile(csvPath)
	os.WriteFile(csvPath, bytes.Replace(b, []byte("dir01"), []byte("dir99"), 1), 0o644)
	res, err = exec.Command(bin, "scan", "verify", "--no-sources", out).CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 || !strings.Contains(string(res), "FAILED") {
		t.Errorf("verify of a tampered CSV: %v\n%s", err, res)
	}
}

// scanCLI runs the scan command in-process.
func scanCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newScanCommand()
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// TestScanStoredBanks matches a scan against a bank imported with the CLI,
// on SQLite and PostgreSQL.
func TestScanStoredBanks(t *testing.T) {
	photo, err := os.ReadFile("../../../shared/testdata/pdq/images/bridge-mods/aaa-orig.jpg")
	if err != nil {
		t.Fatal(err)
	}
	rec := fingerprint.Reader(context.Background(), "x", bytes.NewReader(photo), fingerprint.Options{})
	img, err := jpeg.Decode(bytes.NewReader(photo))
	if err != nil {
		t.Fatal(err)
	}
	var edited bytes.Buffer
	jpeg.Encode(&edited, img, &jpeg.Options{Quality: 30})
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "holiday.png"), edited.Bytes(), 0o644)
	os.WriteFile(filepath.Join(root, "notes.txt"), []byte("nothing to see\n"), 0o644)
	list := writeFile(t, "hotline.csv", "type,value,category\npdq,"+rec.PDQ.String()+",A1\n")

	for _, e := range storetest.Engines {
		t.Run(e.Name, func(t *testing.T) {
			db := e.DSN(t)
			mustBankCLI(t, db, "create", "hotline")
			mustBankCLI(t, db, "import", "hotline", list)
			out := filepath.Join(t.TempDir(), "out")
			stdout, stderr, err := scanCLI(t, "--case", "S-1", "--examiner", "tester", "--out", out, "--db", db, "--bank", "hotline", "--json", root)
			if err != nil {
				t.Fatalf("scan: %v\n%s\n%s", err, stdout, stderr)
			}
			var sum scan.Summary
			if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Counts == nil || sum.Counts.Matched != 1 ||
				sum.Counts.MatchesByCategory["A1"] != 1 || sum.Counts.ExtensionMismatches != 1 {
				t.Errorf("summary %s (%v)", stdout, err)
			}
			c, err := scan.ReadCustody(out)
			if err != nil {
				t.Fatal(err)
			}
			if b := c.Runs[0].Banks; len(b) != 1 || b[0].Name != "hotline" || b[0].ChangeSeq == 0 || strings.Contains(b[0].Store, "password") {
				t.Errorf("custody banks %+v", b)
			}
			if len(c.Runs[0].CommandLine) == 0 || c.Case != "S-1" {
				t.Errorf("custody %+v", c)
			}
		})
	}
}

func TestScanCLIErrors(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "a.txt"), []byte("a"), 0o644)
	fifo := filepath.Join(t.TempDir(), "src")
	os.MkdirAll(fifo, 0o755)
	syscall.Mkfifo(filepath.Join(fifo, "pipe"), 0o644)
	for _, tc := range []struct {
		name    string
		args    []string
		errLike string
	}{
		{"no case", []string{"--examiner", "e", "--out", filepath.Join(t.TempDir(), "o"), root}, "--case"},
		{"no source", []string{"--case", "c", "--examiner", "e", "--out", filepath.Join(t.TempDir(), "o")}, "arg"},
		{"bad threshold", []string{"--case", "c", "--examiner", "e", "--out", filepath.Join(t.TempDir(), "o"), "--threshold", "300", root}, "threshold"},
		{"missing bank", []string{"--case", "c", "--examiner", "e", "--out", filepath.Join(t.TempDir(), "o"), "--bank", "/nonexistent.csv", root}, "bank"},
		{"out inside source", []string{"--case", "c", "--examiner", "e", "--out", filepath.Join(root, "o"), root}, "overlap"},
		{"special file is an error entry", []string{"--case", "c", "--examiner", "e", "--out", filepath.Join(t.TempDir(), "o"), fifo}, "1 entries have errors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := scanCLI(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.errLike) {
				t.Errorf("error %v, want one containing %q", err, tc.errLike)
			}
		})
	}
	if _, _, err := scanCLI(t, "--case", "c", "--examiner", "e", "--out", filepath.Join(t.TempDir(), "o"), fifo); !errors.Is(err, errPartial) {
		t.Errorf("error entries: %v, want errPartial (exit status 1)", err)
	}
}
