// Package testtool finds the external commands tests use as oracles or
// builders (xmllint, ffprobe, pdftotext, mkfs.*, the Sleuth Kit, …), all
// installed by scripts/setup. A missing command skips the test, except with
// CI=true, where it fails it: a green CI means every test ran.
package testtool

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Path returns the path of command name: from PATH, then /usr/sbin and
// /sbin (file-system tools live there and are not on every user's PATH).
func Path(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	Missing(t, fmt.Sprintf("%s not installed (scripts/setup installs it)", name))
	return ""
}

// Missing ends a test that cannot run without a component (a command, a
// browser): it skips the test, or fails it with CI=true, saying why (msg).
// Every "not installed" ending of a test goes through here.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	} else {
		t.Skip(msg)
	}
}

// MaxWait bounds a test's wait for a condition: long enough for a machine
// under heavy load (a load average of 40 on 2 cores makes a 50 ms step take
// seconds), short enough that a condition that never holds fails the test
// long before the package's -timeout.
const MaxWait = 2 * time.Minute

// WaitUntil is when a test's wait for a condition gives up: MaxWait from
// now, or sooner when the test's own deadline (go test -timeout) comes
// first, less a tenth of the time left to it so the failure is still
// reported. Tests poll a condition until then, never for a fixed short
// time: a loaded machine makes them slower, not red.
func WaitUntil(t testing.TB) time.Time {
	now := time.Now()
	end := now.Add(MaxWait)
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := dt.Deadline(); ok {
			if d = d.Add(-d.Sub(now) / 10); d.Before(end) {
				end = d
			}
		}
	}
	return end
}

// Eventually calls cond every interval until it returns true, and reports
// whether it did before WaitUntil(t).
func Eventually(t testing.TB, interval time.Duration, cond func() bool) bool {
	t.Helper()
	end := WaitUntil(t)
	for !cond() {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(interval)
	}
	return true
}
