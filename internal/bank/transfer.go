package bank

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/hashlist"
)

// ErrBadLines is returned (wrapped) by an atomic Import that found bad lines:
// nothing was imported, and ImportResult lists the lines.
var ErrBadLines = errors.New("bad lines in input")

// DefaultBatchSize is how many signals Import sends to the store at once.
const DefaultBatchSize = 5000

// DefaultMaxBadLines is how many bad lines ImportResult keeps by default
// (all are counted).
const DefaultMaxBadLines = 1000

// ImportOptions controls Import.
type ImportOptions struct {
	// Actor is recorded as the author of every added signal and of the
	// import's audit entry.
	Actor audit.Actor
	// Format names the input's format in the audit entry (optional).
	Format hashlist.Format
	// Atomic imports everything in one transaction: one bad line, a read
	// error or a cancellation leaves the bank exactly as it was. Otherwise
	// each batch commits on its own, bad lines are skipped, and an error
	// leaves the batches before it in place (ImportResult says how many).
	Atomic bool
	// Category and Source fill entries that have none (plain lists carry
	// neither); entries with their own keep it.
	Category, Source string
	// BatchSize is the number of signals per store call; 0 means
	// DefaultBatchSize.
	BatchSize int
	// MaxBadLines bounds ImportResult.BadLines; 0 means DefaultMaxBadLines.
	MaxBadLines int
	// Progress, if set, is called after each batch with the totals so far.
	Progress func(ImportResult)
}

// BadLine is a line of the input that could not be imported.
type BadLine struct {
	Line int    `json:"line"`
	Err  string `json:"error"`
}

// ImportResult reports what an import did.
type ImportResult struct {
	Read      int       `json:"read"`      // entries and bad lines read
	Added     int       `json:"added"`     // new signals (committed, unless the import failed atomically)
	Unchanged int       `json:"unchanged"` // already active in the bank, or repeated in the input
	Excluded  int       `json:"excluded"`  // on the bank's exclusion list: removed once, not added back
	Bad       int       `json:"bad"`       // bad lines, all counted
	BadLines  []BadLine `json:"bad_lines,omitempty"`
	// Committed is the number of added signals that are durably in the
	// bank: Added after a successful import, 0 after a failed atomic one,
	// the batches before the failure after a failed non-atomic one.
	Committed int `json:"committed"`
}

// Import streams the entries of r into the named bank. Memory use is bounded
// by the batch size, whatever the length of the input. Bad lines are
// reported with their line numbers in the result; with opts.Atomic they make
// the import fail with ErrBadLines and change nothing. Every other failure
// is returned as an error together with the counts so far.
//
// Each call is audited once (audit.ActBankImport on the bank; detail: the
// format, the counts and the error of a failed import): in the transaction
// of its last batch, or, when that is not possible (a failed import, an
// empty last batch), in a transaction of its own at the end.
func (s *Service) Import(ctx context.Context, bankName string, r hashlist.Reader, opts ImportOptions) (ImportResult, error) {
	var res ImportResult
	if err := ValidateName(bankName); err != nil {
		return res, err
	}
	if err := ValidateActor(opts.Actor.Name); err != nil {
		return res, err
	}
	if opts.Category != "" {
		if err := validateText("category", opts.Category, MaxCategoryLen, false); err != nil {
			return res, err
		}
	}
	if opts.Source != "" {
		if err := validateText("source", opts.Source, MaxSourceLen, false); err != nil {
			return res, err
		}
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.MaxBadLines <= 0 {
		opts.MaxBadLines = DefaultMaxBadLines
	}
	if _, err := s.GetBank(ctx, bankName); err != nil {
		return res, err
	}
	im := &importer{r: r, opts: opts, res: &res, batch: make([]Signal, 0, opts.BatchSize)}
	var err error
	audited := false
	if opts.Atomic {
		err = s.st.WriteSignals(ctx, bankName, opts.Actor, func(w SignalWriter) error {
			for more := true; more; {
				var err error
				if more, err = im.fill(ctx); err != nil {
					return err
				}
				// After the first bad line nothing more is written (it would
				// be rolled back), but reading goes on so that one pass
				// reports every bad line.
				if res.Bad == 0 {
					if err := im.flush(ctx, w); err != nil {
						return err
					}
				}
				im.progress()
			}
			if res.Bad > 0 {
				return fmt.Errorf("%w: %d, nothing imported", ErrBadLines, res.Bad)
			}
			done := res
			done.Committed = done.Added
			w.Audit(audit.ActBankImport, importDetail(opts, done, nil))
			return nil
		})
		if err == nil {
			res.Committed = res.Added
			audited = true
		} else {
			res.Committed = 0
		}
	} else {
		for more := true; more && err == nil; {
			if more, err = im.fill(ctx); err != nil {
				break
			}
			if len(im.batch) == 0 {
				im.progress()
				continue
			}
			before, last := res, !more
			err = s.st.WriteSignals(ctx, bankName, opts.Actor, func(w SignalWriter) error {
				if err := im.flush(ctx, w); err != nil {
					return err
				}
				if last {
					done := res
					done.Committed = done.Added
					w.Audit(audit.ActBankImport, importDetail(opts, done, nil))
				}
				return nil
			})
			if err != nil {
				res.Added, res.Unchanged, res.Excluded = before.Added, before.Unchanged, before.Excluded // that batch rolled back
				break
			}
			res.Committed, audited = res.Added, last
			im.progress()
		}
	}
	if !audited {
		// A transaction of its own, even when ctx was cancelled: the
		// attempt, and what it committed, must be on record.
		aerr := s.st.WriteSignals(context.WithoutCancel(ctx), bankName, opts.Actor, func(w SignalWriter) error {
			w.Audit(audit.ActBankImport, importDetail(opts, res, err))
			return nil
		})
		if aerr != nil {
			err = errors.Join(err, fmt.Errorf("audit: %w", aerr))
		}
	}
	if err != nil {
		if errors.Is(err, ErrBadLines) {
			return res, err
		}
		return res, fmt.Errorf("import into bank %q: %w", bankName, err)
	}
	return res, nil
}

// importDetail is the detail of an import's audit entry: the counts, not
// the bad lines.
func importDetail(opts ImportOptions, res ImportResult, err error) map[string]any {
	res.BadLines = nil
	d := map[string]any{"result": res}
	if opts.Format != "" {
		d["format"] = opts.Format
	}
	if err != nil {
		d["error"] = err.Error()
	}
	return d
}

type importer struct {
	r     hashlist.Reader
	opts  ImportOptions
	res   *ImportResult
	batch []Signal
}

// fill empties the batch and reads entries into it until it is full
// (more=true) or the input ends (more=false). Bad lines are counted, not
// returned.
func (im *importer) fill(ctx context.Context) (more bool, err error) {
	im.batch = im.batch[:0]
	for len(im.batch) < cap(im.batch) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		e, err := im.r.Next()
		if err == io.EOF {
			return false, nil
		}
		var le *hashlist.LineError
		if errors.As(err, &le) {
			im.res.Read++
			im.bad(le.Line, le.Err)
			continue
		}
		if err != nil {
			return false, fmt.Errorf("read after %d entries: %w", im.res.Read, err)
		}
		im.res.Read++
		sig := SignalFromEntry(e)
		if sig.Category == "" {
			sig.Category = im.opts.Category
		}
		if sig.Source == "" {
			sig.Source = im.opts.Source
		}
		if err := sig.Normalize(); err != nil {
			im.bad(e.Line, err)
			continue
		}
		im.batch = append(im.batch, sig)
	}
	return true, nil
}

func (im *importer) bad(line int, err error) {
	im.res.Bad++
	if len(im.res.BadLines) < im.opts.MaxBadLines {
		im.res.BadLines = append(im.res.BadLines, BadLine{Line: line, Err: err.Error()})
	}
}

func (im *importer) flush(ctx context.Context, w SignalWriter) error {
	if len(im.batch) == 0 {
		return nil
	}
	n, err := w.Add(ctx, im.batch)
	if err != nil {
		return err
	}
	im.res.Added += n.Added
	im.res.Unchanged += n.Unchanged
	im.res.Excluded += n.Excluded
	return nil
}

func (im *importer) progress() {
	if im.opts.Progress != nil {
		im.opts.Progress(*im.res)
	}
}

// SignalFromEntry converts a hash-list entry to a signal (not yet
// normalised).
func SignalFromEntry(e hashlist.Entry) Signal {
	return Signal{Type: Type(e.Type), Value: e.Value, Category: e.Category, Source: e.Source, Note: e.Note,
		Quality: e.Quality, Extra: e.Extra}
}

// EntryFromSignal converts a signal to a hash-list entry.
func EntryFromSignal(s *Signal) hashlist.Entry {
	return hashlist.Entry{Type: s.Type, Value: s.Value, Category: s.Category, Source: s.Source, Note: s.Note,
		Quality: s.Quality, Extra: s.Extra}
}

// ExportOptions controls Export.
type ExportOptions struct {
	Types []Type // only these types; empty means all
	// Variants includes bank-side variant signals (extra "variant": central
	// crops of originals we hold, internal/variant), which partners' plain
	// PDQ does not expect; left out by default (counted in VariantsLeftOut).
	Variants bool
	// Writer options for the format; for CSV, ExtraColumns is filled from
	// the extra fields of the exported signals when left empty.
	Writer hashlist.WriterOptions
}

// ExportResult reports what an export did.
type ExportResult struct {
	Written int `json:"written"`
	// Skipped counts signals the format cannot hold (for example a sha1
	// without its md5 in VICS, or anything but pdq in te), by reason.
	Skipped       int            `json:"skipped"`
	SkippedReason map[string]int `json:"skipped_reasons,omitempty"`
	// VariantsLeftOut counts bank-side variant signals not exported
	// (ExportOptions.Variants was not set).
	VariantsLeftOut int `json:"variants_left_out,omitempty"`
}

// Export writes the active signals of the named bank to w in format f, in
// ID order (the order they were added), streaming. Signals the format cannot
// hold are counted in the result, never silently dropped.
func (s *Service) Export(ctx context.Context, bankName string, out io.Writer, f hashlist.Format, opts ExportOptions) (ExportResult, error) {
	var res ExportResult
	q := SignalQuery{Banks: []string{bankName}, Types: opts.Types}
	wopts := opts.Writer
	if f == hashlist.CSV && wopts.ExtraColumns == nil {
		cols, err := s.extraColumns(ctx, q)
		if err != nil {
			return res, err
		}
		wopts.ExtraColumns = cols
	}
	w, err := hashlist.NewWriter(out, f, wopts)
	if err != nil {
		return res, err
	}
	err = s.ScanSignals(ctx, q, func(sig *Signal) error {
		if sig.Extra[hashlist.ExtraVariant] != "" && !opts.Variants {
			res.VariantsLeftOut++
			return nil
		}
		err := w.Write(EntryFromSignal(sig))
		if errors.Is(err, hashlist.ErrUnsupported) {
			res.Skipped++
			if res.SkippedReason == nil {
				res.SkippedReason = map[string]int{}
			}
			res.SkippedReason[reason(err)]++
			return nil
		}
		if err != nil {
			return fmt.Errorf("write signal %d: %w", sig.ID, err)
		}
		res.Written++
		return nil
	})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, fmt.Errorf("export bank %q: %w", bankName, err)
	}
	return res, nil
}

// reason shortens a writer's refusal to a stable key for counting.
func reason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}

// extraColumns collects the extra field names of the selected signals that
// a CSV header can carry (lower-case, not a standard column), sorted.
func (s *Service) extraColumns(ctx context.Context, q SignalQuery) ([]string, error) {
	seen := map[string]bool{}
	err := s.ScanSignals(ctx, q, func(sig *Signal) error {
		for k := range sig.Extra {
			seen[k] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	std := map[string]bool{"type": true, "signal_type": true, "value": true, "hash": true, "signal": true,
		"signal_str": true, "category": true, "source": true, "note": true, "quality": true}
	var cols []string
	for k := range seen {
		if k == strings.ToLower(strings.TrimSpace(k)) && !std[k] {
			cols = append(cols, k)
		}
	}
	slices.Sort(cols)
	return cols, nil
}
