package scan

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// verifyText runs Verify and renders its report.
func verifyText(t *testing.T, out string, o VerifyOptions) (*VerifyReport, string) {
	t.Helper()
	rep, err := Verify(context.Background(), out, o)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	return rep, buf.String()
}

func TestVerifyDetectsTampering(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	root := filepath.Join(base, "src")
	mkdir(t, filepath.Join(root, "sub"))
	writeFile(t, filepath.Join(root, "a.jpg"), readFile(t, imagePath("labelme-subset/q0746.jpg")))
	writeFile(t, filepath.Join(root, "b.txt"), []byte("original text\n"))
	writeFile(t, filepath.Join(root, "sub/c.zip"), zipOf(t, map[string][]byte{"inner.txt": []byte("inner v1\n")}))
	out := filepath.Join(base, "out")
	sum, err := Run(ctx, Options{Case: "V", Examiner: "E", Out: out, Sources: []string{root}})
	if err != nil {
		t.Fatal(err)
	}
	rep, text := verifyText(t, out, VerifyOptions{})
	if !rep.OK || rep.Verified != 4 || rep.CustodySHA256 != sum.CustodySHA256 || !strings.Contains(text, ": OK") {
		t.Fatalf("untouched scan:\n%s", text)
	}

	// Output files: any change to one is caught through custody.json.
	for _, name := range []string{ManifestName, CSVName, ReportName} {
		p := filepath.Join(out, name)
		orig := readFile(t, p)
		tampered := append(bytes.Clone(orig), '\n')
		writeFile(t, p, tampered)
		rep, text := verifyText(t, out, VerifyOptions{SkipSources: true})
		if rep.OK || !strings.Contains(text, "FAILED") || !strings.Contains(text, name) {
			t.Errorf("tampered %s not detected:\n%s", name, text)
		}
		writeFile(t, p, orig)
	}
	if rep, text := verifyText(t, out, VerifyOptions{SkipSources: true}); !rep.OK {
		t.Fatalf("restored outputs:\n%s", text)
	}

	// Sources: a changed file, a changed archive member, a deleted file and
	// a new one.
	writeFile(t, filepath.Join(root, "b.txt"), []byte("altered text\n"))
	writeFile(t, filepath.Join(root, "sub/c.zip"), zipOf(t, map[string][]byte{"inner.txt": []byte("inner v2\n")}))
	os.Remove(filepath.Join(root, "a.jpg"))
	writeFile(t, filepath.Join(root, "new.txt"), []byte("added later\n"))
	rep, text = verifyText(t, out, VerifyOptions{})
	if rep.OK || !strings.Contains(text, "FAILED") {
		t.Errorf("tampered sources passed:\n%s", text)
	}
	problems := map[string]string{}
	for _, l := range []struct {
		kind string
		ps   []FileProblem
	}{{"changed", rep.Changed}, {"missing", rep.Missing}, {"unlisted", rep.Unlisted}} {
		for _, p := range l.ps {
			problems[p.Path] = l.kind
		}
	}
	for path, kind := range map[string]string{"b.txt": "changed", "sub/c.zip": "changed", "sub/c.zip!inner.txt": "changed",
		"a.jpg": "missing", "new.txt": "unlisted"} {
		if problems[path] != kind {
			t.Errorf("%s: reported %q, want %q\n%s", path, problems[path], kind, text)
		}
	}
	if len(problems) != 5 {
		t.Errorf("problems %v, want 5", problems)
	}

	// Sources moved elsewhere are not a failure; given their new place, they are checked.
	moved := filepath.Join(base, "moved")
	if err := os.Rename(root, moved); err != nil {
		t.Fatal(err)
	}
	rep, text = verifyText(t, out, VerifyOptions{})
	if !rep.OK || len(rep.SourcesAbsent) != 1 || !strings.Contains(text, "not present") {
		t.Errorf("absent source:\n%s", text)
	}
	rep, _ = verifyText(t, out, VerifyOptions{Sources: []string{moved}})
	if rep.OK || len(rep.Changed) != 3 {
		t.Errorf("moved source given: %+v", rep)
	}
}

func TestVerifyIncompleteScan(t *testing.T) {
	root := buildBulk(t)
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	Run(ctx, Options{Case: "R", Examiner: "E", Out: out, Sources: []string{root}, Matcher: &cancelAfter{n: 10, cancel: cancel}})
	rep, text := verifyText(t, out, VerifyOptions{})
	if rep.OK || !strings.Contains(text, "not complete") {
		t.Errorf("interrupted scan verified:\n%s", text)
	}
}

// TestFileSource scans one archive given as the SOURCE, through a symlink:
// custody.json records the file's own hashes, and verify re-checks its
// members.
func TestFileSource(t *testing.T) {
	base := t.TempDir()
	data := zipOf(t, map[string][]byte{"a.txt": []byte("alpha\n"), "b/c.txt": []byte("gamma\n")})
	real := filepath.Join(base, "exhibit-7.zip")
	writeFile(t, real, data)
	link := filepath.Join(base, "link.zip")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(base, "out")
	if _, err := Run(context.Background(), Options{Case: "F", Examiner: "E", Out: out, Sources: []string{link}}); err != nil {
		t.Fatal(err)
	}
	got := readEntries(t, out)
	for _, p := range []string{"exhibit-7.zip", "exhibit-7.zip!a.txt", "exhibit-7.zip!b/c.txt"} {
		if got[p] == nil || got[p].Source != real {
			t.Errorf("%q: %+v", p, got[p])
		}
	}
	c, err := ReadCustody(out)
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Sources[0]; s.Type != "file" || s.Arg != link || s.Path != real || s.SHA256 != sha256hex(data) ||
		s.MD5 != md5hex(data) || s.SHA1 != sha1hex(data) || s.Size != int64(len(data)) {
		t.Errorf("custody source %+v", s)
	}
	if rep, text := verifyText(t, out, VerifyOptions{}); !rep.OK || rep.Verified != 3 {
		t.Errorf("verify:\n%s", text)
	}
	writeFile(t, real, zipOf(t, map[string][]byte{"a.txt": []byte("alpha\n"), "b/c.txt": []byte("GAMMA\n")}))
	if rep, text := verifyText(t, out, VerifyOptions{}); rep.OK || len(rep.Changed) != 2 {
		t.Errorf("verify of a changed member:\n%s", text)
	}
}
