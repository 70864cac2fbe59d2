package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"runtime"
	"sync"
	"time"

	"github.com/nigehban/nigehban/internal/fingerprint"
	"github.com/nigehban/nigehban/internal/media"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/progress"
	"github.com/nigehban/nigehban/internal/variant"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// Errors callers branch on.
var (
	// ErrInvalid wraps problems with the options (missing case, output
	// directory inside a source, …).
	ErrInvalid = errors.New("invalid scan options")
	// ErrNotEmpty means the output directory holds files and Resume was
	// not asked for.
	ErrNotEmpty = errors.New("output directory is not empty")
	// ErrResume means Resume was asked for but the directory holds no scan
	// that can be continued with these options.
	ErrResume = errors.New("cannot resume")
)

// Options configure Run.
type Options struct {
	// Case and Examiner identify the investigation; both are required.
	Case, Examiner string
	// Out is the output directory: new or empty, or a previous scan's
	// when Resume is set.
	Out string
	// Sources are the folders, files and archives to scan.
	Sources []string
	// Resume continues the interrupted scan in Out.
	Resume bool
	// Workers is the number of files hashed in parallel (default: the
	// number of CPUs).
	Workers int
	// Matcher looks files up in banks; nil means no matching.
	Matcher Matcher
	// Known marks known-good files; nil means none.
	Known *KnownSet
	// Limits bound archive expansion.
	Limits Limits
	// Image bounds image decoding; Video the vPDQ decoding of videos.
	Image media.Limits
	Video vpdq.Options
	// SkipVideo leaves videos with cryptographic hashes only.
	SkipVideo bool
	// SkipDiskImages records raw and E01 disk images as files without
	// opening their file systems; SkipDeleted leaves out the deleted files
	// those file systems still describe.
	SkipDiskImages, SkipDeleted bool
	// SkipCarve leaves the unallocated space of disk images uncarved
	// (by default JPEG, PNG and MP4 files found there are carved).
	SkipCarve bool
	// Dihedral matches images by their 8 dihedral PDQ hashes (rotations
	// and mirrorings), so a rotated or mirrored copy is found too.
	Dihedral bool
	// ReadLinkTargets reads symlinks' targets (and whether they resolve)
	// even where that updates the links' access times. Off by default: on a
	// read-only or noatime mount (how evidence should be mounted) targets
	// are read anyway, since nothing can change; elsewhere a link is
	// recorded from lstat alone, with a note saying why.
	ReadLinkTargets bool
	// Variants is the set of PDQ variants of images matched beside them
	// (internal/variant; the zero value is none), recorded in custody.json.
	Variants variant.Set
	// MinQuality is the PDQ quality below which images are not matched
	// perceptually (default pdq.MinQuality).
	MinQuality int
	// Progress receives counts of files and bytes as they are done.
	Progress *progress.Counter
	// Tool and CommandLine are recorded in custody.json.
	Tool        Tool
	CommandLine []string
	// TempDir is where a private directory for spooled archive members and
	// videos is made (default os.TempDir()); it must lie outside the sources.
	TempDir string
	// Logger receives warnings (default slog.Default()).
	Logger *slog.Logger
	// Notes and Declaration are the examiner's, printed in the court
	// report (a standard declaration when empty); a resumed run keeps the
	// earlier ones unless new ones are given.
	Notes, Declaration string
	// Categories names bank category codes in the report (default
	// DefaultCategories, the Project VIC codes).
	Categories map[string]string
	// SignKey is a note signing key file (nigehban audit keygen) of the
	// examiner or lab: custody.json is signed with it (SignatureName).
	SignKey string
	// Log is where the run's custody events go (start, each file
	// source's hashes, the outputs' hashes), proved in custody.json; nil or
	// without a Store, the run is not logged and custody.json says so.
	Log *LogOptions
}

// Summary is the outcome of Run.
type Summary struct {
	Dir    string `json:"dir"`
	Status string `json:"status"`
	// Written is the number of manifest lines this run appended.
	Written int64 `json:"written"`
	// Counts covers the whole manifest (nil when the run was interrupted).
	Counts *Counts `json:"counts,omitempty"`
	// CustodySHA256 is the sha256 of custody.json as written: note it in
	// the case file, so that custody.json itself can be checked later.
	CustodySHA256 string `json:"custody_sha256"`
}

// scanner is the state of one run.
type scanner struct {
	fp         fingerprint.Options
	video      vpdq.Options
	skipVideo  bool
	disk       diskOptions
	readLinks  bool
	limits     Limits
	minQuality int
	matcher    Matcher
	known      *KnownSet
	progress   *progress.Counter
	tmp        string
	done       map[string]bool // keys listed by earlier runs
	open       func(string) (*os.File, error)

	jobs chan job
	// tokens holds one slot per worker busy; archive members borrow free
	// slots (spawn). nil means no borrowing.
	tokens chan struct{}
	// emitFn receives finished entries: the manifest writer, or Verify's
	// collector.
	emitFn func(*Entry) error

	errOnce sync.Once
	err     error
	cancel  context.CancelFunc
}

func (s *scanner) isDone(key string) bool { return s.done[key] }

// emit hands a finished entry on. Entries finished after cancellation are
// dropped: their work may have been cut short, and a resumed run redoes them.
func (s *scanner) emit(ctx context.Context, e *Entry) {
	if ctx.Err() != nil {
		return
	}
	if err := s.emitFn(e); err != nil {
		s.errOnce.Do(func() {
			s.err = err
			s.cancel()
		})
		return
	}
	s.progress.Done(e.Size, e.Error != "")
}

// run walks the sources with the given number of workers until done or
// cancelled.
func (s *scanner) run(ctx context.Context, srcs []*source, workers int) {
	s.jobs = make(chan job, workers*4)
	s.tokens = make(chan struct{}, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range s.jobs {
				if ctx.Err() == nil {
					s.tokens <- struct{}{}
					s.doDisk(ctx, j)
					<-s.tokens
				}
			}
		})
	}
	s.walk(ctx, srcs)
	close(s.jobs)
	wg.Wait()
}

// openSourceFunc opens source files; tests replace it to simulate files
// that cannot be read when they run as root, whom permissions do not stop.
var openSourceFunc = openSource

func newScanner(o *Options, limits Limits) *scanner {
	s := &scanner{
		// Videos are the scanner's to decode (after the known-file check,
		// from the file on disk when there is one): fingerprint only digests them.
		fp:         fingerprint.Options{Limits: o.Image, SkipVideo: true, Dihedral: o.Dihedral, Variants: o.Variants},
		video:      fingerprint.VideoOptions(o.Video, o.Variants),
		skipVideo:  o.SkipVideo,
		disk:       diskOptions{skip: o.SkipDiskImages, skipDeleted: o.SkipDeleted, skipCarve: o.SkipCarve},
		readLinks:  o.ReadLinkTargets,
		limits:     limits,
		minQuality: o.MinQuality,
		matcher:    o.Matcher,
		known:      o.Known,
		progress:   o.Progress,
		open:       openSourceFunc,
		done:       map[string]bool{},
	}
	if s.minQuality <= 0 {
		s.minQuality = pdq.MinQuality
	}
	if s.progress == nil {
		s.progress = new(progress.Counter)
	}
	return s
}

// Run scans the sources into the output directory: manifest.jsonl as it
// goes, then manifest.csv, report.html and custody.json. Per-file problems
// are error entries, not errors of Run; Run fails for bad options, an
// unusable output directory, or a write error. When ctx is cancelled it
// records the run as interrupted in custody.json and returns ctx.Err();
// Resume continues from there.
func Run(ctx context.Context, o Options) (*Summary, error) {
	if o.Case == "" || o.Examiner == "" {
		return nil, fmt.Errorf("%w: case and examiner are required", ErrInvalid)
	}
	if o.Out == "" || len(o.Sources) == 0 {
		return nil, fmt.Errorf("%w: an output directory and at least one source are required", ErrInvalid)
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	srcs, err := resolveSources(o.Sources)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	out, err := resolvePath(o.Out)
	if err != nil {
		return nil, fmt.Errorf("%w: output directory: %v", ErrInvalid, err)
	}
	tmpBase := o.TempDir
	if tmpBase == "" {
		tmpBase = os.TempDir()
	}
	if tmpBase, err = resolvePath(tmpBase); err != nil {
		return nil, fmt.Errorf("%w: temporary directory: %v", ErrInvalid, err)
	}
	for _, src := range srcs {
		if within(out, src.abs) || within(src.abs, out) {
			return nil, fmt.Errorf("%w: output directory %s and source %s overlap: sources are never written to", ErrInvalid, out, src.abs)
		}
		if within(tmpBase, src.abs) {
			return nil, fmt.Errorf("%w: temporary directory %s lies inside source %s", ErrInvalid, tmpBase, src.abs)
		}
	}
	limits := o.Limits.withDefaults()
	s := newScanner(&o, limits)
	settings := Settings{Limits: limits, MinQuality: s.minQuality, SkipVideo: o.SkipVideo,
		SkipDiskImages: o.SkipDiskImages, SkipDeleted: o.SkipDeleted,
		Carve: !o.SkipDiskImages && !o.SkipCarve, Dihedral: o.Dihedral}

	tool := o.Tool
	if tool.Name == "" {
		tool.Name = "nigehban"
	}
	tool.Go = runtime.Version()
	host, _ := os.Hostname()
	osUser := ""
	if u, err := user.Current(); err == nil {
		osUser = u.Username
	}
	run := RunInfo{Started: formatTime(time.Now()), Status: StatusRunning, Examiner: o.Examiner, Host: host,
		OSUser: osUser, PID: os.Getpid(), Tool: tool, CommandLine: append([]string{}, o.CommandLine...), Banks: []BankInfo{},
		Variants: o.Variants.String()}
	if o.Matcher != nil {
		run.Banks = o.Matcher.Banks()
	}
	run.Known = o.Known.Lists()

	manifest := filepath.Join(out, ManifestName)
	var cust *Custody
	if o.Resume {
		if cust, err = prepareResume(out, manifest, &o, srcs, settings, &run, s.done, log); err != nil {
			return nil, err
		}
		run.Resumed = true
	} else {
		if err := prepareNew(out); err != nil {
			return nil, err
		}
		cust = &Custody{Format: CustodyFormat, Case: o.Case, Examiner: o.Examiner, Host: host, OSUser: osUser,
			Started: run.Started, Options: settings}
		for _, src := range srcs {
			cust.Sources = append(cust.Sources, SourceInfo{Arg: src.arg, Path: src.abs, Type: src.kind(),
				Size: src.info.Size(), Mtime: formatTime(src.info.ModTime())})
		}
	}
	cust.Tool, cust.Status, cust.Ended, cust.Counts, cust.Outputs = tool, StatusRunning, "", nil, nil
	if o.Notes != "" {
		cust.Notes = o.Notes
	}
	if o.Declaration != "" {
		cust.Declaration = o.Declaration
	}
	if o.Categories != nil {
		cust.Categories = o.Categories
	}
	cust.Runs = append(cust.Runs, run)
	clog := newCustodyLogger(o.Log, cust)
	if clog != nil {
		if err := clog.start(ctx, out, o.Resume); err != nil {
			return nil, err
		}
	}
	if _, err := writeCustody(out, cust); err != nil {
		return nil, err
	}

	w, err := openManifest(manifest)
	if err != nil {
		return nil, err
	}
	if s.tmp, err = os.MkdirTemp(tmpBase, "nigehban-scan-*"); err != nil {
		w.close()
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(s.tmp)
	s.fp.TempDir = s.tmp
	s.emitFn = w.write

	runCtx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	s.run(runCtx, srcs, workers)
	cancel()
	werr := w.close()
	if werr == nil {
		werr = s.err
	}

	r := &cust.Runs[len(cust.Runs)-1]
	r.Entries = w.written
	r.Ended = formatTime(time.Now())
	sum := &Summary{Dir: out, Written: w.written}
	if werr != nil || ctx.Err() != nil {
		r.Status, cust.Status, cust.Ended = StatusInterrupted, StatusInterrupted, r.Ended
		if outs, err := hashOutputs(out, ManifestName); err == nil {
			cust.Outputs = outs
		}
		sum.Status = StatusInterrupted
		// The log is written even though ctx ended: the interruption is
		// part of the custody record.
		lerr := clog.endAndNote(context.WithoutCancel(ctx))
		sum.CustodySHA256, _ = writeCustody(out, cust)
		if werr != nil {
			return sum, werr
		}
		if lerr != nil {
			return sum, lerr
		}
		return sum, ctx.Err()
	}

	// The report shows the run as it ends; custody.json, written last,
	// keeps "running" if deriving the outputs fails.
	r.Status, cust.Status, cust.Ended = StatusComplete, StatusComplete, r.Ended
	counts, err := finishOutputs(out, cust)
	if err != nil {
		return sum, err
	}
	cust.Counts = counts
	if cust.Outputs, err = hashOutputs(out, ManifestName, CSVName, ReportName, PDFName); err != nil {
		return sum, err
	}
	lerr := clog.endAndNote(ctx)
	if sum.CustodySHA256, err = writeCustody(out, cust); err != nil {
		return sum, err
	}
	if o.SignKey != "" {
		if err := signCustody(out, o.SignKey, cust.Case, sum.CustodySHA256); err != nil {
			return sum, err
		}
	}
	if lerr != nil {
		return sum, lerr
	}
	sum.Status, sum.Counts = StatusComplete, counts
	return sum, nil
}

// resolvePath makes p absolute with symlinks resolved as far as it exists.
func resolvePath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	rest := ""
	for dir := abs; ; {
		if r, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(r, rest), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return abs, nil
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = parent
	}
}

// prepareNew creates the output directory, which must be new or empty.
func prepareNew(out string) error {
	if err := os.MkdirAll(out, 0o750); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	des, err := os.ReadDir(out)
	if err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	if len(des) > 0 {
		return fmt.Errorf("%w: %s (use --resume to continue the scan in it)", ErrNotEmpty, out)
	}
	return nil
}

// prepareResume checks that out holds a scan of the same case, sources and
// settings, marks a run that never ended as crashed, repairs a torn last
// manifest line and fills done with the keys already listed.
func prepareResume(out, manifest string, o *Options, srcs []*source, settings Settings, run *RunInfo, done map[string]bool, log *slog.Logger) (*Custody, error) {
	cust, err := ReadCustody(out)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrResume, err)
	}
	if cust.Case != o.Case {
		return nil, fmt.Errorf("%w: %s is a scan of case %q, not %q", ErrResume, out, cust.Case, o.Case)
	}
	if len(cust.Sources) != len(srcs) {
		return nil, fmt.Errorf("%w: the scan in %s has %d sources, %d given", ErrResume, out, len(cust.Sources), len(srcs))
	}
	for i, src := range srcs {
		if cust.Sources[i].Path != src.abs {
			return nil, fmt.Errorf("%w: source %d was %s, now %s", ErrResume, i+1, cust.Sources[i].Path, src.abs)
		}
	}
	if !reflect.DeepEqual(cust.Options, settings) {
		return nil, fmt.Errorf("%w: options differ from the earlier run (%+v, now %+v)", ErrResume, cust.Options, settings)
	}
	if len(cust.Runs) > 0 {
		// Matching against other banks or known lists would make one
		// manifest of two different scans.
		last := cust.Runs[len(cust.Runs)-1]
		if !sameJSON(last.Banks, run.Banks) {
			return nil, fmt.Errorf("%w: the banks differ from the earlier run's (a bank file or stored bank changed, or other banks were given): start a new scan", ErrResume)
		}
		if !sameJSON(last.Known, run.Known) {
			return nil, fmt.Errorf("%w: the known-file lists differ from the earlier run's: start a new scan", ErrResume)
		}
	}
	if cust.Status == StatusComplete {
		log.Info("scan already complete; resuming only re-derives the outputs", "dir", out)
	}
	for i := range cust.Runs {
		if cust.Runs[i].Status == StatusRunning {
			cust.Runs[i].Status = StatusCrashed
		}
	}
	retry := map[int]bool{}
	torn, err := readManifest(manifest, func(line int, e *Entry) error {
		k := e.key()
		if done[k] {
			return fmt.Errorf("%w: %s line %d lists %q again", ErrCorruptManifest, ManifestName, line, e.Path)
		}
		if retryable(e) {
			retry[line] = true
			return nil
		}
		done[k] = true
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrResume, err)
	}
	if torn >= 0 {
		log.Warn("dropping the torn last line of the manifest (the scan was cut off while writing it)", "offset", torn)
		if err := os.Truncate(manifest, torn); err != nil {
			return nil, fmt.Errorf("repair manifest: %w", err)
		}
	}
	if len(retry) > 0 {
		// Files that failed are tried again: their lines leave the
		// manifest (the run that wrote them keeps its count in custody.json).
		log.Info("retrying files that failed in the earlier run", "files", len(retry))
		if err := dropLines(manifest, retry); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrResume, err)
		}
		run.Retried = len(retry)
	}
	return cust, nil
}

// finishOutputs derives manifest.csv and report.html from manifest.jsonl,
// fills the sources' own hashes, and returns the counts.
func finishOutputs(out string, cust *Custody) (*Counts, error) {
	counts := newCounts()
	rep := newReportData(cust)
	srcIdx := map[string]int{}
	for i, s := range cust.Sources {
		if s.Type == "file" {
			srcIdx[entryKey(s.Path, filepath.Base(s.Path), 0)] = i
		}
	}
	err := writeFileAtomic(filepath.Join(out, CSVName), func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write(CSVColumns); err != nil {
			return err
		}
		_, err := readManifest(filepath.Join(out, ManifestName), func(_ int, e *Entry) error {
			counts.add(e)
			rep.add(e)
			if i, ok := srcIdx[e.key()]; ok {
				si := &cust.Sources[i]
				si.MD5, si.SHA1, si.SHA256 = e.MD5, e.SHA1, e.SHA256
			}
			return cw.Write(e.csvRecord())
		})
		if err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	})
	if err != nil {
		return nil, err
	}
	rep.Counts = counts
	if err := writeFileAtomic(filepath.Join(out, ReportName), rep.render); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(out, PDFName), rep.renderPDF); err != nil {
		return nil, err
	}
	return counts, nil
}

// retryable reports whether a resumed scan tries an entry again: a file
// on disk (not an archive member, whose archive is complete) that failed.
func retryable(e *Entry) bool {
	return e.Error != "" && e.Container == "" && e.Kind == KindFile && e.Members == nil
}

// sameJSON reports whether a and b have the same JSON form (an empty
// slice is the same as none).
func sameJSON[T any](a, b []T) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// dropLines rewrites the manifest without the given lines (1-based).
func dropLines(manifest string, drop map[int]bool) error {
	f, err := os.Open(manifest)
	if err != nil {
		return err
	}
	defer f.Close()
	return writeFileAtomic(manifest, func(w io.Writer) error {
		br := bufio.NewReaderSize(f, 1<<20)
		for line := 1; ; line++ {
			b, err := br.ReadBytes('\n')
			if len(b) > 0 && !drop[line] {
				if _, werr := w.Write(b); werr != nil {
					return werr
				}
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
		}
	})
}
