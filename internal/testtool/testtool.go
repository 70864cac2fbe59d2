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
