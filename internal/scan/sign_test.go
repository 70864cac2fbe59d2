package scan

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/diskimage/imagetest"
)

// TestCustodySignature signs custody.json with an examiner's key: Verify
// with the verifier key accepts it, with another key or after custody.json
// changed it reports the problem.
func TestCustodySignature(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	imagetest.WriteTree(t, src, imagetest.Photos(31, 2))
	dir := t.TempDir()
	skey, vkey, err := audit.GenerateLogKey("lab.example.org/examiner/sadia")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "examiner.key")
	if err := audit.WriteKeyFile(keyFile, skey); err != nil {
		t.Fatal(err)
	}
	_, other, _ := audit.GenerateLogKey("lab.example.org/examiner/other")
	out := filepath.Join(dir, "out")
	if _, err := Run(ctx, Options{Case: "C-1", Examiner: "Sadia", Out: out, Sources: []string{src}, SignKey: keyFile, Workers: 1}); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, out, VerifyOptions{CustodyVKey: vkey, SkipSources: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.SignedBy != "lab.example.org/examiner/sadia" || len(rep.Problems) > 0 {
		t.Fatalf("signed by %q, problems %v", rep.SignedBy, rep.Problems)
	}
	rep, err = Verify(ctx, out, VerifyOptions{CustodyVKey: other, SkipSources: true})
	if err != nil || rep.OK || rep.SignedBy != "" {
		t.Errorf("another key: ok %v signed by %q (%v)", rep.OK, rep.SignedBy, err)
	}
	cj := filepath.Join(out, CustodyName)
	b := readFile(t, cj)
	if err := os.WriteFile(cj, []byte(strings.Replace(string(b), `"Sadia"`, `"Someone"`, 1)), 0o640); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(ctx, out, VerifyOptions{CustodyVKey: vkey, SkipSources: true})
	if err != nil || rep.OK || !strings.Contains(strings.Join(rep.Problems, " "), "custody signature") {
		t.Errorf("changed custody.json: ok %v, problems %v (%v)", rep.OK, rep.Problems, err)
	}
}
