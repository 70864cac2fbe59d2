package scan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/media"
	"github.com/nigehban/nigehban/internal/progress"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Sources, when set, are where the sources are now, in the order
	// custody.json lists them (an evidence copy moved to another mount).
	Sources []string
	// SkipSources checks the output files only.
	SkipSources bool
	// Workers re-hashing files in parallel (default: the number of CPUs).
	Workers  int
	Progress *progress.Counter
	// TempDir and Image as in Options.
	TempDir string
	Image   media.Limits
	// Policy, when set, checks the signatures of the checkpoints the
	// embedded proofs carry (the log's verifier key and witnesses).
	Policy *audit.Policy
	// CustodyVKey, when set, is the verifier key of the examiner's or
	// lab's signature of custody.json (SignatureName), which must verify.
	CustodyVKey string
}

// FileProblem is one difference between the manifest and a source.
type FileProblem struct {
	Source  string `json:"source"`
	Path    string `json:"path"`
	Problem string `json:"problem"`
}

// OutputCheck is the check of one output file against custody.json.
type OutputCheck struct {
	Name string `json:"name"`
	Want string `json:"want_sha256"`
	Got  string `json:"got_sha256,omitempty"`
	OK   bool   `json:"ok"`
	Err  string `json:"error,omitempty"`
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Dir  string `json:"dir"`
	Case string `json:"case"`
	// CustodySHA256 is custody.json's own hash, to compare with the value
	// noted when the scan ended.
	CustodySHA256 string        `json:"custody_sha256"`
	Status        string        `json:"scan_status"`
	Outputs       []OutputCheck `json:"outputs"`
	// Problems are failures of the directory itself: a missing output, a
	// manifest that does not parse or lists a file twice, an unfinished scan.
	Problems []string `json:"problems,omitempty"`
	// SourcesChecked lists the sources re-hashed; SourcesAbsent those not
	// found (not a failure: evidence is often checked away from it).
	SourcesChecked []string `json:"sources_checked,omitempty"`
	SourcesAbsent  []string `json:"sources_absent,omitempty"`
	// Verified entries had equal size and digests; NotVerifiable ones have
	// no digests in the manifest (errors, links, special files).
	Verified      int           `json:"verified"`
	NotVerifiable int           `json:"not_verifiable"`
	Changed       []FileProblem `json:"changed,omitempty"`
	Missing       []FileProblem `json:"missing,omitempty"`
	Unlisted      []FileProblem `json:"unlisted,omitempty"`
	// Log is the offline check of the audit-log proofs in custody.json.
	Log *LogCheck `json:"log"`
	// SignedBy names the key whose signature of custody.json verified
	// (VerifyOptions.CustodyVKey).
	SignedBy string `json:"signed_by,omitempty"`
	OK       bool   `json:"ok"`
}

// recorded is what Verify keeps of a manifest entry.
type recorded struct {
	path, source           string
	size                   int64
	md5, sha1, sha256      string
	hasDigests, seen, live bool
}

// Verify re-checks a scan's output directory: the sha256 of every output
// file against custody.json, the manifest's consistency, and, for every
// source still present, the size and digests of every file (archive members
// included) against the manifest, listing what changed, disappeared or
// appeared. It returns an error only when the directory cannot be checked
// at all; failures are in the report (OK false).
func Verify(ctx context.Context, dir string, o VerifyOptions) (*VerifyReport, error) {
	rep := &VerifyReport{Dir: dir}
	raw, err := os.ReadFile(filepath.Join(dir, CustodyName))
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	sum := sha256.Sum256(raw)
	rep.CustodySHA256 = hex.EncodeToString(sum[:])
	cust, err := ReadCustody(dir)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	rep.Status, rep.Case = cust.Status, cust.Case
	if o.CustodyVKey != "" {
		if rep.SignedBy, err = VerifyCustodySignature(dir, o.CustodyVKey, rep.CustodySHA256, cust.Case); err != nil {
			rep.Problems = append(rep.Problems, err.Error())
		}
	}
	if cust.Status != StatusComplete {
		rep.Problems = append(rep.Problems, fmt.Sprintf("the scan is not complete (status %q): resume it first", cust.Status))
	}
	want := map[string]bool{ManifestName: true, CSVName: true, ReportName: true}
	for _, out := range cust.Outputs {
		delete(want, out.Name)
		oc := OutputCheck{Name: out.Name, Want: out.SHA256}
		got, err := hashFile(filepath.Join(dir, filepath.Base(out.Name)))
		if err != nil {
			oc.Err = err.Error()
		} else {
			oc.Got, oc.OK = got.SHA256, got.SHA256 == out.SHA256 && got.Size == out.Size
		}
		rep.Outputs = append(rep.Outputs, oc)
	}
	if cust.Status == StatusComplete {
		for name := range want {
			rep.Problems = append(rep.Problems, fmt.Sprintf("custody.json records no hash of %s", name))
		}
	}

	entries := map[string]*recorded{}
	_, err = readManifest(filepath.Join(dir, ManifestName), func(line int, e *Entry) error {
		k := e.key()
		if entries[k] != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s line %d lists %q again", ManifestName, line, e.Path))
			return nil
		}
		entries[k] = &recorded{path: e.Path, source: e.Source, size: e.Size, md5: e.MD5, sha1: e.SHA1,
			sha256: e.SHA256, hasDigests: e.hasDigests()}
		return nil
	})
	if err != nil {
		rep.Problems = append(rep.Problems, err.Error())
	}

	if !o.SkipSources && err == nil {
		if err := verifySources(ctx, cust, entries, rep, o); err != nil {
			return nil, err
		}
	}
	rep.Log = checkLog(cust, o.Policy)
	rep.OK = len(rep.Problems) == 0 && len(rep.Changed) == 0 && len(rep.Missing) == 0 && len(rep.Unlisted) == 0 && rep.Log.OK
	for _, oc := range rep.Outputs {
		rep.OK = rep.OK && oc.OK
	}
	return rep, nil
}

// verifySources re-walks the sources that are present with the scan's own
// walker and limits, digests only, comparing as entries come.
func verifySources(ctx context.Context, cust *Custody, entries map[string]*recorded, rep *VerifyReport, o VerifyOptions) error {
	if len(o.Sources) > 0 && len(o.Sources) != len(cust.Sources) {
		return fmt.Errorf("verify: %d source locations given, the scan has %d sources", len(o.Sources), len(cust.Sources))
	}
	rename := map[string]string{} // where a source is now → where it was scanned
	var srcs []*source
	for i, si := range cust.Sources {
		loc := si.Path
		if len(o.Sources) > 0 {
			loc = o.Sources[i]
		}
		found, err := resolveSources([]string{loc})
		if err != nil {
			rep.SourcesAbsent = append(rep.SourcesAbsent, loc)
			continue
		}
		rename[found[0].abs] = si.Path
		srcs = append(srcs, found[0])
		rep.SourcesChecked = append(rep.SourcesChecked, si.Path)
		for _, r := range entries {
			if r.source == si.Path {
				r.live = true
			}
		}
	}
	if len(srcs) == 0 {
		return nil
	}
	tmpBase := o.TempDir
	if tmpBase == "" {
		tmpBase = os.TempDir()
	}
	opts := Options{Image: o.Image, SkipVideo: true, Progress: o.Progress, Limits: cust.Options.Limits,
		SkipDiskImages: cust.Options.SkipDiskImages, SkipDeleted: cust.Options.SkipDeleted, SkipCarve: !cust.Options.Carve,
		Dihedral: cust.Options.Dihedral}
	s := newScanner(&opts, cust.Options.Limits.withDefaults())
	var err error
	if s.tmp, err = os.MkdirTemp(tmpBase, "nigehban-verify-*"); err != nil {
		return fmt.Errorf("verify: temporary directory: %w", err)
	}
	defer os.RemoveAll(s.tmp)
	s.fp.TempDir = s.tmp

	var mu sync.Mutex
	s.emitFn = func(e *Entry) error {
		e.Source = rename[e.Source]
		mu.Lock()
		defer mu.Unlock()
		r := entries[e.key()]
		if r == nil {
			rep.Unlisted = append(rep.Unlisted, FileProblem{Source: e.Source, Path: e.Path, Problem: "not in the manifest"})
			return nil
		}
		r.seen = true
		switch {
		case !r.hasDigests:
			rep.NotVerifiable++
		case !e.hasDigests():
			rep.Changed = append(rep.Changed, FileProblem{Source: e.Source, Path: e.Path, Problem: "can no longer be hashed: " + e.Error})
		case e.Size != r.size || e.MD5 != r.md5 || e.SHA1 != r.sha1 || e.SHA256 != r.sha256:
			rep.Changed = append(rep.Changed, FileProblem{Source: e.Source, Path: e.Path,
				Problem: fmt.Sprintf("was %d bytes sha256 %s, now %d bytes sha256 %s", r.size, r.sha256, e.Size, e.SHA256)})
		default:
			rep.Verified++
		}
		return nil
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.cancel = cancel
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	s.run(runCtx, srcs, workers)
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, r := range entries {
		if r.live && !r.seen {
			rep.Missing = append(rep.Missing, FileProblem{Source: r.source, Path: r.path, Problem: "listed in the manifest, not found"})
		}
	}
	for _, l := range [][]FileProblem{rep.Changed, rep.Missing, rep.Unlisted} {
		sort.Slice(l, func(i, j int) bool {
			if l[i].Source != l[j].Source {
				return l[i].Source < l[j].Source
			}
			return l[i].Path < l[j].Path
		})
	}
	return nil
}

// WriteText prints the report as an examiner reads it: OK or FAILED, then
// each difference.
func (r *VerifyReport) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	status := "OK"
	if !r.OK {
		status = "FAILED"
	}
	ew.printf("verify %s: %s\n", r.Dir, status)
	ew.printf("custody.json sha256 %s (compare with the value noted when the scan ended)\n", r.CustodySHA256)
	if r.SignedBy != "" {
		ew.printf("custody.json signed by %s: OK\n", r.SignedBy)
	}
	for _, oc := range r.Outputs {
		switch {
		case oc.OK:
			ew.printf("  output %-14s OK\n", oc.Name)
		case oc.Err != "":
			ew.printf("  output %-14s FAILED: %s\n", oc.Name, oc.Err)
		default:
			ew.printf("  output %-14s FAILED: sha256 %s, custody.json records %s\n", oc.Name, oc.Got, oc.Want)
		}
	}
	for _, p := range r.Problems {
		ew.printf("  FAILED: %s\n", p)
	}
	if r.Log != nil {
		r.Log.writeText(ew)
	}
	for _, s := range r.SourcesAbsent {
		ew.printf("  source %s not present: its files were not re-hashed\n", s)
	}
	if len(r.SourcesChecked) > 0 {
		ew.printf("  files: %d verified, %d changed, %d missing, %d not in the manifest, %d without hashes to compare\n",
			r.Verified, len(r.Changed), len(r.Missing), len(r.Unlisted), r.NotVerifiable)
	}
	for _, group := range []struct {
		name string
		l    []FileProblem
	}{{"CHANGED", r.Changed}, {"MISSING", r.Missing}, {"UNLISTED", r.Unlisted}} {
		for _, p := range group.l {
			ew.printf("  %s %s: %s: %s\n", group.name, p.Source, p.Path, p.Problem)
		}
	}
	return ew.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// ErrVerifyFailed is returned by callers that turn a failed report into an error.
var ErrVerifyFailed = errors.New("verification failed")
