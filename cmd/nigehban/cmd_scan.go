package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/media"
	"github.com/nigehban/nigehban/internal/progress"
	"github.com/nigehban/nigehban/internal/scan"
	"github.com/nigehban/nigehban/internal/signal"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/variant"
)

func init() { rootCmd.AddCommand(newScanCommand()) }

type scanFlags struct {
	caseID, examiner, out string
	banks                 []string
	db                    string
	bankType              string
	known                 []string
	resume                bool
	workers               int
	noVideo               bool
	noDiskImages          bool
	noDeleted             bool
	noCarve               bool
	dihedral              bool
	notes, declaration    string
	categories            string
	signKey               string
	readLinkTargets       bool
	threshold             int
	minQuality            int
	variants              string
	limits                scan.Limits
	maxPixels, maxBytes   int64
	tempDir               string
	json                  bool
	noLog                 bool
	logKey                string
	cpuProfile            string
}

// openScanLog opens the audit log a scan or "scan verify" writes to: the
// database of --db, else the default one. With noLog it returns options
// that say so and no store. The returned function closes the store.
func openScanLog(ctx context.Context, db, keyFile string, noLog bool) (scan.LogOptions, func(), error) {
	lo := scan.LogOptions{Actor: audit.Actor{Name: defaultActor()}}
	if noLog {
		lo.Reason = "--no-log"
		return lo, func() {}, nil
	}
	dsn := db
	if dsn == "" {
		var err error
		if dsn, err = store.DefaultDSN(); err != nil {
			return lo, nil, fmt.Errorf("audit log: %w (or run with --no-log)", err)
		}
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return lo, nil, fmt.Errorf("audit log %s: %w (or run with --no-log)", store.Redact(dsn), err)
	}
	lo.Store, lo.Name = st, store.Redact(dsn)
	if keyFile == "" {
		keyFile = os.Getenv("NIGEHBAN_LOG_KEY")
	}
	if keyFile != "" {
		if lo.Signer, err = audit.OpenSigner(keyFile); err != nil {
			st.Close()
			return lo, nil, err
		}
	}
	return lo, func() { st.Close() }, nil
}

func newScanCommand() *cobra.Command {
	var o scanFlags
	cmd := &cobra.Command{
		Use:   "scan --case ID --examiner NAME --out DIR [--bank FILE… | --db DSN --bank NAME…] [--known FILE…] SOURCE...",
		Short: "Triage seized evidence: hash every file, match banks, write a court-ready manifest",
		Long: `Scan folders, files, archives (zip, tar, tar.gz, gzip; nested ones too,
recognised by content) and disk images read-only. Every file gets its size, times, mode,
md5, sha1, sha256, detected type (flagging extensions that do not fit the
content), PDQ for images, vPDQ for videos, and its matches against the banks.

DIR receives manifest.jsonl (one JSON object per file), manifest.csv,
report.html (a summary to read first, without image content) and
custody.json (case, examiner, tool, host, runs, sources, banks, counts and
the sha256 of each output). Check them later with "nigehban scan verify DIR".

Custody log: each run writes its custody events to the audit log (a
transparency log, see "nigehban audit") of the database given by --db, else
the default database: its start (case, examiner, tool, sources), each
source's hashes where the source is a file, and the outputs' hashes at the
end. custody.json embeds each entry's inclusion proof (C2SP tlog-proof) and
the checkpoint they are proved against: signed when the log's signing key is
given (--log-key or $NIGEHBAN_LOG_KEY), else the tree size and root hash,
marked unsigned. On an air-gapped machine without a database, --no-log skips
the log and custody.json says the scan was not logged.

Disk images: raw (dd) images and E01 (EWF, every segment beside the first)
found among the sources by content are opened without mounting or writing:
MBR and GPT partitions, FAT12/16/32, exFAT, ext2/3/4 and NTFS. Their files
are listed as IMAGE!p2!/Users/ali/a.jpg with the file system's own times and
id (MFT record, inode); deleted files the file system still describes are
hashed and marked "deleted" (--no-deleted leaves them out). JPEG, PNG and MP4
files are carved from the unallocated space (the file systems' free clusters
and blocks, and the disk outside its partitions) when their bytes are
contiguous, named IMAGE!p2!$carved/0x<offset in the image, hex>.jpg and
marked "carved" with their offsets in the image and the volume (--no-carve
skips carving). An E01's stored MD5 and SHA-1 are checked against its media
and recorded.

Banks: without --db each --bank is a hash-list file (plain, csv, jsonl, te
or vics; categories come from the file; plain lists of 64-digit hashes need
--bank-type); with --db each --bank names a stored bank (all enabled banks
when none is named), matched with its own PDQ threshold.

Known files: --known takes NSRL RDS NSRLFile.txt, hashdeep output or plain
md5/sha1/sha256 lists. A file found there is still listed and hashed, marked
"known": true, and neither matched nor (if a video) decoded.

Interrupted scans (Ctrl-C, crash, power loss) continue with --resume and the
same arguments: files already listed are not hashed again.

Files that cannot be read, broken archives, zip bombs, symlink loops and
special files are recorded as errors in the manifest; the scan goes on, and
exits with status 1 at the end if there were any. A directory literally
named "verify" must be given as ./verify.`,
		Example: `  nigehban scan --case 2025-0042 --examiner "S. Khan" --out /cases/0042/scan \
      --bank /banks/hotline.csv --known /nsrl/NSRLFile.txt /mnt/evidence/phone
  nigehban scan --case 2025-0042 --examiner "S. Khan" --out /cases/0042/scan --resume \
      --bank /banks/hotline.csv --known /nsrl/NSRLFile.txt /mnt/evidence/phone
  nigehban scan verify /cases/0042/scan`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("threshold") {
				o.threshold = -1
			}
			if o.cpuProfile != "" {
				f, err := os.Create(o.cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			return runScan(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.caseID, "case", "", "case identifier (required)")
	f.StringVar(&o.examiner, "examiner", "", "examiner's name (required)")
	f.StringVar(&o.out, "out", "", "output directory: new or empty, or the interrupted scan's with --resume (required)")
	f.StringArrayVar(&o.banks, "bank", nil, "hash-list file (or, with --db, stored bank name); repeatable")
	f.StringVar(&o.db, "db", "", "match stored banks in this database (SQLite path or postgres:// URL)")
	f.StringVar(&o.bankType, "bank-type", "", "signal type of plain-list lines whose length does not tell (sha256 or pdq)")
	f.StringArrayVar(&o.known, "known", nil, "known-file list (NSRL NSRLFile.txt, hashdeep, plain digests); repeatable")
	f.BoolVar(&o.resume, "resume", false, "continue the interrupted scan in --out")
	f.IntVar(&o.workers, "workers", runtime.NumCPU(), "files hashed in parallel")
	f.BoolVar(&o.noVideo, "no-video", false, "skip vPDQ (videos get cryptographic hashes only)")
	f.BoolVar(&o.noDiskImages, "no-disk-images", false, "record raw and E01 disk images as files without opening their file systems")
	f.BoolVar(&o.dihedral, "dihedral", false, "match images also by their rotated and mirrored PDQ hashes (a rotated copy is found)")
	f.BoolVar(&o.noDeleted, "no-deleted", false, "leave out the deleted files disk images' file systems still describe")
	f.BoolVar(&o.noCarve, "no-carve", false, "do not carve JPEG, PNG and MP4 files from disk images' unallocated space")
	f.StringVar(&o.notes, "notes", "", "examiner's notes for the court report (@FILE reads them from a file)")
	f.StringVar(&o.declaration, "declaration", "", "examiner's declaration for the court report, replacing the standard text (@FILE reads it from a file)")
	f.StringVar(&o.categories, "categories", "", "CSV file of code,name naming the banks' category codes in the report (default: Project VIC codes 0-4)")
	f.StringVar(&o.signKey, "sign-key", "", "sign custody.json with this examiner's or lab's key (made by \"nigehban audit keygen\"): custody.json.sig")
	f.BoolVar(&o.readLinkTargets, "read-link-targets", false, "read symlink targets even where that updates the links' access times (they are read anyway on read-only or noatime mounts)")
	f.IntVar(&o.threshold, "threshold", signal.DefaultPDQThreshold, "PDQ distance a match may reach (with --db: narrows each bank's own)")
	f.IntVar(&o.minQuality, "min-quality", 0, "PDQ quality below which images are not matched perceptually (0 = 50)")
	f.StringVar(&o.variants, "variants", variant.Default.String(), "PDQ variants of images matched beside them: none, borders or all (recorded in custody.json)")
	f.IntVar(&o.limits.MaxDepth, "max-depth", scan.DefaultMaxDepth, "archive nesting opened at most")
	f.Int64Var(&o.limits.MaxExpanded, "max-expanded", scan.DefaultMaxExpanded, "bytes decompressed from one archive at most (all levels)")
	f.Float64Var(&o.limits.MaxRatio, "max-ratio", scan.DefaultMaxRatio, "compression ratio a zip member or gzip stream may reach")
	f.Int64Var(&o.maxPixels, "max-pixels", 0, "images over this many pixels are decoded scaled or refused (0 = default 64 Mi)")
	f.Int64Var(&o.maxBytes, "max-bytes", 0, "images over this many bytes are hashed, not decoded (0 = default 256 MiB)")
	f.StringVar(&o.tempDir, "temp-dir", "", "where archive members and videos are spooled (default $TMPDIR; never inside a source)")
	f.BoolVar(&o.json, "json", false, "print the summary as JSON")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the scan to this file (for performance work)")
	_ = f.MarkHidden("cpuprofile")
	f.BoolVar(&o.noLog, "no-log", false, "write no custody events to the audit log (no database needed; custody.json says so)")
	f.StringVar(&o.logKey, "log-key", "", "sign a checkpoint of the log with this key and prove the entries against it (default $NIGEHBAN_LOG_KEY)")
	cmd.AddCommand(newScanVerifyCommand())
	return cmd
}

func runScan(ctx context.Context, stdout, stderr io.Writer, sources []string, o scanFlags) error {
	if o.caseID == "" || o.examiner == "" || o.out == "" {
		return errors.New("--case, --examiner and --out are required")
	}
	if o.workers < 1 {
		return fmt.Errorf("--workers must be at least 1, got %d", o.workers)
	}
	if o.threshold > 256 || o.threshold < -1 {
		return fmt.Errorf("--threshold must be between 0 and 256, got %d", o.threshold)
	}
	if o.db == "" && o.bankType != "" && len(o.banks) == 0 {
		return errors.New("--bank-type without --bank")
	}
	notes, err := textOrFile(o.notes)
	if err != nil {
		return err
	}
	declaration, err := textOrFile(o.declaration)
	if err != nil {
		return err
	}
	var categories map[string]string
	if o.categories != "" {
		if categories, err = scan.ReadCategories(o.categories); err != nil {
			return err
		}
	}
	set, err := variant.ParseSet(o.variants)
	if err != nil {
		return fmt.Errorf("--variants: %w", err)
	}
	opts := scan.Options{
		Variants: set,
		Notes:    notes, Declaration: declaration, Categories: categories, SignKey: o.signKey,
		Case: o.caseID, Examiner: o.examiner, Out: o.out, Sources: sources, Resume: o.resume,
		Workers: o.workers, Limits: o.limits, SkipVideo: o.noVideo, SkipDiskImages: o.noDiskImages, SkipDeleted: o.noDeleted, SkipCarve: o.noCarve, Dihedral: o.dihedral, ReadLinkTargets: o.readLinkTargets, MinQuality: o.minQuality,
		Image: media.Limits{MaxPixels: o.maxPixels, MaxBytes: o.maxBytes},
		Tool:  scan.CurrentTool(), CommandLine: os.Args, TempDir: o.tempDir,
	}
	switch {
	case o.db != "":
		st, err := openStore(ctx, o.db)
		if err != nil {
			return err
		}
		defer st.Close()
		sb, err := scan.LoadStoreBanks(ctx, st, o.banks, scan.StoreBankOptions{DSN: store.Redact(o.db), Threshold: o.threshold})
		if err != nil {
			return err
		}
		opts.Matcher = sb
	case len(o.banks) > 0:
		th := o.threshold
		if th < 0 { // not given
			th = signal.DefaultPDQThreshold
		}
		fb, err := scan.LoadFileBanks(ctx, o.banks, scan.FileBankOptions{Type: o.bankType, Threshold: th})
		if err != nil {
			return err
		}
		opts.Matcher = fb
	default:
		slog.Warn("no bank given: files are hashed and listed, not matched")
	}
	lo, closeLog, err := openScanLog(ctx, o.db, o.logKey, o.noLog)
	if err != nil {
		return err
	}
	defer closeLog()
	opts.Log = &lo
	if len(o.known) > 0 {
		k, err := scan.LoadKnown(ctx, o.known)
		if err != nil {
			return err
		}
		opts.Known = k
	}

	opts.Progress = new(progress.Counter)
	if f, ok := stderr.(*os.File); ok && progress.IsTerminal(f) {
		stop := progress.Show(f, "scan: ", opts.Progress, 200*time.Millisecond)
		defer stop()
	}
	sum, err := scan.Run(ctx, opts)
	if err != nil {
		if sum != nil && sum.Status == scan.StatusInterrupted {
			fmt.Fprintf(stderr, "scan interrupted after %d entries; continue it with the same command and --resume\n", sum.Written)
		}
		return err
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return err
		}
	} else {
		c := sum.Counts
		fmt.Fprintf(stdout, "scan complete: %d entries, %d files hashed (%s), %d archives opened, %d disk images (%d deleted files found, %d carved)\n",
			c.Entries, c.Hashed, progress.Bytes(c.Bytes), c.Archives, c.DiskImages, c.Deleted, c.Carved)
		fmt.Fprintf(stdout, "matched files: %d, known files: %d, extension mismatches: %d, errors: %d\n",
			c.Matched, c.Known, c.ExtensionMismatches, c.Errors)
		fmt.Fprintf(stdout, "output: %s (%s, %s, %s, %s, %s)\n", sum.Dir, scan.ReportName, scan.PDFName, scan.ManifestName, scan.CSVName, scan.CustodyName)
		fmt.Fprintf(stdout, "custody.json sha256 %s: note it in the case file\n", sum.CustodySHA256)
		if lo.Store != nil {
			fmt.Fprintf(stdout, "custody events written to the audit log of %s; their proofs are in %s\n", lo.Name, scan.CustodyName)
		} else {
			fmt.Fprintln(stdout, "custody events not logged (--no-log)")
		}
	}
	if sum.Counts.Errors > 0 {
		return fmt.Errorf("%d entries have errors (see %s): %w", sum.Counts.Errors, scan.ReportName, errPartial)
	}
	return nil
}

func newScanVerifyCommand() *cobra.Command {
	var sources []string
	var noSources, asJSON, noLog bool
	var db, vkey, custodyVKey string
	var workers int
	cmd := &cobra.Command{
		Use:   "verify DIR",
		Short: "Re-check a scan's outputs against custody.json and its sources against the manifest",
		Long: `Re-hash manifest.jsonl, manifest.csv and report.html and compare them with
the sha256 recorded in custody.json; then, for every source still present,
re-hash every file (archive members too) and compare size, md5, sha1 and
sha256 with the manifest, listing files changed, missing or not listed.
Prints OK or FAILED with the differences; exits with status 1 on failure.
Sources that are not present are reported and skipped (checking the outputs
alone is useful away from the evidence). Compare the printed custody.json
sha256 with the value noted when the scan ended.

The audit-log proofs custody.json embeds are checked offline: each entry's
inclusion in the checkpoint it carries, that the entries are this case's,
and that the logged outputs' hashes are custody.json's; with --vkey (the
log's verifier key) also the checkpoints' signatures, and an unsigned
checkpoint then fails. The result is itself written to the audit log of
--db (else the default database) unless --no-log.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := scan.VerifyOptions{Sources: sources, SkipSources: noSources, Workers: workers, Progress: new(progress.Counter)}
			if custodyVKey != "" {
				k, err := keyOrFile(custodyVKey)
				if err != nil {
					return err
				}
				o.CustodyVKey = k
			}
			if vkey != "" {
				k, err := keyOrFile(vkey)
				if err != nil {
					return err
				}
				p, err := audit.NewPolicy(k, nil, 0)
				if err != nil {
					return err
				}
				o.Policy = &p
			}
			lo, closeLog, err := openScanLog(cmd.Context(), db, "", noLog)
			if err != nil {
				return err
			}
			defer closeLog()
			if f, ok := cmd.ErrOrStderr().(*os.File); ok && progress.IsTerminal(f) && !noSources {
				stop := progress.Show(f, "verify: ", o.Progress, 200*time.Millisecond)
				defer stop()
			}
			rep, err := scan.Verify(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				err = enc.Encode(rep)
			} else {
				err = rep.WriteText(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			if lo.Store != nil {
				e, err := scan.LogVerify(cmd.Context(), lo, rep)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "verify result written to the audit log of %s as entry %d (\"audit prove %d\" proves it)\n", lo.Name, e.Seq, e.Seq)
			}
			if !rep.OK {
				return scan.ErrVerifyFailed
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&sources, "source", nil, "where each source is now, in custody.json's order (evidence moved); repeatable")
	f.BoolVar(&noSources, "no-sources", false, "check the output files only")
	f.IntVar(&workers, "workers", runtime.NumCPU(), "files re-hashed in parallel")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.StringVar(&custodyVKey, "custody-vkey", "", "the examiner's or lab's verifier key (or a file holding it): custody.json.sig must verify")
	f.StringVar(&vkey, "vkey", "", "the log's verifier key (or a file holding it): check the signatures of the embedded checkpoints")
	f.StringVar(&db, "db", "", "write the result to the audit log of this database (default: the default database)")
	f.BoolVar(&noLog, "no-log", false, "do not write the result to the audit log (no database needed)")
	return cmd
}

// textOrFile returns s, or the contents of the file when s is @FILE.
func textOrFile(s string) (string, error) {
	if !strings.HasPrefix(s, "@") {
		return s, nil
	}
	b, err := os.ReadFile(s[1:])
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\n"), nil
}
