package scan

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nigehban/nigehban/internal/testtool"
)

func md5hex(b []byte) string    { s := md5.Sum(b); return hex.EncodeToString(s[:]) }
func sha1hex(b []byte) string   { s := sha1.Sum(b); return hex.EncodeToString(s[:]) }
func sha256hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// readEntries reads a manifest, failing on a repeated entry, keyed by the
// exact path.
func readEntries(t *testing.T, out string) map[string]*Entry {
	t.Helper()
	got := map[string]*Entry{}
	torn, err := readManifest(filepath.Join(out, ManifestName), func(line int, e *Entry) error {
		if got[e.rawPath()] != nil {
			t.Errorf("manifest line %d: %q listed twice", line, e.Path)
		}
		got[e.rawPath()] = e
		return nil
	})
	if err != nil || torn >= 0 {
		t.Fatalf("read manifest: torn at %d, %v", torn, err)
	}
	return got
}

// toolDigest runs md5sum, sha1sum or sha256sum on a file.
func toolDigest(t *testing.T, tool, path string) string {
	t.Helper()
	out, err := exec.Command(tool, "--", path).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", tool, path, err)
	}
	f := strings.Fields(strings.TrimPrefix(string(out), "\\"))
	if len(f) == 0 {
		t.Fatalf("%s printed nothing", tool)
	}
	return f[0]
}

func TestScanEvidenceTree(t *testing.T) {
	ctx := context.Background()
	ev := buildEvidence(t, true)
	makeReadOnly(t, ev.root)
	before := treeSum(t, ev.root)

	banks, err := LoadFileBanks(ctx, []string{ev.bank}, DefaultFileBankOptions())
	if err != nil {
		t.Fatal(err)
	}
	known, err := LoadKnown(ctx, []string{ev.known})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "case-out")
	sum, err := Run(ctx, Options{
		Case: "CASE-2025-001", Examiner: "A. Examiner", Out: out, Sources: []string{ev.root},
		Matcher: banks, Known: known, Limits: Limits{MaxRatio: 100}, Workers: 3, ReadLinkTargets: true,
		Tool: Tool{Version: "test"}, CommandLine: []string{"nigehban", "scan", "…"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if after := treeSum(t, ev.root); after != before {
		t.Errorf("the source tree changed during the scan:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	got := readEntries(t, out)
	for p := range got {
		if ev.want[p] == nil {
			t.Errorf("unexpected entry %q: %+v", p, got[p])
		}
	}
	hashed := 0
	for p, w := range ev.want {
		e := got[p]
		if e == nil {
			t.Errorf("%q not listed", p)
			continue
		}
		if e.Kind != w.kind {
			t.Errorf("%q: kind %q, want %q", p, e.Kind, w.kind)
		}
		if w.errLike != "" && !strings.Contains(e.Error, w.errLike) {
			t.Errorf("%q: error %q, want one containing %q", p, e.Error, w.errLike)
		}
		if w.errLike == "" && e.Error != "" {
			t.Errorf("%q: unexpected error %q", p, e.Error)
		}
		if w.content != "" {
			hashed++
			for _, d := range []struct{ tool, got string }{{"md5sum", e.MD5}, {"sha1sum", e.SHA1}, {"sha256sum", e.SHA256}} {
				if want := toolDigest(t, d.tool, w.content); d.got != want {
					t.Errorf("%q: %s %q, %s says %q", p, d.tool, d.got, d.tool, want)
				}
			}
			if st, err := os.Stat(w.content); err != nil || st.Size() != e.Size {
				t.Errorf("%q: size %d, file has %v", p, e.Size, st.Size())
			}
		} else if e.hasDigests() && e.Kind != KindFile {
			t.Errorf("%q: a %s has digests", p, e.Kind)
		} else if w.errLike != "" && e.hasDigests() && !strings.Contains(w.errLike, "broken") {
			t.Errorf("%q failed (%s) but has digests", p, e.Error)
		}
		var types []string
		for _, m := range e.Matches {
			types = append(types, m.SignalType)
		}
		switch {
		case w.match == "" && len(e.Matches) > 0:
			t.Errorf("%q: unexpected matches %+v (pdq %v, quality %v)", p, e.Matches, e.PDQ, e.Quality)
		case w.match != "" && !slices.Contains(types, w.match):
			t.Errorf("%q: matches %+v, want a %s match (pdq %v)", p, e.Matches, w.match, e.PDQ)
		}
		if e.ExtensionMismatch != w.mismatch {
			t.Errorf("%q: extension_mismatch %v, want %v (format %q)", p, e.ExtensionMismatch, w.mismatch, e.Format)
		}
		if e.Known != w.known {
			t.Errorf("%q: known %v, want %v", p, e.Known, w.known)
		}
		if w.members > 0 && (e.Members == nil || *e.Members != w.members) {
			t.Errorf("%q: members %v, want %d", p, e.Members, w.members)
		}
	}
	// Spot checks of what the table cannot say.
	if e := got["DCIM/edits/bridge-crop.jpg"]; e != nil && len(e.Matches) > 0 {
		m := e.Matches[0]
		if m.Bank != "bank.csv" || m.Category != "A1" || m.Distance == 0 || m.Distance > 31 || m.Value == "" {
			t.Errorf("near-duplicate match %+v: want bank.csv, category A1, 0 < distance ≤ 31, the value", m)
		}
	}
	if e := got["links/photo"]; e != nil && e.LinkTarget != "../DCIM/IMG_0001.jpg" {
		t.Errorf("symlink target %q", e.LinkTarget)
	}
	if e := got["Documents/caf\xe9-latin1.txt"]; e != nil && !bytes.Equal(e.PathRaw, []byte("Documents/caf\xe9-latin1.txt")) {
		t.Errorf("non-UTF-8 name: path_raw %q", e.PathRaw)
	}
	if e := got["Movies/clip.mp4"]; e != nil && len(e.VPDQ) == 0 {
		t.Errorf("video without vPDQ frames: %+v", e)
	}
	if e := got["DCIM/IMG_0001.jpg"]; e != nil && (e.Mtime == "" || e.Ctime == "" || e.Mode == "" || e.UID == nil) {
		t.Errorf("file times or owner missing: %+v", e)
	}

	// Outputs and custody.
	if sum.Status != StatusComplete || sum.Counts == nil || sum.Counts.Entries != len(ev.want) || sum.Counts.Hashed < hashed {
		t.Errorf("summary %+v, counts %+v; want %d entries, ≥ %d hashed", sum, sum.Counts, len(ev.want), hashed)
	}
	cust, err := ReadCustody(out)
	if err != nil {
		t.Fatal(err)
	}
	if cust.Case != "CASE-2025-001" || cust.Examiner != "A. Examiner" || cust.Status != StatusComplete || len(cust.Runs) != 1 ||
		cust.Runs[0].Ended == "" || cust.Host == "" || len(cust.Sources) != 1 || cust.Sources[0].Type != "directory" {
		t.Errorf("custody: %+v", cust)
	}
	if b := cust.Runs[0].Banks; len(b) != 1 || b[0].SHA256 != sha256hex(readFile(t, ev.bank)) || b[0].Signals["pdq"] != 3 {
		t.Errorf("custody banks %+v", b)
	}
	if k := cust.Runs[0].Known; len(k) != 1 || k[0].SHA256 != sha256hex(readFile(t, ev.known)) || k[0].Format != "nsrl" {
		t.Errorf("custody known lists %+v", k)
	}
	if len(cust.Outputs) != 4 { // manifest.jsonl, manifest.csv, report.html, report.pdf
		t.Errorf("custody outputs %+v", cust.Outputs)
	}
	for _, o := range cust.Outputs {
		if sha256hex(readFile(t, filepath.Join(out, o.Name))) != o.SHA256 {
			t.Errorf("custody sha256 of %s is wrong", o.Name)
		}
	}
	if sha256hex(readFile(t, filepath.Join(out, CustodyName))) != sum.CustodySHA256 {
		t.Error("summary's custody sha256 is not the file's")
	}
	rows, err := csv.NewReader(bytes.NewReader(readFile(t, filepath.Join(out, CSVName)))).ReadAll()
	if err != nil || len(rows) != len(ev.want)+1 || !slices.Equal(rows[0], CSVColumns) {
		t.Errorf("manifest.csv: %d rows (want %d), err %v", len(rows), len(ev.want)+1, err)
	}
	report := string(readFile(t, filepath.Join(out, ReportName)))
	for _, s := range []string{"CASE-2025-001", "A. Examiner", "DCIM/edits/bridge-q35.jpg", "msvcrt40.dll", "symlink loop", "A1", "&lt;b&gt;bold&lt;/b&gt;", ": complete,"} {
		if !strings.Contains(report, s) {
			t.Errorf("report.html lacks %q", s)
		}
	}
	for _, s := range []string{"<img", "<script", "<b>bold", "http://", "https://", "src="} {
		if strings.Contains(report, s) {
			t.Errorf("report.html contains %q", s)
		}
	}

	rep, err := Verify(ctx, out, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Verified < hashed {
		var buf bytes.Buffer
		rep.WriteText(&buf)
		t.Errorf("verify of an untouched scan failed or verified too little (%d < %d):\n%s", rep.Verified, hashed, buf.String())
	}
	if after := treeSum(t, ev.root); after != before {
		t.Errorf("the source tree changed during verify")
	}
}

// TestSymlinkAccessTime: by default a scan leaves a symlink's access time
// as it found it (reading the target would update it on a mount that keeps
// access times); ReadLinkTargets reads the target anyway.
func TestSymlinkAccessTime(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "target.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink("target.txt", link); err != nil {
		t.Fatal(err)
	}
	// An access time older than the modification time: relatime updates it
	// on the next read of the link.
	old := []unix.Timespec{unix.NsecToTimespec(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()), {Nsec: unix.UTIME_OMIT}}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, link, old, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		testtool.Missing(t, fmt.Sprintf("cannot set a symlink's times here: %v", err))
	}
	atime := func() int64 {
		var st unix.Stat_t
		if err := unix.Lstat(link, &st); err != nil {
			t.Fatal(err)
		}
		return st.Atim.Nano()
	}
	before := atime()
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Run(context.Background(), Options{Case: "A", Examiner: "E", Out: out, Sources: []string{root}}); err != nil {
		t.Fatal(err)
	}
	if after := atime(); after != before {
		t.Errorf("the scan changed the link's access time: %v → %v", time.Unix(0, before), time.Unix(0, after))
	}
	e := readEntries(t, out)["link"]
	switch {
	case e == nil:
		t.Fatal("link not listed")
	case atimeFixed(link):
		if e.LinkTarget != "target.txt" {
			t.Errorf("on a read-only or noatime mount the target is read: %+v", e)
		}
	case e.LinkTarget != "" || !strings.Contains(e.Note, "access time"):
		t.Errorf("link entry %+v: want no target and a note why", e)
	}

	out2 := filepath.Join(t.TempDir(), "out")
	if _, err := Run(context.Background(), Options{Case: "A", Examiner: "E", Out: out2, Sources: []string{root}, ReadLinkTargets: true}); err != nil {
		t.Fatal(err)
	}
	if e := readEntries(t, out2)["link"]; e == nil || e.LinkTarget != "target.txt" {
		t.Errorf("with ReadLinkTargets: %+v", e)
	}
}
