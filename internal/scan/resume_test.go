package scan

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/diskimage/imagetest"
	"github.com/nigehban/nigehban/internal/variant"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// cancelAfter is a Matcher that matches nothing and cancels the scan when
// it is asked about its n-th file: a deterministic interruption point.
type cancelAfter struct {
	n      int64
	calls  atomic.Int64
	cancel context.CancelFunc
}

func (c *cancelAfter) MatchDigests(context.Context, string, string, string) ([]Match, error) {
	if c.calls.Add(1) == c.n {
		c.cancel()
	}
	return nil, nil
}
func (c *cancelAfter) MatchPDQ(context.Context, []variant.Hash) ([]Match, error) { return nil, nil }
func (c *cancelAfter) MatchVPDQ(context.Context, []vpdq.Frame, []vpdq.Frame) ([]Match, error) {
	return nil, nil
}
func (c *cancelAfter) Banks() []BankInfo { return nil }

// buildBulk writes a tree of many small files and two archives with many
// members, so that an interruption can fall among files or inside an archive.
func buildBulk(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "bulk")
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 150 {
		dir := filepath.Join(root, fmt.Sprintf("d%02d", i%7))
		mkdir(t, dir)
		b := make([]byte, 1+r.IntN(20000))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%03d.bin", i)), b)
	}
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	for i := range 120 {
		w, _ := zw.Create(fmt.Sprintf("m/%03d.txt", i))
		fmt.Fprintf(w, "member %d\n", i)
	}
	zw.Close()
	writeFile(t, filepath.Join(root, "zz-archive.zip"), zbuf.Bytes())
	writeFile(t, filepath.Join(root, "zz-nested.zip"), func() []byte {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		w, _ := zw.Create("inner.zip")
		w.Write(zbuf.Bytes())
		zw.Close()
		return b.Bytes()
	}())
	return root
}

func TestResume(t *testing.T) {
	ctx := context.Background()
	root := buildBulk(t)
	full := filepath.Join(t.TempDir(), "full")
	if _, err := Run(ctx, Options{Case: "R", Examiner: "E", Out: full, Sources: []string{root}}); err != nil {
		t.Fatal(err)
	}
	ref := readEntries(t, full)

	for _, tc := range []struct {
		name    string
		after   int64 // cancel when the n-th hashed file is matched
		workers int
		torn    bool // append half a line before resuming
	}{
		{"among files", 40, 3, false},
		{"inside an archive", 200, 1, true},
		{"inside a nested archive", 330, 1, false},
		{"at the first file", 1, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			runCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			m := &cancelAfter{n: tc.after, cancel: cancel}
			s1, err := Run(runCtx, Options{Case: "R", Examiner: "E", Out: out, Sources: []string{root}, Matcher: m, Workers: tc.workers})
			if !errors.Is(err, context.Canceled) || s1 == nil || s1.Status != StatusInterrupted {
				t.Fatalf("interrupted run: %v, %+v", err, s1)
			}
			if s1.Written >= int64(len(ref)) {
				t.Fatalf("the interrupted run wrote all %d entries", s1.Written)
			}
			if c, err := ReadCustody(out); err != nil || c.Status != StatusInterrupted || c.Runs[0].Entries != s1.Written {
				t.Fatalf("custody after interruption: %+v, %v", c, err)
			}
			if tc.torn {
				f, err := os.OpenFile(filepath.Join(out, ManifestName), os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString(`{"path":"d00/f000.bin","source":"/cut/off/mid-wr`)
				f.Close()
			}
			if _, err := Run(ctx, Options{Case: "OTHER", Examiner: "E", Out: out, Sources: []string{root}, Resume: true}); !errors.Is(err, ErrResume) {
				t.Errorf("resume under another case: %v, want ErrResume", err)
			}
			if _, err := Run(ctx, Options{Case: "R", Examiner: "E", Out: out, Sources: []string{root}}); !errors.Is(err, ErrNotEmpty) {
				t.Errorf("a new scan into the directory: %v, want ErrNotEmpty", err)
			}
			s2, err := Run(ctx, Options{Case: "R", Examiner: "F", Out: out, Sources: []string{root}, Resume: true, Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			if s1.Written+s2.Written != int64(len(ref)) {
				t.Errorf("runs wrote %d + %d entries, the tree has %d: something was hashed twice or lost", s1.Written, s2.Written, len(ref))
			}
			got := readEntries(t, out) // fails on duplicates
			if len(got) != len(ref) {
				t.Errorf("resumed manifest has %d entries, a full scan %d", len(got), len(ref))
			}
			for p, r := range ref {
				g := got[p]
				if g == nil || g.SHA256 != r.SHA256 || g.Size != r.Size || (g.Members == nil) != (r.Members == nil) ||
					g.Members != nil && *g.Members != *r.Members {
					t.Errorf("%q: resumed %+v, full %+v", p, g, r)
				}
			}
			c, err := ReadCustody(out)
			if err != nil {
				t.Fatal(err)
			}
			if c.Status != StatusComplete || len(c.Runs) != 2 || c.Runs[0].Status != StatusInterrupted ||
				c.Runs[1].Status != StatusComplete || !c.Runs[1].Resumed || c.Runs[1].Examiner != "F" || c.Examiner != "E" {
				t.Errorf("custody after resume: %+v", c)
			}
			if rep, err := Verify(ctx, out, VerifyOptions{}); err != nil || !rep.OK {
				var buf bytes.Buffer
				rep.WriteText(&buf)
				t.Errorf("verify after resume: %v\n%s", err, buf.String())
			}
		})
	}
}

// TestResumeCrashed resumes a scan whose process died without a word: the
// run left "running" is recorded as crashed.
func TestResumeCrashed(t *testing.T) {
	ctx := context.Background()
	root := buildBulk(t)
	out := filepath.Join(t.TempDir(), "out")
	runCtx, cancel := context.WithCancel(ctx)
	m := &cancelAfter{n: 20, cancel: cancel}
	if _, err := Run(runCtx, Options{Case: "R", Examiner: "E", Out: out, Sources: []string{root}, Matcher: m}); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	c, err := ReadCustody(out)
	if err != nil {
		t.Fatal(err)
	}
	c.Status, c.Runs[0].Status, c.Runs[0].Ended = StatusRunning, StatusRunning, "" // as a SIGKILL leaves it
	if _, err := writeCustody(out, c); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, Options{Case: "R", Examiner: "E", Out: out, Sources: []string{root}, Resume: true}); err != nil {
		t.Fatal(err)
	}
	c, err = ReadCustody(out)
	if err != nil || c.Runs[0].Status != StatusCrashed || c.Status != StatusComplete {
		t.Errorf("custody: %+v, %v", c, err)
	}
}

func TestCorruptManifestRefusesResume(t *testing.T) {
	ctx := context.Background()
	root := buildBulk(t)
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Run(ctx, Options{Case: "R", Examiner: "E", Out: out, Sources: []string{root}}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(out, ManifestName)
	b := readFile(t, p)
	i := bytes.IndexByte(b, '\n')
	writeFile(t, p, append(append(b[:i:i], []byte(`garbage`)...), b[i:]...))
	if _, err := Run(ctx, Options{Case: "R", Examiner: "E", Out: out, Sources: []string{root}, Resume: true}); !errors.Is(err, ErrCorruptManifest) {
		t.Errorf("resume over a corrupt line: %v, want ErrCorruptManifest", err)
	}
}

// FuzzReadManifest checks that any manifest content is either read, with
// at most a torn last line set aside, or refused as corrupt; never a panic.
func FuzzReadManifest(f *testing.F) {
	f.Add([]byte(`{"path":"a","source":"/s","kind":"file","size":1}` + "\n"))
	f.Add([]byte(`{"path":"a","source":"/s","kind":"file","size":1}` + "\n" + `{"path":"b","sou`))
	f.Add([]byte("garbage\n{\"path\":\"a\"}\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, ManifestName)
		writeFile(t, p, data)
		n := 0
		torn, err := readManifest(p, func(int, *Entry) error { n++; return nil })
		switch {
		case err != nil:
			if !errors.Is(err, ErrCorruptManifest) {
				t.Fatalf("error %v does not wrap ErrCorruptManifest", err)
			}
		case torn >= 0:
			if torn > int64(len(data)) || torn > 0 && data[torn-1] != '\n' {
				t.Fatalf("torn offset %d is not at a line start", torn)
			}
		}
	})
}

// inFlight is a Matcher that holds each call briefly and records the most
// calls in progress at once: how many files were being finished in parallel.
type inFlight struct {
	now, peak atomic.Int64
}

func (m *inFlight) MatchDigests(context.Context, string, string, string) ([]Match, error) {
	n := m.now.Add(1)
	for {
		p := m.peak.Load()
		if n <= p || m.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(20 * time.Millisecond)
	m.now.Add(-1)
	return nil, nil
}
func (m *inFlight) MatchPDQ(context.Context, []variant.Hash) ([]Match, error) { return nil, nil }
func (m *inFlight) MatchVPDQ(context.Context, []vpdq.Frame, []vpdq.Frame) ([]Match, error) {
	return nil, nil
}
func (m *inFlight) Banks() []BankInfo { return nil }

// TestArchiveMembersInParallel checks that the members of a single archive
// (a phone extraction often is one) are hashed by all workers, for zip and
// tar alike, and still listed once each with the archive after them.
func TestArchiveMembersInParallel(t *testing.T) {
	files := map[string][]byte{}
	for i := range 24 {
		files[fmt.Sprintf("m%02d.txt", i)] = []byte(fmt.Sprintf("member %d\n", i))
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, name := range sortedNames(files) {
		tw.WriteHeader(&tar.Header{Name: name, Size: int64(len(files[name])), Mode: 0o644, Typeflag: tar.TypeReg})
		tw.Write(files[name])
	}
	tw.Close()
	for name, data := range map[string][]byte{"one.zip": zipOf(t, files), "one.tar": tb.Bytes(), "one.tgz": gzipBytes(t, tb.Bytes())} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			writeFile(t, filepath.Join(root, name), data)
			out := filepath.Join(t.TempDir(), "out")
			m := &inFlight{}
			if _, err := Run(context.Background(), Options{Case: "P", Examiner: "E", Out: out, Sources: []string{root}, Matcher: m, Workers: 3}); err != nil {
				t.Fatal(err)
			}
			if p := m.peak.Load(); p < 2 {
				t.Errorf("at most %d member(s) of one archive in flight with 3 workers", p)
			}
			got := readEntries(t, out)
			if len(got) != 25 || got[name] == nil || got[name].Members == nil || *got[name].Members != 24 {
				t.Errorf("%d entries; archive %+v", len(got), got[name])
			}
			// The archive's line comes after all its members'.
			lines := bytes.Split(bytes.TrimSpace(readFile(t, filepath.Join(out, ManifestName))), []byte("\n"))
			if !bytes.Contains(lines[len(lines)-1], []byte(`"path":"`+name+`"`)) {
				t.Errorf("last manifest line is not the archive: %s", lines[len(lines)-1])
			}
		})
	}
}

// TestResumeRetriesFailedAndRefusesChangedBanks: a file that could not be
// read is tried again by a resumed run (one line for it, with digests),
// and a resume with other banks is refused.
func TestResumeRetriesFailedAndRefusesChangedBanks(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	imagetest.WriteTree(t, root, imagetest.Photos(41, 3))
	bank := filepath.Join(t.TempDir(), "bank.txt")
	writeFile(t, bank, []byte(strings.Repeat("0", 64)+"\n"))
	banks, err := LoadFileBanks(ctx, []string{bank}, FileBankOptions{Type: "sha256"})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	failing := filepath.Join(root, "photo_00.jpg")
	openSourceFunc = func(p string) (*os.File, error) {
		if p == failing {
			return nil, errors.New("simulated read error")
		}
		return openSource(p)
	}
	_, err = Run(ctx, Options{Case: "R", Examiner: "E", Out: out, Sources: []string{root}, Matcher: banks, Workers: 1})
	openSourceFunc = openSource
	if err != nil {
		t.Fatal(err)
	}
	if e := readEntries(t, out)["photo_00.jpg"]; e == nil || e.Error == "" {
		t.Fatalf("first run: %+v", e)
	}
	if _, err := Run(ctx, Options{Case: "R", Examiner: "E", Out: out, Sources: []string{root}, Matcher: banks, Resume: true}); err != nil {
		t.Fatal(err)
	}
	got := readEntries(t, out) // fails on a path listed twice
	if e := got["photo_00.jpg"]; e == nil || e.Error != "" || e.SHA256 == "" {
		t.Errorf("retried: %+v", e)
	}
	c, err := ReadCustody(out)
	if err != nil || len(c.Runs) != 2 || c.Runs[1].Retried != 1 {
		t.Fatalf("custody runs %+v (%v)", c.Runs, err)
	}
	if rep, err := Verify(ctx, out, VerifyOptions{}); err != nil || !rep.OK {
		t.Errorf("verify after retry: %v %+v", err, rep)
	}
	writeFile(t, bank, []byte(strings.Repeat("1", 64)+"\n"))
	other, err := LoadFileBanks(ctx, []string{bank}, FileBankOptions{Type: "sha256"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, Options{Case: "R", Examiner: "E", Out: out, Sources: []string{root}, Matcher: other, Resume: true}); !errors.Is(err, ErrResume) {
		t.Errorf("resume with a changed bank: %v, want ErrResume", err)
	}
	if _, err := Run(ctx, Options{Case: "R", Examiner: "E", Out: out, Sources: []string{root}, Resume: true}); !errors.Is(err, ErrResume) {
		t.Errorf("resume without the banks: %v, want ErrResume", err)
	}
}
