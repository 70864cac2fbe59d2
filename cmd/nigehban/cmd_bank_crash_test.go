package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// TestBankCrashSafety kills a real nigehban process with SIGKILL in the
// middle of an import and of a run of single adds, then reopens the store
// and checks that it is consistent: an atomic import is all or nothing, a
// non-atomic one whole batches, every acknowledged add is there, and the
// change log accounts for every signal. It runs on SQLite and, when
// NIGEHBAN_TEST_POSTGRES is set, on PostgreSQL.
func TestBankCrashSafety(t *testing.T) {
	bin := buildNigehban(t)
	const lines = 200_000
	list := filepath.Join(t.TempDir(), "list.txt")
	writePDQList(t, list, lines, 1)
	for _, e := range storetest.Engines {
		t.Run(e.Name, func(t *testing.T) {
			t.Run("atomic-import", func(t *testing.T) {
				db := e.DSN(t)
				runNigehban(t, bin, "bank", "create", "big", "--db", db)
				killMidImport(t, bin, db, list, "--atomic=true")
				n := checkStore(t, db, "big")
				if n != 0 && n != lines {
					t.Errorf("atomic import killed: %d signals in the bank, want 0 or %d", n, lines)
				}
				t.Logf("atomic import killed mid-way left %d signals", n)
				// The store works after the crash.
				small := filepath.Join(t.TempDir(), "small.txt")
				writePDQList(t, small, 1000, 2)
				runNigehban(t, bin, "bank", "import", "big", small, "--type", "pdq", "--db", db)
				if m := checkStore(t, db, "big"); m != n+1000 {
					t.Errorf("import after the crash: %d signals, want %d", m, n+1000)
				}
			})
			t.Run("batched-import", func(t *testing.T) {
				db := e.DSN(t)
				runNigehban(t, bin, "bank", "create", "big", "--db", db)
				killMidImport(t, bin, db, list, "--atomic=false", "--batch", "5000")
				n := checkStore(t, db, "big")
				if n%5000 != 0 && n != lines {
					t.Errorf("batched import killed: %d signals, not a whole number of 5000-signal batches", n)
				}
				t.Logf("batched import killed mid-way left %d signals", n)
			})
			t.Run("single-adds", func(t *testing.T) {
				db := e.DSN(t)
				runNigehban(t, bin, "bank", "create", "b", "--db", db)
				killMidAdds(t, bin, db)
			})
		})
	}
}

// buildNigehban builds the binary under test into a temporary directory.
func buildNigehban(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build the binary under test: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "nigehban")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func runNigehban(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "NIGEHBAN_ACTOR=crash-test")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nigehban %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func writePDQList(t *testing.T, path string, n int, seed uint64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(seed, seed))
	for range n {
		w.WriteString(storetest.RandomPDQ(r))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// killMidImport starts an import and SIGKILLs it once it has read between
// 20% and 60% of the list (its file offset, from /proc), so the kill lands
// inside the import, wherever the database happens to be.
func killMidImport(t *testing.T, bin, db, list string, extra ...string) {
	t.Helper()
	fi, err := os.Stat(list)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"bank", "import", "big", list, "--type", "pdq", "--db", db}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "NIGEHBAN_ACTOR=crash-test")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	target := fi.Size() * int64(20+rand.IntN(40)) / 100
	deadline := time.Now().Add(2 * time.Minute)
	for readOffset(cmd.Process.Pid, list) < target {
		select {
		case err := <-exited:
			t.Fatalf("import finished (%v) before it was killed; make the list longer", err)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("import never got going")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if err := <-exited; err == nil {
		t.Fatalf("import finished before SIGKILL; make the list longer")
	}
}

// readOffset returns the file offset at which process pid has path open
// (Linux /proc), or 0 when it has not opened it yet.
func readOffset(pid int, path string) int64 {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err != nil || target != path {
			continue
		}
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, e.Name()))
		if err != nil {
			return 0
		}
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "pos:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				return n
			}
		}
	}
	return 0
}

// killMidAdds runs one `bank add` of many values (each its own transaction,
// acknowledged by a line once durable) and SIGKILLs it after a random number
// of acknowledgements. Every acknowledged value must survive.
func killMidAdds(t *testing.T, bin, db string) {
	t.Helper()
	r := rand.New(rand.NewPCG(9, 9))
	values := make([]string, 3000)
	for i := range values {
		values[i] = storetest.RandomPDQ(r)
	}
	cmd := exec.Command(bin, append([]string{"bank", "add", "b", "--type", "pdq", "--db", db}, values...)...)
	cmd.Env = append(os.Environ(), "NIGEHBAN_ACTOR=crash-test")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill after a random number of acknowledgements, then keep reading:
	// lines the process printed before it died, still in the pipe, are
	// acknowledgements too.
	killAfter := 20 + rand.IntN(60)
	var acked []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text()) // added pdq signal ID VALUE
		if len(f) != 5 || f[0] != "added" {
			t.Fatalf("unexpected acknowledgement %q", sc.Text())
		}
		acked = append(acked, f[4])
		if len(acked) == killAfter {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("bank add finished before SIGKILL")
	}
	if len(acked) < killAfter || len(acked) == len(values) {
		t.Fatalf("%d acknowledgements: the process did not die mid-way", len(acked))
	}
	n := checkStore(t, db, "b")
	// The value being added when the kill came may or may not have committed.
	if n < int64(len(acked)) || n > int64(len(acked))+1 {
		t.Errorf("%d signals after %d acknowledged adds", n, len(acked))
	}
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i, v := range acked {
		if v != values[i] {
			t.Fatalf("acknowledgement %d is %s, want %s (in order)", i, v, values[i])
		}
		if _, err := st.FindSignal(context.Background(), "b", bank.PDQ, v); err != nil {
			t.Errorf("acknowledged add %d (%s) lost: %v", i, v, err)
		}
	}
}

// checkStore reopens the store after a crash, runs its consistency check
// (SQLite integrity, change log against signals) and returns the number of
// active signals in the bank.
func checkStore(t *testing.T, db, bankName string) int64 {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer st.Close()
	if err := st.Check(ctx); err != nil {
		t.Fatalf("store inconsistent after crash: %v", err)
	}
	stats, err := st.BankStats(ctx, bankName)
	if err != nil {
		t.Fatal(err)
	}
	var adds int64
	for since := int64(0); ; {
		cs, err := st.Changes(ctx, since, 50_000)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			break
		}
		for _, c := range cs {
			if c.Op == bank.OpSignalAdd && c.Bank == bankName {
				adds++
			}
			since = c.Seq
		}
	}
	if adds != stats.Active[bank.PDQ] {
		t.Errorf("change log has %d signal.add entries for %d signals", adds, stats.Active[bank.PDQ])
	}
	return stats.Active[bank.PDQ]
}
