// Package captest checks CAP documents in tests against the OASIS CAP 1.2
// schema with xmllint (Debian's libxml2-utils, installed by scripts/setup).
package captest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/nigehban/nigehban/internal/testtool"

	"github.com/nigehban/nigehban/internal/alert/cap"
)

// XSD returns the path of CAP-v1.2.xsd in the shared test data (found from
// this file's directory, so tests of any package can call it).
func XSD(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	// internal/alert/cap/captest → repository root → ../shared
	p := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "..", "shared", "testdata", "cap", "CAP-v1.2.xsd")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("CAP schema: %v", err)
	}
	return p
}

// Validate fails the test unless doc validates against the CAP 1.2 schema
// (xmllint --schema), passes cap.Validate, and carries one info in Urdu
// and one in English. Without xmllint it fails under CI=true and skips
// otherwise.
func Validate(t testing.TB, doc []byte) cap.Alert {
	t.Helper()
	xmllint := testtool.Path(t, "xmllint")
	f := filepath.Join(t.TempDir(), "alert.xml")
	if err := os.WriteFile(f, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", XSD(t), f).CombinedOutput()
	if err != nil {
		t.Fatalf("CAP message does not validate against CAP-v1.2.xsd: %v\n%s\n%s", err, out, doc)
	}
	a, err := cap.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := cap.Validate(a); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	langs := map[string]bool{}
	for _, in := range a.Info {
		langs[in.Language] = true
	}
	if len(a.Info) != 2 || !langs["ur-PK"] || !langs["en-PK"] {
		t.Fatalf("want one info in ur-PK and one in en-PK, got %v", langs)
	}
	return a
}
