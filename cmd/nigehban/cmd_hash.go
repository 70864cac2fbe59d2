package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/nigehban/nigehban/internal/buildinfo"
	"github.com/nigehban/nigehban/internal/fingerprint"
	"github.com/nigehban/nigehban/internal/progress"
	"github.com/nigehban/nigehban/internal/variant"
)

func init() { rootCmd.AddCommand(newHashCommand()) }

type hashOptions struct {
	format    string
	dihedral  bool
	workers   int
	noVideo   bool
	maxPixels int64
	maxBytes  int64
	variants  string
	crops     bool
}

func newHashCommand() *cobra.Command {
	var o hashOptions
	cmd := &cobra.Command{
		Use:   "hash [flags] PATH...",
		Short: "Hash files and folders: md5, sha1, sha256, PDQ for images, vPDQ for videos",
		Long: `Hash every file under the given paths (folders recursively, "-" for stdin).

Each file gives one output record: JSONL objects by default, or CSV with a
header. Types are detected from content, not names. A file that cannot be
read or decoded gives a record with "error"; the run goes on and exits with
status 1 at the end. A progress line is shown on stderr when it is a terminal.

Every record also says which build produced it: tool_version and
tool_revision (see "nigehban version") and jpeg_decoder (libjpeg-turbo or
go), since the two JPEG decoders can give PDQ hashes a few bits apart on
low-quality images. In CSV these are the last three columns.

--variants (none, borders or all; default borders) adds to each image's
JSONL record the PDQ hashes of the regions an original may hide in
(pdq_variants: inside bars, a frame or a plain canvas; with all also
without a caption band, and the image's rotations and mirrors), as match,
scan and serve try them; "pdq" stays the reference hash. --bank-variants
adds the central crops of an original you hold (crop97 … crop80), which
bank import keeps as extra signals linked to their parent, so a copy with
its borders cropped off still matches.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHash(cmd.Context(), cmd.OutOrStdout(), cmd.InOrStdin(), args, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "jsonl", "output format: jsonl or csv")
	f.BoolVar(&o.dihedral, "dihedral", false, "add the 8 dihedral PDQ hashes (pdq_dihedral)")
	f.IntVar(&o.workers, "workers", runtime.NumCPU(), "files hashed in parallel")
	f.BoolVar(&o.noVideo, "no-video", false, "skip vPDQ (videos get cryptographic hashes only)")
	f.Int64Var(&o.maxPixels, "max-pixels", 0, "refuse (or decode scaled) images over this many pixels (0 = default 64 Mi)")
	f.Int64Var(&o.maxBytes, "max-bytes", 0, "refuse images over this many bytes (0 = default 256 MiB)")
	f.StringVar(&o.variants, "variants", variant.Default.String(), "query-side PDQ variants of images: none, borders or all (JSONL pdq_variants)")
	f.BoolVar(&o.crops, "bank-variants", false, "add the central crops of images (bank-side variants of originals you hold)")
	return cmd
}

// recordWriter writes Records in one output format.
type recordWriter interface {
	Write(fingerprint.Record) error
	Flush() error
}

func runHash(ctx context.Context, stdout io.Writer, stdin io.Reader, paths []string, o hashOptions) error {
	if o.workers < 1 {
		return fmt.Errorf("--workers must be at least 1, got %d", o.workers)
	}
	var out recordWriter
	stamp := buildinfo.Get().Stamp()
	switch o.format {
	case "jsonl":
		out = &jsonlWriter{w: bufio.NewWriter(stdout), stamp: stamp}
	case "csv":
		out = newCSVWriter(stdout, o.dihedral, stamp)
	default:
		return fmt.Errorf("unknown --format %q (want jsonl or csv)", o.format)
	}
	set, err := variant.ParseSet(o.variants)
	if err != nil {
		return fmt.Errorf("--variants: %w", err)
	}
	fo := fingerprint.Options{Dihedral: o.dihedral, SkipVideo: o.noVideo, Variants: set, Crops: o.crops}
	fo.Limits.MaxPixels, fo.Limits.MaxBytes = o.maxPixels, o.maxBytes

	targets := fingerprint.Collect(paths)
	var counter progress.Counter
	var total int64
	for _, t := range targets {
		total += t.Size
	}
	counter.AddTotal(int64(len(targets)), total)
	if progress.IsTerminal(os.Stderr) {
		stop := progress.Show(os.Stderr, "hash: ", &counter, 200*time.Millisecond)
		defer stop()
	}

	// Workers fill results[i]; the writer prints them in input order as soon
	// as each next one is ready.
	results := make([]chan fingerprint.Record, len(targets))
	for i := range results {
		results[i] = make(chan fingerprint.Record, 1)
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(o.workers, max(len(targets), 1)) {
		wg.Go(func() {
			for i := range jobs {
				results[i] <- hashTarget(ctx, targets[i], stdin, fo)
			}
		})
	}
	go func() {
		defer close(jobs)
		for i := range targets {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()

	failed := 0
	var werr error
	for i := range targets {
		var rec fingerprint.Record
		select {
		case rec = <-results[i]:
		case <-ctx.Done():
			wg.Wait()
			out.Flush()
			return ctx.Err()
		}
		if rec.Error != "" {
			failed++
		}
		counter.Done(rec.Size, rec.Error != "")
		if werr == nil {
			if werr = out.Write(rec); werr == nil {
				werr = out.Flush()
			}
		}
	}
	wg.Wait()
	if werr != nil {
		return fmt.Errorf("write output: %w", werr)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d inputs failed: %w", failed, len(targets), errPartial)
	}
	return nil
}

func hashTarget(ctx context.Context, t fingerprint.Target, stdin io.Reader, fo fingerprint.Options) fingerprint.Record {
	switch {
	case t.Err != nil:
		return fingerprint.Record{Path: t.Path, Error: t.Err.Error()}
	case t.Path == "-":
		return fingerprint.Reader(ctx, "-", stdin, fo)
	}
	return fingerprint.File(ctx, t.Path, fo)
}

type jsonlWriter struct {
	w     *bufio.Writer
	stamp buildinfo.Stamp
}

// hashLine is one JSONL record: the fingerprint with the build's stamp
// (tool_version, tool_revision, jpeg_decoder) as sibling fields.
type hashLine struct {
	fingerprint.Record
	buildinfo.Stamp
}

func (j *jsonlWriter) Write(r fingerprint.Record) error {
	b, err := json.Marshal(hashLine{Record: r, Stamp: j.stamp})
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = j.w.Write(b)
	return err
}

func (j *jsonlWriter) Flush() error { return j.w.Flush() }

type csvWriter struct {
	w        *csv.Writer
	dihedral bool
	header   bool
	stamp    buildinfo.Stamp
}

func newCSVWriter(w io.Writer, dihedral bool, stamp buildinfo.Stamp) *csvWriter {
	return &csvWriter{w: csv.NewWriter(w), dihedral: dihedral, stamp: stamp}
}

// csvStampHeader names the columns that end every CSV row.
var csvStampHeader = []string{"tool_version", "tool_revision", "jpeg_decoder"}

var csvHeader = []string{"path", "type", "format", "size", "md5", "sha1", "sha256", "pdq", "quality",
	"width", "height", "duration", "fps", "vpdq_frames", "error"}

func (c *csvWriter) Write(r fingerprint.Record) error {
	if !c.header {
		c.header = true
		h := csvHeader
		if c.dihedral {
			h = append(h[:len(h):len(h)], "pdq_dihedral")
		}
		h = append(h[:len(h):len(h)], csvStampHeader...)
		if err := c.w.Write(h); err != nil {
			return err
		}
	}
	num := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	flt := func(f float64) string {
		if f == 0 {
			return ""
		}
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	var hash, quality, frames string
	if r.PDQ != nil {
		hash = r.PDQ.String()
	}
	if r.Quality != nil {
		quality = strconv.Itoa(*r.Quality)
	}
	if r.VPDQ != nil {
		frames = strconv.Itoa(len(r.VPDQ))
	}
	row := []string{r.Path, string(r.Type), string(r.Format), strconv.FormatInt(r.Size, 10), r.MD5, r.SHA1, r.SHA256,
		hash, quality, num(r.Width), num(r.Height), flt(r.Duration), flt(r.FPS), frames, r.Error}
	if c.dihedral {
		dih := make([]string, len(r.PDQDihedral))
		for i, h := range r.PDQDihedral {
			dih[i] = h.String()
		}
		row = append(row, strings.Join(dih, " "))
	}
	row = append(row, c.stamp.Version, c.stamp.Revision, c.stamp.JPEGDecoder)
	return c.w.Write(row)
}

func (c *csvWriter) Flush() error {
	c.w.Flush()
	return c.w.Error()
}
